"""/etc/postfix/master.cf: services with the meaning Postfix gives them, and semantic edits.

A file is a list of :class:`~mailconf.postfix.master_service.Service` entries (what one entry
means, its fields and ``-o`` overrides, is in :mod:`mailconf.postfix.master_service`; the names
are re-exported here for callers).  A later duplicate of a ``name/type`` wins, as in master(8).

Edits keep the file's layout: a new service is padded to the columns of the services around it
and its arguments laid out as theirs (:mod:`mailconf.postfix.master_layout`), a new ``-o`` goes
on its own indented line when the service already writes them so, and a service owns its
continuation lines (with the comments among them).  Removing a service leaves the comment lines
above it: in master.cf those are usually other, disabled services.
"""

from __future__ import annotations

from collections import Counter

import attrs

from mailconf.errors import EditError
from mailconf.postfix.lines import (
    ISSPACE,
    content_end,
    is_trivia_line,
    line_end,
    split_braced_spans,
)
from mailconf.postfix.master_layout import argument_layout, lay_out_arguments
from mailconf.postfix.master_service import (
    FIELD_NAMES,
    MASTER_BLANKS,
    POSTCONF_FIELDS,
    SERVICE_TYPES,
    Override,
    Service,
    extract_braced,
    field_problem,
)
from mailconf.syntax.document import Document, split_lines

__all__ = [
    "DEFAULT_COLUMNS",
    "FIELD_NAMES",
    "MASTER_BLANKS",
    "POSTCONF_FIELDS",
    "SERVICE_TYPES",
    "MasterCf",
    "Override",
    "Service",
    "extract_braced",
]

_BLANKS = " \t\v\f"
# The columns ``postconf -M`` prints, used when the file has no service to copy a layout from.
DEFAULT_COLUMNS = (0, 11, 17, 25, 33, 41, 49, 57)


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
        arguments go where the file's services put theirs, on continuation lines with their
        indentation or on the command's line (:mod:`mailconf.postfix.master_layout`; as given
        when no service has arguments).  A new service goes after the last service; a
        replaced one keeps the comments above it.
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
        return head + lay_out_arguments(service, argument_layout(self.services))

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
            problem = field_problem(fields)
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


def _override_token(param: str, value: str, braced: bool) -> str:
    """``name=value``, or ``{ name = value }`` when the value needs it (blanks, braces) or the
    override was braced already."""
    if braced or any(c in value for c in MASTER_BLANKS + "{}"):
        return f"{{ {param} = {value} }}" if value else f"{{ {param} = }}"
    return f"{param}={value}"
