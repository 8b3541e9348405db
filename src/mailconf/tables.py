"""OpenDKIM data-set files read as ``file:`` or ``refile:``: KeyTable, SigningTable, host lists.

All three share OpenDKIM's line rules (``opendkim-db.c``): ``#`` anywhere cuts the line, the rest is
trimmed, the key is the first word and the value the rest.  They differ in what the key and value
mean, which the subclasses say.
"""

from __future__ import annotations

import functools

import attrs

from mailconf.syntax.document import Document, Entry

CSPACE = " \t\n\v\f\r"


@attrs.define(eq=False)
class Row(Entry):
    """``key value``: what OpenDKIM stores for one line of a data set."""

    @functools.cached_property
    def _parts(self) -> tuple[str, str]:
        content = self.text.split("#", 1)[0].strip(CSPACE)
        for index, char in enumerate(content):
            if char in CSPACE:
                return content[:index], content[index:].lstrip(CSPACE)
        return content, ""

    @property
    def key(self) -> str:
        return self._parts[0]

    @property
    def value(self) -> str:
        return self._parts[1]


@attrs.define(eq=False)
class DataSet(Document):
    entry_type = Row

    @property
    def rows(self) -> list[Row]:
        return [entry for entry in self.entries if isinstance(entry, Row)]

    def to_json(self) -> dict[str, object]:
        return {"entries": [[row.key, row.value] for row in self.rows]}


@attrs.define(eq=False)
class KeyTable(DataSet):
    kind = "keytable"


@attrs.define(eq=False)
class SigningTable(DataSet):
    kind = "signingtable"


@attrs.define(eq=False)
class HostList(DataSet):
    kind = "hostlist"

    @property
    def hosts(self) -> list[str]:
        return [row.key for row in self.rows]

    def to_json(self) -> dict[str, object]:
        return {"hosts": self.hosts}
