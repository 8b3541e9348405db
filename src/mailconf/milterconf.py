"""/etc/opendkim.conf and /etc/opendmarc.conf: one ``Name value`` option per line.

Both daemons read their file with the same routine (``config.c``); they differ in where a line
ends (OpenDKIM also cuts at a carriage return) and in their option tables.
"""

from __future__ import annotations

import functools
import re

import attrs

from mailconf.syntax.document import Document, Entry

_OPTION = re.compile(r"[ \t]*(?P<name>[^ \t\r\n#]+)[ \t]+(?P<value>[^#\n]*)")


@attrs.define(eq=False)
class Option(Entry):
    """``Name value [# comment]``: the value is what the daemon reads (trimmed, cut at ``#``)."""

    line_cut = "#\n"

    @functools.cached_property
    def _match(self) -> re.Match[str]:
        match = _OPTION.match(self.text)
        assert match is not None  # the grammar guarantees it
        return match

    @property
    def name(self) -> str:
        return self._match.group("name")

    @property
    def value(self) -> str:
        raw = self._match.group("value")
        for stop in self.line_cut:
            cut = raw.find(stop)
            if cut >= 0:
                raw = raw[:cut]
        return raw.strip(" \t")


@attrs.define(eq=False)
class OpenDkimOption(Option):
    line_cut = "#\n\r"


@attrs.define(eq=False)
class MilterConf(Document):
    """Shared by both daemons' files: options by case-insensitive name, the last one winning."""

    @property
    def options(self) -> dict[str, str]:
        """Name (as first written) -> value of the last occurrence, names matched ignoring case."""
        spelled: dict[str, str] = {}
        values: dict[str, str] = {}
        for entry in self.entries:
            assert isinstance(entry, Option)
            folded = entry.name.lower()
            spelled.setdefault(folded, entry.name)
            values[folded] = entry.value
        return {spelled[folded]: value for folded, value in values.items()}

    def to_json(self) -> dict[str, object]:
        return {"options": self.options}

    @classmethod
    def explain_line(cls, line: str) -> tuple[int, str]:
        """Why a line did not parse, in the daemon's terms (it exits 78 on these)."""
        stripped = line.lstrip(" \t")
        column = len(line) - len(stripped) + 1
        name = re.match(r"[^ \t\r\n#]*", stripped)
        assert name is not None
        if stripped.startswith("\r") and cls.kind == "opendmarc":
            return column, "a line holding only a carriage return is an unnamed option to OpenDMARC"
        return column + len(name.group()), f"option {name.group()!r} has no value (the daemon refuses to start)"


@attrs.define(eq=False)
class OpenDkimConf(MilterConf):
    kind = "opendkim"
    entry_type = OpenDkimOption


@attrs.define(eq=False)
class OpenDmarcConf(MilterConf):
    kind = "opendmarc"
    entry_type = Option
