"""The tag-list syntax DKIM key records and DMARC records share (RFC 6376 3.2, RFC 7489 6.4).

Its own module so that both the DNS checks and :mod:`mailconf.keys` (reading a ``SELECTOR.txt``
stub) use the one definition without importing each other.
"""

from __future__ import annotations

import re


def parse_tag_list(text: str) -> list[tuple[str, str]]:
    """Split a DKIM/DMARC tag list (``tag=value; ...``) into pairs, keeping order and duplicates.

    Whitespace around tags, ``=`` and ``;`` is dropped (RFC 6376 3.2); a trailing ``;`` is fine.
    Raises ValueError for a part without ``=`` or with a bad tag name.
    """
    pairs = []
    for part in text.split(";"):
        if part.strip() == "":
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"{part.strip()!r} is not tag=value")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not a tag name")
        pairs.append((name, value.strip()))
    return pairs
