"""The setup spec on the command line, one place for every command that takes it (``plan``,
``apply``, ``dns``, ``check``): its options (``--config`` or the one-domain flags, ``--root``,
``--json``), the :class:`~mailconf.setup.spec.Setup` and
:class:`~mailconf.system.root.SystemRoot` they give, and the output of a result.

The setup and system modules are imported when a command runs, not with this module: building the
parser of ``mailconf --help`` must not pay for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from mailconf.cli.common import directory, examples
from mailconf.errors import UsageError

if TYPE_CHECKING:
    from mailconf.setup.spec import Setup
    from mailconf.system.root import SystemRoot


def spec_command(
    parser: argparse.ArgumentParser,
    description: str,
    handler: Callable[[argparse.Namespace], int],
    *command_lines: str,
) -> None:
    """Make ``parser`` a command that takes the spec: its description, the spec options, the
    examples of its ``--help`` and the function that runs it.  The command adds its own options
    after this."""
    parser.description = description
    spec_arguments(parser)
    examples(parser, *command_lines)
    parser.set_defaults(handler=handler)


def spec_arguments(parser: argparse.ArgumentParser) -> None:
    """The spec options shared by plan, apply, dns and check (``--config`` or the flags)."""
    parser.add_argument(
        "--root",
        metavar="DIR",
        type=directory,
        help="work on the system tree under DIR (packages and restarts are reported, not run)",
    )
    parser.add_argument("--config", metavar="FILE", help="mailconf.toml with the whole setup")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    flags = parser.add_argument_group("one-domain setup (instead of --config)")
    flags.add_argument("--domain", help="mail domain, e.g. hogehoge.com")
    flags.add_argument(
        "--ip", action="append", default=[], help="server address (IPv4 or IPv6; repeatable)"
    )
    flags.add_argument("--selector", default="default", help="DKIM selector (default: default)")
    flags.add_argument("--dmarc-policy", default="none", choices=("none", "quarantine", "reject"))
    flags.add_argument("--dmarc-report", metavar="ADDR", help="address for DMARC reports")
    flags.add_argument(
        "--hostname", metavar="FQDN", help="the host's name (default: main.cf myhostname)"
    )
    flags.add_argument(
        "--rsa-bits", type=int, default=2048, help="RSA key size (2048; 1024 warned)"
    )
    flags.add_argument("--ed25519", action="store_true", help="also an ed25519 key")
    flags.add_argument(
        "--socket",
        choices=("unix", "inet"),
        default="unix",
        help="unix: sockets in Postfix's queue directory; inet: loopback TCP ports",
    )
    flags.add_argument(
        "--resolver-configuration",
        metavar="FILE",
        help="unbound.conf for OpenDKIM's ResolverConfiguration",
    )


_FLAG_NAMES = ("domain", "dmarc_report", "hostname", "resolver_configuration")


def setup_from_args(args: argparse.Namespace) -> Setup:
    """The :class:`~mailconf.setup.spec.Setup` the arguments describe (validated)."""
    from mailconf.setup.spec import Setup

    if args.config is not None:
        used = [f"--{n.replace('_', '-')}" for n in _FLAG_NAMES if getattr(args, n) is not None]
        if args.ip:
            used.append("--ip")
        if used:
            raise UsageError(f"--config cannot be combined with {', '.join(used)}")
        return Setup.from_toml(args.config)
    if args.domain is None:
        raise UsageError("give --config FILE, or --domain and --ip")
    if not args.ip:
        raise UsageError("--ip is required with --domain (the server's address for SPF)")
    return Setup.from_flags(
        domain=args.domain,
        ip=args.ip,
        selector=args.selector,
        dmarc_policy=args.dmarc_policy,
        dmarc_report=args.dmarc_report,
        hostname=args.hostname,
        rsa_bits=args.rsa_bits,
        ed25519=args.ed25519,
        socket_style=args.socket,
        resolver_configuration=args.resolver_configuration,
    )


def root_from_args(args: argparse.Namespace) -> SystemRoot:
    """The system tree ``--root`` names, else the live system."""
    from mailconf.system.root import SystemRoot

    return SystemRoot.live() if args.root is None else SystemRoot(args.root)


class Result(Protocol):
    """What a spec command shows: a plan, an apply's outcome."""

    def to_json(self) -> object: ...

    def render(self) -> str: ...


def write_result(result: Result, as_json: bool) -> None:
    """``result`` on stdout: its JSON (``--json``), else its text for people."""
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(result.render())
