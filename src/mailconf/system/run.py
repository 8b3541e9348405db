"""Running external programs: argument lists only, always with a timeout.

Why not ``subprocess.run(capture_output=True)``: daemons started by ``postfix start``, an init
script or ``opendkim -x`` fork into the background and may keep the inherited stdout/stderr open.
With pipes, reading until end-of-file would then block until the *daemon* exits (a hang that looks
like a timeout). Output therefore goes to anonymous temporary files, which nobody waits on.

The child runs in its own session so that a timeout can kill the whole process group it created,
not only the direct child.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO, Protocol

import attrs

from mailconf.errors import MailconfError
from mailconf.fileio import decode

#: Environment additions for every command: programs whose output we parse must not translate it.
BASE_ENV: Mapping[str, str] = {"LC_ALL": "C", "LANG": "C"}

#: Where system programs live; also searched when PATH (e.g. under sudo or cron) lacks sbin.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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
    """Absolute path of ``program`` on PATH or in the usual sbin/bin directories, else None."""
    if os.sep in program:
        return program if os.access(program, os.X_OK) else None
    path = os.environ.get("PATH", "") + os.pathsep + SYSTEM_PATH
    return shutil.which(program, path=path)


def _read_all(handle: IO[bytes]) -> str:
    handle.seek(0)
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
    full_env = dict(os.environ)
    full_env.setdefault("PATH", SYSTEM_PATH)
    if SYSTEM_PATH not in full_env["PATH"]:
        full_env["PATH"] = full_env["PATH"] + os.pathsep + SYSTEM_PATH
    full_env.update(BASE_ENV)
    if env:
        full_env.update(env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                [program, *argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=full_env,
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
            raise MailconfError(
                f"{' '.join(argv)}: no answer after {timeout:g} s (killed)"
                + (f": {_read_all(err).strip()}" if err.tell() else "")
            ) from None
        return CommandResult(argv, returncode, _read_all(out), _read_all(err))
