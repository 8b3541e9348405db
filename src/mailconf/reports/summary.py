"""Many aggregate reports summed into one view per sending source (``mailconf dmarc report``).

Reports are read one at a time and each record is folded at once into a tally of its report (per
source, the source IP and the From domain it sent for, and per verdict), then the report's tallies
into a counter per source, so memory grows with the number of distinct sources, never with the
number or size of the reports.  A report's tallies are kept apart until the report has been read
to its end: a report that turns out broken halfway, or is a second copy of one already counted
(same ``org_name`` and ``report_id``), adds nothing.

The figures per source are message counts (the sum of the rows' ``<count>``): ``spf_aligned`` and
``dkim_aligned`` as DMARC's alignment rules judge the row's ``auth_results`` under the published
``aspf``/``adkim`` (:mod:`mailconf.reports.alignment`), ``dmarc_pass`` the messages with either,
which is when DMARC passes.  mailconf recomputes them rather than trusting the reporter's
``policy_evaluated``: some reporters fill it in before a local override, and the auth results
are what an administrator can act on.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Final, NamedTuple

import attrs

from mailconf.findings import Finding, Severity
from mailconf.reports.alignment import aligned
from mailconf.reports.feedback import AuthResult, Feedback, ReportError, parse_feedback
from mailconf.reports.inputs import Limits, file_documents, input_files

__all__ = ["PolicySeen", "SourceStats", "Summary", "summarise"]

#: At most this many distinct other-domain names are remembered per source (for the advice).
_DOMAIN_LIMIT: Final = 8


def _bounded_add(counter: Counter[str], key: str, count: int) -> None:
    if key in counter or len(counter) < _DOMAIN_LIMIT:
        counter[key] += count


class Verdict(NamedTuple):
    """What DMARC makes of one row's auth results, for its From domain and the policy's modes."""

    #: An SPF result passed for a domain aligned with the From domain.
    spf: bool
    #: A DKIM signature passed for a domain aligned with the From domain.
    dkim: bool
    #: A signature of the From domain's organisation did not verify (altered on the way).
    broken: bool
    #: Domains whose SPF passed without being aligned.
    spf_other: tuple[str, ...]
    #: Domains whose DKIM signature passed without being aligned.
    dkim_other: tuple[str, ...]


@functools.lru_cache(maxsize=4096)
def verdict(
    header_from: str,
    dkim: tuple[AuthResult, ...],
    spf: tuple[AuthResult, ...],
    adkim: str,
    aspf: str,
) -> Verdict:
    """The alignment of one row's results (RFC 7489 3.1), cached: the rows of a domain's reports
    repeat a handful of combinations (its own servers, a forwarder, a mailing service...), so the
    Organizational Domains are computed once per combination, not once per row."""
    spf_aligned = False
    spf_other: list[str] = []
    for result in spf:
        if result.result != "pass":
            continue
        if aligned(result.domain, header_from, aspf):
            spf_aligned = True
        elif result.domain:
            spf_other.append(result.domain)
    dkim_aligned = False
    broken = False
    dkim_other: list[str] = []
    for result in dkim:
        if aligned(result.domain, header_from, "r"):
            if result.result == "pass" and aligned(result.domain, header_from, adkim):
                dkim_aligned = True
            elif result.result != "pass":
                broken = True
        elif result.result == "pass" and result.domain:
            dkim_other.append(result.domain)
    return Verdict(spf_aligned, dkim_aligned, broken, tuple(spf_other), tuple(dkim_other))


#: One report's rows, summed until the report has been read to its end: the messages per source
#: (IP address, From domain), verdict, disposition and override reasons.
Tallies = dict[tuple[str, str, Verdict, str, tuple[str, ...]], int]


@attrs.define
class SourceStats:
    """What one source (IP address, From domain) sent over the reports read."""

    ip: str
    header_from: str
    count: int = 0
    spf_aligned: int = 0
    dkim_aligned: int = 0
    dmarc_pass: int = 0
    disposition: dict[str, int] = attrs.field(
        factory=lambda: {"none": 0, "quarantine": 0, "reject": 0}
    )
    reporters: set[str] = attrs.field(factory=set)
    #: Messages whose SPF passed for a domain not aligned with the From domain, per domain.
    spf_other: Counter[str] = attrs.field(factory=Counter)
    #: Messages whose DKIM passed for a domain not aligned with the From domain, per domain.
    dkim_other: Counter[str] = attrs.field(factory=Counter)
    #: Messages that carried a signature of the From domain's organisation that did not verify
    #: (altered on the way: a mailing list, a forwarder that rewrites).
    broken_signature: int = 0
    #: Messages that passed on aligned DKIM alone, SPF not aligned: forwarded on, or a sender
    #: with its own envelope domain (fine).
    forwarded: int = 0
    #: Messages for which the reporter named an override (``forwarded``, ``mailing_list``...).
    overrides: Counter[str] = attrs.field(factory=Counter)

    @property
    def unaligned(self) -> int:
        return self.count - self.dmarc_pass

    def add(self, verdict: Verdict, disposition: str, reasons: tuple[str, ...], count: int) -> None:
        """Count ``count`` messages with this verdict, disposition and override reasons."""
        self.count += count
        if verdict.spf or verdict.dkim:
            self.dmarc_pass += count
        if verdict.spf:
            self.spf_aligned += count
        if verdict.dkim:
            self.dkim_aligned += count
            if not verdict.spf:
                self.forwarded += count
        elif verdict.broken:
            self.broken_signature += count
        for domain in verdict.spf_other:
            _bounded_add(self.spf_other, domain, count)
        for domain in verdict.dkim_other:
            _bounded_add(self.dkim_other, domain, count)
        self.disposition[disposition] += count
        for reason in reasons:
            _bounded_add(self.overrides, reason, count)

    def merge(self, other: SourceStats) -> None:
        self.count += other.count
        self.spf_aligned += other.spf_aligned
        self.dkim_aligned += other.dkim_aligned
        self.dmarc_pass += other.dmarc_pass
        self.broken_signature += other.broken_signature
        self.forwarded += other.forwarded
        for name, value in other.disposition.items():
            self.disposition[name] += value
        self.reporters |= other.reporters
        for mine, theirs in (
            (self.spf_other, other.spf_other),
            (self.dkim_other, other.dkim_other),
            (self.overrides, other.overrides),
        ):
            for key, value in theirs.items():
                _bounded_add(mine, key, value)

    def to_json(self, reverse_name: str | None = None) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "count": self.count,
            "spf_aligned": self.spf_aligned,
            "dkim_aligned": self.dkim_aligned,
            "dmarc_pass": self.dmarc_pass,
            "disposition": dict(self.disposition),
            "header_from": self.header_from,
            "reporters": sorted(self.reporters),
            "reverse_name": reverse_name,
        }


@attrs.frozen
class PolicySeen:
    """The DMARC policy a report says was published, and when the report ended."""

    end: int
    policy: str
    pct: int | None


def _in_domain(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


def _timestamp(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.define
class Summary:
    """The reports read, summed per source."""

    reports: int = 0
    messages: int = 0
    duplicates: int = 0
    skipped: int = 0
    domains: set[str] = attrs.field(factory=set)
    begin: int | None = None
    end: int | None = None
    sources: dict[tuple[str, str], SourceStats] = attrs.field(factory=dict)
    #: The newest published policy seen per policy domain.
    policies: dict[str, PolicySeen] = attrs.field(factory=dict)
    _seen: set[tuple[str, str]] = attrs.field(factory=set)

    def ordered(self) -> list[SourceStats]:
        """The sources by message count, largest first (then by address, for a stable order)."""
        return sorted(
            self.sources.values(),
            key=lambda s: (-s.count, ipaddress.ip_address(s.ip).packed, s.header_from),
        )

    def add_report(self, feedback: Feedback, tallies: Tallies, matched: bool) -> None:
        """Count one fully read report (unless it is a copy of one already counted)."""
        if feedback.key in self._seen:
            self.duplicates += 1
            return
        self._seen.add(feedback.key)
        if not (tallies or matched):
            return
        self.reports += 1
        self.domains.add(feedback.domain)
        if feedback.begin is not None:
            self.begin = feedback.begin if self.begin is None else min(self.begin, feedback.begin)
        if feedback.end is not None:
            self.end = feedback.end if self.end is None else max(self.end, feedback.end)
            seen = self.policies.get(feedback.domain)
            if seen is None or feedback.end >= seen.end:
                self.policies[feedback.domain] = PolicySeen(
                    feedback.end, feedback.policy, feedback.pct
                )
        sources = self.sources
        for (ip, header_from, row_verdict, disposition, reasons), count in tallies.items():
            self.messages += count
            stats = sources.get((ip, header_from))
            if stats is None:
                stats = sources[ip, header_from] = SourceStats(ip, header_from)
            stats.add(row_verdict, disposition, reasons, count)
            stats.reporters.add(feedback.org_name)

    def merge(self, other: Summary) -> bool:
        """Add ``other`` (reports read elsewhere) to this summary; False, and nothing added,
        when both counted the same report."""
        if not self._seen.isdisjoint(other._seen):
            return False
        self._seen |= other._seen
        self.reports += other.reports
        self.messages += other.messages
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.domains |= other.domains
        if other.begin is not None:
            self.begin = other.begin if self.begin is None else min(self.begin, other.begin)
        if other.end is not None:
            self.end = other.end if self.end is None else max(self.end, other.end)
        for name, seen in other.policies.items():
            if name not in self.policies or seen.end >= self.policies[name].end:
                self.policies[name] = seen
        for key, stats in other.sources.items():
            total = self.sources.get(key)
            if total is None:
                self.sources[key] = stats
            else:
                total.merge(stats)
        return True

    def to_json(self, reverse_names: dict[str, str | None] | None = None) -> dict[str, Any]:
        names = reverse_names or {}
        return {
            "reports": self.reports,
            "messages": self.messages,
            "domains": sorted(self.domains),
            "period": {"begin": _timestamp(self.begin), "end": _timestamp(self.end)},
            "sources": [s.to_json(names.get(s.ip)) for s in self.ordered()],
        }


def summarise(
    paths: Iterable[str],
    *,
    domain: str | None = None,
    since: int | None = None,
    limits: Limits | None = None,
    warn: Callable[[Finding], None] | None = None,
    jobs: int = 1,
) -> Summary:
    """Read every report under ``paths`` into one :class:`Summary`.

    ``domain`` keeps the rows whose From domain is it or under it; ``since`` (seconds since the
    epoch) keeps the reports whose period ends after it.  Each input skipped goes to ``warn`` as a
    ``dmarc.report-skipped`` finding.  An OSError about a path itself propagates.

    With ``jobs`` above 1 and enough files, the files are read by that many processes, in
    batches, and the partial summaries merged: reports are independent, and reading them is
    all CPU.  When two batches both counted a report (a resend that landed in both), the merged
    counts would be wrong, so everything is read again in this process; resends are rare.
    """
    enumerated: list[Finding] = []
    files = [f for path in paths for f in input_files(path, _collector(enumerated))]
    options = _Options(domain.lower().rstrip(".") if domain else None, since, limits or Limits())
    batches = _batches(files, jobs)
    summary: Summary | None = None
    found: list[Finding] = []
    if len(batches) > 1:
        summary, found = _in_processes(batches, options, jobs)
    if summary is None:
        summary, found = _read_files(files, options)
    for finding in enumerated + found:
        summary.skipped += 1
        if warn is not None:
            warn(finding)
    return summary


@attrs.frozen
class _Options:
    domain: str | None
    since: int | None
    limits: Limits


#: Parallel reading only pays for itself with this many files per process.
_FILES_PER_JOB: Final = 8


def _batches(files: list[tuple[str, bool]], jobs: int) -> list[list[tuple[str, bool]]]:
    """Contiguous batches, a few per process (so a slow batch does not leave one idle)."""
    if jobs <= 1 or len(files) < 2 * _FILES_PER_JOB:
        return [files]
    count = min(jobs * 4, len(files) // _FILES_PER_JOB)
    size = -(-len(files) // count)
    return [files[start : start + size] for start in range(0, len(files), size)]


def _in_processes(
    batches: list[list[tuple[str, bool]]], options: _Options, jobs: int
) -> tuple[Summary | None, list[Finding]]:
    """The batches read by ``jobs`` processes and merged in order; None when two batches
    counted the same report."""
    from concurrent.futures import ProcessPoolExecutor

    summary = Summary()
    found: list[Finding] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for part, warnings in pool.map(_read_files, batches, [options] * len(batches)):
            if not summary.merge(part):
                pool.shutdown(cancel_futures=True)
                return None, []
            found += warnings
    return summary, found


def _collector(findings: list[Finding]) -> Callable[[str, str], None]:
    def skipped(label: str, message: str) -> None:
        findings.append(
            Finding(
                Severity.WARNING,
                "dmarc.report-skipped",
                f"{message}; skipped",
                fix="nothing: one bad report does not stop the others",
                path=label,
            )
        )

    return skipped


def _read_files(files: list[tuple[str, bool]], options: _Options) -> tuple[Summary, list[Finding]]:
    """One batch of files read into a summary (in this process or a worker), and the inputs
    skipped."""
    summary = Summary()
    found: list[Finding] = []
    skipped = _collector(found)
    wanted, since = options.domain, options.since
    for name, named in files:
        for document in file_documents(name, options.limits, skipped, named=named):
            feedback = Feedback()
            tallies: Tallies = {}
            try:
                for record in parse_feedback(document.chunks, feedback):
                    header_from = record.header_from
                    if wanted and not _in_domain(header_from, wanted):
                        continue
                    judged = verdict(
                        header_from, record.dkim, record.spf, feedback.adkim, feedback.aspf
                    )
                    ip, reasons = record.source_ip, record.reasons
                    key = (ip, header_from, judged, record.disposition, reasons)
                    tallies[key] = tallies.get(key, 0) + record.messages
            except ReportError as error:
                skipped(document.label, str(error))
                continue
            if since is not None and (feedback.end or 0) <= since:
                continue
            matched = wanted is None or _in_domain(feedback.domain, wanted)
            summary.add_report(feedback, tallies, matched)
    return summary, found


def render(summary: Summary, reverse_names: dict[str, str | None]) -> str:
    """The human view: totals, then one line per source, largest first."""
    lines = [
        f"{summary.reports} report(s), {summary.messages} message(s) for "
        f"{', '.join(sorted(summary.domains)) or 'no domain'}"
        + (
            f", {_timestamp(summary.begin)} to {_timestamp(summary.end)}"
            if summary.begin is not None
            else ""
        )
    ]
    if summary.duplicates:
        lines.append(f"{summary.duplicates} duplicate report(s) counted once")
    if summary.skipped:
        lines.append(f"{summary.skipped} input(s) skipped (see the warnings)")
    sources = summary.ordered()
    if sources:
        lines.append("")
        lines.append(
            f"{'source':<40} {'from':<24} {'count':>8} {'spf':>8} {'dkim':>8} {'dmarc':>8}"
            "  q/r  reporters"
        )
    for stats in sources:
        name = reverse_names.get(stats.ip)
        source = f"{stats.ip} ({name})" if name else stats.ip
        lines.append(
            f"{source:<40} {stats.header_from:<24} {stats.count:>8} {stats.spf_aligned:>8} "
            f"{stats.dkim_aligned:>8} {stats.dmarc_pass:>8}  "
            f"{stats.disposition['quarantine']}/{stats.disposition['reject']}  "
            f"{', '.join(sorted(stats.reporters))}"
        )
    return "\n".join(lines) + "\n"
