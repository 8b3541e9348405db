"""The ``edit`` command: its options, built from the catalogue of edits, and its output.

Split from :mod:`mailconf.cli.files` (the read commands), whose ``file_arguments`` it shares, so
a module stays small and the read commands do not carry the edit options.  Like them it imports
the file's model and nothing heavier (tests/cli/test_lazy_imports.py).

The operations, what each applies to and how they are applied and checked are
:mod:`mailconf.edits`'s, which the Ansible module ``mailconf.mailconf.edit`` uses too: an option
here is an operation there (``--add-milter opendkim --root R`` is ``add_milter("opendkim",
root=R)``), so the command line, a playbook and a Python caller cannot disagree.  What is left
here is the command line's own: the options' spelling, the usage errors, the diff and the write.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailconf import edits
from mailconf.cli.common import directory, examples
from mailconf.cli.files import file_arguments
from mailconf.errors import EXIT_OK, EditError, MailconfError, UsageError

if TYPE_CHECKING:
    from mailconf.findings import Finding


# -------------------------------------------------------------------------------------------- edit
def _edit_parser(edit: argparse.ArgumentParser) -> None:
    file_arguments(edit)
    for op in edits.OPERATIONS:
        _edit_option(edit, op)
    add = edit.add_argument
    add(
        "--root",
        default="/",
        type=directory,
        help="where to find opendkim.conf/opendmarc.conf for --add-milter",
    )
    add("--diff", action="store_true", help="print a unified diff and write nothing")
    add(
        "--force",
        action="store_true",
        help="write even when lint would call the result an error (the error is still printed)",
    )
    examples(
        edit,
        "mailconf edit /etc/postfix/main.cf --add-milter opendkim --add-milter opendmarc --diff",
        "mailconf edit /etc/postfix/main.cf --add-restriction smtpd_recipient_restrictions \\\n"
        "      'check_policy_service unix:private/policyd-spf' --last",
        "mailconf edit /etc/opendkim.conf --set Mode=sv --unset SubDomains",
    )
    edit.set_defaults(handler=_edit)


def _edit_option(edit: argparse.ArgumentParser, op: edits.Operation) -> None:
    """``op`` as an option: repeated with one word each, or (a restriction) LIST ITEM with its
    place, ``--last`` or ``--after ITEM``."""
    if op.shape is not edits.Shape.RESTRICTION:
        edit.add_argument(
            _flag(op.name), action="append", default=[], metavar=op.metavar, help=op.help
        )
        return
    edit.add_argument(_flag(op.name), nargs=2, metavar=op.metavar, help=op.help)
    position = edit.add_mutually_exclusive_group()
    position.add_argument("--last", action="store_true", help=f"with {_flag(op.name)}: at the end")
    position.add_argument("--after", metavar="ITEM", help=f"with {_flag(op.name)}: after ITEM")


def _flag(name: str) -> str:
    """An operation's option: ``add_milter`` is ``--add-milter``."""
    return "--" + name.replace("_", "-")


def _edit(args: argparse.Namespace) -> int:
    doc = edits.load(args.file, args.kind, args.root)
    given = [op.name for op in edits.OPERATIONS if vars(args)[op.name]]
    edits.check_kind(doc.kind, given, _flag)
    if args.add_restriction and not (args.last or args.after):
        raise UsageError("--add-restriction needs --last or --after ITEM")
    if (args.last or args.after) and not args.add_restriction:
        raise UsageError(f"{'--last' if args.last else '--after'} goes with --add-restriction")
    if not given:
        names = sorted(op.name for op in edits.operations_for(doc.kind))
        raise UsageError(f"nothing to do: give an edit ({', '.join(map(_flag, names))})")
    try:
        result = edits.apply(doc, _calls(args), root=args.root, force=args.force)
    except edits.LintRefusal as refusal:
        _print_findings(refusal.findings)
        raise EditError(f"{args.file}: {refusal} (above); --force writes it anyway") from None
    _print_findings(result.findings)
    if args.diff:
        from mailconf.diff import labels, unified_diff

        sys.stdout.write(unified_diff(result.before, result.after, *labels(args.file)))
    elif result.changed:
        try:
            doc.save()
        except OSError as error:
            raise MailconfError.from_os_error(args.file, error, "write it") from None
    return EXIT_OK


def _calls(args: argparse.Namespace) -> list[edits.Call]:
    """The edits the options ask for, each option's words in the order given."""
    calls = []
    for op in edits.OPERATIONS:
        if op.shape is edits.Shape.RESTRICTION:
            if args.add_restriction:
                list_name, item = args.add_restriction
                calls.append(edits.restriction(list_name, item, after=args.after, last=args.last))
            continue
        calls.extend(edits.from_word(op, word, _flag) for word in vars(args)[op.name])
    return calls


def _print_findings(findings: tuple[Finding, ...]) -> None:
    """What lint says of the result that it did not say of the file: on stderr, every time."""
    for finding in findings:
        sys.stderr.write(finding.render() + "\n")


#: The command this module defines, by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"edit": _edit_parser}
