"""The one unified diff: what GNU diff prints, and what patch applies back byte for byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mailconf.diff import labels, unified_diff

CASES = [
    ("a = 1\nb = 2\n", "a = 1\nb = 3\n"),
    ("a = 1\nb = 2", "a = 1\nb = 2\n"),  # a final newline added
    ("a = 1\n", "a = 1\nb = 2"),  # the new text lacks one
    ("x\fy = 1\nz = 2\n", "x\fy = 1\nz = 3\n"),  # a form feed is not a line end
    ("p = a\rb\n", "p = a\rc\n"),  # nor is a lone CR
    ("crlf = 1\r\nb = 2\r\n", "crlf = 2\r\nb = 2\r\n"),
    ("latin1 \udce9 = 1\n", "latin1 \udce9 = 2\n"),  # surrogateescape'd bytes survive
]


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def test_equal_texts_have_no_diff() -> None:
    assert unified_diff("a\n", "a\n", "a/x", "b/x") == ""


@pytest.mark.parametrize(("before", "after"), CASES)
def test_the_diff_is_gnu_diffs(tmp_path: Path, before: str, after: str) -> None:
    diff = shutil.which("diff")
    if diff is None:
        pytest.skip("GNU diff is not installed")
    (tmp_path / "old").write_bytes(_bytes(before))
    (tmp_path / "new").write_bytes(_bytes(after))
    gnu = subprocess.run(
        [diff, "-u", "--label", "a/x", "--label", "b/x", "old", "new"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert gnu.returncode == 1
    assert _bytes(unified_diff(before, after, "a/x", "b/x")) == gnu.stdout


@pytest.mark.parametrize(("before", "after"), CASES)
def test_patch_applies_it_back(tmp_path: Path, before: str, after: str) -> None:
    patch = shutil.which("patch")
    if patch is None:
        pytest.skip("patch is not installed")
    target = tmp_path / "x"
    target.write_bytes(_bytes(before))
    subprocess.run(
        [patch, "--quiet", "--binary", str(target)],
        input=_bytes(unified_diff(before, after, "a/x", "b/x")),
        check=True,
    )
    assert target.read_bytes() == _bytes(after)


def test_a_new_file_is_diffed_against_dev_null() -> None:
    assert unified_diff("", "a\n", "/dev/null", "/etc/x").splitlines()[:3] == [
        "--- /dev/null",
        "+++ /etc/x",
        "@@ -0,0 +1 @@",
    ]


def test_header_names() -> None:
    """An absolute path is shown as it is (no ``a//etc/...``), a relative one git's way."""
    assert labels("/etc/postfix/main.cf") == ("/etc/postfix/main.cf", "/etc/postfix/main.cf")
    assert labels("main.cf") == ("a/main.cf", "b/main.cf")
    diff = unified_diff("a = 1\n", "a = 2\n", *labels("/etc/postfix/main.cf"))
    assert diff.startswith("--- /etc/postfix/main.cf\n+++ /etc/postfix/main.cf\n")
