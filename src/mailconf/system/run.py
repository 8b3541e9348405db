"""Running external programs: argument lists only, always with a timeout.

Why not ``subprocess.run(capture_output=True)``: daemons started by ``postfix start``, an init
script or ``opendkim -x`` fork into the background and may keep the inherited stdout/stderr open.
With pipes, reading until end-of-file would then block until the *daemon* exits (a hang that looks
like a timeout). Output therefore goes to anonymous memory files, which nobody waits on.

The child runs in its own session so that a timeout can kill the whole process group it created,
not only the direct child.

Programs are found on a fixed :data:`SYSTEM_PATH`, never through the caller's ``PATH``, and run
with a fixed environment (:func:`child_environment`): mailconf runs as root, and a ``PATH``
inherited from ``su`` or a user's shell that starts with a directory others can write would
otherwise make root run whatever ``postconf`` is found there. Nothing is created under
``TMPDIR`` either: the output goes to memory files (``memfd_create``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from mailconf.errors import MailconfError
from mailconf.fileio import decode

#: Environment additions for every command: programs whose output we parse must not translate it.
BASE_ENV: Mapping[str, str] = {"LC_ALL": "C", "LANG": "C"}

#: Where programs are looked up, and the PATH they get: Debian's root PATH, whatever the caller's.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Taken from the caller's environment: the time zone, and the proxies ``apt-get`` may need.
PASSED_ENV = frozenset(
    {"TZ"}
    | {f"{scheme}_proxy" for scheme in ("http", "https", "ftp", "all", "no")}
    | {f"{scheme}_PROXY" for scheme in ("HTTP", "HTTPS", "FTP", "ALL", "NO")}
)


@attrs.frozen
class CommandResult:
    """What a finished command did. ``stdout``/``stderr`` are lossless text (surrogateescape)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Exit status 0."""
        return self.returncode == 0

    @property
    def output(self) -> str:
        """stderr then stdout, stripped: what a human needs to see when something failed."""
        return "\n".join(part.strip() for part in (self.stderr, self.stdout) if part.strip())


class Runner(Protocol):
    """The signature of :func:`run`; tests pass a fake that records commands instead."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult: ...


def which(program: str) -> str | None:
    """Absolute path of ``program`` on :data:`SYSTEM_PATH` (or as given when it has a slash)."""
    if os.sep in program:
        return program if os.access(program, os.X_OK) else None
    return shutil.which(program, path=SYSTEM_PATH)


def child_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a command: :data:`SYSTEM_PATH`, the C locale, the
    :data:`PASSED_ENV` variables the caller has, then ``env``.

    Nothing else is inherited: ``HOME``, ``TMPDIR``, ``MAIL_CONFIG``, ``LD_*`` and the like would
    let the caller's environment choose which files root's commands read.
    """
    full = {name: value for name, value in os.environ.items() if name in PASSED_ENV}
    full["PATH"] = SYSTEM_PATH
    full.update(BASE_ENV)
    full.update(env or {})
    return full


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    with os.fdopen(os.dup(fd), "rb") as handle:
        return decode(handle.read())


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> CommandResult:
    """Run ``argv`` (no shell) and wait at most ``timeout`` seconds.

    A missing program or a timeout raises :class:`MailconfError`; a non-zero exit status does not
    (callers decide what a failure means and usually want the message).
    """
    if not argv:
        raise ValueError("empty argument list")
    argv = tuple(argv)
    program = which(argv[0])
    if program is None:
        raise MailconfError(f"{argv[0]}: program not found")
    out = os.memfd_create("mailconf-stdout")
    err = os.memfd_create("mailconf-stderr")
    try:
        try:
            proc = subprocess.Popen(
                [program, *argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=child_environment(env),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise MailconfError(f"{argv[0]}: cannot run: {exc.strerror}") from exc
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            message = _read_all(err).strip()
            raise MailconfError(
                f"{' '.join(argv)}: no answer after {timeout:g} s (killed)"
                + (f": {message}" if message else "")
            ) from None
        return CommandResult(argv, returncode, _read_all(out), _read_all(err))
    finally:
        os.close(out)
        os.close(err)
