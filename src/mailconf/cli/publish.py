"""``mailconf dns --update SERVER --tsig-key FILE``: publish the records by RFC 2136 update.

The ``dns`` command (:mod:`mailconf.cli.doctor`) builds the records as it does to print them and
hands them here; :mod:`mailconf.dns.update` reads the zone, sends one signed update per zone that
changes, and says what it sent.  Only the standard library is imported until the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailconf.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from mailconf.dns.records import Record
    from mailconf.dns.update import TsigKey

_NEEDS_UPDATE = ("tsig_key", "tsig_key_name", "zone")


def arguments(dns: argparse.ArgumentParser) -> None:
    """The publishing options of ``mailconf dns``."""
    group = dns.add_argument_group("publishing by RFC 2136 dynamic update")
    group.add_argument(
        "--update",
        metavar="SERVER[:PORT]",
        help="send the records to this primary server instead of printing them (only the "
        "SPF, DKIM and DMARC TXT records are changed; other records stay)",
    )
    group.add_argument(
        "--tsig-key",
        metavar="FILE",
        help="the TSIG key to sign with, a BIND key file as tsig-keygen writes it",
    )
    group.add_argument(
        "--tsig-key-name", metavar="NAME", help="the key to use when FILE holds several"
    )
    group.add_argument(
        "--zone", metavar="ZONE", help="the zone to update (default: from the server's SOA)"
    )
    group.add_argument(
        "--dry-run", action="store_true", help="read the zone and show the update, send nothing"
    )


def key_from_args(args: argparse.Namespace) -> TsigKey | None:
    """The TSIG key to publish with (None without ``--update``), read before anything else so
    that a bad command line or key file is the one line the error is; options that make no
    sense together are refused first."""
    if args.update is None:
        given = [f"--{n.replace('_', '-')}" for n in _NEEDS_UPDATE if getattr(args, n)]
        if args.dry_run:
            given.append("--dry-run")
        if given:
            raise UsageError(f"{', '.join(given)} only go with --update SERVER")
        return None
    from mailconf.dns.lookup import parse_nameserver
    from mailconf.dns.update import read_tsig_key
    from mailconf.names import validate_domain

    if args.tsig_key is None:
        raise UsageError("--update needs --tsig-key FILE (the key the server accepts updates with)")
    parse_nameserver(args.update)
    if args.zone is not None:
        validate_domain(args.zone.rstrip("."), allow_single_label=True, allow_underscore=True)
    key, findings = read_tsig_key(args.tsig_key, name=args.tsig_key_name)
    for finding in findings:
        sys.stderr.write(finding.render() + "\n")
    return key


def run(args: argparse.Namespace, key: TsigKey, records: Sequence[Record]) -> int:
    """Publish ``records`` with ``key`` as ``args`` say; print the update (JSON with --json)."""
    from mailconf.dns.update import publish

    publication = publish(args.update, key, records, zone=args.zone, dry_run=args.dry_run)
    if args.json or args.format == "json":
        sys.stdout.write(json.dumps(publication.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(publication.render())
    return EXIT_OK
