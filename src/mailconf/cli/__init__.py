"""The ``mailconf`` command: the table of commands, the parser, and the exit status.

Every failure a user can cause ends as one line on stderr and a documented exit status, never a
traceback.  The status is decided here, in :func:`main`, from the class of the exception (see
:mod:`mailconf.errors`): 0 success, 1 a refused edit, a failed apply or an error finding, 2 the
command line, an argument, or an input file that cannot be read or parsed; 70 an internal error.

Each command lives in a module of this package (:data:`COMMANDS` says which) that is imported only
when that command runs: ``mailconf get`` is a one-line answer and must not pay for the doctor, the
planner, dnspython or cryptography.  The help lines are in the table, so ``mailconf --help`` lists
every command without importing any of them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from typing import NamedTuple, NoReturn

from mailconf import _version
from mailconf.cli.common import fail
from mailconf.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    MailconfError,
    UsageError,
)


class Command(NamedTuple):
    """Where a command is defined and the line ``mailconf --help`` shows for it."""

    #: The module of this package that defines the command in its ``PARSERS``.
    module: str
    help: str


COMMANDS: dict[str, Command] = {
    "show": Command("files", "print the parsed structure of a file"),
    "fmt": Command("files", "align a file's values in one column (--check: only report)"),
    "get": Command("files", "print a parameter/option value as the daemon sees it"),
    "lint": Command("files", "report what the daemon would refuse or do wrong"),
    "lookup": Command("files", "answer a table lookup the way OpenDKIM does"),
    "edit": Command(
        "edit", "change a file, touching only the lines the change needs (atomic write)"
    ),
    "plan": Command(
        "setup", "show what the SPF + DKIM + DMARC setup would change (diffs and steps)"
    ),
    "apply": Command(
        "setup",
        "perform the SPF + DKIM + DMARC setup (atomic, backed up, validated, rolled back)",
    ),
    "dns": Command("doctor", "print the SPF, DKIM and DMARC TXT records to publish"),
    "check": Command("doctor", "the doctor: lint, cross-file wiring, keys, DNS and sender rules"),
    "dkim": Command("dkim", "the DKIM key's life: status, rotate (stage), activate, retire"),
    "dmarc": Command("dmarc", "read DMARC aggregate reports and advise the next policy step"),
    "completion": Command("completion", "print the shell completion script for bash or zsh"),
}

_DESCRIPTION = (
    "Configure Postfix, OpenDKIM and OpenDMARC for SPF, DKIM and DMARC, reading and editing their "
    "files the way the daemons read them, without losing a byte of what the administrator wrote."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mailconf: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    named = _named_command(arguments)
    # When the command comes first the top-level parser prints nothing (no --help, no error about
    # the command), so the other commands need no parser: argparse's gettext lookups make
    # building ten of them cost more than importing this package.
    first = named is not None and arguments[0] == named
    parser = build_parser([named] if named else [], list_all=not first)
    args, unknown = parser.parse_known_args(arguments)
    # Unknown options are reported by the subcommand's parser, so the hint names its --help.
    command: argparse.ArgumentParser = getattr(args, "command_parser", parser)
    if unknown:
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        result: int = args.handler(args)
        return result
    except MailconfError as error:
        hint = f" (see {command.prog} --help)" if isinstance(error, UsageError) else ""
        fail(f"{error}{hint}")
        return error.exit_status
    except BrokenPipeError:  # `mailconf show ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:
        # A file that could not be read or examined: what writes (edit, apply) is wrapped
        # where it writes, into an error of exit status 1.
        fail(f"{error.filename or ''}{': ' if error.filename else ''}{error.strerror or error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug of ours: still no traceback, but a report
        fail(f"internal error: {type(error).__name__}: {error} (please report this)")
        return EXIT_INTERNAL


def _named_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names, if any: the first argument that is not an option, since the
    only options before the command (--help, --version) take no value."""
    for argument in argv:
        if not argument.startswith("-"):
            return argument if argument in COMMANDS else None
    return None


def build_parser(
    defined: Iterable[str] | None = None, *, list_all: bool = True
) -> argparse.ArgumentParser:
    """The command line.  The commands in ``defined`` (all when None) get their options and
    handler, which imports their modules; with ``list_all`` every other command is a choice too,
    listed with its help line, as ``mailconf --help`` and an unknown command's error show them."""
    parser = _Parser(
        prog="mailconf",
        description=_DESCRIPTION,
        epilog="Run 'mailconf COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"mailconf {_version.__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    wanted = set(COMMANDS if defined is None else defined)
    for name, entry in COMMANDS.items():
        if not (list_all or name in wanted):
            continue
        command = commands.add_parser(
            name,
            help=entry.help,
            description=entry.help[:1].upper() + entry.help[1:] + ".",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.set_defaults(command_parser=command)
        if name in wanted:
            module = importlib.import_module(f"mailconf.cli.{entry.module}")
            module.PARSERS[name](command)
    return parser
