"""What more than one command module needs: the one-line error, the ``--root`` type, examples.

Kept to the standard library, since :mod:`mailconf.cli` imports it for every command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from mailconf.errors import printable


def fail(message: str) -> None:
    """Say what went wrong in one line on stderr, as every error of the command is said."""
    sys.stderr.write(f"mailconf: {printable(message)}\n")


def progress_printer(args: argparse.Namespace) -> Callable[[str], None]:
    """Where ``apply`` and the ``dkim`` commands report each step as it runs: stderr, when it is
    a terminal and neither ``--quiet`` nor ``--json`` was given (scripts get the result only)."""
    shown = not args.quiet and not args.json and sys.stderr.isatty()

    def progress(line: str) -> None:
        if shown:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    return progress


def directory(text: str) -> str:
    """The argparse type of ``--root``: an existing directory, so a typo is a usage error (2)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(
            f"{text}: {'not a directory' if os.path.lexists(text) else 'no such directory'}"
        )
    return text


def seconds(text: str) -> float:
    """The argparse type of ``--dns-timeout``: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def examples(parser: argparse.ArgumentParser, *command_lines: str) -> None:
    """Show ``command_lines`` under "examples:" at the end of the command's ``--help``.

    A long example is continued with `` \\`` and an indented next line, as in a shell; every
    example must parse (tests/cli/test_help.py runs them through the parser).
    """
    parser.epilog = "examples:\n" + "".join(f"  {line}\n" for line in command_lines)


def command(
    parser: argparse.ArgumentParser,
    description: str,
    handler: Callable[[argparse.Namespace], int],
    *command_lines: str,
) -> None:
    """Give ``parser`` what every command has besides its options: the description of its
    ``--help``, the examples under it (:func:`examples`) and the function that runs it."""
    parser.description = description
    examples(parser, *command_lines)
    parser.set_defaults(handler=handler)


def system_root_argument(parser: argparse.ArgumentParser, reported: str) -> None:
    """``--root DIR`` of the commands that change a system: they work on the tree under DIR, and
    what would act on this machine instead (``reported``: restarts, packages) is only reported."""
    parser.add_argument(
        "--root",
        metavar="DIR",
        type=directory,
        help=f"work on the system tree under DIR ({reported} are reported, not run)",
    )
