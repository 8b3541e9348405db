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
    body = refile_regex(pattern)
    # POSIX ERE has no Python-only escapes or lazy quantifiers: make the few that differ literal.
    body = body.replace("(?", "(\\?")
    return re.compile(body, re.IGNORECASE if icase else 0)
