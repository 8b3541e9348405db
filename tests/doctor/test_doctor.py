"""The doctor (`mailconf check`): every check catches a broken setup and passes a correct one.

The correct setup is what `mailconf apply` writes on the example tree; each test breaks one thing
the way an administrator would, and expects the finding's stable code.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mailconf
from dnsserver import DnsServer, closed_port
from example_tree import check_cli
from mailconf.cli.doctor import records_for
from mailconf.dns.lookup import DEFAULT_BUDGET, make_resolver
from mailconf.doctor import DomainCheck, run_checks
from mailconf.findings import Finding, Severity
from mailconf.setup.spec import Setup
from mailconf.system.root import SystemRoot

IP = "192.0.2.10"
SPEC = Setup.from_flags(
    domain="example.test",
    ip=[IP],
    selector="mail",
    dmarc_policy="reject",
    dmarc_report="dmarc@example.test",
    hostname="mail.example.test",
)


@pytest.fixture(scope="module")
def spec() -> Setup:
    return SPEC


@pytest.fixture
def zone(applied: Path) -> Iterator[DnsServer]:
    """A DNS server publishing exactly what `mailconf dns` says, plus forward-confirmed rDNS."""
    records, _ = records_for(SPEC, SystemRoot(applied))
    with DnsServer(
        txt={r.name: [r.strings] for r in records},
        a={"mail.example.test": [IP]},
        ptr={IP: ["mail.example.test"]},
    ) as server:
        yield server


def doctor(
    root: Path, server: DnsServer | str | None = None, dns_timeout: float = DEFAULT_BUDGET
) -> list[Finding]:
    """The doctor on ``root`` for SPEC's domain; DNS asked only of ``server`` (a test server or
    an address), when given."""
    address = server.address if isinstance(server, DnsServer) else server
    return run_checks(
        SystemRoot(root),
        [DomainCheck("example.test", "mail")],
        ips=[IP],
        hostname="mail.example.test",
        dns=make_resolver(address) if address else None,
        query_dns=address is not None,
        dns_timeout=dns_timeout,
    )


def errors(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings if f.severity is Severity.ERROR]


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def edit(root: Path, system_path: str, change: object) -> None:
    doc = mailconf.load(root / system_path.lstrip("/"))
    change(doc)  # type: ignore[operator]
    doc.save()


def test_correct_setup_has_no_errors(root: Path, zone: DnsServer) -> None:
    findings = doctor(root, zone)
    assert errors(findings) == [], [f.render() for f in findings]


def test_milter_missing_from_smtpd_milters(root: Path) -> None:
    edit(root, "/etc/postfix/main.cf", lambda d: d.remove_milter("local:opendmarc/opendmarc.sock"))
    assert "milter.socket-mismatch" in errors(doctor(root))


def test_milter_order_dmarc_before_dkim(root: Path) -> None:
    edit(
        root,
        "/etc/postfix/main.cf",
        lambda d: d.set(
            "smtpd_milters", "local:opendmarc/opendmarc.sock, local:opendkim/opendkim.sock"
        ),
    )
    assert "milter.order" in errors(doctor(root))


def test_default_file_socket_differing_from_the_conf_is_a_conflict(root: Path) -> None:
    """Debian's init script uses the conf's Socket; systemd, after opendkim.service.generate,
    /etc/default's SOCKET (here under /run, outside Postfix's chroot): Postfix cannot be right
    for both."""
    edit(
        root,
        "/etc/default/opendkim",
        lambda d: d.set("SOCKET", "local:/run/opendkim/opendkim.sock"),
    )
    findings = doctor(root)
    conflict = next(f for f in findings if f.code == "milter.socket-conflict")
    assert conflict.severity is Severity.ERROR
    socket_line = next(
        number
        for number, line in enumerate((root / "etc/default/opendkim").read_text().splitlines(), 1)
        if line.startswith("SOCKET=")
    )
    assert (conflict.path, conflict.line) == ("/etc/default/opendkim", socket_line)


def test_socket_only_in_the_default_file_is_used(root: Path) -> None:
    """Without a Socket in the conf, the init script passes /etc/default's SOCKET (-p)."""
    edit(root, "/etc/opendkim.conf", lambda d: d.unset("Socket"))
    edit(
        root,
        "/etc/default/opendkim",
        lambda d: d.set("SOCKET", "local:/run/opendkim/opendkim.sock"),
    )
    found = errors(doctor(root))
    assert "milter.socket-unreachable" in found
    assert "milter.socket-conflict" not in found


def test_socket_directory_missing(root: Path) -> None:
    shutil.rmtree(root / "var/spool/postfix/opendkim")
    assert "milter.socket-dir-missing" in errors(doctor(root))


def test_postfix_not_in_milter_group(root: Path) -> None:
    group = root / "etc/group"
    lines = [
        line.replace(":postfix", ":") if line.startswith("opendmarc:") else line
        for line in group.read_text().splitlines(keepends=True)
    ]
    group.write_text("".join(lines))
    assert "milter.postfix-not-in-group" in errors(doctor(root))


def test_socket_directory_postfix_cannot_reach(root: Path) -> None:
    directory = root / "var/spool/postfix/opendmarc"
    os.chmod(directory, 0o700)
    os.chown(directory, directory.stat().st_uid, 0)
    assert "milter.socket-dir-access" in errors(doctor(root))


def test_policy_service_without_master_cf_entry(root: Path) -> None:
    edit(root, "/etc/postfix/master.cf", lambda d: d.remove_service("policyd-spf", "unix"))
    assert "postfix.policy-service-missing" in errors(doctor(root))


def test_key_owned_by_another_user(root: Path) -> None:
    key = root / "etc/opendkim/keys/example.test/mail.private"
    postfix_uid = next(
        int(line.split(":")[2])
        for line in (root / "etc/passwd").read_text().splitlines()
        if line.startswith("postfix:")
    )
    os.chown(key, postfix_uid, -1)
    assert "dkim.key-owner" in errors(doctor(root))


def test_key_file_corrupt(root: Path) -> None:
    key = root / "etc/opendkim/keys/example.test/mail.private"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    assert "dkim.key-unreadable" in errors(doctor(root))


def test_a_berkeley_db_key_table_is_not_read_as_text(root: Path) -> None:
    """``KeyTable /etc/opendkim/key.db`` is a Berkeley DB file for OpenDKIM (a value ending in
    .db): the doctor reads data sets as the conf model does, and never parses one as a text
    table (its bytes would read as broken rows)."""
    (root / "etc/opendkim/key.db").write_bytes(b"\x00\x06\x15\x61 default:x\nkey a:b\n")
    edit(root, "/etc/opendkim.conf", lambda d: d.set("KeyTable", "/etc/opendkim/key.db"))
    findings = doctor(root)
    assert not [f for f in findings if f.path == "/etc/opendkim/key.db"]
    assert "dkim.keytable-row" not in codes(findings)


def test_domain_not_in_signing_table(root: Path) -> None:
    edit(root, "/etc/opendkim/signing.table", lambda d: d.remove_entry("*@example.test"))
    assert "sender.dkim-not-signing" in errors(doctor(root))


def test_outbound_tls_off(root: Path) -> None:
    edit(root, "/etc/postfix/main.cf", lambda d: d.set("smtp_tls_security_level", "none"))
    assert "sender.tls-outbound" in codes(doctor(root))


def test_published_key_differs_from_local_key(root: Path, zone: DnsServer) -> None:
    name = "mail._domainkey.example.test"
    (record,) = zone.txt[name]
    strings = [s if isinstance(s, str) else s.decode() for s in record]
    index = strings[0].index("p=") + 100  # inside the modulus: still a valid key, not ours
    first = strings[0]
    strings[0] = first[:index] + ("A" if first[index] != "A" else "B") + first[index + 1 :]
    zone.set_txt(name, tuple(strings))
    assert "dkim.key-mismatch" in errors(doctor(root, zone))


def test_spf_missing_and_ptr_missing(root: Path, zone: DnsServer) -> None:
    zone.txt.pop("example.test")
    zone.ptr.clear()
    found = errors(doctor(root, zone))
    assert "spf.missing" in found
    assert "sender.ptr-missing" in found


def test_ptr_not_confirmed(root: Path, zone: DnsServer) -> None:
    zone.a.clear()
    assert "sender.ptr-unconfirmed" in errors(doctor(root, zone))


def test_cli_check_exit_status_and_json(root: Path, zone: DnsServer) -> None:
    argv = ("--ip", IP, "--hostname", "mail.example.test", "--nameserver", zone.address, "--json")
    good = check_cli(root, *argv)
    assert good.returncode == 0, good.stdout + good.stderr
    edit(root, "/etc/postfix/main.cf", lambda d: d.remove_milter("local:opendkim/opendkim.sock"))
    bad = check_cli(root, *argv)
    assert bad.returncode == 1
    import json

    assert "milter.socket-mismatch" in {f["code"] for f in json.loads(bad.stdout)}


def found(findings: list[Finding], code: str) -> Finding:
    matches = [f for f in findings if f.code == code]
    assert matches, [f.render() for f in findings]
    return matches[0]


def main_cf_line(root: Path, name: str) -> int:
    lines = (root / "etc/postfix/main.cf").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.split("=", 1)[0].strip() == name)


def test_correct_setup_has_none_of_the_checked_problems(root: Path) -> None:
    """The passing half of each test below: the applied setup has none of their findings."""
    present = codes(doctor(root))
    assert present.isdisjoint(
        {
            "postfix.time-limit-service",
            "postfix.policy-before-relay-check",
            "milter.key-unsafe-directory",
            "milter.key-mode",
            "milter.key-missing",
            "milter.signingtable-unknown-key",
            "milter.socket-dir-owner",
            "dkim.key-short",
            "sender.dkim-unaligned",
            "sender.tls-outbound",
            "sender.tls-certificate",
        }
    ), present
    assert "sender.manual" in present


def test_time_limit_naming_no_spawn_service(root: Path) -> None:
    def rename(doc: Any) -> None:
        doc.set("policyd_spf_time_limit", doc.get("policyd-spf_time_limit") or "3600")
        doc.unset("policyd-spf_time_limit")

    edit(root, "/etc/postfix/main.cf", rename)
    findings = doctor(root)
    finding = found(findings, "postfix.time-limit-service")
    assert (finding.path, finding.line) == (
        "/etc/postfix/main.cf",
        main_cf_line(root, "policyd_spf_time_limit"),
    )
    # One finding for the line, not also main.cf lint's generic unknown-parameter.
    assert not [f for f in findings if f.code == "postfix.unknown-parameter"]


def test_time_limit_of_a_service_that_is_not_spawn(root: Path) -> None:
    edit(root, "/etc/postfix/main.cf", lambda d: d.set("smtp_time_limit", "60"))
    assert (
        "master.cf's smtp service runs smtp"
        in found(doctor(root), "postfix.time-limit-service").message
    )


def test_policy_check_before_reject_unauth_destination(root: Path) -> None:
    edit(
        root,
        "/etc/postfix/main.cf",
        lambda d: d.set(
            "smtpd_recipient_restrictions",
            "permit_mynetworks, check_policy_service unix:private/policyd-spf, "
            "reject_unauth_destination",
        ),
    )
    finding = found(doctor(root), "postfix.policy-before-relay-check")
    assert finding.line == main_cf_line(root, "smtpd_recipient_restrictions")


def test_key_under_a_directory_others_can_write(root: Path) -> None:
    """OpenDKIM's lint reports it; the doctor includes it as an error (every message gets 451)."""
    os.chmod(root / "etc/opendkim", 0o777)
    finding = found(doctor(root), "milter.key-unsafe-directory")
    assert finding.severity is Severity.ERROR
    assert finding.path == "/etc/opendkim/key.table" and finding.line == 1


def test_key_readable_by_others(root: Path) -> None:
    os.chmod(root / "etc/opendkim/keys/example.test/mail.private", 0o644)
    assert "milter.key-mode" in errors(doctor(root))


def test_key_unsafe_is_a_warning_when_opendkim_does_not_require_safe_keys(root: Path) -> None:
    os.chmod(root / "etc/opendkim/keys/example.test/mail.private", 0o644)
    with (root / "etc/opendkim.conf").open("a") as conf:
        conf.write("RequireSafeKeys\tno\n")
    findings = doctor(root)
    assert found(findings, "milter.key-mode").severity is Severity.WARNING


def test_key_file_missing(root: Path) -> None:
    (root / "etc/opendkim/keys/example.test/mail.private").unlink()
    assert "milter.key-missing" in errors(doctor(root))


def test_signing_table_names_a_key_not_in_the_key_table(root: Path) -> None:
    table = root / "etc/opendkim/key.table"
    table.write_text(table.read_text().replace("mail._domainkey.", "other._domainkey.", 1))
    assert "milter.signingtable-unknown-key" in codes(doctor(root))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")
@pytest.mark.parametrize(("bits", "severity"), [(512, Severity.ERROR), (1024, Severity.WARNING)])
def test_short_rsa_key(root: Path, bits: int, severity: Severity) -> None:
    key = root / "etc/opendkim/keys/example.test/mail.private"
    subprocess.run(["openssl", "genrsa", "-out", str(key), str(bits)], check=True)
    finding = found(doctor(root), "dkim.key-short")
    assert finding.severity is severity
    assert finding.path == "/etc/opendkim/keys/example.test/mail.private"


def test_socket_directory_the_milter_cannot_write(root: Path) -> None:
    directory = root / "var/spool/postfix/opendkim"
    os.chown(directory, 0, directory.stat().st_gid)
    assert "milter.socket-dir-owner" in errors(doctor(root))


def test_socket_findings_carry_file_and_line(root: Path) -> None:
    edit(root, "/etc/postfix/main.cf", lambda d: d.remove_milter("local:opendkim/opendkim.sock"))
    mismatch = found(doctor(root), "milter.socket-mismatch")
    assert (mismatch.path, mismatch.line) == (
        "/etc/postfix/main.cf",
        main_cf_line(root, "smtpd_milters"),
    )
    defaults = root / "etc/default/opendkim"
    defaults.write_text(defaults.read_text() + "SOCKET=local:$RUNDIR/opendkim.sock\n")
    edit(root, "/etc/opendkim.conf", lambda d: d.unset("Socket"))  # then SOCKET is used
    unreachable = found(doctor(root), "milter.socket-unreachable")
    assert unreachable.path == "/etc/default/opendkim"
    assert unreachable.line == len(defaults.read_text().splitlines())
    # $RUNDIR is expanded as Debian's init script sets it.
    assert "/run/opendkim/opendkim.sock" in unreachable.message


def test_braced_milter_item_is_recognised(root: Path) -> None:
    edit(
        root,
        "/etc/postfix/main.cf",
        lambda d: d.set(
            "smtpd_milters",
            "{ local:opendkim/opendkim.sock, default_action=tempfail }, "
            "local:opendmarc/opendmarc.sock",
        ),
    )
    assert "milter.socket-mismatch" not in codes(doctor(root))


def test_signing_key_of_another_domain_is_unaligned(root: Path) -> None:
    table = root / "etc/opendkim/key.table"
    table.write_text(table.read_text().replace(" example.test:", " other.test:", 1))
    assert "sender.dkim-unaligned" in codes(doctor(root))


def test_no_server_certificate(root: Path) -> None:
    def drop(doc: Any) -> None:
        doc.set("smtpd_tls_cert_file", "none")

    edit(root, "/etc/postfix/main.cf", drop)
    finding = found(doctor(root), "sender.tls-certificate")
    assert finding.line == main_cf_line(root, "smtpd_tls_cert_file")


def test_outbound_tls_finding_has_the_line(root: Path) -> None:
    edit(root, "/etc/postfix/main.cf", lambda d: d.set("smtp_tls_security_level", "none"))
    finding = found(doctor(root), "sender.tls-outbound")
    assert finding.line == main_cf_line(root, "smtp_tls_security_level")


def test_reverse_dns_names_another_host(root: Path, zone: DnsServer) -> None:
    zone.ptr[IP] = ["other.example.test"]
    zone.a["other.example.test"] = [IP]
    assert "sender.ptr-not-myhostname" in codes(doctor(root, zone))


def test_dmarc_not_published(root: Path, zone: DnsServer) -> None:
    zone.txt.pop("_dmarc.example.test")
    assert "dmarc.missing" in errors(doctor(root, zone))


# --- DNS failures: not DNS answers --------------------------------------------------------------

DNS_DEPENDENT = {
    "spf.missing",
    "spf.ip-not-covered",
    "dkim.key-missing",
    "dmarc.missing",
    "sender.ptr-missing",
    "sender.ptr-unconfirmed",
    "dns.lookup-failed",
}


def test_ptr_servfail_is_a_failed_lookup_not_a_missing_ptr(root: Path, zone: DnsServer) -> None:
    zone.servfail.add(ipaddress.ip_address(IP).reverse_pointer)
    findings = doctor(root, zone)
    assert errors(findings) == ["dns.lookup-failed"]
    assert "PTR lookup for 10.2.0.192.in-addr.arpa" in found(findings, "dns.lookup-failed").message


def test_forward_servfail_is_a_failed_lookup_not_an_unconfirmed_ptr(
    root: Path, zone: DnsServer
) -> None:
    zone.servfail.add("mail.example.test")
    findings = doctor(root, zone)
    assert set(errors(findings)) == {"dns.lookup-failed"}
    assert "mail.example.test" in found(findings, "dns.lookup-failed").message


def test_unreachable_resolver_is_one_finding_and_the_dns_checks_are_skipped(root: Path) -> None:
    findings = doctor(root, closed_port())
    # The setup is correct: the only error is that DNS could not be asked, said once.
    assert errors(findings) == ["dns.unreachable"]
    assert not codes(findings) & DNS_DEPENDENT
    assert "sender.manual" in codes(findings)  # the checks that need no DNS still ran


def test_dns_budget_is_one_finding(root: Path, zone: DnsServer) -> None:
    zone.delay = 0.5
    findings = doctor(root, zone, dns_timeout=2.0)
    assert errors(findings).count("dns.budget-exhausted") == 1
    assert "dns.unreachable" not in codes(findings)


def test_milter_lists_that_refer_to_each_other_do_not_crash_the_doctor() -> None:
    from mailconf.doctor.milters import _milter_items

    main = mailconf.parse(
        "smtpd_milters = $non_smtpd_milters, inet:127.0.0.1:8891\n"
        "non_smtpd_milters = $smtpd_milters\n",
        "postfix-main",
    )
    assert _milter_items(main, "smtpd_milters") == ["inet:127.0.0.1:8891"]
    assert _milter_items(main, "non_smtpd_milters") == ["inet:127.0.0.1:8891"]


@pytest.mark.parametrize(
    ("system_path", "broken", "column", "message"),
    [
        ("/etc/postfix/main.cf", "= no name\n", 1, "missing parameter name"),
        ("/etc/postfix/master.cf", "  -o smtpd_milters=x\nbroken line\n", 1, "has 2 field(s)"),
    ],
    ids=["main.cf", "master.cf"],
)
def test_a_file_that_does_not_parse_is_an_error_finding_and_the_rest_is_checked(
    root: Path, system_path: str, broken: str, column: int, message: str
) -> None:
    """One finding at path:line:column for the unparsable file (the CLI exits 1, not 2), and the
    checks that do not need that file still run: the key's mode, and main.cf's own lint when
    only master.cf is broken."""
    os.chmod(root / "etc/opendkim/keys/example.test/mail.private", 0o644)
    edit(root, "/etc/postfix/main.cf", lambda d: d.set("mydestinaton", "localhost"))
    host_path = root / system_path.lstrip("/")
    text = host_path.read_text()
    host_path.write_text(text + broken)
    line = len(text.splitlines()) + broken.count("\n")
    findings = doctor(root)
    parse_error = found(findings, "system.parse-error")
    assert (parse_error.severity, parse_error.path, parse_error.line, parse_error.column) == (
        Severity.ERROR,
        system_path,
        line,
        column,
    )
    assert message in parse_error.message
    assert parse_error.render().startswith(f"{system_path}:{line}:{column}: error: ")
    assert "milter.key-mode" in errors(findings)
    assert ("postfix.unknown-parameter" in codes(findings)) == system_path.endswith("master.cf")
    out = check_cli(root, "--no-dns", "--ip", IP)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"{system_path}:{line}:{column}: error: " in out.stdout
    assert out.stderr == ""
