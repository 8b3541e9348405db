"""Processes by pid: alive or not, read from a pid file, stopped and waited for.

The daemons' pid files are how every method knows what runs: the milters fork and exit 0 even
when the child dies a moment later, so "the command succeeded" is never trusted and a process is
waited for, bounded, to appear or to be gone (:func:`wait_until`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "POLL",
    "STOP_TIMEOUT",
    "daemon_pid",
    "pid_alive",
    "read_pid_file",
    "runs_program",
    "stop_pid",
    "wait_until",
]

POLL = 0.1
STOP_TIMEOUT = 15.0


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def read_pid_file(path: Path) -> int | None:
    """The pid in a pid file, or None when missing, empty or garbage."""
    try:
        text = path.read_text("ascii", "replace").strip()
        pid = int(text.split()[0]) if text else 0
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid > 0 else None


def runs_program(pid: int, program: str) -> bool:
    """Whether process ``pid`` executes ``program`` (its ``/proc/PID/exe``; a binary replaced by a
    package upgrade reads ``... (deleted)`` and still counts).  False when that cannot be read."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    exe = exe.removesuffix(" (deleted)")
    return os.path.realpath(exe) == os.path.realpath(program)


def daemon_pid(pid_file: Path, program: str) -> int | None:
    """The live process ``pid_file`` names, when it runs ``program``; else None.

    A daemon's pid file is written by the daemon's own account (``/run/opendkim`` belongs to
    ``opendkim``).  Believed blindly, it would let that account, or a stale file whose pid the
    kernel has since given to another process, make mailconf signal any process as root when it
    restarts the daemon: so the pid counts only while it runs the daemon's program."""
    pid = read_pid_file(pid_file)
    if pid is None or not pid_alive(pid) or not runs_program(pid, program):
        return None
    return pid


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)


def stop_pid(pid: int, *, timeout: float = STOP_TIMEOUT, kill_after: bool = True) -> bool:
    """SIGTERM ``pid`` and wait for it to exit; SIGKILL after ``timeout`` when ``kill_after``.

    Returns True when the process is gone. This is how tests (and the direct method) stop a
    daemon they started: the milters' pid files name the process to signal.
    """
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    if wait_until(lambda: not pid_alive(pid), timeout):
        return True
    if not kill_after:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return wait_until(lambda: not pid_alive(pid), 5.0)
