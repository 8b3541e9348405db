"""DNS failures are not DNS answers: each failure class, from a live server on 127.0.0.1 or from a
port that never answers or that nothing listens on, and what the checks make of it.

* NXDOMAIN and NODATA are answers: the record is missing.
* SERVFAIL is about one name: ``dns.lookup-failed`` for that name, the other names still asked.
* A timeout, a REFUSED answer, a refused connection: the resolver cannot be asked, which is one
  ``dns.unreachable`` finding, and every check that needs DNS is skipped, none "fails".  Once the
  resolver has answered, a timeout or REFUSED is about that one name; a refused connection is not.
* The time budget: once spent, one ``dns.budget-exhausted`` and the remaining checks skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dns.resolver
import pytest

from dnsserver import DnsServer, closed_port, silent_server
from mailconf.dns.checks import (
    check_adsp,
    check_all,
    check_dkim,
    check_dmarc,
    check_spf,
    spf_check_host,
)
from mailconf.dns.lookup import Answer, DnsUnavailable, Lookup, Status, make_resolver
from mailconf.findings import Finding, Severity

DOMAIN = "example.test"
IP4 = "203.0.113.5"
# What check_all reports for a domain with nothing published: the findings a dead resolver must
# never produce.
MISSING = {"spf.missing", "dkim.key-missing", "dmarc.missing"}


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


# --- answers: NXDOMAIN and NODATA -------------------------------------------------------------


def test_nxdomain_and_nodata_are_answers(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    dns_server.a["www.example.test"] = ["192.0.2.80"]
    lookup = Lookup(resolver)
    nxdomain = lookup.query("nope.example.test", "TXT")
    nodata = lookup.query("www.example.test", "TXT")
    assert (nxdomain.status, nxdomain.void, nxdomain.failed) == ("nxdomain", True, False)
    assert (nodata.status, nodata.void, nodata.failed) == ("nodata", True, False)
    # So the checks read them as records that are not there.
    assert set(codes(check_all(resolver, DOMAIN, selector="sel"))) == MISSING


# --- SERVFAIL: this one name ------------------------------------------------------------------


def test_servfail_is_its_own_class(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.servfail.add("broken.example.test")
    dns_server.add_txt(DOMAIN, "v=spf1 -all")
    lookup = Lookup(resolver)
    answer = lookup.txt("broken.example.test")
    assert (answer.status, answer.void, answer.failed) == ("servfail", False, True)
    assert f"{dns_server.address} answered SERVFAIL" in answer.error
    # The resolver is fine: the next name is asked and answered.
    assert lookup.stopped is None
    assert lookup.txt(DOMAIN).texts() == ["v=spf1 -all"]


@pytest.mark.parametrize(
    ("name", "check", "severity", "not_reported"),
    [
        (DOMAIN, lambda r: check_spf(r, DOMAIN), Severity.ERROR, "spf.missing"),
        (
            f"sel._domainkey.{DOMAIN}",
            lambda r: check_dkim(r, DOMAIN, "sel"),
            Severity.ERROR,
            "dkim.key-missing",
        ),
        (f"_dmarc.{DOMAIN}", lambda r: check_dmarc(r, DOMAIN), Severity.ERROR, "dmarc.missing"),
        (f"_adsp._domainkey.{DOMAIN}", lambda r: check_adsp(r, DOMAIN), Severity.WARNING, ""),
    ],
)
def test_servfail_is_a_failed_lookup_of_that_name_not_a_missing_record(
    dns_server: DnsServer,
    resolver: dns.resolver.Resolver,
    name: str,
    check: Callable[[dns.resolver.Resolver], list[Finding]],
    severity: Severity,
    not_reported: str,
) -> None:
    dns_server.servfail.add(name)
    findings = check(resolver)
    assert codes(findings) == ["dns.lookup-failed"]
    assert findings[0].severity is severity
    assert name in findings[0].message and "SERVFAIL" in findings[0].message
    assert not_reported not in codes(findings)


@pytest.mark.parametrize(
    ("failure", "name", "more"),
    [
        ("servfail", "broken.example.test", " a:gone.example.test"),
        # An authoritative server asked for a name outside its zones: about that one name too.
        ("refused", "_spf.provider.test", ""),
    ],
    ids=["servfail-inside-the-spf-tree", "refused-out-of-zone"],
)
def test_a_name_failing_inside_the_spf_tree_is_a_named_failed_lookup(
    dns_server: DnsServer, resolver: dns.resolver.Resolver, failure: str, name: str, more: str
) -> None:
    dns_server.add_txt(DOMAIN, f"v=spf1 include:{name}{more} ~all")
    getattr(dns_server, failure).add(name)
    findings = check_spf(resolver, DOMAIN)
    assert codes(findings) == ["dns.lookup-failed"]
    assert name in findings[0].message and failure.upper() in findings[0].message
    assert spf_check_host(resolver, IP4, DOMAIN) == "temperror"


# --- the resolver cannot be asked -------------------------------------------------------------


def stop_of(lookup: Lookup, name: str = DOMAIN) -> Finding:
    with pytest.raises(DnsUnavailable) as stop:
        lookup.txt(name)
    assert lookup.stopped == stop.value.finding
    return stop.value.finding


def test_refused_answer_stops_the_lookup(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    dns_server.refused.add(DOMAIN)
    lookup = Lookup(resolver)
    finding = stop_of(lookup)
    assert finding.code == "dns.unreachable" and finding.severity is Severity.ERROR
    assert f"{dns_server.address} answered REFUSED" in finding.message
    # Known unreachable: the next name is not even asked.
    asked = len(dns_server.queries)
    assert stop_of(lookup, "other.example.test") == finding
    assert len(dns_server.queries) == asked


def test_nothing_listening_is_a_refused_connection() -> None:
    address = closed_port()
    lookup = Lookup(make_resolver(address, timeout=5.0, lifetime=5.0))
    finding = stop_of(lookup)
    assert finding.code == "dns.unreachable"
    assert f"{address} refused the connection" in finding.message


def lifetimes_of(resolver: dns.resolver.Resolver, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The ``lifetime`` each query of ``resolver`` is sent with (what bounds its wait)."""
    asked: list[float] = []
    resolve = resolver.resolve

    def recording(*args: Any, **kwargs: Any) -> dns.resolver.Answer:
        asked.append(kwargs["lifetime"])
        return resolve(*args, **kwargs)

    monkeypatch.setattr(resolver, "resolve", recording)
    return asked


def test_a_server_that_never_answers_times_out_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The budget bounds the wait, not the resolver's 10 s lifetime."""
    with silent_server() as address:
        resolver = make_resolver(address)
        lifetimes = lifetimes_of(resolver, monkeypatch)
        finding = stop_of(Lookup(resolver, budget=0.3))
    assert finding.code == "dns.unreachable"
    assert f"no answer from {address} within 0.3 s" in finding.message
    assert resolver.lifetime == 10.0
    assert len(lifetimes) == 1 and 0 < lifetimes[0] <= 0.3


def test_no_configured_server_is_unreachable() -> None:
    finding = stop_of(Lookup(dns.resolver.Resolver(configure=False)))
    assert finding.code == "dns.unreachable"
    assert "no name server is configured" in finding.message


@pytest.mark.parametrize("status", ["timeout", "refused", "unreachable"])
def test_unreachable_resolver_is_one_finding_and_every_check_is_skipped(status: Status) -> None:
    asked: list[tuple[str, str]] = []

    def dead(name: str, rdtype: str) -> Answer:
        asked.append((name, rdtype))
        return Answer(name, rdtype, status, error="192.0.2.53:53 is gone")

    findings = check_all(dead, DOMAIN, selector="sel", server_ips=[IP4])
    assert codes(findings) == ["dns.unreachable"]
    assert "192.0.2.53:53 is gone" in findings[0].message
    assert len(asked) == 1
    # Through the public single checks too: never a pass, never a missing record.
    lookup = Lookup(dead)
    for check in (check_spf, check_dmarc, check_adsp):
        assert codes(check(lookup, DOMAIN)) == ["dns.unreachable"]
    assert spf_check_host(lookup, IP4, DOMAIN) == "temperror"


def test_unreachable_live_resolver_gives_one_finding_for_every_check() -> None:
    findings = check_all(make_resolver(closed_port()), DOMAIN, selector="sel", server_ips=[IP4])
    assert codes(findings) == ["dns.unreachable"]


@pytest.mark.parametrize("status", ["timeout", "refused"])
def test_after_answers_a_timeout_or_refusal_is_about_that_name(status: Status) -> None:
    # A resolver that gives up on a dead zone, an authoritative server asked for a name outside
    # its zones: the resolver has answered, so only this name is unknown.
    def source(name: str, rdtype: str) -> Answer:
        if name == DOMAIN:
            return Answer(name, rdtype, "ok", txt=((b"v=spf1 include:dead.example.test ~all",),))
        if name == "dead.example.test":
            return Answer(name, rdtype, status, error="no luck")
        return Answer(name, rdtype, "nxdomain")

    lookup = Lookup(source)
    findings = check_spf(lookup, DOMAIN)
    assert codes(findings) == ["dns.lookup-failed"]
    assert "dead.example.test" in findings[0].message and "no luck" in findings[0].message
    assert lookup.stopped is None
    assert spf_check_host(lookup, IP4, DOMAIN) == "temperror"


def test_after_answers_a_refused_connection_still_stops() -> None:
    def source(name: str, rdtype: str) -> Answer:
        if name == DOMAIN:
            return Answer(name, rdtype, "nxdomain")
        return Answer(name, rdtype, "unreachable", error="127.0.0.1:53 refused the connection")

    findings = check_all(source, DOMAIN, selector="sel")
    assert codes(findings) == ["spf.missing", "dns.unreachable"]


# --- the time budget --------------------------------------------------------------------------


def test_budget_spent_skips_the_remaining_checks_with_one_finding() -> None:
    asked: list[str] = []

    def slow(name: str, rdtype: str) -> Answer:
        asked.append(name)
        time.sleep(0.3)
        return Answer(name, rdtype, "nxdomain")

    findings = check_all(Lookup(slow, budget=0.1), DOMAIN, selector="sel")
    # The SPF check got its answer; the budget was then spent, and DKIM, ADSP and DMARC skipped.
    assert codes(findings) == ["spf.missing", "dns.budget-exhausted"]
    assert "0.1 s" in findings[1].message
    assert asked == [DOMAIN]


def test_budget_cuts_a_slow_resolver_short(
    dns_server: DnsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each query may wait only what is left of the budget, less and less of it."""
    dns_server.delay = 0.4
    resolver = make_resolver(dns_server.address)
    lifetimes = lifetimes_of(resolver, monkeypatch)
    lookup = Lookup(resolver, budget=1.5)
    findings = check_all(lookup, DOMAIN, selector="sel")
    assert codes(findings).count("dns.budget-exhausted") == 1
    assert "dns.unreachable" not in codes(findings)
    assert lookup.answered >= 1
    assert lifetimes and all(0 < lifetime <= 1.5 for lifetime in lifetimes)
    assert lifetimes == sorted(lifetimes, reverse=True)
