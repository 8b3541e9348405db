"""A daemon's pid file is believed only while the pid it names runs the daemon's program.

The file is written by the daemon's account (``/run/opendkim`` belongs to ``opendkim``): before,
any pid in it was signalled by root on a restart, so that account (or a stale file whose pid the
kernel reused) could make mailconf SIGTERM, then SIGKILL, any process on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailconf.system.processes import daemon_pid, runs_program

SLEEP = shutil.which("sleep") or "/bin/sleep"


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not the daemon (a forged or stale pid file would name one)."""
    process = subprocess.Popen([SLEEP, "60"])
    yield process
    process.kill()
    process.wait()


def test_a_pid_file_naming_another_program_is_not_believed(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    pid_file = tmp_path / "opendkim.pid"
    pid_file.write_text(f"{bystander.pid}\n")
    assert daemon_pid(pid_file, "/usr/sbin/opendkim") is None
    assert daemon_pid(pid_file, SLEEP) == bystander.pid
    assert bystander.poll() is None  # and nothing was signalled


def test_the_daemon_itself_is_found(tmp_path: Path) -> None:
    pid_file = tmp_path / "self.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    assert runs_program(os.getpid(), sys.executable)
    assert daemon_pid(pid_file, sys.executable) == os.getpid()


@pytest.mark.parametrize("content", ["", "garbage\n", "0\n", "-1\n", "999999999\n"])
def test_no_live_pid(tmp_path: Path, content: str) -> None:
    pid_file = tmp_path / "x.pid"
    pid_file.write_text(content)
    assert daemon_pid(pid_file, sys.executable) is None
    assert daemon_pid(tmp_path / "missing.pid", sys.executable) is None


def test_pid_one_is_never_the_daemon(tmp_path: Path) -> None:
    """The classic forged pid file: init."""
    pid_file = tmp_path / "opendmarc.pid"
    pid_file.write_text("1\n")
    assert daemon_pid(pid_file, "/usr/sbin/opendmarc") is None
