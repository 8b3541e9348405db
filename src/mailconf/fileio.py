"""Byte-exact reading and crash-safe writing of configuration files.

Configuration files may hold bytes that are not UTF-8 (a Latin-1 comment, a NUL).  mailconf decodes
with ``surrogateescape`` so every byte survives a round trip through ``str`` and back.

Writes go to a temporary file in the same directory, are fsynced, renamed over the target and the
directory is fsynced: a crash at any point leaves either the old or the new file, never half of one.
The old file's mode and owner are kept (``postconf -e`` resets the mode to 644; we do not).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

ENCODING = "utf-8"
ERRORS = "surrogateescape"


def decode(data: bytes) -> str:
    """Bytes to text without losing any byte."""
    return data.decode(ENCODING, ERRORS)


def encode(text: str) -> bytes:
    """Text produced by :func:`decode` (or plain text) back to the same bytes."""
    return text.encode(ENCODING, ERRORS)


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a file as lossless text."""
    return decode(Path(path).read_bytes())


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int | None = None,
    uid: int | None = None,
    gid: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically.

    Mode and ownership: explicit arguments win; otherwise those of the existing file are kept; a new
    file gets 0644 (``mode`` should be given for secrets).  Symlinks are written through: the file
    they point at is replaced, so a configuration managed by a symlink stays managed.
    """
    target = Path(os.path.realpath(path))
    directory = target.parent
    try:
        current = os.stat(target)
    except FileNotFoundError:
        current = None
    if mode is None:
        mode = (current.st_mode & 0o7777) if current is not None else 0o644
    if uid is None and current is not None:
        uid = current.st_uid
    if gid is None and current is not None:
        gid = current.st_gid

    import tempfile  # only writers need it; keeps `import mailconf` quick for readers

    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".mailconf-tmp", dir=directory
    )
    try:
        # mkstemp creates the file 0600, so a secret is never readable through it.
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if uid is not None or gid is not None:
            os.chown(tmp_name, -1 if uid is None else uid, -1 if gid is None else gid)
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_directory(directory)
