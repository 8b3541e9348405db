"""The rules of Postfix restriction lists that both the edits (:meth:`MainCf.add_restriction
<mailconf.postfix.main.MainCf.add_restriction>`) and the lint (:mod:`mailconf.postfix.lint`) apply,
written once so the refusal of an edit and the warning about a file cannot disagree.

* Nothing after an unconditional ``permit``/``reject``/``defer`` is ever evaluated (dead items).
* Before ``reject_unauth_destination`` (or ``defer_…``), an item that may answer OK — ``permit``
  or a policy service — lets anyone relay.
* ``smtpd_relay_restrictions`` or ``smtpd_recipient_restrictions`` must do relay control, or
  Postfix refuses to start.
* A policy service after ``permit_auth_destination`` (or ``permit_mx_backup``, which also
  permits every authorised destination: postconf(5)) never sees the inbound mail to this host's
  own domains, since the first OK ends the list (SMTPD_ACCESS_README): an SPF check there checks
  nothing it was meant to.  "Last" for a policy service is therefore before the first of those.

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


#: Restrictions that permit mail to this host's own and relay domains, ending the list for the
#: inbound mail a policy check (SPF) is meant to see.
INBOUND_PERMITS = frozenset({"permit_auth_destination", "permit_mx_backup"})


def first_inbound_permit(items: list[str]) -> int | None:
    """The position of the first item that permits inbound mail to this host's domains."""
    return next((index for index, item in enumerate(items) if item in INBOUND_PERMITS), None)


def is_policy_service(item: str) -> bool:
    return item.split(" ", 1)[0] == "check_policy_service"


def insertion_point(list_name: str, items: list[str], after: str | None, new: str = "") -> int:
    """Where ``new`` goes: right after ``after`` (EditError if the list lacks it), else last
    among the live items (before the first unconditional decision), and for a policy service
    before the first item that permits inbound mail (:data:`INBOUND_PERMITS`)."""
    if after is not None:
        anchor = normalize_item(after)
        if anchor not in items:
            raise EditError(f"{list_name} has no restriction {after!r} to add after")
        return items.index(anchor) + 1
    stops = [first_unconditional(items)]
    if is_policy_service(new):
        stops.append(first_inbound_permit(items))
    found = [stop for stop in stops if stop is not None]
    return min(found) if found else len(items)


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
    inbound = first_inbound_permit(items[:position])
    if is_policy_service(new) and inbound is not None:
        return unreachable_policy(list_name, new, items[inbound])
    return None


def unreachable_policy(list_name: str, item: str, permit: str) -> str:
    """The message for a policy service after ``permit``, by the lint and the edit alike."""
    return (
        f"{list_name}: {item} after {permit} never sees the inbound mail to this host's "
        f"domains ({permit} permits it first); insert it before {permit}"
    )
