"""Spec against configuration against DNS: what ``mailconf apply`` would refuse or change, said
before anyone runs it.

A server where the spec and the configuration disagree can pass every other check (the files are
consistent, DNS serves the configured key) while the spec describes another setup: a selector
nobody signs with, a DMARC policy that is not the published one, two SPF checks of every message.
These findings make ``mailconf check`` say so instead of exiting 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailconf.dns.lookup import LookupSource, as_lookup, skipped_when_unavailable
from mailconf.dns.txt import lookup_failed, parse_tag_list
from mailconf.doctor.system_view import SystemView
from mailconf.errors import MailconfError
from mailconf.findings import Finding, Severity
from mailconf.postfix.main import MainCf
from mailconf.postfix.master import MasterCf
from mailconf.setup.existing import read_existing, spf_checks
from mailconf.setup.spec import DMARC_POLICIES

if TYPE_CHECKING:
    from mailconf.doctor import DomainCheck

__all__ = ["check_dmarc_policy", "check_selectors", "check_spf_twice"]


def check_selectors(view: SystemView, domains: Sequence[DomainCheck]) -> list[Finding]:
    """``dkim.selector-differs``: the spec's selector is not one the domain signs with."""
    try:
        existing = read_existing(view.root)
    except MailconfError:  # an unreadable file is already a finding of the view
        return []
    findings = []
    for domain in domains:
        if domain.selector is None:
            continue
        signing = existing.signing_keys(domain.domain)
        selectors = [entry.selector for entry in signing]
        if not signing or domain.selector in selectors:
            continue
        table = existing.key_table.path if existing.key_table else "the KeyTable"
        adopt = domain.how_to_set(f'selector = "{selectors[0]}"', f"--selector {selectors[0]}")
        findings.append(
            Finding(
                Severity.ERROR,
                "dkim.selector-differs",
                f"{domain.domain} signs with selector {', '.join(selectors)} ({table}) but the "
                f"spec says {domain.selector}: mailconf apply refuses the spec as it is",
                fix=f"adopt it ({adopt}, or leave the selector out), or rotate (mailconf dkim "
                f"rotate --domain {domain.domain} --selector {domain.selector})",
                path=table if existing.key_table else None,
            )
        )
    return findings


def check_spf_twice(view: SystemView) -> list[Finding]:
    """``spf.policy-twice``: more than one SPF policy check in main.cf's restriction lists."""
    main, master = view.document("main", MainCf), view.document("master", MasterCf)
    if main is None or master is None:
        return []
    checks = spf_checks(main, master)
    if len(checks) < 2:
        return []
    return [
        Finding(
            Severity.WARNING,
            "spf.policy-twice",
            "SPF is checked more than once per message ("
            + "; ".join(check.describe() for check in checks)
            + "): twice the DNS queries, and two Received-SPF verdicts that may disagree",
            fix="keep one check_policy_service for SPF and remove the others",
            path="/etc/postfix/main.cf",
            line=view.main_line(checks[1].parameter),
        )
    ]


@skipped_when_unavailable
def check_dmarc_policy(source: LookupSource, check: DomainCheck) -> list[Finding]:
    """``dmarc.policy-differs``: the published ``p=`` is not the spec's (``check.dmarc_policy``;
    None compares nothing).  A missing or broken record is
    :func:`mailconf.dns.dmarc.check_dmarc`'s to report, not this check's."""
    domain, policy = check.domain, check.dmarc_policy
    if policy is None:
        return []
    lookup = as_lookup(source)
    name = f"_dmarc.{domain}"
    answer = lookup.txt(name)
    if answer.failed:
        return [lookup_failed(answer)]
    records = [t for t in answer.texts() if t.strip().lower().startswith("v=dmarc1")]
    if len(records) != 1:
        return []
    try:
        tags = {tag.lower(): value for tag, value in parse_tag_list(records[0])}
    except ValueError:
        return []
    published = tags.get("p", "").lower()
    if not published or published == policy:
        return []
    fix = f"publish the record `mailconf dns` prints for {domain}"
    if published in DMARC_POLICIES:  # else the record is check_dmarc's finding
        keep = check.how_to_set(
            f'policy = "{published}" under [dmarc]', f"--dmarc-policy {published}"
        )
        fix += f", or keep p={published}: {keep}"
    return [
        Finding(
            Severity.ERROR,
            "dmarc.policy-differs",
            f"{name} publishes p={published} but the spec says p={policy}",
            fix=fix,
        )
    ]
