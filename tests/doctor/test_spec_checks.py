"""The doctor compares spec, configuration and DNS (issue 12): a stale milter entry, a selector
other than the configured one, a DMARC policy other than the published one, two SPF checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import mailconf
from dnsserver import DnsServer
from example_tree import mailconf_cli
from mailconf.dns.lookup import make_resolver
from mailconf.doctor import DomainCheck, run_checks
from mailconf.findings import Finding, Severity
from mailconf.setup import Setup
from mailconf.system.root import SystemRoot

SPEC = Setup.from_flags(
    domain="example.test", ip=["192.0.2.10"], selector="mail", hostname="mail.example.test"
)


@pytest.fixture(scope="module")
def spec() -> Setup:
    return SPEC


def doctor(
    root: Path, selector: str = "mail", policy: str | None = None, server: DnsServer | None = None
) -> list[Finding]:
    return run_checks(
        SystemRoot(root),
        [DomainCheck("example.test", selector, policy)],
        dns=make_resolver(server.address) if server else None,
        query_dns=server is not None,
    )


def found(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def set_main(root: Path, name: str, value: str) -> None:
    doc = mailconf.load(root / "etc/postfix/main.cf")
    doc.set(name, value)
    doc.save()


def test_applied_tree_has_none_of_them(root: Path) -> None:
    codes = {f.code for f in doctor(root)}
    assert not codes & {"milter.unserved", "dkim.selector-differs", "spf.policy-twice"}


def test_stale_milter_entry_is_unserved(root: Path) -> None:
    set_main(
        root,
        "smtpd_milters",
        "inet:localhost:8891, inet:localhost:11332, local:opendkim/opendkim.sock, "
        "local:opendmarc/opendmarc.sock",
    )
    set_main(root, "milter_default_action", "tempfail")
    unserved = found(doctor(root), "milter.unserved")
    assert len(unserved) == 1, unserved  # rspamd's port is nobody's we know: not reported
    assert unserved[0].severity is Severity.ERROR
    assert "inet:localhost:8891" in unserved[0].message
    assert "defers every message" in unserved[0].message


def test_same_endpoint_written_otherwise_is_served(root: Path) -> None:
    conf = mailconf.load(root / "etc/opendkim.conf")
    conf.set("Socket", "inet:8891@localhost")
    conf.save()
    defaults = mailconf.load(root / "etc/default/opendkim", kind="shellvars")
    defaults.set("SOCKET", "inet:8891@localhost")
    defaults.save()
    set_main(root, "smtpd_milters", "inet:127.0.0.1:8891, local:opendmarc/opendmarc.sock")
    codes = {f.code for f in doctor(root)}
    assert "milter.unserved" not in codes and "milter.socket-mismatch" not in codes


def test_selector_other_than_the_configured_one(root: Path) -> None:
    differs = found(doctor(root, selector="s2026"), "dkim.selector-differs")
    assert len(differs) == 1 and differs[0].severity is Severity.ERROR
    assert "signs with selector mail" in differs[0].message
    assert "mailconf dkim rotate" in differs[0].fix


def test_two_spf_checks(root: Path) -> None:
    master = root / "etc/postfix/master.cf"
    master.write_text(
        master.read_text()
        + "spf-perl unix - n n - 0 spawn\n  user=nobody argv=/usr/sbin/postfix-policyd-spf-perl\n"
    )
    doc = mailconf.load(root / "etc/postfix/main.cf")
    doc.add_restriction(
        "smtpd_recipient_restrictions", "check_policy_service unix:private/spf-perl"
    )
    doc.save()
    twice = found(doctor(root), "spf.policy-twice")
    assert len(twice) == 1 and "spf-perl" in twice[0].message and "policyd-spf" in twice[0].message


@pytest.fixture
def zone() -> Iterator[DnsServer]:
    with DnsServer(txt={"_dmarc.example.test": [["v=DMARC1; p=none"]]}) as server:
        yield server


def test_published_dmarc_policy_differs(root: Path, zone: DnsServer) -> None:
    differs = found(doctor(root, policy="reject", server=zone), "dmarc.policy-differs")
    assert len(differs) == 1 and "p=none" in differs[0].message
    assert not found(doctor(root, policy="none", server=zone), "dmarc.policy-differs")


def test_cli_check_reports_a_named_selector_and_adopts_an_unnamed_one(root: Path) -> None:
    argv = ("check", "--root", root, "--no-dns", "--json", "--domain", "example.test")
    argv += ("--ip", "192.0.2.10", "--hostname", "mail.example.test")
    adopted = mailconf_cli(*argv)
    codes = {f["code"] for f in json.loads(adopted.stdout)}
    assert "dkim.selector-differs" not in codes, adopted.stdout
    named = mailconf_cli(*argv, "--selector", "x")
    assert named.returncode == 1
    assert "dkim.selector-differs" in {f["code"] for f in json.loads(named.stdout)}


def spec_file(tmp_path: Path, selector: str, policy: str = "none") -> Path:
    """The doctor tests' setup as a spec file: ``mailconf check --config`` of it."""
    path = tmp_path / "mailconf.toml"
    path.write_text(
        'ips = ["192.0.2.10"]\nhostname = "mail.example.test"\n'
        f'[[domain]]\nname = "example.test"\nselector = "{selector}"\n'
        f'[dmarc]\npolicy = "{policy}"\n'
    )
    return path


def test_selector_fix_says_how_to_adopt_the_way_the_spec_is_given(
    root: Path, tmp_path: Path
) -> None:
    """A spec file cannot be combined with --selector: its fix names the spec's setting."""
    flags = ("--domain", "example.test", "--ip", "192.0.2.10", "--selector", "x")
    by_flags = mailconf_cli("check", "--root", root, "--no-dns", "--json", *flags)
    in_file = mailconf_cli(
        "check", "--root", root, "--no-dns", "--json", "--config", spec_file(tmp_path, "x")
    )
    fixes = []
    for result in (by_flags, in_file):
        assert result.returncode == 1, result.stderr
        (differs,) = [f for f in json.loads(result.stdout) if f["code"] == "dkim.selector-differs"]
        fixes.append(differs["fix"])
    assert "adopt it (--selector mail, or leave the selector out)" in fixes[0]
    assert 'adopt it (selector = "mail" in the spec, or leave the selector out)' in fixes[1]
    assert "--selector mail" not in fixes[1]


def test_dmarc_policy_fix_says_how_to_keep_the_published_one_the_way_the_spec_is_given(
    root: Path, zone: DnsServer, tmp_path: Path
) -> None:
    common = ("check", "--root", root, "--json", "--nameserver", zone.address)
    flags = ("--domain", "example.test", "--ip", "192.0.2.10", "--selector", "mail")
    by_flags = mailconf_cli(*common, *flags, "--dmarc-policy", "reject")
    in_file = mailconf_cli(*common, "--config", spec_file(tmp_path, "mail", "reject"))
    fixes = []
    for result in (by_flags, in_file):
        (differs,) = [f for f in json.loads(result.stdout) if f["code"] == "dmarc.policy-differs"]
        fixes.append(differs["fix"])
    assert fixes[0].endswith("or keep p=none: --dmarc-policy none")
    assert fixes[1].endswith('or keep p=none: policy = "none" under [dmarc] in the spec')


def test_the_policy_of_a_discovered_spec_is_compared(
    root: Path, zone: DnsServer, tmp_path: Path
) -> None:
    """A spec found in the working directory states its policy as much as one given by --config."""
    spec_file(tmp_path, "mail", "reject")
    result = mailconf_cli(
        "check", "--root", root, "--json", "--nameserver", zone.address, cwd=tmp_path
    )
    assert "using the spec ./mailconf.toml" in result.stderr
    assert "dmarc.policy-differs" in {f["code"] for f in json.loads(result.stdout)}
