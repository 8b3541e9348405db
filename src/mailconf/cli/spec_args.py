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

from mailconf.cli.common import command, system_root_argument
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
    spec_arguments(parser)
    command(parser, description, handler, *command_lines)


def spec_arguments(parser: argparse.ArgumentParser) -> None:
    """The spec options shared by plan, apply, dns and check (``--config`` or the flags)."""
    system_root_argument(parser, "packages and restarts")
    parser.add_argument("--config", metavar="FILE", help="mailconf.toml with the whole setup")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    flags = parser.add_argument_group("one-domain setup (instead of --config)")
    flags.add_argument("--domain", help="mail domain, e.g. hogehoge.com")
    flags.add_argument(
        "--ip", action="append", default=[], help="server address (IPv4 or IPv6; repeatable)"
    )
    flags.add_argument(
        "--selector", help="DKIM selector (default: the configured one, else default)"
    )
    flags.add_argument(
        "--dmarc-policy",
        choices=("none", "quarantine", "reject"),
        help="DMARC policy to publish (default: none; check compares it only when given)",
    )
    flags.add_argument("--dmarc-report", metavar="ADDR", help="address for DMARC reports")
    flags.add_argument(
        "--hostname", metavar="FQDN", help="the host's name (default: main.cf myhostname)"
    )
    flags.add_argument("--rsa-bits", type=int, help="RSA key size (2048; 1024 warned)")
    flags.add_argument("--ed25519", action="store_true", help="also an ed25519 key")
    flags.add_argument(
        "--socket",
        choices=("unix", "inet"),
        help="unix (the default): sockets in Postfix's queue directory; inet: loopback TCP ports",
    )
    flags.add_argument(
        "--resolver-configuration",
        metavar="FILE",
        help="unbound.conf for OpenDKIM's ResolverConfiguration",
    )


_FLAG_NAMES = (
    "domain",
    "selector",
    "dmarc_policy",
    "dmarc_report",
    "hostname",
    "rsa_bits",
    "socket",
    "resolver_configuration",
)


def _flags_used(args: argparse.Namespace) -> list[str]:
    """The one-domain flags given on the command line, as the user spelled them."""
    used = [f"--{n.replace('_', '-')}" for n in _FLAG_NAMES if getattr(args, n) is not None]
    used += [flag for flag, given in (("--ip", args.ip), ("--ed25519", args.ed25519)) if given]
    return used


#: Where a spec is looked for when neither --config nor --domain is given, in this order
#: (the second under --root when one is given).
SPEC_PLACES = ("mailconf.toml", "/etc/mailconf/mailconf.toml")


def setup_from_args(args: argparse.Namespace) -> Setup:
    """The :class:`~mailconf.setup.spec.Setup` the arguments describe (validated).  Without
    ``--config`` and ``--domain``, the first of :data:`SPEC_PLACES` that exists, said on stderr."""
    from mailconf.setup.spec import Setup

    used = _flags_used(args)
    spec_file = args.config
    if spec_file is None and args.domain is None and not args.ip:
        spec_file = _discover_spec(args.root)
        if spec_file is not None:
            sys.stderr.write(f"mailconf: using the spec {spec_file}\n")
    if spec_file is not None:
        # A flag beside a spec file would hold for this run only: the next run without it
        # would undo it (a DMARC policy loosened again, say), so the spec file is the one place.
        if used:
            raise UsageError(
                f"the spec {spec_file} cannot be combined with {', '.join(used)}: "
                "change it in the spec file, or give --domain and --ip without one"
            )
        return Setup.from_toml(spec_file)
    if args.domain is None:
        raise UsageError(
            "no ./mailconf.toml or /etc/mailconf/mailconf.toml: give --config FILE, "
            "or --domain and --ip"
        )
    if not args.ip:
        raise UsageError("--ip is required with --domain (the server's address for SPF)")
    return Setup.from_flags(
        domain=args.domain,
        ip=args.ip,
        selector=args.selector,
        dmarc_policy=args.dmarc_policy or "none",
        dmarc_report=args.dmarc_report,
        hostname=args.hostname,
        rsa_bits=2048 if args.rsa_bits is None else args.rsa_bits,
        ed25519=args.ed25519,
        socket_style=args.socket or "unix",
        resolver_configuration=args.resolver_configuration,
    )


def _discover_spec(root: str | None) -> str | None:
    """The first spec of :data:`SPEC_PLACES` present.  mailconf runs as root: a spec someone
    else could have written (another owner, group- or world-writable, or in a directory others
    may write to, such as /tmp) is refused rather than read."""
    import os
    import stat

    local, system = SPEC_PLACES
    candidates = [local, os.path.join(root, system.lstrip("/")) if root else system]
    for candidate in candidates:
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        shown = "./" + candidate if candidate == local else candidate
        directory = os.stat(os.path.dirname(os.path.abspath(candidate)))
        if (
            info.st_uid not in (0, os.geteuid())
            or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            or directory.st_mode & stat.S_IWOTH
        ):
            raise UsageError(
                f"{shown}: not used, another user may have written it (owner, mode or its "
                "directory); give it with --config if it is yours"
            )
        return shown
    return None


def adopted_setup(setup: Setup, root: SystemRoot) -> Setup:
    """``setup`` with the keys the server already signs with adopted, for the commands that
    report rather than refuse (``dns``, ``check``): a selector the spec leaves out is the
    configured one, a differing one stays for the doctor to report.  A file that cannot be read
    or parsed leaves the spec as it is: the doctor reports that file itself."""
    from mailconf.errors import MailconfError
    from mailconf.setup.adopt import adopt_setup
    from mailconf.setup.existing import read_existing

    try:
        return adopt_setup(setup, read_existing(root), root, strict=False)[0]
    except (MailconfError, OSError):
        return setup


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
