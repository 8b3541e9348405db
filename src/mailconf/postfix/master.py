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
    is_trivia_line,
    line_end,
    logical_positions,
    logical_text,
    split_braced,
    split_braced_spans,
    split_nameval,
)
from mailconf.syntax import grammar
from mailconf.syntax.document import Document, Entry, split_lines

SERVICE_TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")
FIELD_NAMES = ("service", "type", "private", "unpriv", "chroot", "wakeup", "maxproc", "command")
#: The same fields as ``postconf -F`` names them (``smtp/inet/process_limit``).
POSTCONF_FIELDS = (
    "service",
    "type",
    "private",
    "unprivileged",
    "chroot",
    "wakeup",
    "process_limit",
    "command",
)
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
                args.extend(extract_braced(a)[0] for a in fields[index:])
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
            inner = extract_braced(text)[0]
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

    @property
    def brace_problems(self) -> list[str]:
        """What ``postconf`` warns about the ``{ }`` groups of the command's arguments ("missing
        '}'", "syntax error after '}'"), each of which master(8) refuses to start on."""
        return [
            problem
            for field in self.fields[len(FIELD_NAMES) - 1 :]
            if field.startswith("{")
            for problem in [extract_braced(field)[1]]
            if problem is not None
        ]

    @functools.cached_property
    def argv(self) -> list[str]:
        """The entry's words as ``postconf`` normalises them (``pcf_normalize_daemon_args``):
        ``-vo...`` split into ``-v`` and ``-o...``, ``-oname=value`` into ``-o`` and
        ``name=value``, ``{ }`` taken off (repaired as postconf repairs them, see
        :func:`extract_braced`) and a braced ``-o`` value written ``name=value``."""
        argv = list(self.fields)
        index = len(FIELD_NAMES)
        while index < len(argv):
            arg = argv[index]
            if not arg.startswith("-") or arg == "--":
                break
            cut = arg.find("o", 2)
            if cut > 0:  # -vo...: -v, then -o...
                argv[index : index + 1] = [arg[:cut], "-" + arg[cut:]]
                index += 1
                continue
            if arg[1:2] == "o":
                if len(arg) > 2:
                    argv[index : index + 1] = ["-o", arg[2:]]
                index += 1
                if index < len(argv) and argv[index].startswith("{"):
                    argv[index] = extract_braced(argv[index])[0]
                    nameval = split_nameval(argv[index])
                    if nameval is not None:
                        argv[index] = "=".join(nameval)
            index += 1
        for rest in range(index, len(argv)):
            if argv[rest].startswith("{"):
                argv[rest] = extract_braced(argv[rest])[0]
        return argv

    @property
    def command_line(self) -> str:
        """The ``command`` field as ``postconf -F`` prints it: :attr:`argv` from the command on,
        in ``{ }`` when it has blanks: a ``-o`` value, or an argument after the first one that
        is not a daemon option (postconf leaves that first one bare)."""
        words = self.argv[len(FIELD_NAMES) - 1 :]
        printed = [words[0]]
        in_options, value_next, first_argument = True, False, True
        for word in words[1:]:
            braced = False
            if value_next:
                braced, value_next = True, False
            elif in_options and word.startswith("-") and word != "--":
                value_next = word[1:2] == "o"
            elif first_argument:
                in_options = first_argument = False
            else:
                braced = True
            blanks = any(c in MASTER_BLANKS for c in word)
            printed.append("{" + word + "}" if braced and blanks else word)
        return " ".join(printed)

    def field(self, name: str) -> str:
        """One field by its ``postconf -F`` name (``command``: :attr:`command_line`)."""
        if name not in POSTCONF_FIELDS:
            raise EditError(
                f"invalid service attribute name {name!r} (one of {', '.join(POSTCONF_FIELDS)})"
            )
        if name == "command":
            return self.command_line
        return self.fields[POSTCONF_FIELDS.index(name)]

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
            flags = text[override.start : override.value_start].rstrip(ISSPACE)[:-1]
            if flags != "-":  # -vo name=value: the other flags stay (so does postconf -PX)
                text = text[: override.start] + flags + text[override.end :]
                continue
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
        self._replace_and_hand_on(service, text)
        return True

    def _replace_and_hand_on(self, service: Service, text: str) -> None:
        """Replace ``service`` with ``text``; comment lines that end up after its last line (they
        were among its continuation lines) go to the next entry's leading trivia, where the
        file's grammar puts a comment after an entry."""
        lines = split_lines(text)
        keep = len(lines)
        while keep > 1 and is_trivia_line(lines[keep - 1]):
            keep -= 1
        index = self.entries.index(service)
        self.replace_at(index, "".join(lines[:keep]))
        tail = "".join(lines[keep:])
        if not tail:
            return
        if index + 1 < len(self.entries):
            following = self.entries[index + 1]
            self.entries[index + 1] = attrs.evolve(following, leading=tail + following.leading)
        else:
            self.trailer = tail + self.trailer

    def _need(self, name: str, type: str) -> Service:
        """The service to edit; EditError when there is none, or when its ``{ }`` are broken:
        postconf would rewrite the entry as it repaired it, master(8) refuses it, and an edit
        of the text could land inside the unclosed group."""
        service = self.service(name, type)
        if service is None:
            raise EditError(f"master.cf has no service {name}/{type}")
        problems = service.brace_problems
        if problems:
            raise EditError(f"{name}/{type}: {problems[0]}: fix the braces first")
        return service

    # ------------------------------------------------------------------ fields
    def set_field(self, name: str, type: str, field: str, value: str) -> bool:
        """Set one field of ``name/type`` (``postconf -F name/type/field=value``): ``field`` as
        postconf names it (:data:`POSTCONF_FIELDS`); ``command`` replaces the command and all
        its arguments.  Only that field's text changes; the blanks after a single-column field
        absorb a change of width, so the columns after it stay where they were.  EditError for
        a service that is not there, a value the field cannot hold, or a new ``name/type``
        that another service has."""
        service = self._need(name, type)
        if field not in POSTCONF_FIELDS:
            raise EditError(
                f"invalid service attribute name {field!r} (one of {', '.join(POSTCONF_FIELDS)})"
            )
        index = POSTCONF_FIELDS.index(field)
        value = value.strip(ISSPACE)
        if not value or "\n" in value or (index < 7 and _has_any(value, MASTER_BLANKS + "{}")):
            raise EditError(f"invalid {field} value {value!r}")
        if index == 0 and value.startswith("#"):
            raise EditError(f"invalid service name {value!r}: '#' starts a comment line")
        if service.field(field) == value:
            return False
        text, spans = service.text, service._spans
        start, end = spans[index][0], spans[-1 if index == 7 else index][1]
        if index < 7:
            fields = service.fields.copy()
            fields[index] = value
            problem = _field_problem(fields)
            if problem is not None:
                raise EditError(f"{name}/{type}: {problem[1]}")
        new_text = text[:start] + value + _refill(text[end:], len(value) - (end - start))
        candidate = self.parse_entry(new_text)
        assert isinstance(candidate, Service)
        if candidate.key != service.key and self.service(candidate.name, candidate.type):
            raise EditError(f"master.cf already has a service {candidate.key}")
        self.replace(service, new_text)
        return True

    # The names of postconf's options, which are also the names of ``edit``'s flags.
    set_option = set_override  #: ``postconf -P name/type/param=value``
    unset_option = remove_override  #: ``postconf -PX name/type/param``

    # ------------------------------------------------------------------ protocol
    def get(self, name: str) -> str | None:
        """What ``postconf`` prints (without the name) for ``name``, as master(8) uses the
        file (the last duplicate of a service wins), or None when there is nothing:

        * ``smtp/inet``: the entry, its words one blank apart (``postconf -M``);
        * ``smtp/inet/chroot``: one field by its ``postconf -F`` name (:data:`POSTCONF_FIELDS`);
        * ``smtp/inet/syslog_name``: the value of that ``-o`` override (``postconf -P``).
        """
        parts = name.split("/")
        if len(parts) not in (2, 3):
            return None
        service = self.service(parts[0], parts[1])
        if service is None:
            return None
        if len(parts) == 2:
            return " ".join(service.fields[:7]) + " " + service.command_line
        if parts[2] in POSTCONF_FIELDS:
            return service.field(parts[2])
        return service.overrides.get(parts[2])


def _has_any(text: str, characters: str) -> bool:
    return any(c in characters for c in text)


def _refill(rest: str, grown: int) -> str:
    """``rest`` (what follows a field) with the blanks before the next field on the same line
    shortened (or lengthened) by ``grown``, at least one left, so the next column stays put."""
    blanks = len(rest) - len(rest.lstrip(" "))
    if blanks == len(rest) or rest[blanks] in "\t\r\n":
        return rest
    return " " * max(blanks - grown, 1) + rest[blanks:]


def extract_braced(token: str) -> tuple[str, str | None]:
    """A ``{``-word taken apart as postconf and master(8) do (``extpar()``, blanks stripped),
    and what postconf warns about it (master(8) refuses to start on it), or None:

    * ``{ text }``: ``text``;
    * ``{text`` (no closing brace, so the word ran to the end of the entry): the text after the
      ``{``, "missing '}'";
    * ``{text}more``: ``text``, "syntax error after '}'" (``more`` is dropped).
    """
    if not token.startswith("{"):
        return token, None
    level, end = 1, 0
    for index in range(1, len(token)):
        if token[index] == "}":
            level -= 1
            if level == 0:
                end = index + 1
                break
        elif token[index] == "{":
            level += 1
    if end == 0:
        return token[1:].strip(ISSPACE), f"missing '}}' in \"{token}\""
    problem = f"syntax error after '}}' in \"{token}\"" if end < len(token) else None
    return token[1 : end - 1].strip(ISSPACE), problem


def _override_token(param: str, value: str, braced: bool) -> str:
    """``name=value``, or ``{ name = value }`` when the value needs it (blanks, braces) or the
    override was braced already."""
    if braced or any(c in value for c in MASTER_BLANKS + "{}"):
        return f"{{ {param} = {value} }}" if value else f"{{ {param} = }}"
    return f"{param}={value}"
