"""``mailconf plan`` and ``mailconf apply``: the declarative setup on the command line.

:data:`PARSERS` gives each command's parser its options.  A handler returns 0 or raises: the
CLI's main loop turns the exception into one line and the exit status of its class.  The spec
options, shared with ``dns`` and ``check`` (:mod:`mailconf.cli.doctor`), are
:mod:`mailconf.cli.spec_args`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from mailconf.cli.spec_args import root_from_args, setup_from_args, spec_command, write_result
from mailconf.errors import EXIT_OK, MailconfError


def _plan_parser(plan: argparse.ArgumentParser) -> None:
    spec_command(
        plan,
        "Show what the SPF + DKIM + DMARC setup would change: every file change as a unified\n"
        "diff and every action in order. Nothing is written.",
        run_plan,
        "mailconf plan --domain example.com --ip 192.0.2.10",
        "mailconf plan --config mailconf.toml --json",
        "mailconf plan --domain example.com --ip 192.0.2.10 --ip 2001:db8::10 --ed25519",
    )


def _apply_parser(apply: argparse.ArgumentParser) -> None:
    spec_command(
        apply,
        "Apply the plan: lock, back up, write atomically, validate with the real tools, restore\n"
        "every file on failure, restart only what changed.",
        run_apply,
        "mailconf apply --domain example.com --ip 192.0.2.10",
        "mailconf apply --config mailconf.toml --quiet",
    )
    apply.add_argument(
        "--quiet", "-q", action="store_true", help="no progress lines, even on a terminal"
    )


def run_plan(args: argparse.Namespace) -> int:
    from mailconf.setup.planner import make_plan

    setup = setup_from_args(args)
    write_result(make_plan(setup, root_from_args(args)), args.json)
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
        result = apply(setup, root, progress=progress)
    except ApplyError as exc:
        write_result(exc.result, args.json)
        raise MailconfError(f"apply failed: {exc.reason}") from None
    write_result(result, args.json)
    return EXIT_OK


#: The commands this module defines, each by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "plan": _plan_parser,
    "apply": _apply_parser,
}
