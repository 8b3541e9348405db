"""The command line: exit statuses, one-line errors, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailconf import __version__
from mailconf.cli import main


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "mailconf.cli", *argv], capture_output=True, text=True, timeout=60
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"mailconf {__version__}"


def test_show_json_of_main_cf(tmp_path: Path) -> None:
    path = tmp_path / "main.cf"
    path.write_text("myhostname = mail.example.com\nsmtpd_milters = a,\n  b\n")
    result = run("show", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "parameters": {"myhostname": "mail.example.com", "smtpd_milters": "a,  b"}
    }


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("key.table", "k example.com:s:/k\n", {"entries": [["k", "example.com:s:/k"]]}),
        ("trusted.hosts", "127.0.0.1\n::1 # lo\n", {"hosts": ["127.0.0.1", "::1"]}),
    ],
)
def test_show_json_of_tables(tmp_path: Path, name: str, text: str, expected: object) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = run("show", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


def test_fmt_check_accepts_and_refuses(tmp_path: Path) -> None:
    good = tmp_path / "main.cf"
    good.write_text("a = 1\n")
    assert run("fmt", "--check", str(good)).returncode == 0
    bad = tmp_path / "opendkim.conf"
    bad.write_text("Mode sv\nSocket\n")
    result = run("fmt", "--check", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"mailconf: {bad}:2:7: option 'Socket' has no value")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ("show", "/nonexistent/main.cf"),
        ("show", "/etc/hostname-does-not-tell-kind.txt"),
        ("fmt", "--check"),
        ("frobnicate",),
        ("show", "/tmp", "--kind", "postfix-main"),
    ],
)
def test_user_errors_are_one_line_exit_2_no_traceback(argv: tuple[str, ...]) -> None:
    result = run(*argv)
    assert result.returncode == 2
    assert result.stderr.startswith("mailconf: ")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_get_prints_value_or_fails(tmp_path: Path) -> None:
    path = tmp_path / "main.cf"
    path.write_text("a = 1\na = 2 # not a comment\n")
    assert run("get", str(path), "a").stdout == "2 # not a comment\n"
    missing = run("get", str(path), "b")
    assert missing.returncode == 1
    assert "b: unknown parameter" in missing.stderr
    unset = run("get", "--no-defaults", str(path), "relayhost")
    assert unset.returncode == 1
    assert "relayhost is not set" in unset.stderr


def test_edit_diff_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "main.cf"
    original = "myhostname = a\n"
    path.write_text(original)
    result = run("edit", str(path), "--set", "myhostname=b", "--diff")
    assert result.returncode == 0, result.stderr
    assert "-myhostname = a\n+myhostname = b\n" in result.stdout
    assert path.read_text() == original


def test_edit_option_for_wrong_kind_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "key.table"
    path.write_text("k d:s:/p\n")
    assert main(["edit", str(path), "--add-milter", "inet:127.0.0.1:8891"]) == 2


@pytest.mark.parametrize("kind", ["postfix-main", "postfix-master", "opendkim", "opendmarc"])
def test_a_binary_file_is_quoted_short_and_printable(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "input"
    path.write_bytes(b"\x1b]0;owned\x07" + bytes(range(256)) * 400 + b"\n")
    result = run("show", str(path), "--kind", kind)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < 700  # the file's one "line" is 100 kB
    assert not any(char in result.stderr for char in "\x1b\x07\x00")
