"""``mailconf check``, the doctor: every file's lint, the cross-file wiring, the keys, DNS, and
the 2024 sender rules, as one list of findings.

Each part is a module with one job (LibCST's "metadata provider" shape): ``milters`` (Postfix <->
milter sockets, socket directories, groups), ``dkim_keys`` (key ownership, parsing, size),
``senders`` (alignment, reverse DNS, TLS); the per-file lint comes from the file models and the DNS
checks from :mod:`mailconf.dns.checks`.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from mailconf.checks import dkim_keys, milters, senders
from mailconf.checks.system_view import SystemView
from mailconf.dns import checks as dns_checks
from mailconf.dns.lookup import LookupSource, as_lookup
from mailconf.findings import Finding, Severity
from mailconf.system.root import SystemRoot


@attrs.frozen
class DomainCheck:
    """A domain the server sends for, and the DKIM selector it should sign with."""

    domain: str
    selector: str | None = None


def run_checks(
    root: SystemRoot,
    domains: Sequence[DomainCheck],
    *,
    ips: Sequence[str] = (),
    hostname: str | None = None,
    dns: LookupSource | None = None,
    query_dns: bool = True,
) -> list[Finding]:
    """Every finding for the system under ``root``; DNS is asked only when ``query_dns``."""
    view = SystemView(root)
    findings = file_lint(view)
    findings += milters.check_milters(view)
    keys, key_findings = dkim_keys.local_keys(view)
    findings += key_findings
    findings += senders.check_signing(view, [d.domain for d in domains], keys)
    findings += senders.check_tls(view)
    if query_dns:
        lookup = as_lookup(dns)
        for domain in domains:
            key = next(
                (
                    k.key
                    for k in keys
                    if k.domain == domain.domain and k.selector == domain.selector
                ),
                None,
            )
            findings += dns_checks.check_all(
                lookup, domain.domain, selector=domain.selector, key=key, server_ips=ips
            )
        findings += senders.check_reverse_dns(view, lookup, ips, hostname)
    findings.append(senders.uncheckable_rules())
    return view.problems + _unique(findings)


def file_lint(view: SystemView) -> list[Finding]:
    """Each configuration file's own lint (the same findings as ``mailconf lint FILE``)."""
    from mailconf.cli import lint_document

    findings: list[Finding] = []
    for key in ("main", "master", "opendkim", "opendmarc"):
        document = view.document(key)
        if document is not None:
            findings += lint_document(document, str(view.root))
    return findings


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    unique = []
    for finding in findings:
        if finding not in seen:
            seen.add(finding)
            unique.append(finding)
    return unique


__all__ = ["DomainCheck", "Finding", "Severity", "run_checks"]
