"""Byte-exact reading and crash-safe writing of configuration files.

Configuration files may hold bytes that are not UTF-8 (a Latin-1 comment, a NUL).  mailconf decodes
with ``surrogateescape`` so every byte survives a round trip through ``str`` and back.

Writes go to a temporary file in the same directory, are fsynced, renamed over the target and the
directory is fsynced: a crash at any point leaves either the old or the new file, never half of one.
The old file's mode and owner are kept (``postconf -e`` resets the mode to 644; we do not).
"""

from __future__ import annotations

import os
from pathlib import Path

from mailconf.walk import walk

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
    create_parents: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically.

    Mode and ownership: explicit arguments win; otherwise those of the existing file are kept; a new
    file gets 0644 (``mode`` should be given for secrets).  Symlinks owned by root or the caller are
    written through: the file they point at is replaced, so a configuration managed by a symlink
    stays managed; a link owned by anyone else is refused.  The path is walked with directory
    descriptors (:mod:`mailconf.walk`), so no component can be swapped for a link between that
    check and the write.  The temporary file is created (``O_EXCL``, 0600) beside the target,
    never under ``TMPDIR``.  ``create_parents``: the mode of missing directories to create.

    Errors name ``path`` as given, never the temporary file.
    """
    with walk(path, create_parents=create_parents) as place:
        place.write(data, mode=mode, uid=uid, gid=gid)
