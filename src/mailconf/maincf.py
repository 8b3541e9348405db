"""/etc/postfix/main.cf: parameters with the meaning Postfix gives them."""

from __future__ import annotations

import functools
import re

import attrs

from mailconf.postfix_lines import ISSPACE, logical_text
from mailconf.syntax.document import Document, Entry

_NAME_END = re.compile(r"[^ \t\n\v\f\r=]*")


@attrs.define(eq=False)
class Parameter(Entry):
    """``name = value``; the value is what ``split_nameval()`` gives the daemons."""

    def validate(self) -> tuple[int, int, str] | None:
        try:
            self._split
        except _NameValueError as error:
            return 0, error.column, error.message
        return None

    @functools.cached_property
    def _split(self) -> tuple[str, str]:
        logical = logical_text(self.text)
        end = _NAME_END.match(logical)
        assert end is not None
        name_end = end.end()
        if name_end == 0:
            raise _NameValueError(1, "missing parameter name before '='")
        cursor = name_end
        while cursor < len(logical) and logical[cursor] in ISSPACE:
            cursor += 1
        if cursor >= len(logical) or logical[cursor] != "=":
            first_line = self.text.split("\n", 1)[0]
            column = min(cursor, len(first_line.rstrip(ISSPACE))) + 1
            raise _NameValueError(
                column,
                f"missing '=' after parameter name {logical[:name_end]!r} "
                "(Postfix refuses to start)",
            )
        return logical[:name_end], logical[cursor + 1 :].strip(ISSPACE)

    @property
    def name(self) -> str:
        return self._split[0]

    @property
    def value(self) -> str:
        """The value exactly as the daemons see it (continuations joined, not expanded)."""
        return self._split[1]


class _NameValueError(Exception):
    def __init__(self, column: int, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@attrs.define(eq=False)
class MainCf(Document):
    kind = "postfix-main"
    entry_type = Parameter

    @property
    def parameters(self) -> dict[str, str]:
        """Every parameter set in the file, the last duplicate winning (as in Postfix)."""
        return {entry.name: entry.value for entry in self._parameters()}

    def _parameters(self) -> list[Parameter]:
        return [entry for entry in self.entries if isinstance(entry, Parameter)]

    def to_json(self) -> dict[str, object]:
        return {"parameters": self.parameters}
