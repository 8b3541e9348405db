"""Publishing the records by RFC 2136 dynamic update, signed with a TSIG key (RFC 8945).

``mailconf dns --update SERVER --tsig-key FILE`` sends what ``mailconf dns`` prints to the zone's
primary server, as ``nsupdate -k FILE`` would, without ever touching what mailconf does not own:

* **Ownership is by kind, per name.**  At a domain mailconf owns the TXT records that start with
  ``v=spf1``; at ``SELECTOR._domainkey.DOMAIN`` the DKIM key records; at ``_dmarc.DOMAIN`` the
  ``v=DMARC1`` records.  A ``google-site-verification`` TXT at the apex, or anything of another
  type, is neither deleted nor rewritten.
* **Only the difference is sent**, one update message per zone: owned records that are not wanted
  any more are deleted one by one (RFC 2136 2.5.4), wanted ones that are missing are added.  Values
  are compared as receivers read them (strings joined), so a record published split elsewhere is
  not churned.  A zone with nothing to change gets no message at all: a second run changes nothing.
* **Nothing read is overwritten blindly.**  Each changed name's whole TXT RRset, as read just
  before, is a prerequisite (RFC 2136 2.4.2, "RRset exists, value dependent"; "RRset does not
  exist" where there was none), so if someone changed those records in between, the server applies
  nothing and the user is told to run again.
* **The RRset's TTL is kept** when the name already has TXT records (one RRset has one TTL, and
  the admin chose it); new names get :data:`~mailconf.dns.records.DEFAULT_TTL`.

The zone of a name is found by asking the same server for its SOA (the answer, or the SOA in the
authority section of a negative answer), unless the caller names it.  Every query and the update
itself go over TCP (a DKIM record makes the update larger than plain UDP carries; and a closed port
is a refused connection at once, not a timeout) and are signed with the key, so a wrong key is
found before anything is sent.  Every failure is a :class:`UpdateError` whose message says which
server, which zone and what to do, the same way the doctor's ``dns.unreachable`` names the server.

The key file is read by :mod:`mailconf.dns.tsig_keyfile`, the records owned and the plan are in
:mod:`mailconf.dns.update_plan`, and the signed exchanges with the server in
:mod:`mailconf.dns.tsig_server`; this module plans and sends, and re-exports the public names of
the others so that callers import everything about publishing from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import dns.name
import dns.rcode

from mailconf.dns.records import DEFAULT_TTL, Record
from mailconf.dns.tsig_keyfile import TsigKey, parse_tsig_keys, read_tsig_key
from mailconf.dns.tsig_server import Server, UpdateError, server_at
from mailconf.dns.update_plan import (
    NameChange,
    Publication,
    Strings,
    ZoneUpdate,
    joined,
    owned,
    record_kind,
)
from mailconf.errors import ValidationError

__all__ = [
    "DEFAULT_TIMEOUT",
    "NameChange",
    "Publication",
    "TsigKey",
    "UpdateError",
    "ZoneUpdate",
    "parse_tsig_keys",
    "plan_update",
    "publish",
    "read_tsig_key",
    "send_update",
]

#: Seconds one exchange with the server (a query, or the update) may take.
DEFAULT_TIMEOUT: Final = 5.0


_PREREQUISITE_FAILED: Final = ("YXDOMAIN", "YXRRSET", "NXDOMAIN", "NXRRSET")


def _check_update_answer(server: Server, zone: str, response: dns.message.Message) -> None:
    rcode = dns.rcode.to_text(response.rcode())
    if rcode == "NOERROR":
        return
    where = f"{server.shown} did not apply the update of zone {zone}"
    if rcode in _PREREQUISITE_FAILED:
        reason = (
            "the TXT records there changed since mailconf read them, so the prerequisite "
            "failed; run the command again"
        )
    elif rcode == "REFUSED":
        reason = (
            f"the key '{server.key.name}' may not update this zone there: allow it in the "
            "server's update policy (BIND update-policy, Knot acl action: update)"
        )
    elif rcode in ("NOTAUTH", "NOTZONE"):
        reason = "the server is not the zone's primary (give the primary server, or --zone)"
    elif rcode == "NOTIMP":
        reason = "the server does not accept dynamic updates"
    else:
        reason = "see the server's log"
    raise UpdateError(f"{where} ({rcode}): {reason}; nothing was changed in that zone")


def plan_update(
    server: str,
    key: TsigKey,
    records: Sequence[Record] = (),
    *,
    delete: Sequence[str] = (),
    zone: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[ZoneUpdate]:
    """The updates that make ``server`` publish ``records`` and no other record of their kinds
    at their names, and none at the names in ``delete`` (a retired selector, say).

    Reads the zones (SOA) and the names' TXT records from the server; sends nothing.  Every
    record must be one mailconf recognises as its own at its name (a DKIM key at a selector...),
    or a second run could not find it again.
    """
    wanted: dict[str, list[Strings]] = {}
    for record in records:
        name = record.name.rstrip(".").lower()
        if record.type != "TXT" or not owned(record_kind(name), record.value):
            raise ValidationError(
                f"{record.name}: {record.value[:40]!r} is not a {record_kind(name)} record"
            )
        wanted.setdefault(name, []).append(tuple(s.encode("utf-8") for s in record.strings))
    for name in delete:
        name = name.rstrip(".").lower()
        if name in wanted:
            raise ValidationError(f"{name}: both published and deleted")
        wanted[name] = []
    talk = server_at(server, key, timeout)
    if zone is not None:
        zone = zone.rstrip(".").lower()
        apex = dns.name.from_text(zone)
        for name in wanted:
            if not dns.name.from_text(name).is_subdomain(apex):
                raise ValidationError(f"{name} is not in the zone {zone}")
    zones: dict[str, list[NameChange]] = {}
    for name, records_wanted in wanted.items():
        found = zone if zone is not None else talk.zone_of(name)
        changes = zones.setdefault(found, [])
        change = _change(talk, name, records_wanted)
        if change is not None:
            changes.append(change)
    return [ZoneUpdate(z, tuple(c)) for z, c in zones.items()]


def _change(talk: Server, name: str, wanted: list[Strings]) -> NameChange | None:
    ttl, current = talk.txt(name)
    kind = record_kind(name)
    mine = [s for s in current if owned(kind, joined(s))]
    wanted_texts = {joined(s) for s in wanted}
    mine_texts = {joined(s) for s in mine}
    remove = tuple(s for s in mine if joined(s) not in wanted_texts)
    add, seen = [], set(mine_texts)
    for strings in wanted:
        if joined(strings) not in seen:
            seen.add(joined(strings))
            add.append(strings)
    if not remove and not add:
        return None
    return NameChange(name, DEFAULT_TTL if ttl is None else ttl, current, remove, tuple(add))


def send_update(
    server: str, key: TsigKey, updates: Sequence[ZoneUpdate], *, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Send each zone's update that changes something, in order; stop at the first failure
    (the error says which zones were updated before it)."""
    talk = server_at(server, key, timeout)
    done: list[str] = []
    for update in updates:
        if not update.changes:
            continue
        try:
            _check_update_answer(talk, update.zone, talk.exchange(update.message(key)))
        except UpdateError as exc:
            if done:
                raise UpdateError(f"{exc} (zones updated before: {', '.join(done)})") from None
            raise
        done.append(update.zone)


def publish(
    server: str,
    key: TsigKey,
    records: Sequence[Record] = (),
    *,
    delete: Sequence[str] = (),
    zone: str | None = None,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Publication:
    """Make ``server`` publish ``records`` (and remove the names in ``delete``): read, plan,
    and unless ``dry_run`` send one update per zone.  See :func:`plan_update`."""
    updates = plan_update(server, key, records, delete=delete, zone=zone, timeout=timeout)
    if not dry_run:
        send_update(server, key, updates, timeout=timeout)
    talk = server_at(server, key, timeout)
    return Publication(talk.shown, key.name, tuple(updates), not dry_run)
