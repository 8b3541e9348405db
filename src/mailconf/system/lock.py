"""The apply lock: one ``mailconf apply`` per root at a time.

Two applies interleaving their backups, writes and restarts would leave a state neither planned.
``flock(2)`` is released by the kernel when the holder dies, so a crash never leaves a stale lock to
clean up by hand (a lock *file* that merely exists means nothing). The holder writes its pid into
the file so the refusal can say who holds it.

Location: ``ROOT/run/mailconf.lock`` — per root, so rehearsing in a copy never blocks a live apply,
and in ``/run`` (a tmpfs on Debian) so nothing is left in ``/etc``. ``ROOT/run`` is created (0755)
when an alternate root lacks it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path
from types import TracebackType

from mailconf.errors import MailconfError
from mailconf.system.root import SystemRoot

LOCK_SYSTEM_PATH = "/run/mailconf.lock"


class LockHeldError(MailconfError):
    """Another process holds the apply lock; ``pid`` is its pid when known."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"another mailconf apply is running ({who}); lock file {path}")


class ApplyLock:
    """Non-blocking exclusive lock; use as a context manager or call acquire()/release()."""

    def __init__(self, root: SystemRoot, system_path: str = LOCK_SYSTEM_PATH) -> None:
        self.root = root
        self.system_path = system_path
        self.path = root.resolve(system_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object currently holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockHeldError` at once (never waits)."""
        if self._fd is not None:
            return
        parents = None if self.root.is_live else 0o755
        # follow=False, and the place opens O_NOFOLLOW: the lock file is truncated below; a link
        # must not lead that elsewhere.
        with self.root.open(self.system_path, follow=False, create_parents=parents) as place:
            try:
                fd = place.open(os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise MailconfError(
                    f"{self.path}: cannot open the lock file: {exc.strerror}"
                ) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise MailconfError(f"{self.path}: not a regular file, cannot use it as the lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockHeldError(self.path, holder) from None
            raise MailconfError(f"{self.path}: cannot lock: {exc.strerror}") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock. The file stays: unlinking it would race with a process about to lock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> ApplyLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
