"""mailconf: configure Postfix, OpenDKIM and OpenDMARC (SPF, DKIM, DMARC) the way the daemons read
their files, without losing a byte of what the administrator wrote.

>>> import mailconf
>>> doc = mailconf.parse("myhostname = mail.example.com\\n", kind="postfix-main")
>>> doc.dump()
'myhostname = mail.example.com\\n'
"""

from __future__ import annotations

import os

from mailconf._version import __version__
from mailconf.errors import EditError, MailconfError, ParseError, ReadError, ValidationError
from mailconf.syntax.document import Document, Entry
from mailconf.syntax.kinds import KINDS, load_file, parse_kind

__all__ = [
    "KINDS",
    "Document",
    "Domain",
    "EditError",
    "Entry",
    "MailconfError",
    "ParseError",
    "ReadError",
    "Setup",
    "ValidationError",
    "__version__",
    "load",
    "parse",
]


def __getattr__(name: str) -> object:
    """``mailconf.Setup`` and ``mailconf.Domain`` without importing the planner for every parse."""
    if name in ("Setup", "Domain"):
        from mailconf.setup import spec

        return getattr(spec, name)
    raise AttributeError(f"module 'mailconf' has no attribute {name!r}")


def parse(text: str, kind: str, *, path: str | None = None) -> Document:
    """Parse ``text`` as a file of ``kind``; ``dump()`` of the result returns ``text`` exactly.

    Raises :class:`ParseError` for input the daemon would refuse.
    """
    return parse_kind(text, kind, path=path)


def load(path: str | os.PathLike[str], kind: str | None = None) -> Document:
    """Read and parse a file (any bytes round-trip); the kind comes from the name unless given."""
    return load_file(path, kind)
