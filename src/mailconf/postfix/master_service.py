"""One master.cf entry as Postfix reads it: its fields, ``-o`` overrides and ``{ }`` groups.

A service is keyed by ``name/type`` (``smtp/inet`` and ``smtp/unix`` coexist).  Its ``-o``
overrides are the ``-o`` options *before the first non-option argument* of the command, in any of
the forms ``-o name=value``, ``-oname=value`` and ``-o { name = value }`` (``postconf_master.c``);
a ``-o`` after a non-option argument is just an argument.

Reading one entry is kept apart from the document and its edits (:mod:`mailconf.postfix.master`):
what an entry means is postconf's business and is checked against it line by line, while the edits
are about keeping a whole file's layout.
"""

from __future__ import annotations

import functools

import attrs

from mailconf.errors import EditError
from mailconf.postfix.lines import (
    ISSPACE,
    logical_positions,
    logical_text,
    split_braced,
    split_braced_spans,
    split_nameval,
)
from mailconf.syntax import grammar
from mailconf.syntax.document import Entry

__all__ = [
    "FIELD_NAMES",
    "MASTER_BLANKS",
    "POSTCONF_FIELDS",
    "SERVICE_TYPES",
    "Override",
    "Service",
    "extract_braced",
    "field_problem",
]

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
        problem = field_problem(fields)
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


def field_problem(fields: list[str]) -> tuple[int, str] | None:
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
