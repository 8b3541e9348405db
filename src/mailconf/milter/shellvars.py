"""/etc/default/opendkim and /etc/default/opendmarc: shell variable assignments.

The init scripts and ``opendkim.service.generate`` source these files, so the shell's rules apply:
the last assignment wins and quotes are removed from the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from mailconf.errors import ValidationError
from mailconf.syntax import grammar
from mailconf.syntax.document import Document, Value
from mailconf.syntax.parts import GrammarEntry


@attrs.frozen(eq=False)
class Command(GrammarEntry):
    """One shell command line; usually ``NAME=value``: the parts the grammar's ``COMMAND`` names
    (indent, export, name, equals, value, rest for an assignment; words for another command)."""

    grammar_name = "shellvars"
    parts_terminal = "COMMAND"

    def validate(self) -> tuple[int, int, str] | None:
        """A value the shell cannot read (a quote left open once it drops the NUL bytes) is
        refused when the file is read, not later by whoever asks for the value."""
        try:
            self.value  # noqa: B018 - reading it is the check
        except ShellSyntaxError as error:
            return 0, len(self.part("indent")) + 1, str(error)
        return None

    @property
    def name(self) -> str | None:
        """The assigned variable, None when the line is not an assignment."""
        return self.parts.group("name")

    @property
    def raw_value(self) -> str | None:
        """The first word after ``=`` as written (quotes, escapes); "" for ``NAME=``."""
        return None if self.name is None else self.part("value")

    @property
    def value(self) -> str | None:
        raw = self.raw_value
        return None if raw is None else shell_word(raw)

    def expanded_value(self, variables: Mapping[str, str]) -> str | None:
        """The value with ``$NAME``/``${NAME}`` replaced from ``variables`` where the shell
        expands them (unquoted or in double quotes, not in single quotes)."""
        raw = self.raw_value
        return None if raw is None else _shell_word(raw, variables)

    def with_value(self, word: str) -> str:
        """This line with another value word, the rest (``export``, what follows) kept."""
        parts = self.parts
        start = parts.end("equals")
        end = parts.end("value") if parts.group("value") is not None else start
        return self.text[:start] + word + self.text[end:]


_VARIABLE_AT = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def shell_word(raw: str) -> str:
    """The value of the shell word ``raw`` after quote removal (no expansion)."""
    return _shell_word(raw)


def _shell_word(raw: str, variables: Mapping[str, str] | None = None) -> str:
    """The first word of ``raw`` after quote removal; with ``variables``, parameter expansion is
    done where the shell does it.  The shell deletes NUL bytes from what it reads (dash), so they
    are not part of the value."""
    raw = raw.replace("\0", "")
    out: list[str] = []
    index, length = 0, len(raw)

    def expand_here() -> bool:
        nonlocal index
        match = _VARIABLE_AT.match(raw, index) if variables is not None else None
        if match is None:
            return False
        assert variables is not None
        out.append(variables.get(match[1] or match[2], ""))
        index = match.end()
        return True

    while index < length:
        char = raw[index]
        if char in " \t\n":
            break
        if char == "$" and expand_here():
            continue
        if char == "'":
            end = raw.find("'", index + 1)
            if end < 0:
                raise _unterminated(raw)
            out.append(raw[index + 1 : end])
            index = end + 1
        elif char == '"':
            index += 1
            while True:
                if index >= length:
                    raise _unterminated(raw)
                if raw[index] == '"':
                    break
                if raw[index] == "$" and expand_here():
                    continue
                if raw[index] == "\\" and raw[index + 1 : index + 2] in ("$", "`", '"', "\\", "\n"):
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


def init_script_environment(daemon: str) -> dict[str, str]:
    """What Debian's opendkim/opendmarc init scripts set before they source /etc/default/NAME
    (so ``SOCKET=local:$RUNDIR/...`` expands as the script expands it)."""
    return {"NAME": daemon, "RUNDIR": f"/run/{daemon}"}


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

    def _assignments(self, name: str) -> list[Command]:
        return [e for e in self.entries if isinstance(e, Command) and e.name == name]

    def get(
        self, name: str, *, expand: bool = False, environment: Mapping[str, str] | None = None
    ) -> str | None:
        """The value of the last assignment to ``name`` after quote removal; with ``expand``,
        ``$VAR`` and ``${VAR}`` are replaced by earlier assignments in this file (unknown ones
        become empty, as in the shell); ``environment`` holds what the sourcing script set before
        (Debian's init scripts set ``NAME`` and ``RUNDIR``)."""
        found = self._assignments(name)
        if not found:
            return None
        value = found[-1].value
        assert value is not None
        if not expand:
            return value
        known: dict[str, str] = dict(environment or {})
        for entry in self.entries[: self.entries.index(found[-1])]:
            if isinstance(entry, Command) and entry.name is not None:
                known[entry.name] = entry.expanded_value(known) or ""
        return found[-1].expanded_value(known)

    def set(self, name: str, value: Value) -> bool:
        """Make the last assignment to ``name`` give ``value`` (``get(name) == value``); False
        when it already does (a number is written in decimal, a boolean as ``yes``/``no``).  An
        existing assignment keeps its quoting style (double, single or none, switching to double
        quotes only when the value needs quoting), its ``export`` and anything after the value; a
        new one is appended after the last assignment."""
        if not grammar.part_pattern("shellvars", "NAME").fullmatch(name):
            raise ValidationError(f"{name!r} is not a shell variable name")
        value = self.value_text(value)
        if "\n" in value or "\0" in value:
            raise ValidationError(f"{name}: the value may not contain a line break or a NUL")
        found = self._assignments(name)
        if found:
            last = found[-1]
            if last.value == value:
                return False
            self.replace(last, last.with_value(quote(value, _quoting(last))))
            return True
        commands = [e for e in self.entries if isinstance(e, Command) and e.name is not None]
        style = _quoting(commands[-1]) if commands else ""
        entry = self.parse_entry(f"{name}={quote(value, style)}")
        index = self.entries.index(commands[-1]) + 1 if commands else len(self.entries)
        self.insert(index, entry)
        return True

    def unset(self, name: str) -> bool:
        """Remove every assignment to ``name`` with the comment lines directly above it (a heading
        above a blank line stays); False if none."""
        found = self._assignments(name)
        self.remove_each(found)
        return bool(found)


def _quoting(command: Command) -> str:
    """The quote an assignment's value starts with (``"``, ``'``), or "" when it is bare."""
    first = (command.raw_value or "")[:1]
    return first if first in ("'", '"') else ""


_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./$-]*")


def quote(value: str, style: str) -> str:
    """``value`` as a shell word in ``style`` (``"``, ``'`` or bare); ``$`` stays live in bare and
    double-quoted words, as the Debian files expect (``SOCKET=local:$RUNDIR/opendkim.sock``)."""
    if style == "'":
        return "'" + value.replace("'", "'\\''") + "'"
    if style == "" and value and _SAFE.fullmatch(value):
        return value
    escaped = "".join("\\" + char if char in '"\\`' else char for char in value)
    return f'"{escaped}"'


def _unterminated(raw: str) -> ShellSyntaxError:
    return ShellSyntaxError(
        f"unterminated quoted string in {raw!r} (the shell drops NUL bytes before it reads the "
        "quotes): the init script would fail here"
    )


class ShellSyntaxError(ValidationError):
    """A value the shell cannot read (the init script sourcing the file fails)."""
