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

This module decides which lines an edit touches; :mod:`~mailconf.postfix.parameter` writes one
line, :mod:`~mailconf.postfix.list_layout` splices list items, and
:mod:`~mailconf.postfix.restrictions` holds the restriction-list rules the lint applies too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import attrs

from mailconf.errors import EditError
from mailconf.postfix.lines import (
    ISSPACE,
)
from mailconf.postfix.list_layout import ListLayout
from mailconf.postfix.parameter import (
    Parameter,
    check_name,
    check_value,
    commented,
    new_line,
    with_value,
)
from mailconf.postfix.params import parameter_table
from mailconf.postfix.restrictions import (
    RELAY_LISTS,
    insertion_point,
    placement_problem,
    relay_control_problem,
    relay_default,
    restriction_items,
)
from mailconf.postfix.values import (
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
from mailconf.syntax.document import Document, Entry, Value

if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["MainCf", "Parameter", "known_parameters", "milter_socket_for_postfix"]

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


@attrs.define(eq=False)
class MainCf(Document):
    kind = "postfix-main"
    entry_type = Parameter
    linter = ("mailconf.postfix.lint", "lint_main_cf")

    _winners_of: tuple[Entry, ...] = attrs.field(default=(), init=False, repr=False)
    _winners_index: dict[str, Parameter] = attrs.field(factory=dict, init=False, repr=False)

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
        """The line of ``name`` that Postfix reads (the last one), from :meth:`_winners`."""
        return self._winners().get(name)

    def _winners(self) -> dict[str, Parameter]:
        """Each name's last line, indexed once per state of :attr:`entries`: a 50,000-line file
        is not scanned again for every :meth:`get` (lint asks for several names).  The index is
        kept with the entries it was built from and rebuilt when they are not the same objects
        in the same order (an edit, or a caller's change to the list); comparing them is one
        C-level pass of identity checks."""
        current = tuple(self.entries)
        if self._winners_of != current:
            self._winners_index = {
                entry.name: entry for entry in current if isinstance(entry, Parameter)
            }
            self._winners_of = current
        return self._winners_index

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
        check_name(name)
        value = check_value(name, self.value_text(value))
        found = self._occurrences(name)
        if found:
            changes = [(entry, with_value(entry, value)) for entry in found if entry.value != value]
            self._rewrite_each(changes, move_comments=True)
            return bool(changes)
        anchor = self._anchor(after)
        text = new_line(name, value, anchor)
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
        self.demote([(entry, commented(entry)) for entry in found])
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
                layout = self._layout(entry, items)
                new = self.replace_at(index, layout.remove(matches[0]))
                assert isinstance(new, Parameter)
                entry = new
                changed = True
        return changed

    def _layout(self, entry: Parameter, items: list[Item]) -> ListLayout:
        return ListLayout(entry.text, [entry.raw_span(item) for item in items], self.newline)

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
        layout = self._layout(entry, items)
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
        current = self._restriction_items(list_name)
        if restriction_key(wanted) in {restriction_key(existing) for existing in current}:
            return False
        position = insertion_point(list_name, current, after)
        proposed = [*current[:position], wanted, *current[position:]]
        problem = placement_problem(list_name, proposed, position)
        if problem is None and list_name in RELAY_LISTS:
            problem = relay_control_problem({**self.relay_lists(), list_name: proposed}, list_name)
        if problem:
            raise EditError(problem)
        if self.get(list_name) is None:
            return self.set(list_name, ", ".join(proposed))
        if position < len(current):
            return self._list_add(list_name, item, current[position], None)
        return self._list_add(list_name, item, None, current[-1] if current else None)

    def _restriction_items(self, list_name: str) -> list[str]:
        """The list's normalized items; an absent list's are its default's (``postconf -d``;
        ``smtpd_relay_restrictions``'s by compatibility_level; an expression default counts as
        empty, the file's list being empty then)."""
        if self.get(list_name) is not None:
            return [normalize_item(it.text) for it in self._items(list_name)]
        if list_name == "smtpd_relay_restrictions":
            default = relay_default(self.effective("compatibility_level") or "0")
        else:
            default = known_parameters().get(list_name, "")
        return restriction_items("" if "$" in default else default)

    def relay_lists(self) -> dict[str, list[str]]:
        """The items of the two lists Postfix looks in for relay control, as it reads them."""
        return {name: self._restriction_items(name) for name in RELAY_LISTS}

    def line_number(self, entry: Entry) -> int:
        return self.line_of(entry)


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
