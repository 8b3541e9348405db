"""``mailconf plan`` and ``mailconf apply``: the declarative setup on the command line.

:data:`PARSERS` gives each command's parser its options.  A handler returns 0 or raises: the
CLI's main loop turns the exception into one line and the exit status of its class.  The spec
options are shared with ``dns`` and ``check`` (:mod:`mailconf.cli.doctor`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from mailconf.cli.common import directory, examples
from mailconf.errors import EXIT_OK, MailconfError, UsageError


def _plan_parser(plan: argparse.ArgumentParser) -> None:
    plan.description = (
        "Show what the SPF + DKIM + DMARC setup would change: every file change as a unified\n"
        "diff and every action in order. Nothing is written."
    )
    spec_arguments(plan)
    _stage_only(plan)
    examples(
        plan,
        "mailconf plan --domain example.com --ip 192.0.2.10",
        "mailconf plan --config mailconf.toml --json",
        "mailconf plan --domain example.com --ip 192.0.2.10 --ip 2001:db8::10 --ed25519",
    )
    plan.set_defaults(handler=run_plan)


def _apply_parser(apply: argparse.ArgumentParser) -> None:
    apply.description = (
        "Apply the plan: lock, back up, write atomically, validate with the real tools, restore\n"
        "every file on failure, restart only what changed."
    )
    spec_arguments(apply)
    _stage_only(apply)
    apply.add_argument(
        "--quiet", "-q", action="store_true", help="no progress lines, even on a terminal"
    )
    examples(
        apply,
        "mailconf apply --domain example.com --ip 192.0.2.10",
        "mailconf apply --config mailconf.toml --quiet",
    )
    apply.set_defaults(handler=run_apply)


def _stage_only(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage-only",
        action="store_true",
        help="a domain's first key is staged, not signing, until mailconf dkim activate "
        "finds it in DNS",
    )


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


_FLAG_NAMES = (
    "domain",
    "selector",
    "dmarc_policy",
    "dmarc_report",
    "hostname",
    "resolver_configuration",
)


def setup_from_args(args: argparse.Namespace) -> Any:
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
        dmarc_policy=args.dmarc_policy or "none",
        dmarc_report=args.dmarc_report,
        hostname=args.hostname,
        rsa_bits=args.rsa_bits,
        ed25519=args.ed25519,
        socket_style=args.socket,
        resolver_configuration=args.resolver_configuration,
    )


def adopted_setup(setup: Any, root: Any) -> Any:
    """``setup`` with the keys the server already signs with adopted, for the commands that
    report rather than refuse (``dns``, ``check``): a selector the spec leaves out is the
    configured one, a differing one stays for the doctor to report.  A file that cannot be read
    or parsed leaves the spec as it is: the doctor reports that file itself."""
    from mailconf.setup.adopt import adopt_setup
    from mailconf.setup.existing import read_existing

    try:
        return adopt_setup(setup, read_existing(root), root, strict=False)[0]
    except (MailconfError, OSError):
        return setup


def root_from_args(args: argparse.Namespace) -> Any:
    from mailconf.system.root import SystemRoot

    return SystemRoot.live() if args.root is None else SystemRoot(args.root)


def run_plan(args: argparse.Namespace) -> int:
    from mailconf.setup.planner import make_plan

    setup = setup_from_args(args)
    plan = make_plan(setup, root_from_args(args), stage_only=args.stage_only)
    if args.json:
        sys.stdout.write(json.dumps(plan.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(plan.render())
    return EXIT_OK


def run_apply(args: argparse.Namespace) -> int:
    from mailconf.setup.apply import ApplyError, apply

    setup = setup_from_args(args)
    root = root_from_args(args)
    show_progress = not args.quiet and not args.json and sys.stderr.isatty()

    def progress(line: str) -> None:
        if show_progress:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    try:
        result = apply(setup, root, progress=progress, stage_only=args.stage_only)
    except ApplyError as exc:
        if args.json:
            sys.stdout.write(json.dumps(exc.result.to_json(), indent=2) + "\n")
        else:
            sys.stdout.write(exc.result.render())
        raise MailconfError(f"apply failed: {exc.reason}") from None
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(result.render())
    return EXIT_OK


#: The commands this module defines, each by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "plan": _plan_parser,
    "apply": _apply_parser,
}
