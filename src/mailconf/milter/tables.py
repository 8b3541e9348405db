"""OpenDKIM data-set files read as ``file:`` or ``refile:``: KeyTable, SigningTable, host lists.

All three share OpenDKIM's line rules (``opendkim-db.c``, ``grammars/dataset_lines.lark``): ``#``
or a NUL byte anywhere cuts the line, the rest is trimmed, the key is the first word and the value
the rest.  They differ in what the key and value mean, which the subclasses say.  The first
matching line wins (unlike the conf files).

``refile:`` reads a line differently: the pattern ends at the first blank of the *untrimmed* line,
so an indented line has an empty pattern (it matches nothing useful).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import ClassVar

import attrs

from mailconf.errors import ValidationError
from mailconf.milter.datasets import compile_refile
from mailconf.syntax.document import Document
from mailconf.syntax.layout import align_like, visual_width
from mailconf.syntax.parts import GrammarEntry

CSPACE = " \t\n\v\f\r"


@attrs.frozen(eq=False)
class Row(GrammarEntry):
    """``key value``: what OpenDKIM stores for one line of a data set, the parts the grammar's
    ``ROW`` names (indent, key, sep, value, space, comment, newline)."""

    grammar_name = "dataset_lines"
    parts_terminal = "ROW"

    @property
    def key(self) -> str:
        return self.part("key")

    @property
    def value(self) -> str:
        return self.part("value")

    @property
    def content(self) -> str:
        """The line as the daemon keeps it: up to where it cuts the line (``#`` or a NUL)."""
        parts = self.parts
        ends = (parts.start(name) for name in ("comment", "newline") if parts.group(name))
        return self.text[: next(ends, len(self.text))]


@attrs.define(eq=False)
class DataSet(Document):
    entry_type = Row
    #: Whether the daemon opens this table ignoring case (what :meth:`get` compares with).
    icase: ClassVar[bool] = False

    @property
    def rows(self) -> list[Row]:
        return [entry for entry in self.entries if isinstance(entry, Row)]

    def to_json(self) -> dict[str, object]:
        return {"entries": [[row.key, row.value] for row in self.rows]}

    # ------------------------------------------------------------------ reading
    def lookup_file(self, key: str, *, icase: bool = False) -> str | None:
        """A ``file:`` lookup: the value of the first row whose key equals ``key`` (``strcmp``, or
        ``strcasecmp`` with ``icase``); None when no row matches ("" for a key-only row)."""
        folded = key.lower() if icase else key
        for row in self.rows:
            if (row.key.lower() if icase else row.key) == folded:
                return row.value
        return None

    @staticmethod
    def refile_parts(row: Row) -> tuple[str, str]:
        """``(pattern, value)`` of a row read as ``refile:``: the pattern ends at the first blank
        of the untrimmed line, so an indented row has an empty pattern and its key is part of
        the value."""
        if row.part("indent"):
            return "", row.content[1:].strip(CSPACE)
        return row.key, row.value

    @staticmethod
    def _refile_has_gap(row: Row) -> bool:
        return any(char in CSPACE for char in row.content)

    def lookup_refile(self, key: str, *, icase: bool = False) -> str | None:
        """A ``refile:`` lookup: the value of the first row whose pattern matches ``key``.

        Raises ValidationError when a pattern is not a valid regular expression (OpenDKIM then
        refuses to open the whole table)."""
        # A key without a line break and in ASCII is matched against plain patterns (literals and
        # '*', nearly every SigningTable row) without compiling a regex for each row: that took
        # seconds for a miss in 100,000 rows.  Same answers: see refile_glob.
        plain_key = (key.lower() if icase else key) if key.isascii() and "\n" not in key else None
        for row in self.rows:
            pattern, value = self.refile_parts(row)
            if not pattern:  # an indented line: the daemon's pattern is empty and it skips it
                continue
            parts = refile_glob(pattern) if plain_key is not None else None
            if plain_key is not None and parts is not None:
                matched = _glob_match(
                    [part.lower() for part in parts] if icase else parts, plain_key
                )
            else:
                try:
                    compiled = compile_refile(pattern, icase=icase)
                except re.error as error:
                    raise ValidationError(
                        f"{self.path or self.kind}: pattern {pattern!r} is not a valid regular "
                        "expression "
                        f"({error}); opendkim refuses the table"
                    ) from None
                matched = compiled.search(key) is not None
            if matched:
                if not value and self._refile_has_gap(row):
                    # the daemon keeps an empty (not absent) value and its lookup then fails
                    raise ValidationError(
                        f"{self.path or self.kind}: line {row.lineno}: pattern {pattern!r} is "
                        "followed by blanks but no value: opendkim's lookup fails on it"
                    )
                return value
        return None

    # ------------------------------------------------------------------ editing
    def _find(self, key: str) -> list[Row]:
        return [row for row in self.rows if row.key == key]

    def add_entry(self, key: str, value: str = "") -> bool:
        """Append ``key value`` unless a row with that key and value exists (False then).

        A row with the same key but another value is replaced in place (the first one, since the
        first match wins).  The new line copies the separator style of the existing rows."""
        _check_token(key, "key")
        value = value.strip(CSPACE)
        if any(char in value for char in "#\n\r\0"):
            raise ValidationError(f"value {value!r} may not contain '#', a NUL or a line break")
        existing = self._find(key)
        if existing:
            first = existing[0]
            if first.value == value:
                return False
            self.replace(first, self._layout(key, value, first))
            return True
        reference = self.rows[-1] if self.rows else None
        self.insert(len(self.entries), self.parse_entry(self._layout(key, value, reference)))
        return True

    def remove_entry(self, key: str) -> bool:
        """Remove every row whose key is ``key`` (with the comments directly above it)."""
        found = self._find(key)
        self.remove_each(found)
        return bool(found)

    # ------------------------------------------------------------------ protocol
    def get(self, name: str) -> str | None:
        """The value of the first row whose key is ``name``, as a ``file:`` lookup finds it (the
        daemon's first match); "" for a key-only row, None when no row has that key."""
        return self.lookup_file(name, icase=self.icase)

    def _layout(self, key: str, value: str, reference: Row | None) -> str:
        if not value:
            return key
        if reference is None or not reference.value:
            return f"{key} {value}"
        indent, sep = reference.part("indent"), reference.part("sep")
        column = visual_width(indent + reference.key + sep)
        return align_like(indent, key, value, sep, column)


# What makes a refile: pattern more than literals and '*' once turned into a regex ('.' and '+'
# are escaped there, '*' becomes '.*').
_REGEX_SPECIAL = frozenset("^$?{}()[]|\\")


def refile_glob(pattern: str) -> list[str] | None:
    """A ``refile:`` pattern made of ASCII literals and ``*`` only: its literal parts (split at
    the ``*``), else None.  Such a pattern always compiles, and its regex ``^a.*b$`` matches a key
    without a line break (``.`` stops at one, ``$`` matches before a final one) exactly when the
    key starts with ``a``, ends with ``b`` and holds the middle parts in order in between."""
    if not pattern.isascii() or not _REGEX_SPECIAL.isdisjoint(pattern):
        return None
    return pattern.split("*")


def _glob_match(parts: list[str], key: str) -> bool:
    if len(parts) == 1:
        return key == parts[0]
    first, *middle, last = parts
    end = len(key) - len(last)
    if end < len(first) or not key.startswith(first) or not key.endswith(last):
        return False
    position = len(first)
    for part in middle:
        found = key.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def _check_token(text: str, what: str) -> None:
    if not text or any(char in CSPACE or char in "#\0" for char in text):
        raise ValidationError(f"{what} {text!r} must be one word without '#' or a NUL")


@attrs.frozen
class KeyEntry:
    """A KeyTable value ``domain:selector:keypath`` (split on the first two colons)."""

    keyname: str
    domain: str
    selector: str
    keypath: str


@attrs.define(eq=False)
class KeyTable(DataSet):
    kind = "keytable"
    linter = ("mailconf.milter.table_lint", "lint_keytable")

    def lookup(self, key: str) -> str | None:
        """The raw value of the first row named ``key`` (case-sensitive, as the daemon opens it)."""
        return self.lookup_file(key)

    def keys(self) -> list[KeyEntry]:
        result = []
        for row in self.rows:
            parts = row.value.split(":", 2)
            if len(parts) == 3:
                result.append(KeyEntry(row.key, *parts))
        return result

    def entries_for(self, domain: str, selector: str) -> list[KeyEntry]:
        """Keys for ``domain`` (case-insensitive) and ``selector``, in file order."""
        return [
            key
            for key in self.keys()
            if key.domain.lower() == domain.lower() and key.selector == selector
        ]

    def add_key(self, domain: str, selector: str, keypath: str, keyname: str | None = None) -> bool:
        """Add ``keyname domain:selector:keypath`` (keyname defaults to
        ``selector._domainkey.domain``)."""
        for part, what in ((domain, "domain"), (selector, "selector")):
            if not part or ":" in part:
                raise ValidationError(f"{what} {part!r} must be non-empty and without ':'")
        _check_token(keypath, "key path")
        name = keyname or f"{selector}._domainkey.{domain}"
        return self.add_entry(name, f"{domain}:{selector}:{keypath}")

    def set_key(self, domain: str, selector: str, keypath: str, keyname: str | None = None) -> bool:
        """Make ``keyname domain:selector:keypath`` the only row named ``keyname`` (False when it
        already is).  OpenDKIM uses the first row of a name, so later ones are stale and go (with
        the comment lines directly above them): unlike :meth:`add_key`, which leaves them."""
        changed = self.add_key(domain, selector, keypath, keyname)
        name = keyname or f"{selector}._domainkey.{domain}"
        extras = self._find(name)[1:]
        self.remove_each(extras)
        return changed or bool(extras)


@attrs.define(eq=False)
class SigningTable(DataSet):
    kind = "signingtable"
    linter = ("mailconf.milter.table_lint", "lint_signingtable")
    # The running daemon opens the SigningTable ignoring case (see :meth:`lookup`).
    icase = True

    def lookup(self, address_or_key: str, *, regex: bool, icase: bool = True) -> str | None:
        """The raw value (``keyname[:signer]``) of the first row matching ``address_or_key``.

        ``regex`` reads the table as ``refile:`` (anchored patterns, ``*`` wildcard, ``.``/``+``
        literal), otherwise as ``file:`` (exact key).  The running daemon opens the SigningTable
        case-insensitively (``icase=True``); ``opendkim -Q`` does not (``icase=False``)."""
        if regex:
            return self.lookup_refile(address_or_key, icase=icase)
        return self.lookup_file(address_or_key, icase=icase)

    def keyname_for(self, address: str, *, regex: bool, icase: bool = True) -> str | None:
        """The value the daemon picks when signing mail from ``address`` (``user@domain``):
        for ``refile:`` the first pattern matching the address; for ``file:`` the keys
        ``user@domain``, ``domain``, then for each parent ``user@.parent`` and ``.parent``,
        then ``user@*`` and ``*`` (``dkimf_apply_signtable``)."""
        if regex:
            return self.lookup_refile(address, icase=icase)
        user, _, domain = address.rpartition("@")
        for candidate in self._file_candidates(user, domain):
            value = self.lookup_file(candidate, icase=icase)
            if value is not None:
                return value
        return None

    @staticmethod
    def _file_candidates(user: str, domain: str) -> Iterator[str]:
        yield f"{user}@{domain}"
        yield domain
        index = domain.find(".")
        while index >= 0:
            yield f"{user}@{domain[index:]}"
            yield domain[index:]
            index = domain.find(".", index + 1)
        yield f"{user}@*"
        yield "*"

    def add_row(self, pattern: str, keyname: str) -> bool:
        return self.add_entry(pattern, keyname)

    def remove_row(self, pattern: str) -> bool:
        return self.remove_entry(pattern)

    def add_signing_key(self, pattern: str, keyname: str) -> bool:
        """Add ``pattern keyname`` after the pattern's rows, keeping them (False when the pair is
        there).  With ``MultipleSignatures`` one address is signed by every key its pattern maps
        to (an RSA and an ed25519 key), which :meth:`add_row` would collapse into one."""
        rows = self._find(pattern)
        if any(row.value == keyname for row in rows):
            return False
        if not rows:
            return self.add_entry(pattern, keyname)
        text = rows[-1].text.rstrip("\r\n")
        after_key = text.index(pattern) + len(pattern)
        separator = text[after_key : len(text) - len(text[after_key:].lstrip(" \t"))] or " "
        line = text[:after_key] + separator + keyname
        self.insert(self.entries.index(rows[-1]) + 1, self.parse_entry(line))
        return True


@attrs.define(eq=False)
class HostList(DataSet):
    kind = "hostlist"
    linter = ("mailconf.milter.host_lint", "lint_hostlist")

    @property
    def hosts(self) -> list[str]:
        return [row.key for row in self.rows]

    def to_json(self) -> dict[str, object]:
        return {"hosts": self.hosts}

    def add_host(self, host: str) -> bool:
        """Append ``host`` unless it is already listed (hosts compare ignoring case)."""
        _check_token(host, "host")
        if any(existing.lower() == host.lower() for existing in self.hosts):
            return False
        reference = self.rows[-1] if self.rows else None
        indent = reference.part("indent") if reference is not None else ""
        self.insert(len(self.entries), self.parse_entry(indent + host))
        return True

    def remove_host(self, host: str) -> bool:
        found = [row for row in self.rows if row.key.lower() == host.lower()]
        self.remove_each(found)
        return bool(found)

    def match(self, host_or_ip: str) -> bool:
        """Whether OpenDKIM counts ``host_or_ip`` as listed (``dkimf_checkhost`` for names,
        ``dkimf_checkip`` for addresses; ``!`` entries exclude; first decision wins)."""
        decision = self._decision(host_or_ip)
        return decision is not None and decision[0]

    def get(self, name: str) -> str | None:
        """The entry that lets ``name`` (a host name or an address) in as OpenDKIM decides it
        (:meth:`match`): ``.example.com`` for ``mail.example.com``, ``10.0.0.0/8`` for
        ``10.1.2.3``; None when no entry does, or a ``!`` entry excludes it first."""
        decision = self._decision(name)
        return decision[1] if decision is not None and decision[0] else None

    def _decision(self, host_or_ip: str) -> tuple[bool, str] | None:
        """``(listed, the deciding entry as written)``, or None when no entry decides."""
        # Every key, folded, once: an address is probed up to 258 times (each prefix length,
        # with and without brackets), and a pass over 100,000 rows for each probe adds up.
        listed: dict[str, str] = {}
        for row in self.rows:
            listed.setdefault(row.key.lower(), row.key)
        text = host_or_ip.strip()
        bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        try:
            address = ipaddress.ip_address(bare)
        except ValueError:
            return _check_host(text, listed)
        return _check_ip(address, listed)

    def replace_host(self, wrong: str, right: str) -> bool:
        """Turn the lines listing only ``wrong`` (``locahost``, ``*.example.com``: entries that
        never match what was meant) into one listing ``right``, in place, keeping the line's
        indentation and comment; False when no line lists ``wrong``."""
        rows = [row for row in self.rows if row.key == wrong and not row.value]
        if not rows:
            return False
        if right in self.hosts:
            self.remove_each(rows)
            return True
        text = rows[0].text
        indent = text[: len(text) - len(text.lstrip(CSPACE))]
        rest = text.lstrip(CSPACE)[len(wrong) :].rstrip("\r\n")
        self.replace(rows[0], indent + right + rest)
        self.remove_each(rows[1:])
        return True


Decision = tuple[bool, str] | None  # (listed?, the deciding entry as written)


def _check_host(host: str, listed: dict[str, str]) -> Decision:
    if not host:
        return None
    index = 0
    while index >= 0:
        decided = _probe([host[index:]], listed)
        if decided is not None:
            return decided
        index = host.find(".", index + 1)
    return None


def _probe(keys: list[str], listed: dict[str, str]) -> Decision:
    for key in keys:
        excluded = listed.get("!" + key.lower())
        if excluded is not None:
            return False, excluded
        found = listed.get(key.lower())
        if found is not None:
            return True, found
    return None


def _check_ip(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, listed: dict[str, str]
) -> Decision:
    text = _ntop(address)
    decided = _probe([text, f"[{text}]"], listed)
    if decided is not None:
        return decided
    bits_range = range(32, -1, -1) if address.version == 4 else range(128, -1, -1)
    for bits in bits_range:
        network = ipaddress.ip_network(f"{address}/{bits}", strict=False)
        net = _ntop(network.network_address)
        decided = _probe([f"{net}/{bits}", f"[{net}]/{bits}"], listed)
        if decided is not None:
            return decided
    return None


def _ntop(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The address as glibc's ``inet_ntop`` writes it (lower case; IPv4-mapped and -compatible
    IPv6 addresses with a dotted tail)."""
    if address.version == 4:
        return str(address)
    assert isinstance(address, ipaddress.IPv6Address)
    packed = address.packed
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    tail = ".".join(str(b) for b in packed[12:])
    if words[:5] == [0] * 5 and words[5] == 0xFFFF:
        return f"::ffff:{tail}"
    if words[:6] == [0] * 6 and words[6] != 0:
        return f"::{tail}"
    return str(address)
