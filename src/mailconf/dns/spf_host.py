"""RFC 7208 ``check_host()``: what a receiver's SPF verdict is for one client address.

Coverage of the server's addresses is decided by evaluating the policy as a receiver does (ip4,
ip6, a, mx, ptr, exists, include, redirect and macros), because a textual search for the address
misses ``a``/``mx``/``include`` and would miss a record that permerrors before reaching it.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

import attrs

from mailconf.dns.lookup import Answer, DnsUnavailable, Lookup, LookupSource, as_lookup
from mailconf.dns.spf_terms import (
    MACRO,
    QUALIFIER_RESULT,
    SPF_LOOKUP_LIMIT,
    SPF_VOID_LIMIT,
    SpfPermError,
    Term,
    parse_record,
    spf_texts,
)

__all__ = ["SpfResult", "check_host", "spf_check_host"]

SpfResult = str  # "pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"


class _SpfTempError(Exception):
    pass


@attrs.define
class _SpfEval:
    """One ``check_host()`` evaluation.

    Every query answering NXDOMAIN or no record of the type asked is a void lookup (an ``a``
    name with only AAAA records is one for an IPv4 client), each MX exchange's address query
    included: see :class:`mailconf.dns.spf.LookupCounter` for why each query counts.
    """

    lookup: Lookup
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    lookups: int = 0
    voids: int = 0

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > SPF_LOOKUP_LIMIT:
            raise SpfPermError("more than 10 DNS lookups")

    def query(self, name: str, rdtype: str) -> Answer:
        answer = self.lookup.query(name, rdtype)
        if answer.failed:
            raise _SpfTempError(answer.error or answer.status)
        if answer.void:
            self.voids += 1
            if self.voids > SPF_VOID_LIMIT:
                raise SpfPermError("more than 2 void lookups")
        return answer

    def letter_value(self, letter: str, domain: str) -> str:
        """The value of macro letter ``letter`` (lower case) before any transformer."""
        local, _, sender_domain = self.sender.rpartition("@")
        if letter == "s":
            return self.sender
        if letter == "l":
            return local or "postmaster"
        if letter == "o":
            return sender_domain
        if letter == "d":
            return domain
        if letter in "ic":
            if self.ip.version == 4:
                return str(self.ip)
            return ".".join(self.ip.exploded.replace(":", ""))
        if letter == "v":
            return "in-addr" if self.ip.version == 4 else "ip6"
        if letter == "h":
            return self.helo
        return "unknown"  # p (we do not validate PTRs for macros), r, t

    def expand(self, spec: str, domain: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(5) is not None:
                return {"%": "%", "_": " ", "-": "%20"}[match.group(5)]
            letter, digits, reverse, delimiters = match.groups()[:4]
            value = self.letter_value(letter.lower(), domain)
            parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
            if reverse:
                parts.reverse()
            if digits:
                if int(digits) == 0:
                    raise SpfPermError("macro with zero digits")
                parts = parts[-int(digits) :]
            result = ".".join(parts)
            if letter.isupper():
                result = urllib.parse.quote(result, safe="")
            return result

        expanded = MACRO.sub(replace, spec)
        while len(expanded) > 253 and "." in expanded:
            expanded = expanded.split(".", 1)[1]
        return expanded.rstrip(".")

    def target(self, term: Term, domain: str) -> str:
        return self.expand(term.domain_spec, domain) if term.domain_spec else domain

    def addresses(self, name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        rdtype = "A" if self.ip.version == 4 else "AAAA"
        return [ipaddress.ip_address(v) for v in self.query(name, rdtype).values]

    def in_net(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, term: Term) -> bool:
        length = term.cidr4 if address.version == 4 else term.cidr6
        return self.ip in ipaddress.ip_network(f"{address}/{length}", strict=False)

    def check_host(self, domain: str, depth: int = 0) -> SpfResult:
        if depth > SPF_LOOKUP_LIMIT + 1:
            raise SpfPermError("include/redirect loop")
        answer = self.lookup.txt(domain)
        if answer.failed:
            raise _SpfTempError(answer.error or answer.status)
        records = spf_texts(answer)
        if not records:
            return "none"
        if len(records) > 1:
            raise SpfPermError(f"{domain} has {len(records)} SPF records")
        terms = parse_record(records[0])
        for term in terms:
            if term.kind in ("redirect", "exp", "modifier"):
                continue
            if self.matches(term, domain, depth):
                return QUALIFIER_RESULT[term.qualifier]
        redirect = next((t for t in terms if t.kind == "redirect"), None)
        if redirect is not None:
            self.count()
            result = self.check_host(self.target(redirect, domain), depth + 1)
            if result == "none":
                raise SpfPermError(f"redirect target of {domain} has no SPF record")
            return result
        return "neutral"

    def matches(self, term: Term, domain: str, depth: int) -> bool:
        if term.kind == "all":
            return True
        if term.kind in ("ip4", "ip6"):
            assert term.network is not None
            return self.ip.version == term.network.version and self.ip in term.network
        self.count()
        target = self.target(term, domain)
        if term.kind == "include":
            result = self.check_host(target, depth + 1)
            if result == "none":
                raise SpfPermError(f"include:{target} has no SPF record")
            return result == "pass"
        if term.kind == "a":
            return any(self.in_net(address, term) for address in self.addresses(target))
        if term.kind == "mx":
            exchanges = self.query(target, "MX").values
            if len(exchanges) > SPF_LOOKUP_LIMIT:
                raise SpfPermError(f"{target} has more than 10 MX records")
            # Every exchange is resolved before any is matched, as pyspf does: the void lookups
            # of the later ones count even when an earlier one matches.
            addresses = [address for name in exchanges for address in self.addresses(name)]
            return any(self.in_net(address, term) for address in addresses)
        if term.kind == "exists":
            return bool(self.query(target, "A").values)
        # ptr
        reverse = ipaddress.ip_address(self.ip).reverse_pointer
        names = self.query(reverse, "PTR").values[:SPF_LOOKUP_LIMIT]
        validated = [name.lower() for name in names if self.ip in self.addresses(name)]
        target = target.lower()
        return any(name == target or name.endswith("." + target) for name in validated)


def spf_check_host(
    source: LookupSource, ip: str, domain: str, *, sender: str | None = None
) -> SpfResult:
    """RFC 7208 ``check_host(ip, domain, sender)``: pass, fail, softfail, neutral, none, ...

    ``sender`` defaults to ``postmaster@DOMAIN`` (what a bounce-less test message would use).
    A resolver that cannot be asked gives ``temperror``, as it would a receiver.
    """
    try:
        return check_host(as_lookup(source), ip, domain, sender)
    except DnsUnavailable:
        return "temperror"


def check_host(lookup: Lookup, ip: str, domain: str, sender: str | None) -> SpfResult:
    """:func:`spf_check_host` for :func:`mailconf.dns.spf.check_spf`, which lets
    :class:`DnsUnavailable` through so that an unreachable resolver skips the check rather than
    reading as a ``temperror`` policy."""
    address = ipaddress.ip_address(ip)
    state = _SpfEval(lookup, address, sender or f"postmaster@{domain}", domain)
    try:
        return state.check_host(domain)
    except SpfPermError:
        return "permerror"
    except _SpfTempError:
        return "temperror"
