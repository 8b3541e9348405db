"""/etc/postfix/master.cf: services with the meaning Postfix gives them, and semantic edits.

A service is keyed by ``name/type`` (``smtp/inet`` and ``smtp/unix`` coexist; a later duplicate
wins).  Its ``-o`` overrides are the ``-o`` options *before the first non-option argument* of
the command, in any of the forms ``-o name=value``, ``-oname=value`` and ``-o { name = value }``
(``postconf_master.c``); a ``-o`` after a non-option argument is just an argument.

Edits keep the file's layout: a new service is padded to the columns of the services around it,
a new ``-o`` goes on its own indented line when the service already writes them so, and a
service owns its continuation lines (with the comments among them).  Removing a service leaves
the comment lines above it: in master.cf those are usually other, disabled services.
"""

from __future__ import annotations

import functools
from collections import Counter

import attrs

from mailconf.errors import EditError
from mailconf.postfix.lines import (
    ISSPACE,
    content_end,
    line_end,
    logical_positions,
    logical_text,
    split_braced,
    split_braced_spans,
    split_nameval,
    strip_braces,
)
from mailconf.syntax import grammar
from mailconf.syntax.document import Document, Entry, split_lines

SERVICE_TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")
FIELD_NAMES = ("service", "type", "private", "unpriv", "chroot", "wakeup", "maxproc", "command")
MASTER_BLANKS = " \t\r\n"  # postconf_master.c splits entries on these, with { } grouping
_BLANKS = " \t\v\f"
# The columns ``postconf -M`` prints, used when the file has no service to copy a layout from.
DEFAULT_COLUMNS = (0, 11, 17, 25, 33, 41, 49, 57)


@attrs.frozen
class Override:
    """One ``-o`` override: its name and value, and where it is in the entry's raw text
    (``start`` at the ``-o``, ``value_start``/``end`` around the ``name=value`` text)."""

    name: str
    value: str
    start: int
    value_start: int
    end: int
    braced: bool


@attrs.frozen(eq=False)
class Service(Entry):
    """One master.cf entry: seven fields, a command and its arguments."""

    @functools.cached_property
    def fields(self) -> list[str]:
        """The logical line split as ``postconf`` splits it (``{ }`` groups kept whole)."""
        return split_braced(logical_text(self.text), MASTER_BLANKS)

    @functools.cached_property
    def _spans(self) -> list[tuple[int, int]]:
        """Raw-text ``(start, end)`` of every field."""
        logical, positions = logical_positions(self.text)
        return [
            (positions[start], positions[end - 1] + 1)
            for start, end in split_braced_spans(logical, MASTER_BLANKS)
        ]

    def validate(self) -> tuple[int, int, str] | None:
        fields = self.fields
        if len(fields) < len(FIELD_NAMES):
            return (
                0,
                1,
                (
                    f"master.cf entry has {len(fields)} field(s); Postfix needs at least 8 "
                    "(service type private unpriv chroot wakeup maxproc command)"
                ),
            )
        problem = _field_problem(fields)
        if problem is None:
            return None
        index, message = problem
        return 0, _column_of_field(self.text, index), message

    @property
    def name(self) -> str:
        return self.fields[0]

    @property
    def type(self) -> str:
        return self.fields[1]

    @property
    def key(self) -> str:
        """``name/type``: ``smtp/inet`` and ``smtp/unix`` are different services."""
        return f"{self.fields[0]}/{self.fields[1]}"

    @property
    def private(self) -> str:
        """``y``, ``n`` or ``-`` as written (so for unpriv and chroot)."""
        return self.fields[2]

    @property
    def unpriv(self) -> str:
        return self.fields[3]

    @property
    def chroot(self) -> str:
        return self.fields[4]

    @property
    def wakeup(self) -> str:
        """``-``, ``N`` or ``N?`` as written."""
        return self.fields[5]

    @property
    def maxproc(self) -> str:
        """``-`` or ``N`` as written (0 = no limit)."""
        return self.fields[6]

    @property
    def command(self) -> str:
        """The program name (field 8)."""
        return self.fields[7]

    @property
    def wakeup_seconds(self) -> int | None:
        """The wakeup interval (None for ``-``; ``0`` also means never)."""
        text = self.wakeup.rstrip("?")
        return int(text) if text.isdigit() else None

    @property
    def wakeup_if_used(self) -> bool:
        """``N?``: wake the service only when it has been used (``pickup``, ``qmgr``)."""
        return self.wakeup.endswith("?")

    @property
    def process_limit(self) -> int | None:
        """``maxproc``: None for ``-`` (``default_process_limit``), 0 for no limit."""
        return int(self.maxproc) if self.maxproc.isdigit() else None

    @functools.cached_property
    def _options(self) -> tuple[list[Override], list[str]]:
        """One pass over the arguments as ``postconf`` reads them (``postconf_master.c``): the
        ``-o name=value`` overrides among the daemon options, and every other argument.

        Daemon options are the ``-`` words before the first other word (or ``--``).  ``-o``
        takes a value, glued (``-oname=value``, ``-vo...``) or in the next word; a value without
        ``=`` (``-o name``, or a ``-o`` with nothing after it) is no override: ``postconf -P``
        skips it (so does the daemon) and ``-F`` still shows it, so it stays an argument.
        """
        overrides: list[Override] = []
        args: list[str] = []
        fields, spans = self.fields, self._spans
        index = len(FIELD_NAMES)
        while index < len(fields):
            arg = fields[index]
            if not arg.startswith("-") or arg == "--":
                args.extend(strip_braces(a) if a.startswith("{") else a for a in fields[index:])
                break
            o_at = arg.find("o", 1)
            if o_at < 0:
                args.append(arg)
                index += 1
                continue
            flags = arg[:o_at]
            if o_at + 1 < len(arg):  # -oname=value, or glued to other flags: -vox=y
                text, consumed = arg[o_at + 1 :], 1
                value_start, end = spans[index][0] + o_at + 1, spans[index][1]
            elif index + 1 < len(fields):
                text, consumed = fields[index + 1], 2
                value_start, end = spans[index + 1]
            else:  # a -o with nothing after it
                args.extend([flags, "-o"] if flags != "-" else ["-o"])
                break
            braced = text.startswith("{")
            inner = strip_braces(text) if braced else text
            nameval = split_nameval(inner)
            if flags != "-":
                args.append(flags)
            if nameval is not None:
                name, value = nameval
                overrides.append(Override(name, value, spans[index][0], value_start, end, braced))
            else:
                args.extend(["-o", inner])
            index += consumed
        return overrides, args

    @property
    def overrides_list(self) -> list[Override]:
        """The ``-o`` overrides in order (duplicates included; the last one wins)."""
        return self._options[0]

    @property
    def overrides(self) -> dict[str, str]:
        return {o.name: o.value for o in self.overrides_list}

    @property
    def option_end(self) -> int:
        """Index of the first field after the daemon options (where ``postconf -P`` adds ``-o``)."""
        fields = self.fields
        index = len(FIELD_NAMES)
        while index < len(fields):
            arg = fields[index]
            if not arg.startswith("-") or arg == "--":
                break
            takes_value = "o" in arg[1:] and arg.endswith("o")
            index += 2 if takes_value else 1
        return min(index, len(fields))

    @property
    def args(self) -> list[str]:
        """The command's arguments other than the ``-o`` overrides, outer ``{ }`` removed."""
        return list(self._options[1])

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "private": self.private,
            "unpriv": self.unpriv,
            "chroot": self.chroot,
            "wakeup": self.wakeup,
            "maxproc": self.maxproc,
            "command": self.command,
            "args": self.args,
            "overrides": self.overrides,
        }


# What each of fields 2-7 must be, as the grammar's terminals (postfix-master.lark) spell it.
_FIELD_TERMINALS = {
    1: ("TYPE", "one of " + ", ".join(SERVICE_TYPES)),
    2: ("PRIVATE", "y, n or -"),
    3: ("UNPRIV", "y, n or -"),
    4: ("CHROOT", "y, n or -"),
    5: ("WAKEUP", "-, or a number optionally followed by ?"),
    6: ("MAXPROC", "- or a number"),
}


def _field_problem(fields: list[str]) -> tuple[int, str] | None:
    """The first field ``postconf`` would call invalid (pcf_check_master_entry), if any."""
    for index, (terminal, expected) in _FIELD_TERMINALS.items():
        if grammar.part_pattern("postfix-master", terminal).fullmatch(fields[index]) is None:
            name = FIELD_NAMES[index]
            return index, f"invalid {name} field {fields[index]!r} (expected {expected})"
    return None


def _column_of_field(text: str, index: int) -> int:
    first_line = text.split("\n", 1)[0]
    fields = split_braced(first_line, MASTER_BLANKS)
    if index >= len(fields):
        return 1
    position = 0
    for number, field in enumerate(fields):
        position = first_line.index(field, position)
        if number == index:
            return position + 1
        position += len(field)
    return 1


@attrs.define(eq=False)
class MasterCf(Document):
    kind = "postfix-master"
    entry_type = Service
    linter = ("mailconf.postfix.lint", "lint_master")

    @property
    def services(self) -> list[Service]:
        return [entry for entry in self.entries if isinstance(entry, Service)]

    def service(self, name: str, type: str) -> Service | None:
        """The service ``name/type`` as master(8) uses it (the last duplicate), or None."""
        found = [s for s in self.services if s.name == name and s.type == type]
        return found[-1] if found else None

    def to_json(self) -> dict[str, object]:
        """``{"services": [...]}``: fields as written (``y``/``n``/``-``, wakeup with its ``?``,
        maxproc), ``args`` without the overrides, ``overrides`` as ``{name: value}``."""
        return {"services": [s.to_json() for s in self.services]}

    # ------------------------------------------------------------------ services
    def add_service(self, line: str) -> bool:
        """Add a service, or replace the service with the same ``name/type``; False if the file
        already has it with the same fields (compared as postconf splits them).

        The seven fields and the command are padded to the columns the neighbouring services
        use (a field wider than its column gets one blank, as Debian's own file does); the
        arguments and any continuation lines are kept as given.  A new service goes after the
        last service; a replaced one keeps the comments above it.
        """
        candidate = self.parse_entry(line.strip("\r\n"))
        assert isinstance(candidate, Service)
        existing = self.service(candidate.name, candidate.type)
        if existing is not None and existing.fields == candidate.fields:
            return False
        text = self._formatted(candidate)
        if existing is not None:
            self.replace(existing, text)
            return True
        services = self.services
        index = self.entries.index(services[-1]) + 1 if services else len(self.entries)
        self.insert(index, self.parse_entry(text))
        return True

    def _formatted(self, service: Service) -> str:
        spans = service._spans
        text = service.text.rstrip("\r\n")
        if "\n" in text[: spans[7][1]]:
            return text  # the fields are spread over lines: keep the caller's layout
        fields = service.fields[:8]
        columns, tabs = self._layout()
        if tabs:
            head = "\t".join(fields)
        else:
            # Name and type go to their columns (one blank when too wide); from there on each
            # field takes its column's width, so a wide name shifts the rest of the line the
            # way Debian's own file and ``postconf -M`` do.
            head = ""
            for index, field in enumerate(fields[:7]):
                head += field
                if index < 2:
                    head += " " * max(columns[index + 1] - len(head), 1)
                else:
                    head += " " * max(columns[index + 1] - columns[index] - len(field), 1)
            head += fields[7]
        return head + text[spans[7][1] :]

    def _layout(self) -> tuple[tuple[int, ...], bool]:
        """The most common field columns of the services' first lines, and whether the file
        separates fields with tabs instead."""
        layouts: Counter[tuple[int, ...]] = Counter()
        tab_lines = 0
        for service in self.services:
            first = split_lines(service.text)[0]
            spans = split_braced_spans(first, MASTER_BLANKS)
            if len(spans) < 8:
                continue
            between = [first[spans[i][1] : spans[i + 1][0]] for i in range(7)]
            if any("\t" in gap for gap in between):
                tab_lines += 1
                continue
            # a line whose fields all fit their columns (each followed by 2+ blanks or aligned)
            layouts[tuple(start for start, _ in spans[:8])] += 1
        if tab_lines > sum(layouts.values()):
            return DEFAULT_COLUMNS, True
        if not layouts:
            return DEFAULT_COLUMNS, False
        # Per column, the most common start among the services (wide names shift a few lines).
        per_column: list[Counter[int]] = [Counter() for _ in range(8)]
        for layout, count in layouts.items():
            for index, start in enumerate(layout):
                per_column[index][start] += count
        return tuple(counter.most_common(1)[0][0] for counter in per_column), False

    def remove_service(self, name: str, type: str) -> bool:
        """Remove every ``name/type`` entry with its continuation lines and the comment lines
        directly above it; comments above a blank line stay (the one rule of
        :func:`~mailconf.syntax.document.split_owned`)."""
        found = [s for s in self.services if s.name == name and s.type == type]
        self.remove_each(found)
        return bool(found)

    # ------------------------------------------------------------------ overrides
    def set_override(self, name: str, type: str, param: str, value: str) -> bool:
        """Set ``-o param=value`` on ``name/type`` (EditError when there is no such service).

        An existing override is changed in place, keeping its form (``{ }`` when it had them or
        the value has blanks); a new one goes where ``postconf -P`` puts it, at the end of the
        daemon options: on its own line with the indentation of the other ``-o`` lines when the
        service writes them one per line, else inline.
        """
        service = self._need(name, type)
        if not param or any(c in param for c in MASTER_BLANKS + "={}"):
            raise EditError(f"invalid parameter name {param!r}")
        value = value.strip(ISSPACE)
        if "\n" in value:
            raise EditError("an override value must be one line")
        matching = [o for o in service.overrides_list if o.name == param]
        if matching and all(o.value == value for o in matching):
            return False
        text = service.text
        if matching:
            for override in reversed(matching):
                token = _override_token(param, value, override.braced)
                text = text[: override.value_start] + token + text[override.end :]
            self.replace(service, text)
            return True
        self.replace(
            service,
            self._insert_override(service, _override_token(param, value, False)),
        )
        return True

    def _insert_override(self, service: Service, token: str) -> str:
        text = service.text
        spans = service._spans
        end_index = service.option_end
        last = spans[end_index - 1]  # the last option (or the command)
        newline = "\r\n" if "\r\n" in text else self.newline
        options = service.overrides_list
        if options:
            first_o = options[-1].start
            line_start = text.rfind("\n", 0, first_o) + 1
            own_line = line_start > 0 and not text[line_start:first_o].strip(_BLANKS)
            rest = text[last[1] : content_end(text, last[1])]
            if own_line and not rest.strip(_BLANKS):
                indent = text[line_start:first_o]
                return text[: last[1]] + newline + indent + "-o " + token + text[last[1] :]
        elif end_index == len(spans) or "\n" in text[last[1] : spans[end_index][0]]:
            # nothing else on the command's line: a line of its own, indented like the next one
            following = text[line_end(text, last[1]) :]
            indent = "  "
            for line in split_lines(following):
                if line.strip(ISSPACE) and not line.lstrip(ISSPACE).startswith("#"):
                    indent = line[: len(line) - len(line.lstrip(_BLANKS))]
                    break
            if end_index < len(spans):
                return text[: last[1]] + newline + indent + "-o " + token + text[last[1] :]
        return text[: last[1]] + " -o " + token + text[last[1] :]

    def remove_override(self, name: str, type: str, param: str) -> bool:
        """Remove every ``-o param=...`` of ``name/type`` (its line, when it has one of its own)."""
        service = self._need(name, type)
        matching = [o for o in service.overrides_list if o.name == param]
        if not matching:
            return False
        text = service.text
        for override in reversed(matching):
            line_start = text.rfind("\n", 0, override.start) + 1
            alone = (
                line_start > 0
                and not text[line_start : override.start].strip(_BLANKS)
                and not text[override.end : content_end(text, override.end)].strip(_BLANKS)
            )
            if alone:
                stop = line_end(text, override.end)
                if stop == len(text) and not text.endswith("\n"):
                    cut = line_start - 1
                    cut -= 1 if cut > 0 and text[cut - 1] == "\r" else 0
                    text = text[:cut]
                else:
                    text = text[:line_start] + text[stop:]
            else:
                start = override.start
                while start > 0 and text[start - 1] in _BLANKS:
                    start -= 1
                if text[start - 1 : start] == "\n" or start == 0:
                    end = override.end
                    while end < len(text) and text[end] in _BLANKS:
                        end += 1
                    text = text[: override.start] + text[end:]
                else:
                    text = text[:start] + text[override.end :]
        self.replace(service, text)
        return True

    def _need(self, name: str, type: str) -> Service:
        service = self.service(name, type)
        if service is None:
            raise EditError(f"master.cf has no service {name}/{type}")
        return service

    # ------------------------------------------------------------------ protocol
    def get(self, name: str) -> str | None:
        """The service ``name`` (``smtp/inet``: service name and type) as master(8) uses it, the
        last duplicate: its fields and arguments as ``postconf -M`` splits them, one blank
        apart; None when there is no such service."""
        service_name, slash, service_type = name.rpartition("/")
        service = self.service(service_name, service_type) if slash else None
        return " ".join(service.fields) if service is not None else None


def _override_token(param: str, value: str, braced: bool) -> str:
    """``name=value``, or ``{ name = value }`` when the value needs it (blanks, braces) or the
    override was braced already."""
    if braced or any(c in value for c in MASTER_BLANKS + "{}"):
        return f"{{ {param} = {value} }}" if value else f"{{ {param} = }}"
    return f"{param}={value}"
