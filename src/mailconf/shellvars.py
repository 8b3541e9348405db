"""/etc/default/opendkim and /etc/default/opendmarc: shell variable assignments.

The init scripts and ``opendkim.service.generate`` source these files, so the shell's rules apply:
the last assignment wins and quotes are removed from the value.
"""

from __future__ import annotations

import functools
import re

import attrs

from mailconf.syntax.document import Document, Entry

_ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<raw>.*)", re.S)


@attrs.define(eq=False)
class Command(Entry):
    """One shell command line; usually ``NAME=value``."""

    @functools.cached_property
    def _assignment(self) -> tuple[str, str] | None:
        match = _ASSIGNMENT.match(self.text)
        if match is None:
            return None
        return match.group("name"), shell_word(match.group("raw"))

    @property
    def name(self) -> str | None:
        return None if self._assignment is None else self._assignment[0]

    @property
    def value(self) -> str | None:
        return None if self._assignment is None else self._assignment[1]


def shell_word(raw: str) -> str:
    """The value of the first shell word of ``raw`` after quote removal (no expansion)."""
    out: list[str] = []
    index, length = 0, len(raw)
    while index < length:
        char = raw[index]
        if char in " \t\n":
            break
        if char == "'":
            end = raw.index("'", index + 1)
            out.append(raw[index + 1 : end])
            index = end + 1
        elif char == '"':
            index += 1
            while raw[index] != '"':
                if raw[index] == "\\" and raw[index + 1] in '$`"\\\n':
                    if raw[index + 1] != "\n":
                        out.append(raw[index + 1])
                    index += 2
                else:
                    out.append(raw[index])
                    index += 1
            index += 1
        elif char == "\\":
            if index + 1 < length and raw[index + 1] != "\n":
                out.append(raw[index + 1])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


@attrs.define(eq=False)
class ShellVars(Document):
    kind = "shellvars"
    entry_type = Command

    @property
    def variables(self) -> dict[str, str]:
        """Every assigned variable, the last assignment winning."""
        result: dict[str, str] = {}
        for entry in self.entries:
            assert isinstance(entry, Command)
            if entry.name is not None and entry.value is not None:
                result[entry.name] = entry.value
        return result

    def to_json(self) -> dict[str, object]:
        return {"variables": self.variables}
