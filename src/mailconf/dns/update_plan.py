"""What a dynamic update changes: which TXT records mailconf owns at a name, and the plan.

The plan is plain data (:class:`NameChange` per name, one :class:`ZoneUpdate` per zone, the
:class:`Publication` that reports it), built and sent by :mod:`mailconf.dns.update`; it is kept
here so the rules of ownership and the message a plan turns into can be read (and tested) without
the code that talks to a server.
"""

from __future__ import annotations

import re
from typing import Literal

import attrs
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.update

from mailconf.dns.tsig_keyfile import TsigKey
from mailconf.dns.txt import parse_tag_list

__all__ = [
    "Kind",
    "NameChange",
    "Publication",
    "Strings",
    "ZoneUpdate",
    "joined",
    "owned",
    "record_kind",
]

#: A TXT record as its character-strings, as they are on the wire.
Strings = tuple[bytes, ...]


# --- what mailconf owns at a name ---------------------------------------------------------------

Kind = Literal["SPF", "DKIM", "DMARC"]

_SPF = re.compile(r"v=spf1(?: |\Z)", re.IGNORECASE)
_DMARC = re.compile(r"\s*v\s*=\s*DMARC1\s*(?:;|\Z)", re.IGNORECASE)
_DKIM = re.compile(r"\s*v\s*=\s*DKIM1\s*(?:;|\Z)")


def record_kind(name: str) -> Kind:
    """Which record mailconf publishes at ``name``: DMARC at ``_dmarc.D``, DKIM at
    ``S._domainkey.D``, SPF anywhere else (the domain itself)."""
    labels = name.rstrip(".").lower().split(".")
    if labels[0] == "_dmarc":
        return "DMARC"
    if len(labels) > 2 and labels[1] == "_domainkey":
        return "DKIM"
    return "SPF"


def owned(kind: Kind, text: str) -> bool:
    """Whether the TXT value ``text`` is a record of ``kind``, as receivers recognise it.

    A DKIM key record may leave out ``v=`` (RFC 6376 3.6.1), so at a selector any tag list with
    ``p=`` counts too.
    """
    if kind == "SPF":
        return _SPF.match(text) is not None
    if kind == "DMARC":
        return _DMARC.match(text) is not None
    if _DKIM.match(text):
        return True
    try:
        tags = parse_tag_list(text)
    except ValueError:
        return False
    return bool(tags) and tags[0][0] != "v" and any(tag == "p" for tag, _ in tags)


def joined(strings: Strings) -> str:
    """The record's text as receivers read it, its strings joined: how records are compared."""
    return b"".join(strings).decode("utf-8", "replace")


# --- the plan -----------------------------------------------------------------------------------


@attrs.frozen
class NameChange:
    """What one update does at one name: ``current`` is the whole TXT RRset read (the
    prerequisite), ``remove`` the owned records deleted, ``add`` the records added with ``ttl``."""

    name: str
    ttl: int
    current: tuple[Strings, ...]
    remove: tuple[Strings, ...]
    add: tuple[Strings, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ttl": self.ttl,
            "require": [joined(s) for s in self.current],
            "delete": [joined(s) for s in self.remove],
            "add": [joined(s) for s in self.add],
        }


@attrs.frozen
class ZoneUpdate:
    """The one update message for ``zone``; no ``changes``: the zone is up to date."""

    zone: str
    changes: tuple[NameChange, ...]

    def message(self, key: TsigKey) -> dns.update.UpdateMessage:
        """The RFC 2136 message: the prerequisites, then the deletions, then the additions."""
        update = dns.update.UpdateMessage(self.zone + ".", keyring=key.dns_key())
        for change in self.changes:
            name = dns.name.from_text(change.name)
            if change.current:
                update.present(name, *[_rdata(s) for s in change.current])
            else:
                update.absent(name, dns.rdatatype.TXT)
            for strings in change.remove:
                update.delete(name, _rdata(strings))
            for strings in change.add:
                update.add(name, change.ttl, _rdata(strings))
        return update

    def render(self) -> str:
        """One line per prerequisite, deletion and addition, in zone-file notation."""
        lines = []
        for change in self.changes:
            owner = change.name + "."
            if change.current:
                lines += [f"  require {owner} TXT {_text(s)}" for s in change.current]
            else:
                lines.append(f"  require {owner} TXT absent")
            lines += [f"  delete  {owner} TXT {_text(s)}" for s in change.remove]
            lines += [f"  add     {owner} {change.ttl} TXT {_text(s)}" for s in change.add]
        return "".join(line + "\n" for line in lines)

    def to_json(self) -> dict[str, object]:
        return {"zone": self.zone, "changes": [c.to_json() for c in self.changes]}


def _rdata(strings: Strings) -> dns.rdtypes.ANY.TXT.TXT:
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)


def _text(strings: Strings) -> str:
    return _rdata(strings).to_text()


@attrs.frozen
class Publication:
    """What :func:`publish` did: the ``server``, each zone's update, whether it was ``sent``."""

    server: str
    key: str
    updates: tuple[ZoneUpdate, ...]
    sent: bool

    def render(self) -> str:
        verb = "sent to" if self.sent else "would send to"
        out = []
        for update in self.updates:
            if not update.changes:
                out.append(f"zone {update.zone}: up to date, nothing to send\n")
                continue
            out.append(f"zone {update.zone}: {verb} {self.server} (TSIG key {self.key}):\n")
            out.append(update.render())
        return "".join(out)

    def to_json(self) -> dict[str, object]:
        return {
            "server": self.server,
            "key": self.key,
            "sent": self.sent,
            "zones": [u.to_json() for u in self.updates],
        }
