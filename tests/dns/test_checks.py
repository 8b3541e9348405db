"""DNS checks against a live authoritative test server (tests/dnsserver.py) on 127.0.0.1.

Every check has a broken setup it must catch and a correct one it must pass; the records built by
``mailconf.dns.records`` must pass the checks when served.  One DKIM record is also checked by the
real ``opendkim-testkey`` (through libunbound forwarding ``test.`` to the test server).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import dns.resolver
import pytest

from dnsserver import DnsServer
from mailconf.dns.checks import (
    check_adsp,
    check_all,
    check_dkim,
    check_dmarc,
    check_spf,
    spf_check_host,
)
from mailconf.dns.lookup import Answer, Lookup, make_resolver, parse_nameserver
from mailconf.dns.records import dkim_record, dmarc_record, spf_record, split_character_strings
from mailconf.dns.txt import parse_tag_list
from mailconf.errors import ValidationError
from mailconf.findings import Finding, Severity
from mailconf.keys import DkimKey, ensure_key_pair, generate_key

DOMAIN = "example.test"
IP4 = "203.0.113.5"
IP6 = "2001:db8::25"


@pytest.fixture(scope="module")
def rsa_key() -> DkimKey:
    return generate_key()[0]


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def problems(findings: list[Finding]) -> list[str]:
    """Codes of errors and warnings (info findings are advice, not failures)."""
    return [f.code for f in findings if f.severity is not Severity.INFO]


# --- lookup -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
    ],
)
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["ns.example:53", "127.0.0.1:0", "127.0.0.1:x", "[::1"])
def test_parse_nameserver_refuses(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_nameserver(text)


def test_lookup_statuses(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(DOMAIN, "v=spf1 -all")
    dns_server.a["www.example.test"] = ["192.0.2.80"]
    dns_server.servfail.add("broken.example.test")
    lookup = Lookup(resolver)
    assert lookup.txt(DOMAIN).texts() == ["v=spf1 -all"]
    assert lookup.query("www.example.test", "A").values == ("192.0.2.80",)
    assert lookup.query("www.example.test", "TXT").status == "nodata"
    assert lookup.query("nope.example.test", "TXT").status == "nxdomain"
    assert lookup.query("broken.example.test", "TXT").status == "servfail"
    # Cached: a second question does not reach the server.
    before = len(dns_server.queries)
    lookup.txt(DOMAIN.upper() + ".")
    assert len(dns_server.queries) == before


def test_checks_run_offline_with_a_callable(rsa_key: DkimKey) -> None:
    record, _ = dkim_record("sel", DOMAIN, rsa_key)
    asked: list[tuple[str, str]] = []

    def source(name: str, rdtype: str) -> Answer:
        asked.append((name, rdtype))
        if name == record.name and rdtype == "TXT":
            return Answer(name, rdtype, "ok", txt=(tuple(s.encode() for s in record.strings),))
        return Answer(name, rdtype, "nxdomain")

    assert check_dkim(source, DOMAIN, "sel", rsa_key) == []
    assert asked == [(record.name, "TXT")]


# --- DKIM -------------------------------------------------------------------------------------


def test_dkim_record_from_records_py_passes(
    dns_server: DnsServer, resolver: dns.resolver.Resolver, rsa_key: DkimKey
) -> None:
    record, _ = dkim_record("sel", DOMAIN, rsa_key)
    dns_server.set_txt(record.name, record.strings)
    assert check_dkim(resolver, DOMAIN, "sel", rsa_key) == []
    assert check_dkim(resolver, DOMAIN, "sel") == []


def test_dkim_ed25519_record_passes(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    key, _ = generate_key("ed25519")
    record, _ = dkim_record("ed", DOMAIN, key)
    dns_server.set_txt(record.name, record.strings)
    assert check_dkim(resolver, DOMAIN, "ed", key) == []


def test_dkim_missing(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    assert codes(check_dkim(resolver, DOMAIN, "sel")) == ["dkim.key-missing"]
    dns_server.add_txt("other._domainkey.example.test", "v=DKIM1; p=")
    assert codes(check_dkim(resolver, DOMAIN, "sel")) == ["dkim.key-missing"]


def test_dkim_one_byte_changed_is_a_mismatch(
    dns_server: DnsServer, resolver: dns.resolver.Resolver, rsa_key: DkimKey
) -> None:
    der = bytearray(rsa_key.public_key_bytes())
    der[100] ^= 0x01  # a byte inside the modulus: still a well-formed RSA key
    value = f"v=DKIM1; h=sha256; k=rsa; p={base64.b64encode(bytes(der)).decode()}"
    dns_server.set_txt(f"sel._domainkey.{DOMAIN}", split_character_strings(value))
    assert codes(check_dkim(resolver, DOMAIN, "sel", rsa_key)) == ["dkim.key-mismatch"]


def test_dkim_other_key_and_other_algorithm_mismatch(
    dns_server: DnsServer, resolver: dns.resolver.Resolver, rsa_key: DkimKey
) -> None:
    other = generate_key()[0]
    record, _ = dkim_record("sel", DOMAIN, other)
    dns_server.set_txt(record.name, record.strings)
    assert codes(check_dkim(resolver, DOMAIN, "sel", rsa_key)) == ["dkim.key-mismatch"]
    ed = generate_key("ed25519")[0]
    record, _ = dkim_record("sel", DOMAIN, ed)
    dns_server.set_txt(record.name, record.strings)
    findings = check_dkim(resolver, DOMAIN, "sel", rsa_key)
    assert codes(findings) == ["dkim.key-mismatch"]
    assert "k=ed25519" in findings[0].message


def test_dkim_whitespace_in_p_is_fine(
    dns_server: DnsServer, resolver: dns.resolver.Resolver, rsa_key: DkimKey
) -> None:
    # Some registrar panels split long values with spaces; DKIM ignores whitespace in p=.
    p = rsa_key.public_value()
    value = f"v=DKIM1;  k=rsa ;p={p[:100]} {p[100:200]}\t{p[200:]};"
    dns_server.set_txt(f"sel._domainkey.{DOMAIN}", split_character_strings(value, 200))
    assert check_dkim(resolver, DOMAIN, "sel", rsa_key) == []


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("v=DKIM1; h=sha256; k=rsa; p={p}!", "base64"),
        ("v=DKIM1; h=sha256; k=rsa", "no p="),
        ("k=rsa; v=DKIM1; p={p}", "v= must come first"),
        ("v=DKIM2; p={p}", "v= must come first"),
        ("v=DKIM1; h=sha1; p={p}", "sha256"),
        ("v=DKIM1; k=dsa; p={p}", "unknown key type"),
        ("v=DKIM1; s=tlsrpt; p={p}", "email"),
        ("v=DKIM1; p={p}; p={p}", "twice"),
        ("v=DKIM1; k=ed25519; p={p}", "32 bytes"),
        ("v=DKIM1; k=rsa; p=AAAA", "SubjectPublicKeyInfo"),
        ("v=DKIM1 k=rsa p={p}", "v= must come first and be DKIM1"),
        ("v=DKIM1; k=rsa; p/x={p}", "tag name"),
    ],
)
def test_dkim_invalid_records(
    template: str,
    why: str,
    dns_server: DnsServer,
    resolver: dns.resolver.Resolver,
    rsa_key: DkimKey,
) -> None:
    value = template.format(p=rsa_key.public_value())
    dns_server.set_txt(f"sel._domainkey.{DOMAIN}", split_character_strings(value))
    findings = check_dkim(resolver, DOMAIN, "sel", rsa_key)
    # (the record with p= twice is also over 512 bytes: dns.record-too-large comes first)
    assert problems(findings)[-1:] == ["dkim.record-invalid"]
    assert why in findings[-1].message


def test_dkim_two_records(
    dns_server: DnsServer, resolver: dns.resolver.Resolver, rsa_key: DkimKey
) -> None:
    record, _ = dkim_record("sel", DOMAIN, rsa_key)
    dns_server.set_txt(record.name, record.strings, ("google-site-verification=x",))
    assert "dkim.record-invalid" in codes(check_dkim(resolver, DOMAIN, "sel", rsa_key))


def test_dkim_revoked_testing_and_short(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    name = f"sel._domainkey.{DOMAIN}"
    dns_server.set_txt(name, ("v=DKIM1; k=rsa; p=",))
    assert codes(check_dkim(resolver, DOMAIN, "sel")) == ["dkim.key-revoked"]
    short = generate_key("rsa", 1024)[0]
    record, _ = dkim_record("sel", DOMAIN, short, testing=True)
    dns_server.set_txt(name, record.strings)
    findings = check_dkim(resolver, DOMAIN, "sel", short)
    assert codes(findings) == ["dkim.testing", "dkim.key-short"]
    assert all(f.severity is Severity.WARNING for f in findings)


def test_dkim_lookup_failure(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.servfail.add(f"sel._domainkey.{DOMAIN}")
    assert codes(check_dkim(resolver, DOMAIN, "sel")) == ["dns.lookup-failed"]


def test_large_answer_is_flagged_but_resolves_over_tcp(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    key = generate_key("rsa", 4096)[0]
    record, _ = dkim_record("big", DOMAIN, key)
    assert len(record.strings) == 3
    dns_server.set_txt(record.name, record.strings)
    findings = check_dkim(resolver, DOMAIN, "big", key)
    assert codes(findings) == ["dns.record-too-large"]
    assert findings[0].severity is Severity.WARNING
    # The UDP answer was truncated and the resolver asked again (over TCP).
    assert dns_server.queries.count((record.name, "TXT")) == 2


def test_string_over_255_bytes_is_an_error(rsa_key: DkimKey) -> None:
    record, _ = dkim_record("sel", DOMAIN, rsa_key)

    def source(name: str, rdtype: str) -> Answer:
        return Answer(name, rdtype, "ok", txt=((record.value.encode(),),))

    assert "dns.record-too-large" in codes(check_dkim(source, DOMAIN, "sel", rsa_key))


def test_adsp(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    assert check_adsp(resolver, DOMAIN) == []
    dns_server.add_txt(f"_adsp._domainkey.{DOMAIN}", "dkim=unknown")
    findings = check_adsp(resolver, DOMAIN)
    assert codes(findings) == ["dkim.adsp-present"]
    assert findings[0].severity is Severity.WARNING


# --- SPF --------------------------------------------------------------------------------------


def test_spf_record_from_records_py_passes(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    record, _ = spf_record(DOMAIN, [IP4, IP6])
    dns_server.set_txt(record.name, record.strings, ("some-verification=abc",))
    assert check_spf(resolver, DOMAIN, [IP4, IP6]) == []


def test_spf_walkthrough_record_passes(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    dns_server.add_txt(DOMAIN, f"v=spf1 +ip4:{IP4} ~all")
    assert check_spf(resolver, DOMAIN, [IP4]) == []


def test_spf_missing_and_multiple(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    assert codes(check_spf(resolver, DOMAIN, [IP4])) == ["spf.missing"]
    dns_server.add_txt(DOMAIN, "v=spf10 not spf")
    assert codes(check_spf(resolver, DOMAIN, [IP4])) == ["spf.missing"]
    dns_server.add_txt(DOMAIN, f"v=spf1 ip4:{IP4} ~all")
    dns_server.add_txt(DOMAIN, "v=spf1 mx ~all")
    assert codes(check_spf(resolver, DOMAIN, [IP4])) == ["spf.multiple"]


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:300.1.1.1 ~all",
        "v=spf1 ip4:2001:db8::1 ~all",
        "v=spf1 ip4:192.0.2.1/33 ~all",
        "v=spf1 ipv4:192.0.2.1 ~all",
        "v=spf1 a:192.0.2.1 ~all",
        "v=spf1 include ~all",
        "v=spf1 all:x",
        "v=spf1 redirect=a.example.test redirect=b.example.test",
        "v=spf1 exists:%{q}.example.test ~all",
        "v=spf1 mx/64 ~all",
    ],
)
def test_spf_syntax_errors(
    record: str, dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    dns_server.add_txt(DOMAIN, record)
    assert codes(check_spf(resolver, DOMAIN)) == ["spf.invalid"]


def test_spf_valid_syntax_variants(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(
        DOMAIN,
        "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a/24 mx//64 a:mail.example.test/28//64 "
        "exists:%{ir}.%{v}._spf.%{d2} ?include:example.test ~all exp=explain.%{d} x-custom=%{h}",
    )
    dns_server.a["mail.example.test"] = ["192.0.2.25"]
    dns_server.a[DOMAIN] = ["192.0.2.1"]
    # Without AAAA records, a/24, mx//64 and a:mail... would be three void lookups for IPv6.
    dns_server.aaaa["mail.example.test"] = ["2001:db8::25"]
    dns_server.aaaa[DOMAIN] = ["2001:db8::1"]
    dns_server.mx[DOMAIN] = [(10, "mail.example.test")]
    # The include of itself is a loop: that is the only complaint.
    assert codes(check_spf(resolver, DOMAIN)) == ["spf.invalid"]
    assert "loop" in check_spf(resolver, DOMAIN)[0].message


def test_spf_too_many_lookups(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(DOMAIN, "v=spf1 include:i1.example.test a mx ~all")
    dns_server.a[DOMAIN] = ["192.0.2.1"]
    dns_server.mx[DOMAIN] = [(10, "mail.example.test")]
    for i in range(1, 9):
        dns_server.add_txt(f"i{i}.example.test", f"v=spf1 include:i{i + 1}.example.test ~all")
    dns_server.add_txt("i9.example.test", f"v=spf1 ip4:{IP4} ~all")
    # 9 includes + a + mx = 11 lookups.
    assert codes(check_spf(resolver, DOMAIN, [IP4])) == ["spf.too-many-lookups"]
    # The server's own address matches at the 9th include, before the limit; any other sender
    # runs into it and gets permerror instead of softfail.
    assert spf_check_host(resolver, IP4, DOMAIN) == "pass"
    assert spf_check_host(resolver, "192.0.2.99", DOMAIN) == "permerror"
    # One include fewer: 10 lookups, within the limit, and the address is covered.
    dns_server.set_txt("i8.example.test", (f"v=spf1 ip4:{IP4} ~all",))
    assert check_spf(resolver, DOMAIN, [IP4]) == []


def test_spf_void_lookups(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(
        DOMAIN, "v=spf1 a:gone1.example.test a:gone2.example.test mx:gone3.example.test ~all"
    )
    assert "spf.void-lookups" in codes(check_spf(resolver, DOMAIN))
    dns_server.set_txt(DOMAIN, ("v=spf1 a:gone1.example.test a:gone2.example.test ~all",))
    assert "spf.void-lookups" not in codes(check_spf(resolver, DOMAIN))


def test_spf_a_name_with_only_aaaa_records_is_a_void_lookup_for_ipv4(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    # RFC 7208 4.6.4: a query answering RCODE 0 with no record is void.  For an IPv4 client a:NAME
    # asks for A records; a name with only AAAA records answers exactly that.
    names = [f"v6only{i}.example.test" for i in (1, 2, 3)]
    policy = " ".join(f"a:{name}" for name in names)
    dns_server.add_txt(DOMAIN, f"v=spf1 {policy} ip4:{IP4} ip6:{IP6} ~all")
    for name in names:
        dns_server.aaaa[name] = ["2001:db8::80"]
    findings = check_spf(resolver, DOMAIN)
    assert codes(findings) == ["spf.void-lookups"]
    assert "IPv4 senders" in findings[0].message
    assert all(f"{name} (A)" in findings[0].message for name in names)
    assert spf_check_host(resolver, IP4, DOMAIN) == "permerror"
    assert spf_check_host(resolver, IP6, DOMAIN) == "pass"
    for name in names:
        dns_server.a[name] = ["192.0.2.80"]
    assert check_spf(resolver, DOMAIN) == []
    assert spf_check_host(resolver, IP4, DOMAIN) == "pass"


def test_spf_mx_exchanges_without_aaaa_are_void_lookups_for_ipv6(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    dns_server.add_txt(DOMAIN, "v=spf1 mx ~all")
    dns_server.mx[DOMAIN] = [
        (10, "m1.example.test"),
        (20, "m2.example.test"),
        (30, "m3.example.test"),
    ]
    for i in (1, 2, 3):
        dns_server.a[f"m{i}.example.test"] = [f"192.0.2.{i}"]
    findings = check_spf(resolver, DOMAIN)
    assert codes(findings) == ["spf.void-lookups"]
    assert "IPv6 senders" in findings[0].message
    assert spf_check_host(resolver, "192.0.2.1", DOMAIN) == "pass"
    assert spf_check_host(resolver, IP6, DOMAIN) == "permerror"


# pyspf (python3-spf, behind Debian's policyd-spf) is a receiver's SPF: the oracle for what a
# policy gives.  It resolves through dnspython or pydns, whichever is installed; both are pointed
# at the test server.
PYSPF = r"""
import sys
import spf
host, port, ip, domain = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if spf.DNSLookup is spf.DNSLookup_dnspython:
    import dns.resolver
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [host], port
    dns.resolver.default_resolver = resolver
else:
    import DNS
    DNS.defaults["server"], DNS.defaults["port"], DNS.defaults["timeout"] = [host], port, 5
print(spf.check2(i=ip, s="postmaster@" + domain, h=domain)[0])
"""
SYSTEM_PYTHON = "/usr/bin/python3"


def _pyspf_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = [SYSTEM_PYTHON, "-c", "import spf"]
    return subprocess.run(probe, capture_output=True, timeout=60).returncode == 0


@pytest.mark.skipif(not _pyspf_available(), reason="pyspf (package python3-spf) missing")
@pytest.mark.parametrize(
    ("policy", "zone"),
    [
        # a: names with only AAAA records: void for IPv4 clients.
        (
            f"v=spf1 a:v6a.example.test a:v6b.example.test a:v6c.example.test ip4:{IP4} ~all",
            {"aaaa": {f"v6{c}.example.test": [IP6] for c in "abc"}},
        ),
        # MX exchanges with only A records: each address query is void for IPv6 clients.
        (
            "v=spf1 mx -all",
            {
                "mx": {DOMAIN: [(10 * i, f"m{i}.example.test") for i in (1, 2, 3)]},
                "a": {f"m{i}.example.test": [f"203.0.113.{i + 4}"] for i in (1, 2, 3)},
            },
        ),
        # The first exchange matches, the three after it have no A record: still permerror.
        (
            "v=spf1 mx ~all",
            {
                "mx": {DOMAIN: [(10 * i, f"m{i}.example.test") for i in (1, 2, 3, 4)]},
                "a": {"m1.example.test": [IP4]},
                "aaaa": {f"m{i}.example.test": [IP6] for i in (2, 3, 4)},
            },
        ),
        # Names that do not exist, a macro'd exists, and a clean dual-stack a.
        (
            "v=spf1 a:gone1.example.test exists:%{i}.list.example.test a ~all",
            {"a": {DOMAIN: [IP4]}, "aaaa": {DOMAIN: [IP6]}},
        ),
    ],
)
@pytest.mark.parametrize("client", [IP4, "203.0.113.6", IP6, "2001:db8::99"])
def test_spf_results_agree_with_pyspf(
    dns_server: DnsServer,
    resolver: dns.resolver.Resolver,
    policy: str,
    zone: dict[str, dict[str, list[Any]]],
    client: str,
) -> None:
    dns_server.add_txt(DOMAIN, policy)
    for kind, records in zone.items():
        getattr(dns_server, kind).update(records)
    oracle = subprocess.run(
        [SYSTEM_PYTHON, "-c", PYSPF, dns_server.host, str(dns_server.port), client, DOMAIN],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert oracle.returncode == 0, oracle.stderr
    assert spf_check_host(resolver, client, DOMAIN) == oracle.stdout.strip()


def test_spf_ip_not_covered(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(DOMAIN, "v=spf1 ip4:198.51.100.0/24 ~all")
    findings = check_spf(resolver, DOMAIN, [IP4, "198.51.100.7", IP6])
    assert codes(findings) == ["spf.ip-not-covered", "spf.ip-not-covered"]
    assert IP4 in findings[0].message and "softfail" in findings[0].message
    assert IP6 in findings[1].message


@pytest.mark.parametrize(
    "policy",
    [
        "v=spf1 a ~all",
        "v=spf1 a:mail.example.test/24 -all",
        "v=spf1 mx -all",
        "v=spf1 include:_spf.provider.test -all",
        "v=spf1 redirect=_spf.provider.test",
        "v=spf1 exists:%{ir}.allow.example.test -all",
        "v=spf1 ptr -all",
    ],
)
def test_spf_coverage_through_dns_mechanisms(
    policy: str, dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    dns_server.add_txt(DOMAIN, policy)
    dns_server.a[DOMAIN] = [IP4]
    dns_server.a["mail.example.test"] = ["203.0.113.200"]
    dns_server.mx[DOMAIN] = [(10, "mx1.example.test"), (20, "mx2.example.test")]
    dns_server.a["mx2.example.test"] = [IP4]
    dns_server.add_txt("_spf.provider.test", f"v=spf1 ip4:{IP4}/32 -all")
    dns_server.a["5.113.0.203.allow.example.test"] = ["127.0.0.2"]
    dns_server.ptr[IP4] = ["host.example.test"]
    dns_server.a["host.example.test"] = [IP4]
    findings = check_spf(resolver, DOMAIN, [IP4])
    assert "spf.ip-not-covered" not in codes(findings)
    assert spf_check_host(resolver, "192.0.2.99", DOMAIN) in ("fail", "softfail")


def test_spf_check_host_results(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(DOMAIN, f"v=spf1 ip4:{IP4} ?ip4:192.0.2.0/24 -all")
    dns_server.add_txt("soft.example.test", "v=spf1 ~all")
    dns_server.add_txt("noall.example.test", "v=spf1 ip4:192.0.2.1")
    dns_server.add_txt("bad.example.test", "v=spf1 foo ~all")
    dns_server.add_txt("temp.example.test", "v=spf1 include:broken.example.test ~all")
    dns_server.servfail.add("broken.example.test")
    assert spf_check_host(resolver, IP4, DOMAIN) == "pass"
    assert spf_check_host(resolver, "192.0.2.9", DOMAIN) == "neutral"
    assert spf_check_host(resolver, "198.51.100.1", DOMAIN) == "fail"
    assert spf_check_host(resolver, IP4, "soft.example.test") == "softfail"
    assert spf_check_host(resolver, IP4, "noall.example.test") == "neutral"
    assert spf_check_host(resolver, IP4, "none.example.test") == "none"
    assert spf_check_host(resolver, IP4, "bad.example.test") == "permerror"
    assert spf_check_host(resolver, IP4, "temp.example.test") == "temperror"


def test_spf_pass_all_and_no_all(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(DOMAIN, "v=spf1 +all")
    assert codes(check_spf(resolver, DOMAIN, [IP4])) == ["spf.pass-all"]
    dns_server.set_txt(DOMAIN, (f"v=spf1 ip4:{IP4}",))
    assert codes(check_spf(resolver, DOMAIN, [IP4])) == ["spf.no-all"]


def test_spf_include_without_record(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(DOMAIN, f"v=spf1 ip4:{IP4} include:nospf.example.test ~all")
    findings = check_spf(resolver, DOMAIN, [IP4])
    assert codes(findings) == ["spf.invalid"]
    assert "nospf.example.test" in findings[0].message
    # The address is listed before the include, so check_host still passes it.
    assert spf_check_host(resolver, IP4, DOMAIN) == "pass"


def test_spf_include_lookup_failure(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(DOMAIN, f"v=spf1 ip4:{IP4} include:broken.example.test ~all")
    dns_server.servfail.add("broken.example.test")
    assert codes(check_spf(resolver, DOMAIN, [IP4])) == ["dns.lookup-failed"]


def test_spf_ptr_warns(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(DOMAIN, f"v=spf1 ip4:{IP4} ptr ~all")
    assert codes(check_spf(resolver, DOMAIN, [IP4])) == ["spf.ptr-used"]


# --- DMARC ------------------------------------------------------------------------------------


def test_dmarc_record_from_records_py_passes(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    record, _ = dmarc_record(
        DOMAIN, "quarantine", rua=[f"dmarc@{DOMAIN}"], ruf=[f"dmarc@{DOMAIN}"], fo="1"
    )
    dns_server.set_txt(record.name, record.strings)
    assert check_dmarc(resolver, DOMAIN) == []


def test_dmarc_missing(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    assert codes(check_dmarc(resolver, DOMAIN)) == ["dmarc.missing"]
    dns_server.add_txt(DOMAIN, "v=DMARC1; p=none")
    findings = check_dmarc(resolver, DOMAIN)
    assert codes(findings) == ["dmarc.missing"]
    assert "receivers never look" in findings[0].message
    dns_server.add_txt(f"_dmarc.{DOMAIN}", "p=none; v=DMARC1")
    findings = check_dmarc(resolver, DOMAIN)
    assert codes(findings) == ["dmarc.missing"]


@pytest.mark.parametrize(
    ("records", "why"),
    [
        ([("v=DMARC1; p=block",)], "none/quarantine/reject"),
        ([("v=DMARC1; rua=mailto:d@example.test",)], "no p="),
        ([("v=DMARC1; p=none",), ("v=DMARC1; p=reject",)], "2 records"),
        ([("v=DMARC1; p=none; p=reject",)], "twice"),
        ([("v=dmarc1; p=none",)], "exactly v=DMARC1"),
        ([("v=DMARC1; p=none; adkim=x",)], "r or s"),
        ([("v=DMARC1; p=none; fo=2",)], "fo="),
        ([("v=DMARC1; p=none; sp=all",)], "none/quarantine/reject"),
        ([("v=DMARC1; p=none; junk",)], "tag=value"),
    ],
)
def test_dmarc_invalid(
    records: list[tuple[str, ...]],
    why: str,
    dns_server: DnsServer,
    resolver: dns.resolver.Resolver,
) -> None:
    dns_server.set_txt(f"_dmarc.{DOMAIN}", *records)
    findings = check_dmarc(resolver, DOMAIN)
    assert "dmarc.invalid" in codes(findings)
    assert any(why in f.message for f in findings)


def test_dmarc_walkthrough_record(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    dns_server.add_txt(
        f"_dmarc.{DOMAIN}",
        "v=DMARC1; p=none; pct=100; fo=1; rua=mailto:dmarc-reports@example.test; "
        "ruf=mailto:dmarc-reports@example.test;",
    )
    findings = check_dmarc(resolver, DOMAIN)
    assert codes(findings) == ["dmarc.obsolete-tag"]
    assert findings[0].severity is Severity.WARNING
    assert "pct" in findings[0].message


def test_dmarc_tag_order_and_unknown_tag(
    dns_server: DnsServer, resolver: dns.resolver.Resolver
) -> None:
    dns_server.add_txt(f"_dmarc.{DOMAIN}", "v=DMARC1; adkim=r; p=reject; colour=blue")
    assert codes(check_dmarc(resolver, DOMAIN)) == ["dmarc.tag-order", "dmarc.unknown-tag"]
    assert problems(check_dmarc(resolver, DOMAIN)) == ["dmarc.tag-order"]


def test_dmarc_external_reports(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    record, _ = dmarc_record(
        DOMAIN, "none", rua=["agg@reports.test", f"me@sub.{DOMAIN}"], ruf=["f@reports.test"]
    )
    dns_server.set_txt(record.name, record.strings)
    findings = check_dmarc(resolver, DOMAIN)
    assert codes(findings) == ["dmarc.report-unauthorised"] * 2
    assert f"{DOMAIN}._report._dmarc.reports.test" in findings[0].message
    dns_server.add_txt(f"{DOMAIN}._report._dmarc.reports.test", "v=DMARC1")
    assert check_dmarc(resolver, DOMAIN) == []


def test_dmarc_size_limit_flagged(dns_server: DnsServer, resolver: dns.resolver.Resolver) -> None:
    many = [f"r{i}@example.test" for i in range(30)]
    record, _ = dmarc_record(DOMAIN, "none", rua=many)
    dns_server.set_txt(record.name, record.strings)
    assert codes(check_dmarc(resolver, DOMAIN)) == ["dns.record-too-large"]


def test_parse_tag_list() -> None:
    assert parse_tag_list(" v = DKIM1 ;k=rsa; p = a b ; ") == [
        ("v", "DKIM1"),
        ("k", "rsa"),
        ("p", "a b"),
    ]
    with pytest.raises(ValueError):
        parse_tag_list("v=DKIM1; novalue")


# --- everything together ----------------------------------------------------------------------


def test_check_all_on_published_records(
    dns_server: DnsServer, resolver: dns.resolver.Resolver, rsa_key: DkimKey
) -> None:
    for record, _ in (
        spf_record(DOMAIN, [IP4]),
        dkim_record("default", DOMAIN, rsa_key),
        dmarc_record(DOMAIN, "reject", rua=[f"dmarc@{DOMAIN}"]),
    ):
        dns_server.set_txt(record.name, record.strings)
    assert check_all(resolver, DOMAIN, selector="default", key=rsa_key, server_ips=[IP4]) == []
    dns_server.add_txt(f"_adsp._domainkey.{DOMAIN}", "dkim=unknown")
    other = generate_key("ed25519")[0]
    assert codes(
        check_all(resolver, DOMAIN, selector="default", key=other, server_ips=[IP4, IP6])
    ) == ["spf.ip-not-covered", "dkim.key-mismatch", "dkim.adsp-present"]


# --- the real opendkim-testkey ----------------------------------------------------------------

TESTKEY = shutil.which("opendkim-testkey") or (
    "/usr/sbin/opendkim-testkey" if Path("/usr/sbin/opendkim-testkey").exists() else None
)


@pytest.mark.skipif(TESTKEY is None, reason="opendkim-testkey (package opendkim-tools) missing")
def test_opendkim_testkey_accepts_our_record(dns_server: DnsServer, tmp_path: Path) -> None:
    assert TESTKEY is not None
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    made = ensure_key_pair(keys, "sel", DOMAIN)
    record, _ = dkim_record("sel", DOMAIN, made.key)
    dns_server.set_txt(record.name, record.strings)
    # libunbound refuses to ask localhost and answers test. itself unless told otherwise.
    unbound = tmp_path / "unbound.conf"
    unbound.write_text(
        "server:\n"
        "    do-not-query-localhost: no\n"
        '    domain-insecure: "test."\n'
        '    local-zone: "test." nodefault\n'
        "forward-zone:\n"
        '    name: "test."\n'
        f"    forward-addr: 127.0.0.1@{dns_server.port}\n"
    )
    conf = tmp_path / "opendkim.conf"
    conf.write_text(f"ResolverConfiguration {unbound}\n")

    def testkey(key_path: Path) -> subprocess.CompletedProcess[str]:
        command = [TESTKEY, "-x", str(conf), "-d", DOMAIN, "-s", "sel", "-k", str(key_path)]
        return subprocess.run([*command, "-vvv"], capture_output=True, text=True, timeout=60)

    good = testkey(made.private_path)
    assert good.returncode == 0, good.stderr
    assert "key OK" in good.stdout + good.stderr
    # And a different local key is a mismatch for opendkim too, as for our check.
    other = tmp_path / "other.private"
    other.write_bytes(generate_key()[0].private_pem())
    other.chmod(0o600)
    bad = testkey(other)
    assert bad.returncode != 0
    assert "key OK" not in bad.stdout + bad.stderr
    assert codes(check_dkim(make_resolver(dns_server.address), DOMAIN, "sel", made.key)) == []
