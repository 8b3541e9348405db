"""``mailconf check``, the doctor: every file's lint, the cross-file wiring, the keys, DNS, and
the 2024 sender rules, as one list of findings.

Each part is a module with one job (LibCST's "metadata provider" shape): ``milters`` (Postfix <->
milter sockets, socket directories, groups), ``dkim_keys`` (key ownership, parsing, size),
``senders`` (alignment, reverse DNS, TLS), ``spec_checks`` (the spec against the configuration
and DNS: selector, DMARC policy, SPF checks); the per-file lint comes from the file models and the
DNS checks from :mod:`mailconf.dns.checks`.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from mailconf.dns import checks as dns_checks
from mailconf.dns.lookup import DEFAULT_BUDGET, LookupSource, as_lookup
from mailconf.doctor import dkim_keys, milters, senders, spec_checks
from mailconf.doctor.system_view import SystemView
from mailconf.errors import MailconfError
from mailconf.findings import Finding, Severity
from mailconf.milter.conf import MilterConf
from mailconf.postfix.lint import lint_main
from mailconf.postfix.main import MainCf
from mailconf.postfix.master import MasterCf
from mailconf.setup.spec import Setup, setting_or_flag
from mailconf.syntax.document import Document
from mailconf.system.root import SystemRoot


@attrs.frozen
class DomainCheck:
    """A domain the server sends for, the DKIM selector it should sign with, and the DMARC
    policy it should publish (None: not compared).  ``by_flags``: the spec is the CLI's
    one-domain flags, so a fix names the flag to give rather than the spec file's setting."""

    domain: str
    selector: str | None = None
    dmarc_policy: str | None = None
    by_flags: bool = attrs.field(default=False, kw_only=True)

    def how_to_set(self, setting: str, flag: str) -> str:
        """The way to change a setting of this domain's spec (:func:`setting_or_flag`)."""
        return setting_or_flag(self.by_flags, setting, flag)


def domain_checks(setup: Setup, *, compare_policy: bool = False) -> list[DomainCheck]:
    """What the doctor checks of ``setup``: each key's domain and selector, the DMARC policy
    when ``compare_policy`` (the spec states it), and where the spec came from."""
    policy = setup.dmarc_policy if compare_policy else None
    return [DomainCheck(k.domain, k.selector, policy, by_flags=setup.by_flags) for k in setup.keys]


def run_checks(
    root: SystemRoot,
    domains: Sequence[DomainCheck],
    *,
    ips: Sequence[str] = (),
    hostname: str | None = None,
    dns: LookupSource | None = None,
    query_dns: bool = True,
    dns_timeout: float = DEFAULT_BUDGET,
) -> list[Finding]:
    """Every finding for the system under ``root``; DNS is asked only when ``query_dns``.

    All the DNS queries together get ``dns_timeout`` seconds (unless ``dns`` is already a
    :class:`~mailconf.dns.lookup.Lookup`, which keeps its own budget); when the resolver cannot be
    asked or the time is up, the DNS checks left are skipped and one finding says why.
    """
    view = SystemView(root)
    time_limits = milters.check_time_limits(view)
    # The specific time-limit finding replaces main.cf lint's generic unknown-parameter one.
    replaced = {(f.path, f.line) for f in time_limits}
    findings = [
        f
        for f in file_lint(view)
        if not (f.code == "postfix.unknown-parameter" and (f.path, f.line) in replaced)
    ]
    findings += time_limits
    findings += milters.check_milters(view)
    keys, key_findings = dkim_keys.local_keys(view)
    findings += key_findings
    findings += senders.check_signing(view, [d.domain for d in domains], keys)
    findings += senders.check_tls(view)
    findings += spec_checks.check_selectors(view, domains)
    findings += spec_checks.check_spf_twice(view)
    if query_dns:
        lookup = as_lookup(dns, budget=dns_timeout)
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
            findings += spec_checks.check_dmarc_policy(lookup, domain)
        findings += senders.check_reverse_dns(view, lookup, ips, hostname)
    findings.append(senders.uncheckable_rules())
    return view.problems + _unique(findings)


# Key-file findings of OpenDKIM's lint that are warnings for a file on its own but, for the
# doctor, mean OpenDKIM cannot load the key (with RequireSafeKeys, the default, it refuses a key
# readable by others or under a directory others can write) and tempfails every message it signs.
UNSAFE_KEY_CODES = ("milter.key-missing", "milter.key-mode", "milter.key-unsafe-directory")


def file_lint(view: SystemView) -> list[Finding]:
    """Each configuration file's own lint (the same findings as ``mailconf lint FILE``), with the
    key-file findings that stop OpenDKIM from signing raised to errors."""
    from mailconf.milter.options import parse_boolean

    findings: list[Finding] = []
    main = view.document("main", MainCf)
    if main is not None:
        # With the view's master.cf, not the lint's own reading of the file beside main.cf: one
        # that does not parse is the view's finding, and main.cf is linted as if it were absent.
        findings += lint_main(main, view.document("master", MasterCf), str(view.root))
    for key in ("master", "opendkim", "opendmarc"):
        document = view.document(key, Document)
        if document is not None:
            findings += document.lint(str(view.root))
    opendkim = view.document("opendkim", MilterConf)
    safe_keys = opendkim.get("RequireSafeKeys") if opendkim is not None else None
    fatal = (
        UNSAFE_KEY_CODES
        if safe_keys is None or parse_boolean(safe_keys) is not False
        else ("milter.key-missing",)
    )
    return [
        attrs.evolve(
            f,
            path=_system_path(view.root, f.path),
            severity=Severity.ERROR if f.code in fatal else f.severity,
        )
        for f in findings
    ]


def _system_path(root: SystemRoot, path: str | None) -> str | None:
    """The lint names files by their host path under ``--root``; the doctor by system path, as
    every other check does (``/etc/postfix/main.cf``, not ``/tmp/x/etc/postfix/main.cf``)."""
    if path is None or not path.startswith("/"):
        return path
    try:
        return str(root.system_path(path))
    except MailconfError:
        return path


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    unique = []
    for finding in findings:
        if finding not in seen:
            seen.add(finding)
            unique.append(finding)
    return unique


__all__ = ["DomainCheck", "Finding", "Severity", "run_checks"]
