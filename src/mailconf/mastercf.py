"""/etc/postfix/master.cf: services with the meaning Postfix gives them."""

from __future__ import annotations

import functools

import attrs

from mailconf.postfix_lines import logical_text, split_braced
from mailconf.syntax.document import Document, Entry

SERVICE_TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")
FIELD_NAMES = ("service", "type", "private", "unpriv", "chroot", "wakeup", "maxproc", "command")
MASTER_BLANKS = " \t\r\n"  # postconf_master.c splits entries on these, with { } grouping


@attrs.define(eq=False)
class Service(Entry):
    """One master.cf entry: seven fields, a command and its arguments."""

    @functools.cached_property
    def fields(self) -> list[str]:
        """The logical line split as ``postconf`` splits it (``{ }`` groups kept whole)."""
        return split_braced(logical_text(self.text), MASTER_BLANKS)

    def validate(self) -> tuple[int, int, str] | None:
        fields = self.fields
        if len(fields) < len(FIELD_NAMES):
            return 0, 1, (
                f"master.cf entry has {len(fields)} field(s); Postfix needs at least 8 "
                "(service type private unpriv chroot wakeup maxproc command)"
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


def _field_problem(fields: list[str]) -> tuple[int, str] | None:
    """The first field ``postconf`` would call invalid (pcf_check_master_entry), if any."""
    if fields[1] not in SERVICE_TYPES:
        return 1, f"invalid type field {fields[1]!r} (expected one of {', '.join(SERVICE_TYPES)})"
    for index in (2, 3, 4):
        if fields[index] not in ("y", "n", "-"):
            return index, f"invalid {FIELD_NAMES[index]} field {fields[index]!r} (expected y, n or -)"
    wakeup = fields[5][:-1] if fields[5].endswith("?") else fields[5]
    if wakeup not in ("-", "") and not (wakeup.isascii() and wakeup.isdigit()):
        return 5, f"invalid wakeup field {fields[5]!r} (expected -, or a number optionally followed by ?)"
    if fields[6] != "-" and not (fields[6].isascii() and fields[6].isdigit()):
        return 6, f"invalid maxproc field {fields[6]!r} (expected - or a number)"
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

    @property
    def services(self) -> list[Service]:
        return [entry for entry in self.entries if isinstance(entry, Service)]

    def to_json(self) -> dict[str, object]:
        return {"services": [{"name": s.name, "type": s.type, "fields": s.fields} for s in self.services]}
