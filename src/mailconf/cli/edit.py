"""The ``edit`` command: its options, the check of its result, and each kind's editor.

Split from :mod:`mailconf.cli.files` (the read commands), whose ``file_arguments`` and ``load``
it shares, so a module stays small and the read commands do not carry the edit options.  Like
them it imports the file's model and nothing heavier (tests/cli/test_lazy_imports.py).

Each option calls the model's method of the same name with the same options (``--add-milter
opendkim --root R`` is ``add_milter("opendkim", root=R)``), so the CLI and a Python caller
cannot disagree.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, cast

from mailconf.cli.common import directory, examples
from mailconf.cli.files import file_arguments, load
from mailconf.errors import EXIT_OK, MailconfError, UsageError

if TYPE_CHECKING:
    from mailconf.findings import Finding
    from mailconf.milter.conf import MilterConf
    from mailconf.milter.shellvars import ShellVars
    from mailconf.milter.tables import HostList, KeyTable, SigningTable
    from mailconf.postfix.main import MainCf
    from mailconf.postfix.master import MasterCf
    from mailconf.syntax.document import Document


# -------------------------------------------------------------------------------------------- edit
def _edit_parser(edit: argparse.ArgumentParser) -> None:
    file_arguments(edit)
    add = edit.add_argument
    add("--set", action="append", default=[], metavar="NAME=VALUE", help="set a parameter/option")
    add("--unset", action="append", default=[], metavar="NAME", help="remove a parameter/option")
    add(
        "--add-milter",
        action="append",
        default=[],
        metavar="M",
        help="main.cf: add a milter (opendkim, opendmarc, or a socket spec) to smtpd_milters "
        "(and non_smtpd_milters: $smtpd_milters unless set otherwise)",
    )
    add(
        "--remove-milter",
        action="append",
        default=[],
        metavar="M",
        help="main.cf: remove the milter connecting to M's socket from both lists",
    )
    add(
        "--add-restriction",
        nargs=2,
        metavar=("LIST", "ITEM"),
        help="main.cf: insert ITEM into the restriction list LIST (with --last or --after)",
    )
    position = edit.add_mutually_exclusive_group()
    position.add_argument("--last", action="store_true", help="with --add-restriction: at the end")
    position.add_argument("--after", metavar="ITEM", help="with --add-restriction: after ITEM")
    add(
        "--add-service",
        action="append",
        default=[],
        metavar="LINE",
        help="master.cf: add or update a service from a master.cf line",
    )
    add(
        "--add-entry",
        action="append",
        default=[],
        metavar="'KEY VALUE'",
        help="KeyTable/SigningTable: add a row",
    )
    add("--remove-entry", action="append", default=[], metavar="KEY")
    add("--add-host", action="append", default=[], metavar="HOST", help="host list: add a host")
    add("--remove-host", action="append", default=[], metavar="HOST")
    _master_edit_arguments(edit)
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


def _edit(args: argparse.Namespace) -> int:
    doc = load(args)
    before = doc.dump()
    editor = _editor(doc)
    given = [option for option in _EDIT_OPTIONS if vars(args)[option]]
    for option in given:
        if option not in editor.options:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} does not apply to a {doc.kind} file")
    if args.add_restriction and not (args.last or args.after):
        raise UsageError("--add-restriction needs --last or --after ITEM")
    if (args.last or args.after) and not args.add_restriction:
        raise UsageError(f"{'--last' if args.last else '--after'} goes with --add-restriction")
    if not given:
        flags = ", ".join("--" + option.replace("_", "-") for option in sorted(editor.options))
        raise UsageError(f"nothing to do: give an edit ({flags})")
    findings_before = doc.lint(args.root)
    editor.apply(args)
    after = doc.dump()
    if after != before:
        _check_result(doc, findings_before, args)
    if args.diff:
        from mailconf.diff import labels, unified_diff

        sys.stdout.write(unified_diff(before, after, *labels(args.file)))
    elif after != before:
        try:
            doc.save()
        except OSError as error:
            raise MailconfError.from_os_error(args.file, error, "write it") from None
    return EXIT_OK


def _check_result(doc: Document, findings_before: list[Finding], args: argparse.Namespace) -> None:
    """What ``lint`` says of the edited file that it did not say before: printed on stderr; an
    error refuses the edit (EditError, exit 1, nothing written) unless ``--force``.  The models'
    own methods refuse the same errors for a Python caller (they call the same checks); this
    is the net under every other check lint makes."""
    from collections import Counter

    from mailconf.errors import EditError
    from mailconf.findings import Severity

    seen = Counter((f.code, f.message) for f in findings_before)
    new = []
    for finding in doc.lint(args.root):
        if seen[(finding.code, finding.message)]:
            seen[(finding.code, finding.message)] -= 1
        else:
            new.append(finding)
    for finding in new:
        sys.stderr.write(finding.render() + "\n")
    errors = [finding for finding in new if finding.severity is Severity.ERROR]
    if errors and not args.force:
        raise EditError(
            f"{args.file}: not changed: lint would report {len(errors)} error(s) in the result "
            "(above); --force writes it anyway"
        )


#: The options of ``edit`` that change the file, each named as the method it calls.
_EDIT_OPTIONS = (
    "set",
    "unset",
    "add_milter",
    "remove_milter",
    "add_restriction",
    "add_service",
    "add_entry",
    "remove_entry",
    "add_host",
    "remove_host",
    *("remove_service", "set_field", "set_option", "unset_option"),
)


class _Editor(NamedTuple):
    """The ``edit`` options a kind of file takes, and what applies them to the document."""

    options: frozenset[str]
    apply: Callable[[argparse.Namespace], None]


def _editor(doc: Document) -> _Editor:
    """The editor of ``doc``'s model: its methods called with the command line's options.  Each
    model is imported just before its test, so an edit imports the models up to its own (the
    file's model is loaded already) and main.cf, the common case, none other."""
    from mailconf.postfix.main import MainCf

    if isinstance(doc, MainCf):
        return _Editor(_MAIN_OPTIONS, functools.partial(_edit_main, doc))
    from mailconf.milter.conf import MilterConf
    from mailconf.milter.shellvars import ShellVars

    if isinstance(doc, (MilterConf, ShellVars)):
        return _Editor(_SET_OPTIONS, functools.partial(_set_and_unset, doc))
    from mailconf.postfix.master import MasterCf

    if isinstance(doc, MasterCf):
        return _Editor(_MASTER_OPTIONS, functools.partial(_edit_master, doc))
    from mailconf.milter.tables import HostList, KeyTable, SigningTable

    if isinstance(doc, (KeyTable, SigningTable)):
        return _Editor(
            frozenset({"add_entry", "remove_entry"}), functools.partial(_edit_table, doc)
        )
    if isinstance(doc, HostList):
        return _Editor(frozenset({"add_host", "remove_host"}), functools.partial(_edit_hosts, doc))
    return _Editor(frozenset(), lambda args: None)


_SET_OPTIONS = frozenset({"set", "unset"})
_MAIN_OPTIONS = _SET_OPTIONS | {"add_milter", "remove_milter", "add_restriction"}


def _set_and_unset(doc: MainCf | MilterConf | ShellVars, args: argparse.Namespace) -> None:
    for assignment in args.set:
        name, equals, value = assignment.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"--set needs NAME=VALUE, got {assignment!r}")
        if doc.kind in ("opendkim", "opendmarc"):  # the model refuses what lint calls an error
            cast("MilterConf", doc).set(name.strip(), value.strip(), force=args.force)
        else:
            doc.set(name.strip(), value.strip())
    for name in args.unset:
        doc.unset(name)


def _edit_main(doc: MainCf, args: argparse.Namespace) -> None:
    _set_and_unset(doc, args)
    for milter in args.add_milter:
        doc.add_milter(milter, root=args.root)
    for milter in args.remove_milter:
        doc.remove_milter(milter, root=args.root)
    if args.add_restriction:
        list_name, item = args.add_restriction
        doc.add_restriction(list_name, item, after=args.after, last=args.last)


def _edit_master(doc: MasterCf, args: argparse.Namespace) -> None:
    for line in args.add_service:
        doc.add_service(line)
    _postconf_master_edits(doc, args)


# ------------------------------------------------------------- master.cf edits as postconf's
_MASTER_OPTIONS = frozenset(
    {"add_service", "remove_service", "set_field", "set_option", "unset_option"}
)


def _master_edit_arguments(edit: argparse.ArgumentParser) -> None:
    """master.cf's edits named as postconf's options (-MX, -F, -P, -PX) do them."""
    add = edit.add_argument
    add("--remove-service", action="append", default=[], metavar="NAME/TYPE", help="postconf -MX")
    add(
        "--set-field",
        action="append",
        default=[],
        metavar="NAME/TYPE/FIELD=VALUE",
        help="master.cf: set a field (postconf -F; FIELD as postconf names it)",
    )
    add(
        "--set-option",
        action="append",
        default=[],
        metavar="NAME/TYPE/PARAM=VALUE",
        help="master.cf: set a -o override (postconf -P)",
    )
    add(
        "--unset-option",
        action="append",
        default=[],
        metavar="NAME/TYPE/PARAM",
        help="master.cf: remove a -o override (postconf -PX)",
    )


def _postconf_master_edits(doc: MasterCf, args: argparse.Namespace) -> None:
    for text in args.set_field:
        name, type_, field, value = _service_path(text, "--set-field", "NAME/TYPE/FIELD=VALUE")
        doc.set_field(name, type_, field, value)
    for text in args.set_option:
        name, type_, param, value = _service_path(text, "--set-option", "NAME/TYPE/PARAM=VALUE")
        doc.set_option(name, type_, param, value)
    for text in args.unset_option:
        name, type_, param, _ = _service_path(text, "--unset-option", "NAME/TYPE/PARAM")
        doc.unset_option(name, type_, param)
    for text in args.remove_service:
        name, type_, _, _ = _service_path(text, "--remove-service", "NAME/TYPE")
        doc.remove_service(name, type_)


def _service_path(text: str, flag: str, form: str) -> tuple[str, str, str, str]:
    """``NAME/TYPE[/PART][=VALUE]`` in the form ``form`` says, else a usage error."""
    key, equals, value = text.partition("=")
    parts = key.split("/")
    wants_value = form.endswith("=VALUE")
    if len(parts) != form.count("/") + 1 or not all(parts) or bool(equals) != wants_value:
        raise UsageError(f"{flag} needs {form}, got {text!r}")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else "", value


def _edit_table(doc: KeyTable | SigningTable, args: argparse.Namespace) -> None:
    for row in args.add_entry:
        key, _, value = row.strip().partition(" ")
        doc.add_entry(key, value.strip(), force=args.force)
    for key in args.remove_entry:
        doc.remove_entry(key)


def _edit_hosts(doc: HostList, args: argparse.Namespace) -> None:
    for host in args.add_host:
        doc.add_host(host, force=args.force)
    for host in args.remove_host:
        doc.remove_host(host)


#: The command this module defines, by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"edit": _edit_parser}
