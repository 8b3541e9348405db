"""The Gmail and Yahoo sender rules of February 2024 that can be checked from the server itself.

Published records (SPF, DKIM, DMARC) are the DNS checks' job; here: every domain is signed by a
key of its own domain (aligned DKIM), the sending addresses have forward-confirmed reverse DNS
matching ``myhostname``, and TLS is on.  The rules no server can check are listed as one ``info``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from mailconf.dns.lookup import Answer, Lookup, skipped_when_unavailable
from mailconf.dns.txt import lookup_failed
from mailconf.doctor.dkim_keys import LocalKey
from mailconf.doctor.system_view import SystemView
from mailconf.findings import Finding, Severity
from mailconf.milter.conf import MilterConf
from mailconf.milter.tables import SigningTable
from mailconf.postfix.main import MainCf

MAIN_CF = "/etc/postfix/main.cf"
TLS_LEVELS = ("may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure")
UNCHECKABLE = (
    "one-click unsubscribe (RFC 8058 List-Unsubscribe-Post) in marketing mail",
    "a spam rate under 0.3% in Postmaster Tools",
    "messages formatted per RFC 5322, no impersonation of Gmail From: headers",
)


def check_signing(
    view: SystemView, domains: Sequence[str], keys: Sequence[LocalKey]
) -> list[Finding]:
    """Each domain's mail is signed with d= that domain (DMARC alignment needs it)."""
    findings: list[Finding] = []
    loaded = view.dataset("opendkim", "SigningTable", SigningTable)
    conf = view.document("opendkim", MilterConf)
    spec = (conf.get("SigningTable") or "") if conf is not None else ""
    by_name = {key.keyname: key for key in keys}
    for domain in domains:
        keyname = None
        if loaded is not None:
            keyname = loaded[1].lookup(
                f"postmaster@{domain}", regex=spec.lower().startswith("refile:")
            )
        if keyname is None:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "sender.dkim-not-signing",
                    f"OpenDKIM's SigningTable has no key for mail from {domain}",
                    fix=f"add `*@{domain} SELECTOR._domainkey.{domain}` to the SigningTable",
                    path=loaded[0] if loaded else None,
                )
            )
            continue
        key = by_name.get(keyname.split(":", 1)[0])
        if key is not None and key.domain not in (domain, "%"):
            findings.append(
                Finding(
                    Severity.WARNING,
                    "sender.dkim-unaligned",
                    f"mail from {domain} is signed with d={key.domain}, which DMARC does not align",
                    fix=f"sign {domain} with a key whose KeyTable domain is {domain}",
                )
            )
    return findings


def check_tls(view: SystemView) -> list[Finding]:
    main = view.document("main", MainCf)
    if main is None:
        return []
    findings: list[Finding] = []
    level = (main.get("smtp_tls_security_level") or "").strip().lower()
    # With no level, Postfix falls back to the legacy smtp_use_tls / smtp_enforce_tls switches.
    legacy = any(
        (main.get(name) or "").strip().lower() in ("yes", "true", "1")
        for name in ("smtp_use_tls", "smtp_enforce_tls")
    )
    if level not in TLS_LEVELS and not (level == "" and legacy):
        findings.append(
            Finding(
                Severity.WARNING,
                "sender.tls-outbound",
                f"smtp_tls_security_level is {level or 'not set'}: outbound mail may go in clear",
                fix="mailconf edit /etc/postfix/main.cf --set smtp_tls_security_level=may",
                path=MAIN_CF,
                line=view.main_line("smtp_tls_security_level"),
            )
        )
    certificate = next(
        (
            name
            for name in ("smtpd_tls_chain_files", "smtpd_tls_cert_file")
            if (main.get(name) or "").strip().lower() not in ("", "none")
        ),
        None,
    )
    if certificate is None:
        findings.append(
            Finding(
                Severity.WARNING,
                "sender.tls-certificate",
                "no server certificate (smtpd_tls_cert_file / smtpd_tls_chain_files) is configured",
                fix="configure a certificate, e.g. from Let's Encrypt",
                path=MAIN_CF,
                line=view.main_line("smtpd_tls_cert_file"),
            )
        )
    return findings


@skipped_when_unavailable
def check_reverse_dns(
    view: SystemView, lookup: Lookup, ips: Sequence[str], hostname: str | None
) -> list[Finding]:
    """Forward-confirmed reverse DNS for every sending address, naming ``myhostname``.

    A failed query (SERVFAIL) is reported as such: only NXDOMAIN or NODATA means "no PTR", and
    only answered forward queries can show that a name does not lead back to the address.
    """
    main = view.document("main", MainCf)
    myhostname = hostname or (main.get("myhostname") if main is not None else None)
    findings: list[Finding] = []
    for text in ips:
        if "/" in text:
            continue  # a network, not a sending address
        ip = _normal(text)
        pointer = _reverse_name(ip)
        answer = lookup.query(pointer, "PTR")
        if answer.failed:
            findings.append(lookup_failed(answer))
            continue
        if not answer.values:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "sender.ptr-missing",
                    f"{ip} has no reverse DNS (PTR) record",
                    fix=f"have the address's owner set its PTR to {myhostname or 'the host name'}",
                )
            )
            continue
        names = [name.lower() for name in answer.values]
        forward = [_forward(lookup, name) for name in names]
        confirmed = [
            name for name, (addresses, _) in zip(names, forward, strict=True) if ip in addresses
        ]
        failures = [bad for _, failed in forward for bad in failed]
        if not confirmed and failures:
            findings += [lookup_failed(failed) for failed in failures]
        elif not confirmed:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "sender.ptr-unconfirmed",
                    f"{ip} reverses to {', '.join(names)}, which does not resolve back to {ip}",
                    fix=f"add an A/AAAA record {names[0]} -> {ip}",
                )
            )
        elif myhostname and myhostname.lower() not in confirmed:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "sender.ptr-not-myhostname",
                    f"{ip} reverses to {confirmed[0]} but Postfix greets as {myhostname}",
                    fix=f"set myhostname = {confirmed[0]} or change the PTR record",
                    path=MAIN_CF,
                )
            )
    return findings


def uncheckable_rules() -> Finding:
    return Finding(
        Severity.INFO,
        "sender.manual",
        "not checkable from the server: " + "; ".join(UNCHECKABLE),
    )


def _normal(ip: str) -> str:
    return str(ipaddress.ip_address(ip))


def _reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer


def _forward(lookup: Lookup, name: str) -> tuple[set[str], list[Answer]]:
    """The addresses ``name`` resolves to, and the queries that failed for it."""
    addresses: set[str] = set()
    failures = []
    for rdtype in ("A", "AAAA"):
        answer = lookup.query(name, rdtype)
        if answer.failed:
            failures.append(answer)
        addresses |= {str(ipaddress.ip_address(v)) for v in answer.values}
    return addresses, failures
