"""Where aggregate reports come from: ``.xml``, ``.xml.gz`` and ``.zip`` files, single messages
(``.eml``), mbox files and Maildir directories whose messages carry those as attachments.

Each input yields *documents*: a label naming it for warnings (``reports.mbox[3]/google.zip:
google.com!example.com!1!2.xml``) and the XML as a stream of byte chunks.  What a file is comes
from its first bytes, not its name (reporters name and label attachments loosely): gzip's and
zip's magic numbers, ``From `` for an mbox, ``<`` (after an optional byte order mark and blanks)
for XML, anything else is read as one mail message.

Every size is capped, streamed rather than trusted (a zip's sizes are the sender's claim):
decompressed XML per report (:attr:`Limits.report_bytes`), one mail message
(:attr:`Limits.message_bytes`) and the members of a zip (:attr:`Limits.zip_members`, read from
the archive's end record before :mod:`zipfile` reads a directory of any length).  A file that
breaks a rule is skipped with a warning; nothing is fetched, no link followed out of a directory.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import gzip
import io
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import IO, Final, Protocol

import attrs

from mailconf.errors import ReadError
from mailconf.reports.feedback import ReportError

__all__ = ["Document", "Limits", "documents", "file_documents", "input_files"]

MIB: Final = 1024 * 1024
_CHUNK: Final = 256 * 1024
_ZIP_END: Final = b"PK\x05\x06"
_ZIP_END_SIZE: Final = 22


@attrs.frozen
class Limits:
    """The caps on what one input may make mailconf read."""

    #: Decompressed bytes of one report's XML.
    report_bytes: int = 64 * MIB
    #: Bytes of one mail message (with its encoded attachments).
    message_bytes: int = 64 * MIB
    #: Members of one zip archive.
    zip_members: int = 16


@attrs.frozen
class Document:
    """One report's XML: ``chunks`` yields it, raising :class:`ReportError` when a cap is hit or
    the compression is broken."""

    label: str
    chunks: Iterator[bytes]


Warn = Callable[[str, str], None]


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def documents(path: str, limits: Limits, warn: Warn) -> Iterator[Document]:
    """The documents of ``path`` (a file or a directory).

    An OSError about ``path`` itself propagates (the command line named something that cannot be
    read); problems inside it go to ``warn(label, message)`` and the input is skipped.
    """
    for name, named in input_files(path, warn):
        yield from file_documents(name, limits, warn, named=named)


def input_files(path: str, warn: Warn) -> Iterator[tuple[str, bool]]:
    """The files to read for ``path``: ``(path, True)`` for a file named on the command line,
    or each message of a Maildir (``new/``, then ``cur/``), or each regular file under a
    directory, in name order, without following symbolic links or entering hidden names
    (``(file, False)``).  An OSError about ``path`` itself propagates."""
    if stat.S_ISDIR(os.stat(path).st_mode):
        yield from _directory(Path(path), warn)
    else:
        yield path, True


def file_documents(path: str, limits: Limits, warn: Warn, *, named: bool) -> Iterator[Document]:
    """The documents in one file; a file that cannot be opened is a warning unless ``named``."""
    try:
        handle = _open_regular(path)
    except (OSError, ReadError) as error:
        if named:
            raise
        warn(path, getattr(error, "strerror", None) or str(error))
        return
    with handle:
        yield from _file(path, handle, limits, warn)


def _open_regular(path: str) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file: never a FIFO or a device, which
    would block or never end, and checked on the open file, so a swap after a check is moot."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ReadError(f"{path}: not a regular file")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _directory(path: Path, warn: Warn) -> Iterator[tuple[str, bool]]:
    if (path / "cur").is_dir() and (path / "new").is_dir():
        folders = [path / "new", path / "cur"]
    else:
        folders = [path]
    for folder in folders:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            warn(str(folder), error.strerror or str(error))
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if folder == path and len(folders) == 1:
                    yield from _directory(Path(entry.path), warn)
            elif entry.is_file(follow_symlinks=False):
                yield entry.path, False


def _file(
    label: str, handle: IO[bytes], limits: Limits, warn: Warn, *, mail: bool = True
) -> Iterator[Document]:
    """The documents of one file or attachment; ``mail``: it may be an mbox or a message."""
    head = handle.read(64)
    handle.seek(0)
    if head.startswith(b"\x1f\x8b"):
        yield Document(label, _gunzip(handle, limits))
    elif head.startswith(b"PK"):
        yield from _zip(label, handle, limits, warn)
    elif _looks_like_xml(head):
        yield Document(label, _plain(handle, limits))
    elif not mail:
        warn(label, "the attachment is neither gzip, zip nor XML")
    elif head.startswith(b"From "):
        yield from _mbox(label, handle, limits, warn)
    else:
        data = _read_capped(handle, limits.message_bytes)
        if data is None:
            warn(label, f"the mail message is larger than {_size(limits.message_bytes)}")
            return
        yield from _message(label, data, limits, warn)


def _looks_like_xml(head: bytes) -> bool:
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            return True
    return head.lstrip().startswith(b"<")


def _size(count: int) -> str:
    return f"{count // MIB} MiB" if count % MIB == 0 else f"{count} bytes"


def _read_capped(handle: IO[bytes], cap: int) -> bytes | None:
    """All of ``handle``, or None when it holds more than ``cap`` bytes."""
    data = handle.read(cap + 1)
    return None if len(data) > cap else data


def _capped(stream: _Readable, limit: int, what: str) -> Iterator[bytes]:
    """``stream`` in chunks, stopping with :class:`ReportError` past ``limit`` bytes."""
    total = 0
    while True:
        try:
            chunk = stream.read(_CHUNK)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:
            raise ReportError(f"{what} is corrupt: {error}") from None
        if not chunk:
            return
        total += len(chunk)
        if total > limit:
            raise ReportError(f"{what} is larger than {_size(limit)} (a decompression bomb?)")
        yield chunk


def _plain(handle: IO[bytes], limits: Limits) -> Iterator[bytes]:
    yield from _capped(handle, limits.report_bytes, "the XML")


def _gunzip(handle: IO[bytes], limits: Limits) -> Iterator[bytes]:
    with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
        yield from _capped(stream, limits.report_bytes, "the decompressed XML")


def _zip_member_count(handle: IO[bytes]) -> int:
    """The number of entries the zip's end-of-central-directory record announces.

    Read before :class:`zipfile.ZipFile`, which would load a central directory of any size; a
    ZIP64 archive (over 65,535 entries or 4 GiB) is never a report and is refused.
    """
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    window = min(size, _ZIP_END_SIZE + 0xFFFF)  # the end record and the longest comment
    handle.seek(size - window)
    tail = handle.read(window)
    at = tail.rfind(_ZIP_END)
    if at < 0 or len(tail) - at < _ZIP_END_SIZE:
        raise ReportError("not a zip archive (no end of central directory)")
    entries: int = struct.unpack("<H", tail[at + 10 : at + 12])[0]
    if entries == 0xFFFF:
        raise ReportError("a ZIP64 archive, never a DMARC report")
    handle.seek(0)
    return entries


def _zip(label: str, handle: IO[bytes], limits: Limits, warn: Warn) -> Iterator[Document]:
    try:
        count = _zip_member_count(handle)
        if count > limits.zip_members:
            raise ReportError(f"the zip has {count} members; at most {limits.zip_members} are read")
        archive = zipfile.ZipFile(handle)
    except ReportError as error:
        warn(label, str(error))
        return
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        warn(label, f"not a readable zip archive: {error}")
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            yield Document(f"{label}:{info.filename}", _zip_member(archive, info, limits))


def _zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> Iterator[bytes]:
    if info.file_size > limits.report_bytes:
        raise ReportError(
            f"the member claims {info.file_size} bytes; at most {_size(limits.report_bytes)} "
            "are read (a decompression bomb?)"
        )
    try:
        stream = archive.open(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as error:
        raise ReportError(f"cannot read the member: {error}") from None
    with stream:
        yield from _capped(stream, limits.report_bytes, "the decompressed XML")


def _mbox(label: str, handle: IO[bytes], limits: Limits, warn: Warn) -> Iterator[Document]:
    """Each message of an mbox file, one at a time: a message starts at a ``From `` line at the
    start of the file or after a blank line (what mboxo, mboxrd and mboxcl writers produce)."""
    number = 0
    lines: list[bytes] = []
    size = 0
    too_big = False
    previous_blank = True

    def finish() -> Iterator[Document]:
        where = f"{label}[{number}]"
        if too_big:
            warn(where, f"the mail message is larger than {_size(limits.message_bytes)}")
        elif lines:
            yield from _message(where, b"".join(lines), limits, warn)

    for line in iter(lambda: handle.readline(_CHUNK), b""):  # a line without end is cut
        if line.startswith(b"From ") and previous_blank:
            if number:
                yield from finish()
            number += 1
            lines, size, too_big = [], 0, False
            previous_blank = False
            continue
        previous_blank = line in (b"\n", b"\r\n")
        size += len(line)
        if size > limits.message_bytes:
            too_big, lines = True, []
        elif not too_big:
            lines.append(line)
    if number:
        yield from finish()


#: Attachment types that may hold a report (reporters also use application/octet-stream).
_REPORT_TYPES: Final = (
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "application/x-zip",
    "application/x-zip-compressed",
    "application/xml",
    "text/xml",
    "application/octet-stream",
)
_REPORT_SUFFIXES: Final = (".xml", ".gz", ".zip")


def _message(label: str, data: bytes, limits: Limits, warn: Warn) -> Iterator[Document]:
    """The report attachments of one mail message (parsed by the standard library's email)."""
    try:
        attachments = _attachments(data)
    except (email.errors.MessageError, ValueError, LookupError, TypeError, AttributeError) as e:
        warn(label, f"the mail message cannot be read: {e}")
        return
    if not attachments:
        warn(label, "no report attachment (gzip, zip or XML) in this message")
    for name, payload in attachments:
        yield from _file(f"{label}/{name}", io.BytesIO(payload), limits, warn, mail=False)


def _attachments(data: bytes) -> list[tuple[str, bytes]]:
    """The parts of a message that may hold a report: (file name or type, decoded bytes).

    The standard library's email parser is lenient, but on a malformed header it can still
    raise: the caller turns that into a warning for this message.
    """
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    found = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename() or ""
        if part.get_content_type() not in _REPORT_TYPES and not filename.lower().endswith(
            _REPORT_SUFFIXES
        ):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            found.append((filename or part.get_content_type(), payload))
    return found
