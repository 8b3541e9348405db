"""One main.cf parameter: ``name = value`` as the grammar names its parts, why a line is no
parameter, and the text of a new or rewritten one in its neighbours' ``=`` spacing.

:class:`~mailconf.postfix.main.MainCf` decides *which* lines an edit touches; this module says
what one line looks like.
"""

from __future__ import annotations

import functools
import re

import attrs

from mailconf.errors import ValidationError
from mailconf.postfix.lines import ISSPACE, is_trivia_line, logical_positions, logical_text
from mailconf.postfix.values import Item
from mailconf.syntax import grammar
from mailconf.syntax.document import split_lines
from mailconf.syntax.parts import NameValueEntry

_NAME_OK = re.compile(r"[^\s=#\0][^\s=\0]*\Z")  # Postfix stops reading at a NUL


@attrs.frozen(eq=False)
class Parameter(NameValueEntry):
    """``name = value``: the parts the grammar's ``PARAMETER`` names on the entry's logical line
    (name, before, equals, after, value, trailing); the value is what ``split_nameval()`` gives
    the daemons."""

    grammar_name = "postfix-main"
    parts_terminal = "PARAMETER"

    def part_source(self) -> str:
        return logical_text(self.text)

    def validate(self) -> tuple[int, int, str] | None:
        if self.match_parts() is not None:
            return None
        column, message = _explain(self.text)
        return 0, column, message

    @functools.cached_property
    def _value_map(self) -> tuple[int, list[int]]:
        """Where the value's characters are in ``text``: (logical offset of the value, raw
        offset of every logical character).  Lets list edits splice the raw text."""
        parts = self.parts
        start = parts.start("value") if parts.group("value") is not None else len(parts.string)
        return start, logical_positions(self.text)[1]

    def raw_span(self, item: Item) -> tuple[int, int]:
        """``item`` (offsets in :attr:`value`) as offsets in :attr:`text`."""
        start, positions = self._value_map
        return positions[start + item.start], positions[start + item.end - 1] + 1


def _explain(entry_text: str) -> tuple[int, str]:
    """Why an entry is no ``PARAMETER``: ``(column on its first line, message)``.  Only two
    things can be missing: the name or the ``=`` after it (the rest is the value)."""
    logical = logical_text(entry_text)
    name = grammar.part_pattern("postfix-main", "NAME").match(logical)
    if name is None:
        return 1, "missing parameter name before '='"
    blanks = grammar.part_pattern("postfix-main", "BEFORE").match(logical, name.end())
    cursor = blanks.end() if blanks is not None else name.end()
    first_line = entry_text.split("\n", 1)[0]
    column = min(cursor, len(first_line.rstrip(ISSPACE))) + 1
    return column, f"missing '=' after parameter name {name.group()!r} (Postfix refuses to start)"


# ---------------------------------------------------------------------- writing one
def check_name(name: str) -> None:
    if not _NAME_OK.match(name):
        raise ValidationError(f"invalid parameter name {name!r}")


def check_value(name: str, value: str) -> str:
    if "\n" in value:
        raise ValidationError(f"the value of {name} must be one line")
    if "\0" in value:
        raise ValidationError(f"the value of {name} contains a NUL byte")
    return value.strip(ISSPACE)


def _prefix_style(entry: Parameter | None) -> tuple[str, str]:
    """The blanks before and after ``=`` on ``entry``'s first line (`` = `` when unknown)."""
    if entry is None:
        return " ", " "
    parts = entry.parts
    first = len(entry.text.split("\n", 1)[0])  # the logical line starts with the first line
    before, after = parts.group("before") or "", parts.group("after") or ""
    if parts.end("equals") > first or "\r" in before + after:
        return " ", " "
    if parts.group("value") is None or parts.start("value") >= first:
        after = before  # the value starts on a continuation line: mirror the blank before '='
    return before, after


def new_line(name: str, value: str, neighbour: Parameter | None) -> str:
    before, after = _prefix_style(neighbour)
    return f"{name}{before}={after}{value}" if value else f"{name}{before}="


def with_value(entry: Parameter, value: str) -> str:
    """``entry`` rewritten as one line with ``value``, keeping its name and ``=`` spacing."""
    before, after = _prefix_style(entry)
    if "=" not in split_lines(entry.text)[0]:
        before, after = " ", " "
    return f"{entry.name}{before}={after}{value}" if value else f"{entry.name}{before}="


def commented(entry: Parameter) -> str:
    """``entry``'s lines as ``postconf -#`` leaves them: ``#`` before each that is not one."""
    return "".join(line if is_trivia_line(line) else "#" + line for line in entry.physical_lines)
