"""``mailconf dmarc report`` and ``mailconf dmarc advise``: DMARC aggregate reports (issue 16).

``report`` sums the reports per sending source; ``advise`` says whether the next policy step
(none -> quarantine -> reject) is safe and names every unaligned source with its likely fix.
Both read PATHs (files, archives, mbox files, Maildirs, directories); an input that cannot be
used is skipped with a warning on stderr, and only when nothing at all could be read does the
command fail (2).  The reverse name of each source is asked of DNS unless ``--no-dns``, with the
doctor's DNS rules (one finding when the resolver cannot be asked, then no more queries).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from mailconf.cli.common import examples, seconds
from mailconf.errors import EXIT_FAILED, EXIT_OK, ReadError, UsageError


def _dmarc_parser(dmarc: argparse.ArgumentParser) -> None:
    dmarc.description = (
        "Read DMARC aggregate reports (XML, .xml.gz, .zip, or mail carrying them: .eml, mbox,\n"
        "Maildir) and advise the next policy step: none -> quarantine -> reject."
    )
    commands = dmarc.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", parser_class=type(dmarc), required=True
    )
    report = commands.add_parser(
        "report",
        help="sum the reports per sending source",
        description="Sum the reports per sending source (IP address and From domain), sorted "
        "by message count.",
    )
    _common(report)
    report.add_argument("--domain", help="only mail whose From domain is DOMAIN or under it")
    report.set_defaults(handler=run_report, command_parser=report)
    advise = commands.add_parser(
        "advise",
        help="say whether the next policy step is safe, and what to fix first",
        description="Say whether the next DMARC policy step is safe (none -> quarantine -> "
        "reject) and name every unaligned source with its likely fix.",
    )
    _common(advise)
    advise.add_argument("--domain", required=True, help="the domain to advise on")
    advise.add_argument(
        "--ip",
        action="append",
        default=[],
        help="this server's address (repeatable): its unaligned mail is yours to fix",
    )
    advise.add_argument(
        "--config", metavar="FILE", help="mailconf.toml: its ips are this server's addresses"
    )
    advise.add_argument(
        "--threshold",
        type=_percent,
        default=98.0,
        metavar="PERCENT",
        help="share of the mail (spoofing aside) that must pass DMARC (default: 98)",
    )
    advise.add_argument(
        "--source-share",
        type=_percent,
        default=1.0,
        metavar="PERCENT",
        help="share of the mail one unaligned legitimate source may send (default: 1)",
    )
    advise.add_argument(
        "--handful",
        type=_count,
        default=5,
        metavar="N",
        help="unaligned messages any source may send whatever its share (default: 5)",
    )
    advise.add_argument(
        "--min-days",
        type=_count,
        default=14,
        metavar="N",
        help="days of reports needed before any step (default: 14)",
    )
    advise.set_defaults(handler=run_advise, command_parser=advise)
    examples(
        dmarc,
        "mailconf dmarc report /var/mail/dmarc-reports --since 2026-11-01",
        "mailconf dmarc report reports/*.xml.gz --json --no-dns",
        "mailconf dmarc advise --domain example.com --ip 192.0.2.10 ~/Maildir/.dmarc",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="report, archive, mail or dir")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--since", metavar="DATE", type=_date, help="only reports whose period ends after DATE"
    )
    parser.add_argument("--no-dns", action="store_true", help="do not look up reverse names")
    parser.add_argument("--nameserver", metavar="HOST[:PORT]", help="ask this DNS server")
    parser.add_argument(
        "--dns-timeout",
        metavar="SECONDS",
        type=seconds,
        help="time all reverse lookups may take together (default: 10)",
    )
    parser.add_argument(
        "--jobs",
        metavar="N",
        type=_count,
        default=min(4, os.cpu_count() or 1),
        help="processes reading the reports (default: the CPUs, at most 4)",
    )
    parser.add_argument(
        "--max-report-mib",
        metavar="MIB",
        type=_count,
        default=64,
        help="largest decompressed report read (default: 64)",
    )


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage from 0 to 100")
    return value


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _date(text: str) -> int:
    """``YYYY-MM-DD`` (midnight UTC) or a full ISO 8601 time, as seconds since the epoch."""
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp())


def _read(args: argparse.Namespace, domain: str | None) -> Any:
    """The summary of the reports under ``args.paths``; the inputs skipped are warned about on
    stderr, or, when nothing at all could be read, are the one error line (exit 2)."""
    from mailconf.findings import Finding
    from mailconf.reports.inputs import MIB, Limits
    from mailconf.reports.summary import summarise

    skipped: list[Finding] = []
    summary = summarise(
        args.paths,
        domain=domain,
        since=args.since,
        limits=Limits(report_bytes=args.max_report_mib * MIB),
        warn=skipped.append,
        jobs=max(1, args.jobs),
    )
    if skipped and not summary.reports and not summary.duplicates:
        first = skipped[0]
        more = f" (and {len(skipped) - 1} more input(s))" if len(skipped) > 1 else ""
        raise ReadError(
            f"no report could be read: {first.path}: "
            f"{first.message.removesuffix('; skipped')}{more}"
        )
    for finding in skipped:
        sys.stderr.write(finding.render() + "\n")
    return summary


def _reverse_names(args: argparse.Namespace, summary: Any) -> dict[str, str | None]:
    """The reverse name of each source, largest first, until DNS stops answering."""
    if args.no_dns:
        return {}
    import dns.reversename

    from mailconf.dns.lookup import DEFAULT_BUDGET, DnsUnavailable, Lookup, make_resolver

    budget = DEFAULT_BUDGET if args.dns_timeout is None else args.dns_timeout
    lookup = Lookup(make_resolver(args.nameserver), budget=budget)
    names: dict[str, str | None] = {}
    for stats in summary.ordered():
        if stats.ip in names:
            continue
        try:
            answer = lookup.query(dns.reversename.from_address(stats.ip).to_text(), "PTR")
        except DnsUnavailable as stop:
            sys.stderr.write(stop.finding.render() + "\n")
            break
        names[stats.ip] = answer.values[0] if answer.status == "ok" and answer.values else None
    return names


def _check_arguments(args: argparse.Namespace) -> str | None:
    """Refuse a bad --domain or --nameserver before reading anything; the domain, validated."""
    from mailconf.names import validate_domain

    if args.nameserver is not None:
        from mailconf.dns.lookup import parse_nameserver

        parse_nameserver(args.nameserver)
    if args.no_dns and args.nameserver is not None:
        raise UsageError("--no-dns cannot be combined with --nameserver")
    return None if args.domain is None else validate_domain(args.domain)


def run_report(args: argparse.Namespace) -> int:
    from mailconf.reports.summary import render

    summary = _read(args, _check_arguments(args))
    names = _reverse_names(args, summary)
    if args.json:
        sys.stdout.write(json.dumps(summary.to_json(names), indent=2) + "\n")
    else:
        sys.stdout.write(render(summary, names))
    return EXIT_OK


def run_advise(args: argparse.Namespace) -> int:
    """0 when the next step (or the published p=reject) is supported, 1 when it is not."""
    import ipaddress

    from mailconf.errors import ValidationError
    from mailconf.reports.advice import Thresholds, advise

    domain = _check_arguments(args)
    assert domain is not None  # --domain is required
    try:
        ips = [str(ipaddress.ip_address(ip)) for ip in args.ip]
    except ValueError as error:
        raise ValidationError(f"--ip: {error}") from None
    if args.config is not None:
        from mailconf.setup.spec import Setup

        ips += [str(ip) for ip in Setup.from_toml(args.config).ips]
    summary = _read(args, domain)
    names = _reverse_names(args, summary)
    thresholds = Thresholds(args.threshold, args.source_share, args.handful, args.min_days)
    advice = advise(summary, domain, own_ips=ips, thresholds=thresholds, reverse_names=names)
    if args.json:
        sys.stdout.write(json.dumps(advice.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(advice.render())
    return EXIT_OK if advice.safe else EXIT_FAILED


#: The commands this module defines, each by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"dmarc": _dmarc_parser}
