"""``mailconf plan`` and ``mailconf apply``: the declarative setup on the command line.

:data:`PARSERS` gives each command's parser its options.  A handler returns 0 or raises: the
CLI's main loop turns the exception into one line and the exit status of its class.  The spec
options, shared with ``dns`` and ``check`` (:mod:`mailconf.cli.doctor`), are
:mod:`mailconf.cli.spec_args`.

``apply`` shows what ``plan`` shows (steps, diffs, warnings) before it does anything, and asks
for confirmation when stdin is a terminal: an admin sees what is about to change, while a script
or CI without a terminal runs unchanged (``--yes`` skips the question everywhere).  Both first
ask the real daemons about the planned files, as an apply does before its first write, so
``plan`` exits 1 on what would make ``apply`` fail (:mod:`mailconf.setup.validation`).  ``apply``
shows the plan its own apply made and validated under the lock (``review`` of
:func:`mailconf.setup.apply.perform`): the files are checked once, and what is confirmed is what
is performed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailconf.cli.common import fail, progress_printer
from mailconf.cli.spec_args import root_from_args, setup_from_args, spec_command, write_result
from mailconf.errors import EXIT_FAILED, EXIT_OK, MailconfError

if TYPE_CHECKING:
    from mailconf.setup.apply import ApplyResult
    from mailconf.setup.plan import Plan

#: ``plan --detailed-exitcode``'s status when changes are pending (Terraform's convention).
EXIT_CHANGES = 2


def _plan_parser(plan: argparse.ArgumentParser) -> None:
    spec_command(
        plan,
        "Show what the SPF + DKIM + DMARC setup would change: every file change as a unified\n"
        "diff and every action in order, and what would make apply fail. Nothing is written.",
        run_plan,
        "mailconf plan          # the spec ./mailconf.toml, else /etc/mailconf/mailconf.toml",
        "mailconf plan --domain example.com --ip 192.0.2.10 --ip 2001:db8::10",
        "mailconf plan --config mailconf.toml --detailed-exitcode",
    )
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there is nothing to do, 2 when changes are pending, 1 on an error",
    )
    _stage_only(plan)


def _apply_parser(apply: argparse.ArgumentParser) -> None:
    spec_command(
        apply,
        "Show the plan (as `mailconf plan` does), ask for confirmation when run on a terminal,\n"
        "then apply it: lock, back up, write atomically, validate with the real tools, restore\n"
        "every file on failure, restart only what changed.",
        run_apply,
        "mailconf apply --domain example.com --ip 192.0.2.10",
        "mailconf apply --config mailconf.toml --yes --quiet",
    )
    apply.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print only the warnings and the summary (no plan, no progress lines)",
    )
    apply.add_argument(
        "--yes", "-y", action="store_true", help="do not ask for confirmation on a terminal"
    )
    _stage_only(apply)


def _stage_only(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage-only",
        action="store_true",
        help="a domain's first key is staged, not signing, until mailconf dkim activate "
        "finds it in DNS",
    )


def run_plan(args: argparse.Namespace) -> int:
    from mailconf.setup.validation import checked_plan

    try:
        setup = setup_from_args(args)
        plan = checked_plan(setup, root_from_args(args), stage_only=args.stage_only)
    except MailconfError as error:
        if not args.detailed_exitcode:
            raise
        fail(str(error))  # 2 means "changes pending" here: every error is 1
        return EXIT_FAILED
    write_result(plan, args.json)
    if _has_errors(plan):
        return EXIT_FAILED  # what apply would stop on
    if args.detailed_exitcode and not plan.empty:
        return EXIT_CHANGES
    return EXIT_OK


def _has_errors(plan: Plan) -> bool:
    from mailconf.findings import has_errors

    return has_errors(list(plan.notes))


class _Declined(Exception):
    """The admin did not confirm: the apply stops, nothing done."""


def run_apply(args: argparse.Namespace) -> int:
    from mailconf.setup.apply import ApplyError, apply

    def review(plan: Plan) -> None:
        if not args.json:
            if args.quiet:
                sys.stdout.write("".join(note.render() + "\n" for note in plan.notes))
            else:
                sys.stdout.write(plan.render())
        asks = not args.yes and not args.json and sys.stdin.isatty()
        # An empty plan has nothing to confirm, a plan with errors is refused: no question.
        if asks and not plan.empty and not _has_errors(plan) and not _confirmed():
            raise _Declined

    setup = setup_from_args(args)
    try:
        result = apply(
            setup,
            root_from_args(args),
            stage_only=args.stage_only,
            progress=progress_printer(args),
            review=review,
        )
    except _Declined:
        fail("nothing applied")
        return EXIT_FAILED
    except ApplyError as exc:
        _write_outcome(args, exc.result)
        raise MailconfError(f"apply failed: {exc.reason}") from None
    if result.plan.empty and not args.json:
        if args.quiet:  # the summary, which plan.render() gave otherwise
            sys.stdout.write(f"nothing to do: {result.plan.root} already matches the setup\n")
        return EXIT_OK
    _write_outcome(args, result)
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


def _write_outcome(args: argparse.Namespace, result: ApplyResult) -> None:
    if args.quiet and not args.json:
        sys.stdout.write(result.summary() + "\n")
    else:
        write_result(result, args.json)


#: The commands this module defines, each by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "plan": _plan_parser,
    "apply": _apply_parser,
}
