"""The apply lock: a second process is refused at once and told who holds the lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailconf.system.lock import ApplyLock, LockHeldError
from mailconf.system.root import SystemRoot

HOLDER = """
import sys, time
from mailconf.system.lock import ApplyLock
from mailconf.system.root import SystemRoot
with ApplyLock(SystemRoot(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""

CONTENDER = """
import sys
from mailconf.system.lock import ApplyLock, LockHeldError
from mailconf.system.root import SystemRoot
try:
    ApplyLock(SystemRoot(sys.argv[1])).acquire()
except LockHeldError as exc:
    print(exc)
    sys.exit(3)
print("acquired")
"""


def _holder(tmp_path: Path) -> subprocess.Popen[str]:
    """A process holding the lock of ``tmp_path`` (it has said so) until its stdin has a line."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    except BaseException:
        holder.kill()
        holder.wait(timeout=30)
        raise
    return holder


def _contender(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Another process trying to take the lock of ``tmp_path``."""
    return subprocess.run(
        [sys.executable, "-c", CONTENDER, str(tmp_path)], capture_output=True, text=True, timeout=30
    )


def test_second_process_cannot_take_the_lock(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        other = _contender(tmp_path)
        assert other.returncode == 3, other.stderr
        assert f"another mailconf apply is running (pid {holder.pid})" in other.stdout
        # In this process too (flock conflicts between open file descriptions).
        with pytest.raises(LockHeldError) as info:
            ApplyLock(SystemRoot(tmp_path)).acquire()
        assert info.value.pid == holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    # Released when the holder exits: now it can be taken.
    again = _contender(tmp_path)
    assert again.returncode == 0 and "acquired" in again.stdout


def test_lock_released_when_holder_dies(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    holder.kill()
    holder.wait(timeout=30)
    with ApplyLock(SystemRoot(tmp_path)) as lock:
        assert lock.held
        assert lock.path == tmp_path / "run/mailconf.lock"
    assert not lock.held


def test_reacquire_after_release_in_same_process(tmp_path: Path) -> None:
    """acquire() is idempotent while held, release() really lets go (another process can take
    the lock), and the same object can take it again."""
    lock = ApplyLock(SystemRoot(tmp_path))
    lock.acquire()
    lock.acquire()  # idempotent while held: no second descriptor, no self-conflict
    assert lock.held
    contender = [sys.executable, "-c", CONTENDER, str(tmp_path)]
    held = subprocess.run(contender, capture_output=True, text=True, timeout=30)
    assert held.returncode == 3, held.stdout + held.stderr
    lock.release()
    assert not lock.held
    free = subprocess.run(contender, capture_output=True, text=True, timeout=30)
    assert free.returncode == 0 and "acquired" in free.stdout, free.stderr
    with lock:
        assert lock.held
        with pytest.raises(LockHeldError):
            ApplyLock(SystemRoot(tmp_path)).acquire()
    assert not lock.held
