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

from mailconf.cli.common import directory, examples, fail
from mailconf.errors import EXIT_FAILED, EXIT_OK, MailconfError, UsageError


def _plan_parser(plan: argparse.ArgumentParser) -> None:
    plan.description = (
        "Show what the SPF + DKIM + DMARC setup would change: every file change as a unified\n"
        "diff and every action in order. Nothing is written."
    )
    spec_arguments(plan)
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there is nothing to do, 2 when changes are pending, 1 on an error",
    )
    examples(
        plan,
        "mailconf plan          # the spec ./mailconf.toml, else /etc/mailconf/mailconf.toml",
        "mailconf plan --domain example.com --ip 192.0.2.10 --ip 2001:db8::10",
        "mailconf plan --config mailconf.toml --detailed-exitcode",
    )
    plan.set_defaults(handler=run_plan)


def _apply_parser(apply: argparse.ArgumentParser) -> None:
    apply.description = (
        "Show the plan (as `mailconf plan` does), ask for confirmation when run on a terminal,\n"
        "then apply it: lock, back up, write atomically, validate with the real tools, restore\n"
        "every file on failure, restart only what changed."
    )
    spec_arguments(apply)
    apply.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print only the warnings and the summary (no plan, no progress lines)",
    )
    apply.add_argument(
        "--yes", "-y", action="store_true", help="do not ask for confirmation on a terminal"
    )
    examples(
        apply,
        "mailconf apply --domain example.com --ip 192.0.2.10",
        "mailconf apply --config mailconf.toml --yes --quiet",
    )
    apply.set_defaults(handler=run_apply)


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


#: Where a spec is looked for when neither --config nor --domain is given, in this order
#: (the second under --root when one is given).
SPEC_PLACES = ("mailconf.toml", "/etc/mailconf/mailconf.toml")


def setup_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~mailconf.setup.spec.Setup` the arguments describe (validated).  Without
    ``--config`` and ``--domain``, the first of :data:`SPEC_PLACES` that exists, said on stderr."""
    from mailconf.setup.spec import Setup

    if args.config is None and args.domain is None and not args.ip:
        found = _discover_spec(args.root)
        if found is not None:
            sys.stderr.write(f"mailconf: using the spec {found}\n")
            return Setup.from_toml(found)
    if args.config is not None:
        used = [f"--{n.replace('_', '-')}" for n in _FLAG_NAMES if getattr(args, n) is not None]
        if args.ip:
            used.append("--ip")
        if used:
            raise UsageError(f"--config cannot be combined with {', '.join(used)}")
        return Setup.from_toml(args.config)
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
        dmarc_policy=args.dmarc_policy,
        dmarc_report=args.dmarc_report,
        hostname=args.hostname,
        rsa_bits=args.rsa_bits,
        ed25519=args.ed25519,
        socket_style=args.socket,
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
        others = stat.S_IWGRP | stat.S_IWOTH
        if (
            info.st_uid not in (0, os.geteuid())
            or info.st_mode & others
            or directory.st_mode & stat.S_IWOTH
        ):
            raise UsageError(
                f"{shown}: not used, another user may have written it (owner, mode or its "
                "directory); give it with --config if it is yours"
            )
        return shown
    return None


def root_from_args(args: argparse.Namespace) -> Any:
    from mailconf.system.root import SystemRoot

    return SystemRoot.live() if args.root is None else SystemRoot(args.root)


def run_plan(args: argparse.Namespace) -> int:
    from mailconf.setup.planner import make_plan

    try:
        setup = setup_from_args(args)
        plan = make_plan(setup, root_from_args(args))
    except MailconfError as error:
        if not args.detailed_exitcode:
            raise
        fail(str(error))  # 2 means "changes pending" here: every error is 1
        return EXIT_FAILED
    if args.json:
        sys.stdout.write(json.dumps(plan.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(plan.render())
    if any(note.severity.value == "error" for note in plan.notes):
        return EXIT_FAILED  # what apply would stop on
    if args.detailed_exitcode and not plan.empty:
        return EXIT_CHANGES
    return EXIT_OK


#: ``plan --detailed-exitcode``'s status when changes are pending (Terraform's convention).
EXIT_CHANGES = 2


def run_apply(args: argparse.Namespace) -> int:
    from mailconf.setup.apply import ApplyError, apply_plan
    from mailconf.setup.planner import make_plan

    setup = setup_from_args(args)
    plan = make_plan(setup, root_from_args(args))
    if not args.json:
        if args.quiet:
            sys.stdout.write("".join(note.render() + "\n" for note in plan.notes))
        else:
            sys.stdout.write(plan.render())
    if plan.empty and not args.json:
        if args.quiet:  # the summary, which plan.render() gave otherwise
            sys.stdout.write(f"nothing to do: {plan.root} already matches the setup\n")
        return EXIT_OK
    if not args.yes and not args.json and sys.stdin.isatty() and not _confirmed():
        fail("nothing applied")
        return EXIT_FAILED
    show_progress = not args.quiet and not args.json and sys.stderr.isatty()

    def progress(line: str) -> None:
        if show_progress:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    try:
        result = apply_plan(plan, progress=progress)
    except ApplyError as exc:
        _print_result(args, exc.result)
        raise MailconfError(f"apply failed: {exc.reason}") from None
    _print_result(args, result)
    return EXIT_OK


def _confirmed() -> bool:
    """The answer to "apply?" on the terminal: only y or yes applies."""
    sys.stdout.write("\napply these changes? [y/N] ")
    sys.stdout.flush()
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def _print_result(args: argparse.Namespace, result: Any) -> None:
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    elif args.quiet:
        sys.stdout.write(result.summary() + "\n")
    else:
        sys.stdout.write(result.render())


#: The commands this module defines, each by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "plan": _plan_parser,
    "apply": _apply_parser,
}
