"""``mailconf dns`` (the records to publish) and ``mailconf check`` (the doctor).

Both take the same spec as ``mailconf plan`` (``--config`` or the one-domain flags) and read the
system under ``--root``; ``dns`` reads the local DKIM keys there, ``check`` everything.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailconf.cli import publish
from mailconf.cli.common import seconds
from mailconf.cli.spec_args import adopted_setup, root_from_args, setup_from_args, spec_command
from mailconf.errors import EXIT_FAILED, EXIT_OK, MailconfError, UsageError

if TYPE_CHECKING:
    from mailconf.dns.records import Record
    from mailconf.findings import Finding
    from mailconf.setup.lifecycle import KeyState
    from mailconf.setup.spec import Setup
    from mailconf.system.root import SystemRoot


def _dns_parser(dns: argparse.ArgumentParser) -> None:
    spec_command(
        dns,
        "Print the SPF, DKIM and DMARC TXT records to publish. The records come from the spec and\n"
        "the DKIM keys under --root. ADSP (_adsp._domainkey) is never printed: it has been\n"
        "Historic since 2013 and no receiver uses it.",
        run_dns,
        "mailconf dns --domain example.com --ip 192.0.2.10",
        "mailconf dns --config mailconf.toml --format line",
        "mailconf dns --config mailconf.toml --update 192.0.2.53 --tsig-key /etc/mailconf/tsig.key",
    )
    dns.add_argument(
        "--format", choices=("zone", "line", "json"), help="output format (default: zone)"
    )
    dns.add_argument(
        "--hard-fail", action="store_true", help="SPF -all instead of ~all ([spf] all = '-all')"
    )
    publish.arguments(dns)


def _check_parser(check: argparse.ArgumentParser) -> None:
    spec_command(
        check,
        "The doctor: lint, cross-file wiring, keys, DNS and sender rules.\n"
        "Exit 0 when nothing is an error, 1 otherwise.",
        run_check,
        "mailconf check --domain example.com --ip 192.0.2.10",
        "mailconf check --config mailconf.toml --no-dns",
        "mailconf check --domain example.com --ip 192.0.2.10 --nameserver 127.0.0.1:5353",
    )
    check.add_argument("--nameserver", metavar="HOST[:PORT]", help="ask this DNS server")
    check.add_argument("--no-dns", action="store_true", help="skip the DNS checks")
    check.add_argument(
        "--dns-timeout",
        metavar="SECONDS",
        type=seconds,
        help="time all DNS queries may take together; the DNS checks left then are skipped "
        "(default: 10)",
    )
    check.add_argument(
        "--reports",
        nargs="+",
        metavar="PATH",
        help="DMARC aggregate reports: warn when the published policy is ahead of them",
    )


def run_dns(args: argparse.Namespace) -> int:
    from mailconf.dns.records import render_json, render_one_line, render_zone

    key = publish.key_from_args(args)
    root = root_from_args(args)
    setup = adopted_setup(setup_from_args(args), root)
    records, findings = records_for(setup, root, hard_fail=args.hard_fail)
    for finding in findings:
        sys.stderr.write(finding.render() + "\n")
    if key is not None:
        return publish.run(args, key, records)
    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json and --format {args.format} contradict each other")
    chosen = "json" if args.json else args.format or "zone"
    render = {"zone": render_zone, "line": render_one_line, "json": render_json}[chosen]
    text = render(records)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def records_for(
    setup: Setup, root: SystemRoot, *, hard_fail: bool = False
) -> tuple[list[Record], list[Finding]]:
    """SPF, DKIM (from the keys under ``root``) and DMARC records for every domain; a DMARC report
    address at another organisation adds a finding with the record that one must publish."""
    from mailconf import keys
    from mailconf.dns import records as build
    from mailconf.dns.dmarc import report_authorisation
    from mailconf.errors import ReadError
    from mailconf.findings import Finding, Severity

    result: list[Record] = []
    findings: list[Finding] = []
    addresses = [str(ip) for ip in setup.ips]
    for domain in setup.domains:
        record, notes = build.spf_record(
            domain.name,
            addresses,
            hard_fail=hard_fail or setup.spf_all == "-all",
            include=setup.spf_include,
        )
        result.append(record)
        findings += notes
        for key_spec in (k for k in setup.keys if k.domain == domain.name):
            try:
                key = keys.load_public_key(root.resolve(key_spec.private_path))
            except FileNotFoundError:
                raise ReadError(
                    f"{key_spec.private_path}: no DKIM key yet; run `mailconf apply` first"
                ) from None
            record, notes = build.dkim_record(key_spec.selector, domain.name, key)
            result.append(record)
            findings += notes
        for state in _staged_and_retiring(root, domain.name, setup):
            key = keys.load_public_key(root.resolve(state.path))
            record, notes = build.dkim_record(state.selector, domain.name, key)
            result.append(record)
            findings += notes
        report = [setup.dmarc_report] if setup.dmarc_report else []
        record, notes = build.dmarc_record(domain.name, setup.dmarc_policy, rua=report)
        result.append(record)
        findings += notes
        for address in report:
            destination = address.rpartition("@")[2]
            name = report_authorisation(domain.name, destination)
            if name is not None:
                findings.append(
                    Finding(
                        Severity.WARNING,
                        "dmarc.report-authorisation",
                        f"DMARC reports go to {destination}, another domain: receivers send "
                        f'them only if {destination} publishes {name}. IN TXT "v=DMARC1"',
                        fix=f'publish in the {destination} zone: {name}. IN TXT "v=DMARC1"',
                    )
                )
    return result, findings


def _staged_and_retiring(root: SystemRoot, domain: str, setup: Setup) -> list[KeyState]:
    """The keys of ``domain`` that must be in DNS although the spec does not name them: staged
    (to be activated once published) and retiring (mail they signed is still checked)."""
    from mailconf.setup.lifecycle import key_states

    named = {k.selector for k in setup.keys if k.domain == domain}
    try:
        states = key_states(root, domain)
    except MailconfError:  # no readable tables: the spec's keys are all there is to print
        return []
    return [
        s
        for s in states
        if s.state in ("staged", "retiring") and s.selector not in named and s.algorithm
    ]


def run_check(args: argparse.Namespace) -> int:
    from mailconf.dns.lookup import DEFAULT_BUDGET, make_resolver
    from mailconf.doctor import domain_checks, run_checks
    from mailconf.findings import has_errors

    root = root_from_args(args)
    setup = adopted_setup(setup_from_args(args), root)
    # The DMARC policy is compared when the spec states it (a spec file, or the flag).
    compare_policy = not setup.by_flags or args.dmarc_policy is not None
    findings = run_checks(
        root,
        domain_checks(setup, compare_policy=compare_policy),
        ips=[str(ip) for ip in setup.ips],
        hostname=setup.hostname,
        dns=None if args.no_dns else make_resolver(args.nameserver),
        query_dns=not args.no_dns,
        dns_timeout=DEFAULT_BUDGET if args.dns_timeout is None else args.dns_timeout,
    )
    if args.reports:
        from mailconf.reports.advice import check_reports

        names = [domain.name for domain in setup.domains]
        findings += check_reports(args.reports, names, own_ips=[str(ip) for ip in setup.ips])
    if args.json:
        json.dump([f.to_json() for f in findings], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for finding in findings:
            sys.stdout.write(finding.render() + "\n")
    return EXIT_FAILED if has_errors(findings) else EXIT_OK


#: The commands this module defines, each by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "dns": _dns_parser,
    "check": _check_parser,
}
