"""/etc/postfix/main.cf: parameters with the meaning Postfix gives them, and semantic edits.

Reading: :meth:`MainCf.get` is the value as the daemons see it (continuations joined keeping
their leading whitespace, comment lines inside a value skipped, the last duplicate winning).

Editing: every edit is idempotent (a second call changes nothing and returns False), touches only
the lines it must, keeps the comments and the layout around them, and keeps the file's line
ending (CRLF stays CRLF) and a missing final newline.  Ownership of comments follows LibCST: a
parameter owns the comment lines *directly* above it (no blank line between) and the comment
lines inside its continuation lines.  ``unset`` takes those with it; a comment block separated by
a blank line is a section heading and stays.

Lists are edited in their existing style (see :meth:`MainCf.list_append`): an item added to a
one-item-per-line list goes on its own line with the same indentation and the same trailing comma
convention; a single-line list gets the separator it already uses (``", "``, ``","`` or ``" "``).
"""

from __future__ import annotations

import functools
import os
import re
from typing import TYPE_CHECKING

import attrs

from mailconf.errors import EditError, ValidationError
from mailconf.postfix.lines import (
    ISSPACE,
    content_end,
    is_trivia_line,
    line_end,
    logical_positions,
    logical_text,
)
from mailconf.postfix.params import parameter_table
from mailconf.postfix.values import (
    LIST_SEPARATORS,
    RELAY_CONTROL,
    UNAUTH_DESTINATION,
    UNCONDITIONAL,
    Item,
    group_restrictions,
    is_restriction_list,
    list_tokens,
    milter_kind,
    milter_socket,
    milter_socket_for_postfix,
    normalize_item,
    pure_reference,
    restriction_key,
)
from mailconf.syntax import grammar
from mailconf.syntax.document import Document, Entry, Value, split_lines
from mailconf.syntax.parts import GrammarEntry

if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["MainCf", "Parameter", "known_parameters", "milter_socket_for_postfix"]

_NAME_OK = re.compile(r"[^\s=#\0][^\s=\0]*\Z")  # Postfix stops reading at a NUL
_BLANKS = " \t\v\f"

# Per-service parameter suffixes postconf accepts for master.cf services, by command
# (postconf_service.c: delivery agents get the transport family, pipe and spawn a time limit).
_TRANSPORT_SUFFIXES = (
    "_recipient_limit",
    "_extra_recipient_limit",
    "_recipient_refill_limit",
    "_recipient_refill_delay",
    "_delivery_slot_cost",
    "_delivery_slot_loan",
    "_delivery_slot_discount",
    "_minimum_delivery_slots",
    "_initial_destination_concurrency",
    "_destination_concurrency_limit",
    "_destination_recipient_limit",
    "_destination_concurrency_positive_feedback",
    "_destination_concurrency_negative_feedback",
    "_destination_concurrency_failed_cohort_limit",
    "_destination_rate_delay",
    "_transport_rate_delay",
)
SERVICE_PARAMETER_SUFFIXES = {
    "local": _TRANSPORT_SUFFIXES,
    "error": _TRANSPORT_SUFFIXES,
    "virtual": _TRANSPORT_SUFFIXES,
    "smtp": _TRANSPORT_SUFFIXES,
    "lmtp": _TRANSPORT_SUFFIXES,
    "pipe": ("_time_limit", *_TRANSPORT_SUFFIXES),
    "spawn": ("_time_limit",),
}


def known_parameters(root: str | os.PathLike[str] = "/") -> Mapping[str, str]:
    """Built-in parameter names and their compiled-in defaults, as the Postfix that reads the
    configuration under ``root`` has them (see :mod:`mailconf.postfix.params`)."""
    return parameter_table(root).parameters


def legacy_parameters(root: str | os.PathLike[str] = "/") -> frozenset[str]:
    """Old names postconf still accepts (``virtual_maps``...) though ``postconf -d`` omits them."""
    return parameter_table(root).legacy


def read_only_parameters(root: str | os.PathLike[str] = "/") -> frozenset[str]:
    """Names postconf drops from main.cf with a "read-only parameter assignment" warning."""
    return parameter_table(root).read_only


@attrs.frozen(eq=False)
class Parameter(GrammarEntry):
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

    @property
    def name(self) -> str:
        return self.part("name")

    @property
    def value(self) -> str:
        """The value exactly as the daemons see it (continuations joined, not expanded)."""
        return self.part("value")

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


@attrs.define(eq=False)
class MainCf(Document):
    kind = "postfix-main"
    entry_type = Parameter
    linter = ("mailconf.postfix.lint", "lint_main_cf")

    # ------------------------------------------------------------------ reading
    @property
    def parameters(self) -> dict[str, str]:
        """Every parameter set in the file, the last duplicate winning (as in Postfix)."""
        return {entry.name: entry.value for entry in self._parameters()}

    def _parameters(self) -> list[Parameter]:
        return [entry for entry in self.entries if isinstance(entry, Parameter)]

    def _occurrences(self, name: str) -> list[Parameter]:
        return [e for e in self.entries if isinstance(e, Parameter) and e.name == name]

    def get(self, name: str) -> str | None:
        """The value as the daemons see it (not expanded); None when the file does not set it.
        An empty value is ``""``, which is not the same as absent (absent means the default)."""
        found = self._last(name)
        return found.value if found is not None else None

    def effective(self, name: str) -> str | None:
        """The file's value, else the compiled-in default (None for a name Postfix lacks)."""
        value = self.get(name)
        return value if value is not None else known_parameters().get(name)

    def to_json(self) -> dict[str, object]:
        return {"parameters": self.parameters}

    @property
    def restriction_classes(self) -> frozenset[str]:
        value = self.get("smtpd_restriction_classes") or ""
        return frozenset(item.text for item in list_tokens(value))

    def list_items(self, name: str) -> list[str]:
        """The items of a list-valued parameter, as Postfix splits it (``{ }`` group = one item).

        In a restriction list (``*_restrictions`` or a ``smtpd_restriction_classes`` name) a
        restriction and its argument are one item: ``check_policy_service unix:private/x``.
        ``$name`` references are items, not expanded.  An absent parameter has no items here
        (its default is not read).
        """
        return [normalize_item(item.text) for item in self._items(name)]

    def _items(
        self, name: str, entry: Parameter | None = None, classes: frozenset[str] | None = None
    ) -> list[Item]:
        """``name``'s list items (of ``entry``, else of its winning line); ``classes`` saves a
        look-up of :attr:`restriction_classes` (a pass over the file) when already known."""
        entry = entry if entry is not None else self._last(name)
        if entry is None:
            return []
        tokens = list_tokens(entry.value)
        if is_restriction_list(name, self.restriction_classes if classes is None else classes):
            return group_restrictions(tokens)
        return tokens

    def _last(self, name: str) -> Parameter | None:
        for entry in reversed(self.entries):  # the winner is usually near the end: stop there
            if isinstance(entry, Parameter) and entry.name == name:
                return entry
        return None

    # ------------------------------------------------------------------ set / unset
    def set(self, name: str, value: Value, *, after: str | None = None) -> bool:
        """Set ``name = value``; True when the file changed.  A number is written in decimal, a
        boolean as ``yes``/``no``.

        An existing parameter is replaced in place, keeping the spacing around ``=`` of its line
        and its comments (comment lines inside an old continued value move above it).  Every
        occurrence is rewritten, as ``postconf -e`` does, so the file cannot keep a stale
        duplicate.  A new parameter goes after the last parameter, or after the parameter
        ``after`` (EditError if that one is not set), written with its neighbour's ``=`` spacing.
        """
        _check_name(name)
        value = _check_value(name, self.value_text(value))
        found = self._occurrences(name)
        if found:
            changes = [
                (entry, _with_value(entry, value)) for entry in found if entry.value != value
            ]
            self._rewrite_each(changes, move_comments=True)
            return bool(changes)
        anchor = self._anchor(after)
        text = _new_line(name, value, anchor)
        index = self.entries.index(anchor) + 1 if anchor is not None else len(self.entries)
        self.insert(index, self.parse_entry(text))
        return True

    def _anchor(self, after: str | None) -> Parameter | None:
        if after is not None:
            anchor = self._last(after)
            if anchor is None:
                raise EditError(f"cannot add after {after!r}: main.cf does not set it")
            return anchor
        params = self._parameters()
        return params[-1] if params else None

    def _rewrite_each(
        self, changes: list[tuple[Parameter, str]], *, move_comments: bool = False
    ) -> None:
        """Replace each entry's lines with its new text (all in one pass over the document).
        With ``move_comments`` (``set``), comment lines inside an old continued value move above
        it, so no comment is lost; list edits keep them in place themselves (and drop those owned
        by a removed item on purpose)."""
        moved = [
            "".join(
                line for line in entry.physical_lines[1:] if line.strip(ISSPACE).startswith("#")
            )
            if move_comments
            else ""
            for entry, _ in changes
        ]
        replaced = zip(self.replace_each(changes), moved, strict=True)
        self.add_above_each(
            [
                (new, comments if comments.endswith("\n") else comments + self.newline)
                for new, comments in replaced
                if comments
            ]
        )

    def unset(self, name: str) -> bool:
        """Remove every occurrence of ``name`` (like ``postconf -X``) with the comment lines it
        owns: those inside its value and those directly above it.  Comments separated from it by
        a blank line stay, and the blank lines around it do not double up."""
        found = self._occurrences(name)
        self.remove_each(found)
        return bool(found)

    def comment_out(self, name: str) -> bool:
        """Turn every occurrence into comment lines (``#`` before each of its lines, like
        ``postconf -#``); they stay where they were, above the next parameter."""
        found = self._occurrences(name)
        self.demote([(entry, _commented(entry)) for entry in found])
        return bool(found)

    # ------------------------------------------------------------------ list edits
    def list_append(self, name: str, item: str) -> bool:
        """Add ``item`` at the end of the list, in the list's style; False if already there.

        An absent parameter is created with just ``item`` (its default is not copied in; use
        :meth:`add_restriction` for restriction lists, which does).
        """
        return self._list_add(name, item, None, None)

    def list_ensure(self, name: str, item: str) -> bool:
        """``item`` present in the list (appended if missing): the same as :meth:`list_append`,
        named for callers that state a wanted state rather than an action."""
        return self._list_add(name, item, None, None)

    def list_insert(
        self, name: str, item: str, *, before: str | None = None, after: str | None = None
    ) -> bool:
        """Insert ``item`` before or after an existing item (EditError if that is missing);
        with neither, at the front.  False when ``item`` is already in the list anywhere."""
        if before is not None and after is not None:
            raise EditError("give before= or after=, not both")
        if before is None and after is None:
            items = self._items(name)
            if items:
                return self._list_add(name, item, normalize_item(items[0].text), None)
        return self._list_add(name, item, before, after)

    def list_remove(self, name: str, item: str) -> bool:
        """Remove every occurrence of ``item`` from the list, with the comment lines directly
        above it when it sits on its own line.  False when it is not there."""
        wanted = normalize_item(item)
        changed = False
        classes = self.restriction_classes
        positions = self.positions()
        for entry in self._occurrences(name):
            index = positions[entry]
            while True:
                items = self._items(name, entry, classes)
                matches = [i for i, it in enumerate(items) if it.normalized == wanted]
                if not matches:
                    break
                layout = _Layout(entry, items, self.newline)
                new = self.replace_at(index, layout.remove(matches[0]))
                assert isinstance(new, Parameter)
                entry = new
                changed = True
        return changed

    def _list_add(self, name: str, item: str, before: str | None, after: str | None) -> bool:
        wanted = normalize_item(item)
        if not wanted:
            raise EditError("cannot add an empty list item")
        entry = self._last(name)
        items = self._items(name)
        if any(existing.normalized == wanted for existing in items):
            return False
        if entry is None or not items:
            if before is not None or after is not None:
                raise EditError(f"{name} has no item {before or after!r} to insert next to")
            return self.set(name, item.strip(ISSPACE))
        layout = _Layout(entry, items, self.newline)
        position = len(items)
        anchor = before if before is not None else after
        if anchor is not None:
            anchor_norm = normalize_item(anchor)
            indexes = [i for i, it in enumerate(items) if it.normalized == anchor_norm]
            if not indexes:
                raise EditError(f"{name} has no item {anchor!r} to insert next to")
            position = indexes[0] if before is not None else indexes[0] + 1
        self._rewrite_each([(entry, layout.insert(position, item.strip(ISSPACE)))])
        return True

    # ------------------------------------------------------------------ milters
    def add_milter(
        self, spec: str, *, param: str = "smtpd_milters", root: str | os.PathLike[str] = "/"
    ) -> bool:
        """Add a milter to ``param`` unless it is already there (compared by socket, also through
        ``$name`` references such as ``non_smtpd_milters = $smtpd_milters``, which are kept as
        references, never expanded into copies).

        ``spec`` is a socket as Postfix names it, or ``opendkim``/``opendmarc``: the socket that
        daemon listens on under ``root`` (its conf file's ``Socket``, else ``/etc/default``'s
        ``SOCKET``), written as Postfix must name it (relative to the queue directory), or
        EditError when it has none (:func:`mailconf.postfix.milters.resolve_milter`).

        OpenDKIM goes before OpenDMARC (OpenDMARC reads OpenDKIM's Authentication-Results
        header): a DKIM milter is inserted before the first DMARC one; anything else is appended.
        See :func:`mailconf.postfix.values.milter_kind` for how a milter is recognised.  A
        ``{ socket, option=value }`` group is one item and stays whole.
        """
        spec = self._resolve_milter(spec.strip(ISSPACE), root)
        socket = milter_socket(spec)
        if param in _lists_holding(socket, self._reference_graph(param)):
            return False
        items = self._items(param)
        if milter_kind(spec) == "dkim":
            for existing in items:
                if milter_kind(existing.text) == "dmarc":
                    return self._list_add(param, spec, normalize_item(existing.text), None)
        return self._list_add(param, spec, None, None)

    def remove_milter(
        self, spec: str, *, param: str = "smtpd_milters", root: str | os.PathLike[str] = "/"
    ) -> bool:
        """Remove the milter with ``spec``'s socket from ``param`` (``opendkim``/``opendmarc``
        name the daemon's socket under ``root``, as for :meth:`add_milter`).  When ``param`` only
        gets it through a reference (``$smtpd_milters``) nothing can be removed there: EditError
        says where it comes from."""
        socket = milter_socket(self._resolve_milter(spec.strip(ISSPACE), root))
        changed = False
        items = self._items(param)
        # Each distinct item once: list_remove takes every copy of it (the same milter written
        # 1,000 times is one removal, not 1,000 passes over the list).
        for text in dict.fromkeys(item.text for item in items):
            if milter_socket(text) == socket:
                changed |= self.list_remove(param, text)
        if not changed:
            holding = _lists_holding(socket, self._reference_graph(param))
            for item in items:
                ref = pure_reference(item.text)
                if ref and ref in holding:
                    raise EditError(
                        f"{param} gets {socket} through ${ref}; remove it from {ref} instead"
                    )
        return changed

    def _reference_graph(self, name: str) -> dict[str, tuple[list[str], list[str]]]:
        """``name`` and every list it reaches through whole-item ``$name`` references (file
        value, else default): list -> (its items that are not references, the lists it refers
        to).  Each list is read once, however often the references repeat or loop."""
        values = self.parameters
        defaults = known_parameters()
        graph: dict[str, tuple[list[str], list[str]]] = {}
        pending = [name]
        while pending:
            current = pending.pop()
            if current in graph:
                continue
            value = (values[current] if current in values else defaults.get(current)) or ""
            items: list[str] = []
            refs: list[str] = []
            for item in list_tokens(value):
                ref = pure_reference(item.text)
                if ref:
                    refs.append(ref)
                else:
                    items.append(item.text)
            graph[current] = (items, refs)
            pending.extend(refs)
        return graph

    def _resolve_milter(self, spec: str, root: str | os.PathLike[str]) -> str:
        from mailconf.postfix.milters import resolve_milter  # only the milter edits need it

        queue_directory = self.get("queue_directory") or "/var/spool/postfix"
        return resolve_milter(spec, os.fspath(root), queue_directory)

    def add_restriction(
        self, list_name: str, item: str, *, after: str | None = None, last: bool = False
    ) -> bool:
        """Put restriction ``item`` into ``list_name``: ``last`` (the default when ``after`` is
        not given), or right after ``after``.

        "Last" means last among the live items: before an unconditional ``permit``/``reject``/
        ``defer``, since nothing after one is ever evaluated.  An absent list starts from its
        default (``postconf -d``), so adding to ``smtpd_relay_restrictions`` keeps its relay
        control.  Refused with EditError when the result would be dead (after an unconditional
        decision), would open a relay (``permit`` or a policy service, which may answer OK,
        before ``reject_unauth_destination`` in a list doing relay control), or would leave
        neither ``smtpd_relay_restrictions`` nor ``smtpd_recipient_restrictions`` with relay
        control (Postfix refuses to start then).  False when ``item`` is already in the list.
        """
        if last and after is not None:
            raise EditError("give after= or last=True, not both")
        wanted = normalize_item(item)
        if not wanted:
            raise EditError("cannot add an empty restriction")
        absent = self.get(list_name) is None
        if absent:
            default = known_parameters().get(list_name, "")
            if list_name == "smtpd_relay_restrictions":
                default = self._relay_default()
            if "$" in default:
                default = ""  # an expression default: start from the file's (empty) list
            tokens = list_tokens(default)
            current = [normalize_item(it.text) for it in group_restrictions(tokens)]
        else:
            current = [normalize_item(it.text) for it in self._items(list_name)]
        if restriction_key(wanted) in {restriction_key(existing) for existing in current}:
            return False
        if after is not None:
            anchor = normalize_item(after)
            if anchor not in current:
                raise EditError(f"{list_name} has no restriction {after!r} to add after")
            position = current.index(anchor) + 1
        else:
            position = len(current)
            for index, existing in enumerate(current):
                if existing in UNCONDITIONAL:
                    position = index
                    break
        proposed = [*current[:position], wanted, *current[position:]]
        problem = _restriction_problem(list_name, proposed, position)
        if problem:
            raise EditError(problem)
        if list_name in ("smtpd_relay_restrictions", "smtpd_recipient_restrictions"):
            relay = self._relay_lists()
            relay[list_name] = proposed
            if not any(_does_relay_control(items) for items in relay.values()):
                raise EditError(
                    "neither smtpd_relay_restrictions nor smtpd_recipient_restrictions would "
                    "contain reject_unauth_destination (or defer_unauth_destination, reject, "
                    "defer, defer_if_permit, check_relay_domains): Postfix refuses to start; "
                    f"add reject_unauth_destination to {list_name} first"
                )
        if absent:
            return self.set(list_name, ", ".join(proposed))
        if position < len(current):
            return self._list_add(list_name, item, current[position], None)
        return self._list_add(list_name, item, None, current[-1] if current else None)

    def _relay_default(self) -> str:
        """``smtpd_relay_restrictions``'s default depends on compatibility_level (empty below 1)."""
        level = self.effective("compatibility_level") or "0"
        if level.split(".")[0].isdigit() and int(level.split(".")[0]) >= 1:
            return "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
        return ""

    def _relay_lists(self) -> dict[str, list[str]]:
        lists = {}
        for name in ("smtpd_relay_restrictions", "smtpd_recipient_restrictions"):
            if self.get(name) is None:
                value = self._relay_default() if name == "smtpd_relay_restrictions" else ""
                grouped = group_restrictions(list_tokens(value))
                lists[name] = [normalize_item(it.text) for it in grouped]
            else:
                lists[name] = [normalize_item(it.text) for it in self._items(name)]
        return lists

    def line_number(self, entry: Entry) -> int:
        return self.line_of(entry)


# ---------------------------------------------------------------------- helpers
def _check_name(name: str) -> None:
    if not _NAME_OK.match(name):
        raise ValidationError(f"invalid parameter name {name!r}")


def _check_value(name: str, value: str) -> str:
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


def _new_line(name: str, value: str, neighbour: Parameter | None) -> str:
    before, after = _prefix_style(neighbour)
    return f"{name}{before}={after}{value}" if value else f"{name}{before}="


def _with_value(entry: Parameter, value: str) -> str:
    """``entry`` rewritten as one line with ``value``, keeping its name and ``=`` spacing."""
    before, after = _prefix_style(entry)
    if "=" not in split_lines(entry.text)[0]:
        before, after = " ", " "
    return f"{entry.name}{before}={after}{value}" if value else f"{entry.name}{before}="


def _commented(entry: Parameter) -> str:
    """``entry``'s lines as ``postconf -#`` leaves them: ``#`` before each that is not one."""
    return "".join(line if is_trivia_line(line) else "#" + line for line in entry.physical_lines)


def _does_relay_control(items: list[str]) -> bool:
    return any(item in RELAY_CONTROL for item in items)


def _restriction_problem(list_name: str, items: list[str], position: int) -> str | None:
    """Why putting ``items[position]`` there is wrong (dead, or opens a relay), or None."""
    new = items[position]
    for earlier in items[:position]:
        if earlier in UNCONDITIONAL:
            return (
                f"{new!r} would come after the unconditional {earlier!r} in {list_name} and "
                "would never be evaluated; insert it before that"
            )
    relay = [i for i, it in enumerate(items) if it in UNAUTH_DESTINATION]
    opens = new == "permit" or new.split(" ", 1)[0] == "check_policy_service"
    if relay and opens and position < relay[0]:
        return (
            f"{new!r} before {items[relay[0]]} in {list_name} would open a relay: "
            f"an OK answer there permits mail to any destination; put it after {items[relay[0]]}"
        )
    return None


def _lists_holding(socket: str, graph: dict[str, tuple[list[str], list[str]]]) -> set[str]:
    """The lists of ``graph`` that give a milter with ``socket``, directly or through their
    references (a walk of the references backwards from the lists that name it)."""
    holding = {
        name
        for name, (items, _) in graph.items()
        if any(milter_socket(item) == socket for item in items)
    }
    referrers: dict[str, list[str]] = {}
    for name, (_, refs) in graph.items():
        for ref in refs:
            referrers.setdefault(ref, []).append(name)
    pending = list(holding)
    while pending:
        for referrer in referrers.get(pending.pop(), ()):
            if referrer not in holding:
                holding.add(referrer)
                pending.append(referrer)
    return holding


class _Layout:
    """Splicing list items into a parameter's raw text in the list's own style."""

    def __init__(self, entry: Parameter, items: list[Item], newline: str) -> None:
        self.entry = entry
        self.text = entry.text
        self.spans = [entry.raw_span(item) for item in items]
        first_end = self.text.find("\n")
        self.newline = "\r\n" if first_end > 0 and self.text[first_end - 1] == "\r" else newline
        if first_end < 0:
            self.newline = newline

    # raw-text geometry -----------------------------------------------------------
    def _line_start(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def _content_end(self, pos: int) -> int:
        return content_end(self.text, pos)

    def _line_end(self, pos: int) -> int:
        return line_end(self.text, pos)

    def _own_line(self, index: int) -> bool:
        """Item ``index`` starts a continuation line (only blanks before it)."""
        start = self.spans[index][0]
        line_start = self._line_start(start)
        return line_start > 0 and not self.text[line_start:start].strip(_BLANKS)

    def _tail(self, index: int) -> str | None:
        """Separators after item ``index`` up to the end of its line, None if another item
        follows on that line."""
        end = self.spans[index][1]
        if index + 1 < len(self.spans) and "\n" not in self.text[end : self.spans[index + 1][0]]:
            # The next item is on this line.  Checked first, on the separator only: finding the
            # end of the line for each item of a 50,000-item line is quadratic (an insertion
            # before an item on a line of its own looks at every item's tail).
            return None
        tail = self.text[end : self._content_end(end)]
        return tail if not tail.strip(LIST_SEPARATORS) else None

    def _inline_separator(self) -> str:
        for index in range(len(self.spans) - 1):
            between = self.text[self.spans[index][1] : self.spans[index + 1][0]]
            if "\n" not in between:
                return between
        comma = any("," in (self._tail(i) or "") for i in range(len(self.spans)))
        if len(self.spans) > 1 and not comma:
            return " "
        return ", "

    def _line_comma(self) -> str:
        tails = [self._tail(i) for i in range(len(self.spans) - 1)]
        return "," if any(t and "," in t for t in tails) else ""

    def _comments_above(self, line_start: int) -> int:
        """Move ``line_start`` up over the comment lines directly above it inside the entry."""
        while line_start > 0:
            previous = self._line_start(line_start - 1)
            line = self.text[previous:line_start]
            if not line.strip(ISSPACE).startswith("#"):
                break
            line_start = previous
        return line_start

    # edits -------------------------------------------------------------------------
    def insert(self, position: int, item: str) -> str:
        text = self.text
        if position >= len(self.spans):
            last = len(self.spans) - 1
            end = self.spans[last][1]
            if self._own_line(last) and self._tail(last) is not None:
                tail = self._tail(last) or ""
                inter = (self._tail(last - 1) or "").rstrip(_BLANKS) if last > 0 else ""
                if last == 0 or self._tail(last - 1) is None:
                    inter = self._line_comma()
                indent = text[self._line_start(self.spans[last][0]) : self.spans[last][0]]
                new = f"{inter}{self.newline}{indent}{item}{tail}"
                return text[:end] + new + text[end + len(tail) :]
            return text[:end] + self._inline_separator() + item + text[end:]
        start = self.spans[position][0]
        if self._own_line(position):
            line_start = self._comments_above(self._line_start(start))
            indent = text[self._line_start(start) : start]
            comma = self._line_comma()
            if not comma and "," in (self._tail(position) or ""):
                comma = ","
            return text[:line_start] + f"{indent}{item}{comma}{self.newline}" + text[line_start:]
        return text[:start] + item + self._inline_separator() + text[start:]

    def remove(self, index: int) -> str:
        text = self.text
        start, end = self.spans[index]
        tail = self._tail(index)
        last = index == len(self.spans) - 1
        if self._own_line(index) and tail is not None:
            line_start = self._comments_above(self._line_start(start))
            line_end = self._line_end(end)
            if line_end == len(text) and not text.endswith("\n"):
                # the last line of an entry without final newline: drop the newline before it
                prev_end = line_start - 1
                if prev_end > 0 and text[prev_end - 1] == "\r":
                    prev_end -= 1
                line_start, line_end = max(prev_end, 0), len(text)
            result = text[:line_start] + text[line_end:]
            if last and index > 0:
                prev_tail = self._tail(index - 1)
                if prev_tail is not None and "," in prev_tail and "," not in tail:
                    prev_end = self.spans[index - 1][1]
                    result = result[:prev_end] + result[prev_end + len(prev_tail) :]
            return result
        if index + 1 < len(self.spans) and "\n" not in text[end : self.spans[index + 1][0]]:
            return text[:start] + text[self.spans[index + 1][0] :]
        if index > 0 and "\n" not in text[self.spans[index - 1][1] : start]:
            return text[: self.spans[index - 1][1]] + text[end:]
        # first on the `name =` line, the rest (if any) on later lines
        stop = self._content_end(end) if tail is not None else end
        head = text[:start].rstrip(_BLANKS)
        return head + text[stop:]
