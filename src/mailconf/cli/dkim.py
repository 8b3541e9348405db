"""``mailconf dkim status|rotate|activate|retire``: the DKIM key's life on the command line.

The plans come from :mod:`mailconf.setup.lifecycle` and are performed by
:func:`mailconf.setup.apply.perform`, with apply's lock, backups, validation, rollback and
restarts.  A refusal (nothing staged, DNS not serving the key yet, the grace period not over, the
signing key) is exit status 1 with nothing written; ``--dry-run`` shows the plan only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from mailconf.cli.common import examples, progress_printer, system_root_argument
from mailconf.cli.spec_args import root_from_args
from mailconf.errors import EXIT_OK, MailconfError, UsageError


def _common(parser: argparse.ArgumentParser) -> None:
    system_root_argument(parser, "restarts")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _changing(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--domain", required=True, help="the mail domain")
    parser.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no progress lines, even on a terminal"
    )


def _dns_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nameserver", metavar="HOST[:PORT]", help="ask this DNS server")


def _dkim_parser(dkim: argparse.ArgumentParser) -> None:
    dkim.description = (
        "The DKIM key's life: a new key is staged (written, not signing) until DNS serves it,\n"
        "then activated, and the old one retired after a grace period. The dates are kept in a\n"
        "comment line above each key's KeyTable row."
    )
    actions = dkim.add_subparsers(title="actions", metavar="ACTION", required=True)

    status = actions.add_parser("status", help="each key's state, dates and DNS record")
    _common(status)
    status.add_argument("--domain", help="only this domain")
    _dns_options(status)
    status.add_argument("--no-dns", action="store_true", help="do not check DNS")
    status.set_defaults(handler=run_status)

    rotate = actions.add_parser("rotate", help="stage a new key (it does not sign yet)")
    _changing(rotate)
    rotate.add_argument("--selector", help="the new selector (default: sYYYYMM of today)")
    rotate.add_argument("--ed25519", action="store_true", help="an ed25519 key instead of RSA")
    rotate.add_argument("--rsa-bits", type=int, default=2048, help="RSA key size (2048)")
    rotate.set_defaults(handler=run_rotate)

    activate = actions.add_parser("activate", help="sign with the staged key once DNS serves it")
    _changing(activate)
    activate.add_argument("--selector", help="the staged selector (default: the only one)")
    _dns_options(activate)
    activate.add_argument(
        "--force", action="store_true", help="activate without checking DNS (warned)"
    )
    activate.set_defaults(handler=run_activate)

    retire = actions.add_parser("retire", help="remove a superseded key after its grace period")
    _changing(retire)
    retire.add_argument("--selector", required=True, help="the selector to retire")
    retire.add_argument(
        "--grace-days",
        type=_days,
        default=7,
        metavar="DAYS",
        help="days since its replacement was activated (default: 7)",
    )
    retire.add_argument("--force", action="store_true", help="retire before that (warned)")
    dns = retire.add_argument_group("removing its DNS record by RFC 2136 dynamic update")
    dns.add_argument(
        "--update", metavar="SERVER[:PORT]", help="delete the selector's record on this server"
    )
    dns.add_argument("--tsig-key", metavar="FILE", help="the TSIG key (a BIND key file)")
    dns.add_argument("--tsig-key-name", metavar="NAME", help="the key, when FILE holds several")
    dns.add_argument("--zone", metavar="ZONE", help="the zone (default: from the server's SOA)")
    retire.set_defaults(handler=run_retire)
    examples(
        dkim,
        "mailconf dkim rotate --domain example.com",
        "mailconf dkim activate --domain example.com --nameserver 192.0.2.53",
        "mailconf dkim retire --domain example.com --selector default \\\n"
        "      --update 192.0.2.53 --tsig-key /etc/mailconf/tsig.key",
    )


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 <= days < 36500:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days")
    return days


def _lookup(args: argparse.Namespace) -> Any:
    from mailconf.dns.lookup import as_lookup, make_resolver

    return as_lookup(make_resolver(args.nameserver))


def run_status(args: argparse.Namespace) -> int:
    from mailconf.names import validate_domain
    from mailconf.setup import lifecycle

    root = root_from_args(args)
    domain = validate_domain(args.domain) if args.domain else None
    states = lifecycle.key_states(root, domain)
    if not args.no_dns and states:
        lookup = _lookup(args)
        states = [lifecycle.with_published(lookup, state, root) for state in states]
    if args.json:
        sys.stdout.write(json.dumps([s.to_json() for s in states], indent=2) + "\n")
        return EXIT_OK
    if not states:
        sys.stdout.write("no DKIM keys in OpenDKIM's KeyTable\n")
    for state in states:
        published = {True: "published", False: "NOT published", None: "DNS not checked"}
        size = f"{state.algorithm or '?'}" + (f" {state.bits}" if state.algorithm == "rsa" else "")
        dates = " ".join(f"{k}={v}" for k, v in state.dates.items())
        sys.stdout.write(
            f"{state.domain} {state.selector}: {state.state}, {size}, "
            f"{published[state.published]}{', ' + dates if dates else ''}\n"
        )
    return EXIT_OK


def run_rotate(args: argparse.Namespace) -> int:
    from mailconf.setup import lifecycle

    root = root_from_args(args)
    return _perform(
        args,
        root,
        lambda: lifecycle.plan_rotate(
            root, args.domain, selector=args.selector, ed25519=args.ed25519, bits=args.rsa_bits
        ),
    )


def run_activate(args: argparse.Namespace) -> int:
    from mailconf.setup import lifecycle

    root = root_from_args(args)
    lookup = None if args.force else _lookup(args)
    return _perform(
        args,
        root,
        lambda: lifecycle.plan_activate(
            root, args.domain, selector=args.selector, dns=lookup, force=args.force
        ),
    )


def run_retire(args: argparse.Namespace) -> int:
    import datetime as dt

    from mailconf.setup import lifecycle

    key = _tsig_key(args)
    root = root_from_args(args)
    grace = dt.timedelta(days=args.grace_days)
    _perform(
        args,
        root,
        lambda: lifecycle.plan_retire(
            root, args.domain, args.selector, grace=grace, force=args.force
        ),
    )
    if key is not None:
        from mailconf.dns.update import publish
        from mailconf.names import validate_domain

        name = f"{args.selector}._domainkey.{validate_domain(args.domain)}"
        publication = publish(args.update, key, delete=[name], zone=args.zone, dry_run=args.dry_run)
        sys.stdout.write(
            json.dumps(publication.to_json(), indent=2) + "\n"
            if args.json
            else publication.render()
        )
    return EXIT_OK


def _tsig_key(args: argparse.Namespace) -> Any:
    """The key ``dkim retire --update`` deletes the record with, read (and the options checked)
    before anything is retired, so a bad key file stops the command with nothing done."""
    if args.update is None:
        if args.tsig_key or args.tsig_key_name or args.zone:
            raise UsageError("--tsig-key, --tsig-key-name and --zone only go with --update")
        return None
    if args.tsig_key is None:
        raise UsageError("--update needs --tsig-key FILE (the key the server accepts updates with)")
    from mailconf.dns.lookup import parse_nameserver
    from mailconf.dns.update import read_tsig_key

    parse_nameserver(args.update)
    key, findings = read_tsig_key(args.tsig_key, name=args.tsig_key_name)
    for finding in findings:
        sys.stderr.write(finding.render() + "\n")
    return key


def _perform(args: argparse.Namespace, root: Any, make: Callable[[], Any]) -> int:
    """Show the plan (``--dry-run``: only that), perform it as apply does, show the result."""
    from mailconf.setup.apply import ApplyError, perform

    if args.dry_run:
        plan = make()
        sys.stdout.write(
            json.dumps(plan.to_json(), indent=2) + "\n" if args.json else plan.render()
        )
        return EXIT_OK
    try:
        result = perform(root, make, progress=progress_printer(args))
    except ApplyError as exc:
        _show(args, exc.result)
        raise MailconfError(f"failed: {exc.reason}") from None
    _show(args, result)
    return EXIT_OK


def _show(args: argparse.Namespace, result: Any) -> None:
    if args.json:
        data = {"plan": result.plan.to_json(), "result": result.to_json()}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(result.plan.render() + result.render())


#: The commands this module defines, each by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"dkim": _dkim_parser}
