"""OpenDKIM data-set specifications (``KeyTable refile:/etc/opendkim/key.table``) and the
``refile:`` pattern language, as ``opendkim-db.c`` and ``util.c`` read them.

A spec is ``type:rest`` when it has a colon before any comma and ``type`` is a known data-set
type (case-insensitive).  Without such a prefix: a value ending in ``.db`` is a Berkeley DB file,
one starting with ``/`` a flat file, anything else a comma-separated list, so a relative path such
as ``trusted.hosts`` silently becomes a one-item literal list.
"""

from __future__ import annotations

import re

import attrs

# Types compiled into Debian 12's opendkim (see ``opendkim -V``: USE_DB, USE_LDAP, USE_LUA,
# USE_ODBX); memcache, repute, socket and mdb are not.
KNOWN_TYPES = ("csl", "file", "refile", "db", "dsn", "ldap", "ldapi", "ldaps", "lua")
_FILE_TYPES = ("file", "refile", "db", "lua")


@attrs.frozen
class DataSetSpec:
    """One data-set value: ``kind`` (file, refile, csl, db, dsn, ldap, lua, unknown), ``path`` for
    the kinds that name a file, ``items`` for ``csl``, ``explicit`` when a prefix was written."""

    raw: str
    kind: str
    path: str | None = None
    items: tuple[str, ...] = ()
    explicit: bool = False

    @property
    def is_file(self) -> bool:
        return self.path is not None


def parse_dataset(value: str) -> DataSetSpec:
    """How OpenDKIM's ``dkimf_db_open()`` reads ``value``."""
    colon = value.find(":")
    comma = value.find(",")
    if colon >= 0 and not (0 <= comma < colon):
        prefix = value[:colon].lower()
        rest = value[colon + 1 :]
        if prefix not in KNOWN_TYPES:
            return DataSetSpec(value, "unknown", explicit=True)
        if prefix == "csl":
            return DataSetSpec(value, "csl", items=_csl(rest), explicit=True)
        if prefix in _FILE_TYPES:
            return DataSetSpec(value, prefix, path=rest, explicit=True)
        return DataSetSpec(value, prefix, explicit=True)
    last_db = value.rfind(".db")
    if last_db >= 0 and last_db + 3 == len(value):
        return DataSetSpec(value, "db", path=value)
    if value.startswith("/"):
        return DataSetSpec(value, "file", path=value)
    return DataSetSpec(value, "csl", items=_csl(value))


def _csl(text: str) -> tuple[str, ...]:
    return tuple(item for item in text.split(",") if item)


def refile_regex(pattern: str) -> str:
    """``dkimf_mkregexp()``: anchor, ``*`` -> ``.*``, ``.`` and ``+`` literal, the rest live."""
    out = ["^"]
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char in ".+":
            out.append("\\" + char)
        else:
            out.append(char)
    out.append("$")
    return "".join(out)


def compile_refile(pattern: str, *, icase: bool) -> re.Pattern[str]:
    """The compiled POSIX extended regex of a ``refile:`` key; raises ``re.error`` when the
    daemon's ``regcomp()`` would fail too (e.g. an unbalanced ``[``)."""
    return re.compile(posix_ere_to_python(refile_regex(pattern)), re.IGNORECASE if icase else 0)


_POSIX_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "0-9a-zA-Z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "xdigit": "0-9A-Fa-f",
    "cntrl": "\\x00-\\x1f\\x7f",
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
}
# glibc's GNU escapes outside brackets; any other escaped character is itself
_GNU_ESCAPES = {
    "w": "\\w",
    "W": "\\W",
    "s": "\\s",
    "S": "\\S",
    "b": "\\b",
    "B": "\\B",
    "<": "\\b(?=\\w)",
    ">": "\\b(?<=\\w)",
    "`": "\\A",
    "'": "\\Z",
}


def posix_ere_to_python(body: str) -> str:
    """A glibc ``regcomp(REG_EXTENDED)`` pattern as a Python one: ``\\d`` or ``\\Z`` are the
    letters d and Z, a backslash inside ``[...]`` is literal, ``[:digit:]`` classes work, ``(?``
    is a literal ``?`` after ``(``.  Raises ``re.error`` for an unterminated bracket."""
    out: list[str] = []
    index, length = 0, len(body)
    while index < length:
        char = body[index]
        if char == "\\" and index + 1 < length:
            nxt = body[index + 1]
            out.append(_GNU_ESCAPES.get(nxt, "\\" + nxt if nxt in "123456789" else re.escape(nxt)))
            index += 2
        elif char == "[":
            index = _bracket(body, index, out)
        elif char == "(" and body[index + 1 : index + 2] == "?":
            out.append("(\\?")
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _bracket(body: str, start: int, out: list[str]) -> int:
    """Translate the bracket expression at ``start``; return the index after it."""
    index = start + 1
    parts = ["["]
    if body[index : index + 1] == "^":
        parts.append("^")
        index += 1
    first = True
    while index < len(body):
        char = body[index]
        if char == "]" and not first:
            out.append("".join(parts) + "]")
            return index + 1
        first = False
        if body.startswith("[:", index):
            end = body.find(":]", index + 2)
            name = body[index + 2 : end] if end >= 0 else ""
            if name not in _POSIX_CLASSES:
                raise re.error(f"invalid character class at position {index}")
            parts.append(_POSIX_CLASSES[name])
            index = end + 2
            continue
        parts.append("\\" + char if char in "\\[]&~|" else char)
        index += 1
    raise re.error(f"unterminated character set at position {start}")
