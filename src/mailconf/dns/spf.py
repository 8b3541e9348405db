"""The SPF policy a domain publishes: present, one record, valid, within the lookup limits, and
authorising this server's addresses.

The lookup limits are counted statically over the whole tree (every include and redirect
followed), which is what matters for senders that do *not* match early: a record that needs 11
lookups gives them ``permerror`` instead of ``fail``.  Void lookups are counted per address family,
since an ``a`` term asks for A records for an IPv4 client and AAAA for an IPv6 one.  Coverage is
the receivers' own ``check_host()`` (:mod:`mailconf.dns.spf_host`) for each address.

Codes: ``spf.missing``, ``spf.multiple``, ``spf.invalid``, ``spf.too-many-lookups``,
``spf.void-lookups``, ``spf.ip-not-covered``, ``spf.pass-all``, ``spf.no-all``, ``spf.ptr-used``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import attrs

from mailconf.dns import spf_terms
from mailconf.dns.lookup import Answer, Lookup, LookupSource, as_lookup, skipped_when_unavailable
from mailconf.dns.spf_host import check_host
from mailconf.dns.txt import lookup_failed, size_findings
from mailconf.findings import Finding, Severity
from mailconf.names import validate_domain

__all__ = ["LookupCounter", "check_spf"]

_ADDRESS_TYPES = {4: "A", 6: "AAAA"}


@attrs.define
class LookupCounter:
    """Static count of the lookups and void lookups of the whole policy tree.

    A void lookup is a query answering NXDOMAIN, or no record of the type asked (RCODE 0, no
    answer).  RFC 7208 4.6.4 limits the "terms" for which queries are void; pyspf (Debian's
    policyd-spf) counts every void query, each MX exchange's address query included, and gives
    permerror on the third.  This counts what pyspf counts, so that no receiver's permerror goes
    unreported (per-query counts are never below per-term ones).  The count depends on the
    client's address family: for an IPv4 client ``a:NAME`` asks for A records, so a name with
    only AAAA records is void for IPv4 senders and not for IPv6 ones.  ``voids`` holds, per
    family (4, 6), the void queries as ``NAME (TYPE)``.
    """

    lookup: Lookup
    lookups: int = 0
    voids: dict[int, list[str]] = attrs.Factory(lambda: {4: [], 6: []})
    failures: list[Answer] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)
    ptr_used: bool = False

    def ask(self, name: str, rdtype: str, families: tuple[int, ...] = (4, 6)) -> Answer | None:
        """The answer, noted as void for ``families`` if it is; None (kept in ``failures``) when
        the query failed for this name."""
        answer = self.lookup.query(name, rdtype)
        if answer.failed:
            self.failures.append(answer)
            return None
        if answer.void:
            for family in families:
                self.voids[family].append(f"{name} ({rdtype})")
        return answer

    def walk(self, domain: str, path: tuple[str, ...]) -> None:
        if domain.lower() in path:
            self.problems.append(f"include/redirect loop through {domain}")
            return
        if self.lookups > spf_terms.SPF_LOOKUP_LIMIT or len(path) > spf_terms.SPF_LOOKUP_LIMIT:
            return
        # The top domain has an SPF record (check_spf saw to that): neither void nor failed.
        answer = self.ask(domain, "TXT")
        if answer is None:
            return
        records = spf_terms.spf_texts(answer)
        if path and not records:
            self.problems.append(f"{domain} (included from {path[-1]}) has no SPF record")
            return
        if len(records) != 1:
            return
        try:
            terms = spf_terms.parse_record(records[0])
        except spf_terms.SpfPermError as exc:
            if path:
                self.problems.append(f"{domain} (included from {path[-1]}): {exc}")
            return
        has_all = any(t.kind == "all" for t in terms)
        for term in terms:
            macro = term.domain_spec is not None and "%" in term.domain_spec
            target = (term.domain_spec or domain).rstrip(".")
            if term.kind == "include" or (term.kind == "redirect" and not has_all):
                self.lookups += 1
                if not macro:
                    self.walk(target, (*path, domain.lower()))
            elif term.kind in ("a", "mx", "ptr", "exists"):
                self.lookups += 1
                if term.kind == "ptr":
                    self.ptr_used = True
                elif not macro:
                    self.count_voids(term.kind, target)

    def count_voids(self, kind: str, target: str) -> None:
        """Ask what the a, mx or exists term naming ``target`` asks, for either family."""
        if kind == "exists":  # A records, whatever the client's family
            self.ask(target, "A")
            return
        names = [target]
        if kind == "mx":
            mx = self.ask(target, "MX")
            if mx is None or mx.void:
                return
            if len(mx.values) > spf_terms.SPF_LOOKUP_LIMIT:
                self.problems.append(f"{target} has more than 10 MX records")
                return
            names = list(mx.values)
        for family, rdtype in _ADDRESS_TYPES.items():
            for name in names:
                self.ask(name, rdtype, (family,))


@skipped_when_unavailable
def check_spf(source: LookupSource, domain: str, server_ips: Sequence[str] = ()) -> list[Finding]:
    """Check the SPF policy of ``domain`` and that it authorises every address in ``server_ips``."""
    domain = validate_domain(domain)
    lookup = as_lookup(source)
    answer = lookup.txt(domain)
    if answer.failed:
        return [lookup_failed(answer)]
    records = spf_terms.spf_texts(answer)
    if not records:
        return [
            Finding(
                Severity.ERROR,
                "spf.missing",
                f"{domain} publishes no SPF record (TXT starting with v=spf1)",
                fix=f"publish the SPF record mailconf prints at {domain}",
            )
        ]
    findings = size_findings(domain, answer)
    if len(records) > 1:
        findings.append(
            Finding(
                Severity.ERROR,
                "spf.multiple",
                f"{domain} publishes {len(records)} SPF records; receivers return permerror",
                fix="merge them into one v=spf1 record",
            )
        )
        return findings
    try:
        terms = spf_terms.parse_record(records[0])
    except spf_terms.SpfPermError as exc:
        findings.append(
            Finding(
                Severity.ERROR,
                "spf.invalid",
                f"SPF record of {domain} is invalid ({exc}); receivers return permerror",
                fix="correct the record (RFC 7208 section 12 has the syntax)",
            )
        )
        return findings
    findings += _ending_findings(domain, terms)
    counter = LookupCounter(lookup)
    counter.walk(domain, ())
    findings += _tree_findings(domain, counter)
    for ip in server_ips:
        result = check_host(lookup, ip, domain, None)
        if result != "pass":
            findings.append(
                Finding(
                    Severity.ERROR,
                    "spf.ip-not-covered",
                    f"SPF policy of {domain} gives {result} for this server's address {ip}",
                    fix=f"add ip{ipaddress.ip_address(ip).version}:{ip} before the all term",
                )
            )
    return findings


def _ending_findings(domain: str, terms: list[spf_terms.Term]) -> list[Finding]:
    """What the record says of hosts it does not list: ``+all`` lets them all send, and no
    ``all`` (nor redirect) leaves them neutral."""
    findings = [
        Finding(
            Severity.ERROR,
            "spf.pass-all",
            f"SPF record of {domain} ends with {term.text}: every host on the Internet "
            "may send as this domain",
            fix="use ~all (or -all)",
        )
        for term in terms
        if term.kind == "all" and term.qualifier == "+"
    ]
    if not any(t.kind in ("all", "redirect") for t in terms):
        findings.append(
            Finding(
                Severity.WARNING,
                "spf.no-all",
                f"SPF record of {domain} has no 'all' term: unlisted hosts get neutral",
                fix="end the record with ~all",
            )
        )
    return findings


def _tree_findings(domain: str, counter: LookupCounter) -> list[Finding]:
    """What the walk of the whole policy tree found: failed queries, broken includes, too many
    lookups or void lookups, ``ptr``."""
    findings = [
        Finding(
            Severity.ERROR,
            "dns.lookup-failed",
            f"SPF policy of {domain}: {failed.rdtype} lookup for {failed.name} failed "
            f"({failed.error or failed.status}); receivers that reach it return temperror",
            fix=f"check that the name servers of {failed.name} answer",
        )
        for failed in dict.fromkeys(counter.failures)
    ]
    findings += [
        Finding(
            Severity.ERROR,
            "spf.invalid",
            f"SPF policy of {domain}: {problem}; receivers return permerror",
            fix="fix or remove the include",
        )
        for problem in counter.problems
    ]
    if counter.lookups > spf_terms.SPF_LOOKUP_LIMIT:
        findings.append(
            Finding(
                Severity.ERROR,
                "spf.too-many-lookups",
                f"SPF policy of {domain} needs {counter.lookups} DNS lookups (include, a, mx, "
                f"ptr, exists, redirect, counted through includes); the limit is "
                f"{spf_terms.SPF_LOOKUP_LIMIT} and receivers return permerror",
                fix="replace a/mx/include terms by ip4:/ip6: networks",
            )
        )
    findings += _void_findings(domain, counter.voids)
    if counter.ptr_used:
        findings.append(
            Finding(
                Severity.WARNING,
                "spf.ptr-used",
                f"SPF policy of {domain} uses ptr, which RFC 7208 says not to use",
                fix="replace ptr by ip4:/ip6: networks",
            )
        )
    return findings


def _void_findings(domain: str, voids: dict[int, list[str]]) -> list[Finding]:
    """One finding per address family over the void-lookup limit (one for both when the same)."""
    over = {
        family: names for family, names in voids.items() if len(names) > spf_terms.SPF_VOID_LIMIT
    }
    if len(over) == 2 and over[4] == over[6]:
        over = {0: over[4]}
    senders = {0: "every sender", 4: "IPv4 senders", 6: "IPv6 senders"}
    return [
        Finding(
            Severity.ERROR,
            "spf.void-lookups",
            f"SPF policy of {domain} has {len(names)} void lookups for {senders[family]} "
            f"(names that do not exist or have no record of the type asked: "
            f"{', '.join(names)}); the limit is {spf_terms.SPF_VOID_LIMIT} and receivers return "
            "permerror",
            fix="remove the terms naming these, or publish their addresses",
        )
        for family, names in over.items()
    ]
