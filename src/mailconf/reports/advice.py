"""From ``p=none`` to ``p=reject`` on evidence: what the reports say about the next policy step.

Each source that sent unaligned mail is put in one class, from the report's own evidence:

* ``own``: one of the server's addresses (the spec's ``ips``): its mail fails because the address
  is missing from the published SPF record, or OpenDKIM does not sign;
* ``forwarder``: DKIM aligned and passing, SPF not: mail forwarded on, which DMARC passes on
  DKIM, as designed (fine; counted aligned);
* ``altered``: it carried a signature of the domain's organisation that does not verify: a
  service signing as the domain whose selector key is missing or wrong (to fix), or a mailing
  list or forwarder that changed the message (nothing to fix, but ``reject`` loses that mail at
  receivers that do not trust the list's ARC seal): legitimate either way, so it counts;
* ``third-party``: it authenticates (SPF or DKIM passes) as another domain, one of the known
  sending services or one the reporter names: a service sending as the domain, which needs an
  SPF ``include:`` of the service with a custom MAIL FROM under the domain, or DKIM signing with
  a selector delegated to it;
* ``spoofer``: nothing passes and nothing of the domain's was there: what ``reject`` is for.

The step is safe when, over at least ``min_days`` of reports, the aligned share of the mail that
is not spoofed reaches ``threshold`` percent and no unaligned source but a spoofer sent more than
``handful`` unaligned messages *and* more than ``source_share`` percent of the mail.
DMARCbis dropped ``pct``, so the steps are whole: ``none`` -> ``quarantine`` -> ``reject``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

import attrs

from mailconf.findings import Finding, Severity
from mailconf.reports.alignment import organizational_domain
from mailconf.reports.summary import SourceStats, Summary

__all__ = ["Advice", "Thresholds", "advise", "check_reports", "policy_ahead_of_evidence"]

#: Sending services seen in reports, by the organisational domain they authenticate as (or
#: their reverse names end in), with the SPF include they document.
KNOWN_SENDERS: Final[dict[str, tuple[str, str]]] = {
    "amazonses.com": ("Amazon SES", "include:amazonses.com"),
    "sendgrid.net": ("SendGrid", "include:sendgrid.net"),
    "mcsv.net": ("Mailchimp", "include:servers.mcsv.net"),
    "mandrillapp.com": ("Mailchimp Transactional", "include:spf.mandrillapp.com"),
    "mailgun.org": ("Mailgun", "include:mailgun.org"),
    "sparkpostmail.com": ("SparkPost", "include:sparkpostmail.com"),
    "mailjet.com": ("Mailjet", "include:spf.mailjet.com"),
    "sendinblue.com": ("Brevo", "include:spf.sendinblue.com"),
    "zendesk.com": ("Zendesk", "include:mail.zendesk.com"),
    "hubspotemail.net": ("HubSpot", "include:_spf.hubspotemail.net"),
    "google.com": ("Google Workspace", "include:_spf.google.com"),
    "outlook.com": ("Microsoft 365", "include:spf.protection.outlook.com"),
    "salesforce.com": ("Salesforce", "include:_spf.salesforce.com"),
    "postmarkapp.com": ("Postmark", "include:spf.mtasv.net"),
    "mtasv.net": ("Postmark", "include:spf.mtasv.net"),
}

#: Sources shown in the human view besides those that must be fixed.
_SHOWN: Final = 10

NEXT_STEP: Final = {"none": "quarantine", "quarantine": "reject", "reject": None}


@attrs.frozen
class Thresholds:
    """When the next step is safe (the defaults are the issue's)."""

    #: Percent of the (not spoofed) messages that must pass DMARC.
    threshold: float = 98.0
    #: Percent of all messages an unaligned legitimate source may send at most.
    source_share: float = 1.0
    #: Messages an unaligned legitimate source may send whatever its share.
    handful: int = 5
    #: Days of reports needed before any step (a monthly newsletter must have shown up).
    min_days: int = 14


@attrs.frozen
class Unaligned:
    """One source that sent unaligned mail, its class and what to do about it."""

    source: SourceStats
    kind: str  # own, third-party, altered, spoofer
    fix: str
    blocking: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "ip": self.source.ip,
            "header_from": self.source.header_from,
            "count": self.source.count,
            "unaligned": self.source.unaligned,
            "class": self.kind,
            "fix": self.fix,
            "blocking": self.blocking,
        }


@attrs.frozen
class Advice:
    domain: str
    policy: str | None
    next_policy: str | None
    safe: bool
    messages: int
    aligned: int
    spoofed: int
    altered: int
    days: float
    thresholds: Thresholds
    reasons: tuple[str, ...]
    sources: tuple[Unaligned, ...]
    forwarded: int

    @property
    def own_mail(self) -> int:
        """The messages that are not spoofed: those the policy must let through."""
        return self.messages - self.spoofed

    @property
    def share(self) -> float:
        """Percent of :attr:`own_mail` that passed DMARC."""
        return 100.0 * self.aligned / self.own_mail if self.own_mail else 0.0

    @property
    def step(self) -> str:
        """The command of the next step, when it is safe."""
        if not self.safe or self.next_policy is None:
            return ""
        return (
            f'[dmarc] policy = "{self.next_policy}" in the spec (--dmarc-policy '
            f"{self.next_policy} without one), then mailconf plan and apply"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "policy": self.policy,
            "next_policy": self.next_policy,
            "safe": self.safe,
            "messages": self.messages,
            "aligned": self.aligned,
            "spoofed": self.spoofed,
            "altered": self.altered,
            "aligned_share": round(self.share, 2),
            "days": round(self.days, 1),
            "thresholds": attrs.asdict(self.thresholds),
            "reasons": list(self.reasons),
            "unaligned_sources": [s.to_json() for s in self.sources],
            "forwarded": self.forwarded,
        }

    def render(self) -> str:
        t = self.thresholds
        lines = [
            f"{self.domain}: published policy p={self.policy or 'unknown'}; "
            f"{self.messages} message(s) over {self.days:.0f} day(s) of reports",
            f"aligned: {self.aligned} of the {self.own_mail} message(s) not spoofed "
            f"({self.share:.1f} %; threshold {t.threshold:g} %); {self.spoofed} spoofed, "
            f"{self.altered} with a broken signature of the domain",
        ]
        if self.forwarded:
            lines.append(
                f"{self.forwarded} message(s) passed on aligned DKIM alone (SPF not aligned: "
                "a forwarder, or a sender using its own envelope domain): fine"
            )
        if self.next_policy is None and self.policy == "reject":
            verdict = (
                "p=reject is supported by the evidence"
                if self.safe
                else "p=reject is AHEAD of the evidence: legitimate mail is being rejected"
            )
        elif self.safe:
            verdict = f"next step: p={self.next_policy} is safe (without pct=: DMARCbis dropped it)"
        else:
            verdict = f"not yet: stay at p={self.policy or 'none'}"
        lines.append(verdict)
        lines += [f"  - {reason}" for reason in self.reasons]
        if self.step:
            lines.append(f"  step: {self.step}")
        if self.sources:
            lines.append("unaligned sources (! must be fixed first):")
        shown = [u for u in self.sources if u.blocking]
        rest = [u for u in self.sources if not u.blocking]
        shown += rest[:_SHOWN]
        for item in shown:
            stats = item.source
            mark = "!" if item.blocking else " "
            lines.append(
                f" {mark} {stats.ip} ({stats.header_from}): {stats.unaligned} of {stats.count} "
                f"unaligned, {item.kind}: {item.fix}"
            )
        if len(rest) > _SHOWN:
            kinds = Counter(u.kind for u in rest[_SHOWN:])
            lines.append(
                f"   ... and {len(rest) - _SHOWN} more: "
                + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
                + " (--json lists them all)"
            )
        return "\n".join(lines) + "\n"


def _known(domain: str) -> tuple[str, str] | None:
    return KNOWN_SENDERS.get(organizational_domain(domain))


def _classify(
    stats: SourceStats, domain: str, own_ips: set[str], reverse_name: str | None
) -> tuple[str, str]:
    """The class of an unaligned source and the likely fix."""
    if stats.ip in own_ips:
        if stats.spf_aligned < stats.count:
            return "own", (
                f"{stats.ip} is this server's address but fails SPF: publish the SPF record "
                f"`mailconf dns` prints (it lists every --ip), and check that OpenDKIM signs "
                f"(`mailconf check`)"
            )
        return "own", "this server's mail is not DKIM-signed: run `mailconf check`"
    others = list(stats.dkim_other) + list(stats.spf_other)
    services = [_known(name) for name in [*others, reverse_name or ""] if name]
    service = next((s for s in services if s is not None), None)
    if service is not None:
        name, include = service
        return "third-party", (
            f"{name} sends as {domain}: let it sign with DKIM for {domain} (a selector "
            f"delegated to it, usually a CNAME at SELECTOR._domainkey.{domain}), or set a "
            f"MAIL FROM under {domain} and add {include} to the SPF record"
        )
    if stats.broken_signature:
        return "altered", (
            f"its DKIM signature of {domain} fails: a service signing as {domain} whose "
            "selector key is not (or wrongly) published (publish it), or a mailing list or "
            "forwarder that changed the message (nothing to fix; p=reject will lose that mail "
            "at receivers that do not trust its ARC)"
        )
    if others:
        shown = ", ".join(sorted(set(others))[:3])
        return "third-party", (
            f"it authenticates as {shown}, not as {domain}: if this is a service you use, have "
            f"it sign with DKIM for {domain} (a delegated selector) or use a MAIL FROM under "
            f"{domain} that your SPF includes; if you do not know it, it is spoofing"
        )
    return "spoofer", "nothing authenticates and it is not yours: what p=reject is for"


def advise(
    summary: Summary,
    domain: str,
    *,
    own_ips: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    reverse_names: dict[str, str | None] | None = None,
) -> Advice:
    """The advice for ``domain`` from ``summary`` (which should be filtered to it)."""
    t = thresholds or Thresholds()
    domain = domain.lower().rstrip(".")
    names = reverse_names or {}
    seen = summary.policies.get(domain)
    policy = seen.policy if seen is not None else None
    sources = [
        s
        for s in summary.ordered()
        if s.header_from == domain or s.header_from.endswith("." + domain)
    ]
    messages = sum(s.count for s in sources)
    aligned = sum(s.dmarc_pass for s in sources)
    forwarded = sum(s.forwarded for s in sources)
    unaligned: list[Unaligned] = []
    excluded: Counter[str] = Counter()
    for stats in sources:
        if not stats.unaligned:
            continue
        kind, fix = _classify(stats, domain, set(own_ips), names.get(stats.ip))
        if kind in ("spoofer", "altered"):
            excluded[kind] += stats.unaligned
        big = stats.unaligned > t.handful and 100.0 * stats.unaligned > t.source_share * messages
        unaligned.append(Unaligned(stats, kind, fix, big and kind != "spoofer"))
    days = (
        (summary.end - summary.begin + 1) / 86400
        if summary.begin is not None and summary.end is not None
        else 0.0
    )
    reasons: list[str] = []
    legitimate = messages - excluded["spoofer"]
    share = 100.0 * aligned / legitimate if legitimate else 0.0
    if not messages:
        reasons.append(f"no report has mail from {domain}: no evidence yet")
    if messages and days < t.min_days:
        reasons.append(
            f"only {days:.0f} day(s) of reports; wait for {t.min_days} (a monthly sender must "
            "have shown up)"
        )
    if legitimate and share < t.threshold:
        reasons.append(
            f"{share:.1f} % of the domain's own mail passes DMARC, under {t.threshold:g} %"
        )
    blocking = [u for u in unaligned if u.blocking]
    if blocking:
        reasons.append(
            f"{len(blocking)} legitimate source(s) each send more than {t.handful} unaligned "
            f"message(s) and {t.source_share:g} % of the mail: fix them first (marked !)"
        )
    if policy is not None and policy not in NEXT_STEP:
        reasons.append(f"the reports show p={policy!r}, which is not none/quarantine/reject")
    if seen is not None and seen.pct is not None and seen.pct < 100:
        reasons.append(
            f"pct={seen.pct} is published: DMARCbis dropped pct; take whole steps (t=y to test)"
        )
    safe = not [r for r in reasons if not r.startswith("pct=")]
    return Advice(
        domain=domain,
        policy=policy,
        next_policy=NEXT_STEP.get(policy or "none"),
        safe=safe,
        messages=messages,
        aligned=aligned,
        spoofed=excluded["spoofer"],
        altered=excluded["altered"],
        days=days,
        thresholds=t,
        reasons=tuple(reasons),
        sources=tuple(unaligned),
        forwarded=forwarded,
    )


_RANK: Final = {"none": 0, "quarantine": 1, "reject": 2}


def policy_ahead_of_evidence(advice: Advice) -> list[Finding]:
    """``dmarc.policy-ahead-of-evidence`` when the published policy is stricter than ``none`` and
    the reports show legitimate mail it quarantines or rejects."""
    if _RANK.get(advice.policy or "none", 0) == 0 or not advice.messages:
        return []
    blocking = [u for u in advice.sources if u.blocking]
    if not blocking and (not advice.own_mail or advice.share >= advice.thresholds.threshold):
        return []
    named = ", ".join(f"{u.source.ip} ({u.kind}, {u.source.unaligned})" for u in blocking[:3])
    return [
        Finding(
            Severity.WARNING,
            "dmarc.policy-ahead-of-evidence",
            f"{advice.domain} publishes p={advice.policy} but only {advice.share:.1f} % of its "
            f"legitimate mail in the reports passes DMARC"
            + (f"; unaligned: {named}" if named else ""),
            fix=f"fix those senders (`mailconf dmarc advise --domain {advice.domain}`), or "
            "step back to a laxer policy until they are fixed",
        )
    ]


def check_reports(
    paths: Sequence[str], domains: Sequence[str], *, own_ips: Sequence[str] = ()
) -> list[Finding]:
    """What ``mailconf check --reports`` adds: the inputs skipped, and for each domain a
    published policy ahead of the evidence in the reports."""
    from mailconf.reports.summary import summarise

    findings: list[Finding] = []
    summary = summarise(paths, warn=findings.append)
    for domain in domains:
        findings += policy_ahead_of_evidence(advise(summary, domain, own_ips=own_ips))
    return findings
