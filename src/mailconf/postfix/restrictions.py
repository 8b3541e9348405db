"""The rules of Postfix restriction lists that both the edits (:meth:`MainCf.add_restriction
<mailconf.postfix.main.MainCf.add_restriction>`) and the lint (:mod:`mailconf.postfix.lint`) apply,
written once so the refusal of an edit and the warning about a file cannot disagree.

* Nothing after an unconditional ``permit``/``reject``/``defer`` is ever evaluated (dead items).
* Before ``reject_unauth_destination`` (or ``defer_…``), an item that may answer OK — ``permit``
  or a policy service — lets anyone relay.
* ``smtpd_relay_restrictions`` or ``smtpd_recipient_restrictions`` must do relay control, or
  Postfix refuses to start.

Items here are normalized restriction items (:func:`mailconf.postfix.values.normalize_item`), a
restriction and its argument being one item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mailconf.errors import EditError
from mailconf.postfix.values import (
    RELAY_CONTROL,
    UNAUTH_DESTINATION,
    UNCONDITIONAL,
    group_restrictions,
    list_tokens,
    normalize_item,
)

#: The two lists Postfix looks in for relay control.
RELAY_LISTS = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")

NO_RELAY_CONTROL = (
    "neither smtpd_relay_restrictions nor smtpd_recipient_restrictions {verb} "
    "reject_unauth_destination (or defer_unauth_destination, reject, defer, defer_if_permit, "
    "check_relay_domains): Postfix refuses to start"
)


def restriction_items(value: str) -> list[str]:
    """A restriction list's value as its normalized items (``{ }`` groups and arguments kept
    with their restriction)."""
    return [normalize_item(item.text) for item in group_restrictions(list_tokens(value))]


def relay_default(compatibility_level: str) -> str:
    """``smtpd_relay_restrictions``'s default: empty below compatibility_level 1 (its
    ``postconf -d`` value is an expression on the level)."""
    major = compatibility_level.split(".")[0]
    if major.isdigit() and int(major) >= 1:
        return "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
    return ""


def does_relay_control(items: Iterable[str]) -> bool:
    return any(item in RELAY_CONTROL for item in items)


def relay_control_problem(lists: Mapping[str, list[str]], changed: str) -> str | None:
    """Why the relay lists (name -> items, ``changed`` being the one an edit changes) would stop
    Postfix from starting, or None."""
    if any(does_relay_control(items) for items in lists.values()):
        return None
    return (
        NO_RELAY_CONTROL.format(verb="would contain")
        + f"; add reject_unauth_destination to {changed} first"
    )


def first_unconditional(items: list[str]) -> int | None:
    """The position of the first unconditional decision: what follows it is dead."""
    return next((index for index, item in enumerate(items) if item in UNCONDITIONAL), None)


def first_relay_check(items: list[str]) -> int | None:
    """The position of the first ``reject_unauth_destination``/``defer_unauth_destination``."""
    return next((index for index, item in enumerate(items) if item in UNAUTH_DESTINATION), None)


def is_policy_service(item: str) -> bool:
    return item.split(" ", 1)[0] == "check_policy_service"


def insertion_point(list_name: str, items: list[str], after: str | None) -> int:
    """Where an item goes: right after ``after`` (EditError if the list lacks it), else last
    among the live items (before the first unconditional decision)."""
    if after is not None:
        anchor = normalize_item(after)
        if anchor not in items:
            raise EditError(f"{list_name} has no restriction {after!r} to add after")
        return items.index(anchor) + 1
    found = first_unconditional(items)
    return len(items) if found is None else found


def placement_problem(list_name: str, items: list[str], position: int) -> str | None:
    """Why ``items[position]`` is wrong there (dead, or opens a relay), or None."""
    new = items[position]
    dead = first_unconditional(items[:position])
    if dead is not None:
        return (
            f"{new!r} would come after the unconditional {items[dead]!r} in {list_name} and "
            "would never be evaluated; insert it before that"
        )
    relay = first_relay_check(items)
    opens = new == "permit" or is_policy_service(new)
    if relay is not None and opens and position < relay:
        return (
            f"{new!r} before {items[relay]} in {list_name} would open a relay: "
            f"an OK answer there permits mail to any destination; put it after {items[relay]}"
        )
    return None
