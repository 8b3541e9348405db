"""A write that fails names the file the user asked to write, never mailconf's temporary file.

Run as ``nobody`` (the suite runs as root, which may write anywhere): before the descriptor walk,
``mailconf edit`` without write permission said ``.main.cf.m8x77iiq.mailconf-tmp: Permission
denied``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import require_nobody, run_as_nobody


@pytest.fixture
def conf() -> Iterator[Path]:
    """A root-owned directory nobody can read but not write (pytest's own is 0700)."""
    require_nobody()
    directory = Path(tempfile.mkdtemp(prefix="mailconf-perm-", dir="/tmp"))
    directory.chmod(0o755)
    (directory / "main.cf").write_text("myhostname = mail.example.test\n")
    yield directory
    shutil.rmtree(directory)


def test_edit_without_permission_names_the_target(conf: Path) -> None:
    target = conf / "main.cf"
    done = run_as_nobody("-m", "mailconf", "edit", str(target), "--set", "myhostname=mx")
    assert done.returncode != 0
    assert done.stderr == f"mailconf: {target}: cannot write it: Permission denied\n"
    assert target.read_text() == "myhostname = mail.example.test\n"
    assert sorted(p.name for p in conf.iterdir()) == ["main.cf"]


def test_atomic_write_error_carries_the_path_as_given(conf: Path) -> None:
    """Also with a writable file in a directory that is not writable, and a relative path."""
    (conf / "main.cf").chmod(0o666)
    script = (
        "import os, sys\n"
        "from mailconf import fileio\n"
        f"os.chdir({str(conf)!r})\n"
        "try:\n"
        "    fileio.atomic_write('main.cf', b'x')\n"
        "except PermissionError as error:\n"
        "    print(error.filename, error.strerror)\n"
    )
    done = run_as_nobody("-c", script)
    assert done.stdout == "main.cf Permission denied\n", done.stderr
    assert (conf / "main.cf").read_text() == "myhostname = mail.example.test\n"


def test_a_directory_nobody_may_search_is_named_but_not_read(conf: Path) -> None:
    """``resolve`` only names a path (as before the walk); reading it fails as the kernel says."""
    (conf / "private").mkdir(mode=0o700)
    script = (
        "from mailconf.system.root import SystemRoot\n"
        f"root = SystemRoot({str(conf)!r})\n"
        "print(root.resolve('/private/key'), root.exists('/private/key'))\n"
        "try:\n"
        "    root.read_bytes('/private/key')\n"
        "except PermissionError as error:\n"
        "    print(error.filename, error.strerror)\n"
    )
    done = run_as_nobody("-c", script)
    assert done.stdout == f"{conf}/private/key False\n/private/key Permission denied\n", done.stderr
