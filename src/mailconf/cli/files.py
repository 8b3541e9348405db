"""The file commands: show, fmt, get, lint, lookup and edit, each on one configuration file.

FILE's kind comes from its name (``--kind`` overrides).  This module is imported only when one of
these commands runs, and it imports the file's model and nothing heavier: no doctor, planner,
dnspython or cryptography, which a one-line answer does not need (tests/cli/test_lazy_imports.py
holds it to that).

Every command is a call of the document's public API, so the CLI and a Python caller cannot
disagree: ``show``, ``get`` and ``lint`` use the protocol every kind implements
(:class:`~mailconf.syntax.document.Document`), and each ``edit`` option calls the model's method
of the same name with the same options (``--add-milter opendkim --root R`` is
``add_milter("opendkim", root=R)``).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, cast

from mailconf.cli.common import directory, examples, fail
from mailconf.errors import EXIT_FAILED, EXIT_OK, MailconfError, UsageError

if TYPE_CHECKING:
    from mailconf.findings import Finding
    from mailconf.milter.conf import MilterConf
    from mailconf.milter.shellvars import ShellVars
    from mailconf.milter.tables import HostList, KeyTable, SigningTable
    from mailconf.postfix.main import MainCf
    from mailconf.postfix.master import MasterCf
    from mailconf.syntax.document import Document


def _file_arguments(parser: argparse.ArgumentParser) -> None:
    from mailconf.syntax.kinds import KINDS

    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--kind", choices=KINDS, help="file kind (default: from the file name)")


def _load(args: argparse.Namespace) -> Document:
    from mailconf.syntax.kinds import load_file

    doc = load_file(args.file, args.kind)
    _read_includes(doc, getattr(args, "root", "/"))
    return doc


def _read_includes(doc: Document, root: str) -> None:
    """An OpenDKIM file's ``Include``s are read under ``root`` (``--root``, else ``/``), so
    ``get`` and ``show`` answer what ``opendkim -e`` answers."""
    if doc.kind == "opendkim":  # by kind: other files' commands import no milter model
        from mailconf.milter.conf import MilterConf

        assert isinstance(doc, MilterConf)
        doc.include_root = root


# -------------------------------------------------------------------------------------------- show
def _show_parser(show: argparse.ArgumentParser) -> None:
    _file_arguments(show)
    show.add_argument("--json", action="store_true", help="as JSON (typed values)")
    show.description = (
        "Print what the daemon reads from FILE, one setting per line as the file writes it\n"
        "(comments, continuations and layout left out); --json for programs."
    )
    examples(
        show,
        "mailconf show /etc/postfix/main.cf",
        "mailconf show /etc/opendkim/key.table --json",
    )
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    from mailconf.errors import printable

    doc = _load(args)
    if args.json:
        _print_json(doc.to_json())
    else:
        sys.stdout.write("".join(printable(line) + "\n" for line in _human(doc)))
    return EXIT_OK


def _human(doc: Document) -> list[str]:
    """``doc`` as an admin reads it: main.cf as ``postconf -n`` prints it (``name = value``),
    master.cf as ``postconf -M`` (one service a line), a milter's options as ``Name value``
    with the value as written (``UMask 022``, not 18), ``NAME=value``, table rows and hosts."""
    data = doc.to_json()
    if "services" in data:
        from mailconf.postfix.master import DEFAULT_COLUMNS, MasterCf

        assert isinstance(doc, MasterCf)
        lines = []
        for service in doc.services:
            line = ""
            for column, field in zip(DEFAULT_COLUMNS, service.fields, strict=False):
                line += " " * max(column - len(line), 1 if line else 0) + field
            lines.append(" ".join([line, *service.fields[len(DEFAULT_COLUMNS) :]]))
        return lines
    separator = {"parameters": " = ", "options": " ", "variables": "="}
    for section, between in separator.items():
        if section in data:
            names = data[section]
            assert isinstance(names, dict)
            order = sorted(names) if section == "parameters" else names  # postconf -n sorts
            return [f"{name}{between}{doc.get(name)}" for name in order]
    if "entries" in data:
        rows = data["entries"]
        assert isinstance(rows, list)
        return [f"{key} {value}".rstrip() for key, value in rows]
    hosts = data.get("hosts", [])
    assert isinstance(hosts, list)
    return [str(host) for host in hosts]


# --------------------------------------------------------------------------------------------- fmt
def _fmt_parser(fmt: argparse.ArgumentParser) -> None:
    _file_arguments(fmt)
    fmt.add_argument(
        "--check",
        action="store_true",
        help="write nothing: print the diff and exit 1 when FILE is not formatted",
    )
    fmt.description = (
        "Align the values of opendkim.conf, opendmarc.conf, KeyTable and SigningTable in one\n"
        "column (only the blanks the daemon skips change). Other kinds are only checked to parse."
    )
    examples(fmt, "mailconf fmt /etc/opendkim.conf", "mailconf fmt --check /etc/opendmarc.conf")
    fmt.set_defaults(handler=_fmt)


def _fmt(args: argparse.Namespace) -> int:
    doc = _load(args)
    if doc.kind not in ("opendkim", "opendmarc", "keytable", "signingtable"):
        return EXIT_OK  # parsed, which is all fmt checks for the other kinds
    from mailconf.milter.fmt import formatted

    before = doc.dump()
    after = formatted(doc)
    if after == before:
        return EXIT_OK
    if args.check:
        from mailconf.diff import labels, unified_diff

        sys.stdout.write(unified_diff(before, after, *labels(args.file)))
        return EXIT_FAILED
    try:
        type(doc).parse(after, doc.path).save()
    except OSError as error:
        raise MailconfError.from_os_error(args.file, error, "write it") from None
    return EXIT_OK


# --------------------------------------------------------------------------------------------- get
def _get_parser(get: argparse.ArgumentParser) -> None:
    _file_arguments(get)
    get.add_argument("names", metavar="NAME", nargs="+")
    mode = get.add_mutually_exclusive_group()
    mode.add_argument(
        "-d", "--defaults", action="store_true", help="main.cf: the built-in default (postconf -d)"
    )
    mode.add_argument(
        "-n",
        "--no-defaults",
        action="store_true",
        help="main.cf: only a value the file sets (postconf -n)",
    )
    get.add_argument(
        "-x", "--expand", action="store_true", help="main.cf: expand $name (postconf -x)"
    )
    get.add_argument(
        "--root",
        default="/",
        type=directory,
        help="the system the file belongs to (default /): whose Postfix's names and defaults "
        "count for main.cf, where opendkim.conf's Include paths are read",
    )
    get.description = (
        "Print each NAME's value as the daemon sees it. For main.cf, as postconf answers:\n"
        "the value the file sets, else the built-in default of the Postfix that reads it; an\n"
        "unknown name is warned about (with a close known name). For master.cf, NAME is\n"
        "SERVICE/TYPE (the entry), SERVICE/TYPE/FIELD (a field as postconf -F names it) or\n"
        "SERVICE/TYPE/PARAMETER (a -o override, postconf -P)."
    )
    examples(
        get,
        "mailconf get /etc/postfix/main.cf queue_directory    # the default when unset",
        "mailconf get -x /etc/postfix/main.cf smtpd_banner     # $names expanded",
        "mailconf get /etc/postfix/master.cf smtp/inet/chroot",
    )
    get.set_defaults(handler=_get)


def _get(args: argparse.Namespace) -> int:
    doc = _load(args)
    from mailconf.postfix.main import MainCf

    if isinstance(doc, MainCf):
        return _get_main(doc, args)
    if args.defaults or args.no_defaults or args.expand:
        raise UsageError(f"--defaults, --no-defaults and --expand are for main.cf, not {doc.kind}")
    status = EXIT_OK
    for name in args.names:
        value = doc.get(name)
        if value is None:
            fail(f"{args.file}: {name} is not set")
            status = EXIT_FAILED
        else:
            print(value)
    return status


def _get_main(doc: MainCf, args: argparse.Namespace) -> int:
    """postconf's answers (:mod:`mailconf.postfix.postconf`), one value per line."""
    if not args.defaults and not args.expand and _set_builtins(doc, args.names):
        for name in args.names:  # what postconf prints for them: the file's values
            print(doc.get(name))
        return EXIT_OK
    from mailconf.postfix.postconf import Mode, Postconf, sibling_master

    mode = Mode.DEFAULTS if args.defaults else Mode.NO_DEFAULTS if args.no_defaults else None
    view = Postconf(doc, sibling_master(doc), args.root)
    status = EXIT_OK
    for name in args.names:
        answer = view.answer(name, mode or Mode.EFFECTIVE, expanded=args.expand)
        if answer.warning:
            fail(f"warning: {args.file}: {answer.warning}")
        if answer.value is None:
            if answer.known:
                fail(f"{args.file}: {name} is not set")
            status = EXIT_FAILED
        else:
            print(answer.value)
    return status


def _set_builtins(doc: MainCf, names: list[str]) -> bool:
    """Whether main.cf sets every name and each is a built-in of every supported Postfix: then
    the answer is the file's value whatever Postfix reads it (the common ``get``, answered
    without running ``postconf -d``)."""
    from mailconf.postfix.params import builtin_everywhere

    builtins = builtin_everywhere()
    return all(name in builtins and doc.get(name) is not None for name in names)


# -------------------------------------------------------------------------------------------- lint
def _lint_parser(lint: argparse.ArgumentParser) -> None:
    _file_arguments(lint)
    lint.add_argument(
        "--root", default="/", type=directory, help="system root for file checks (default /)"
    )
    lint.add_argument("--json", action="store_true")
    lint.description = (
        "Report what the daemon would refuse or do wrong. A main.cf is linted together with\n"
        "the master.cf beside it."
    )
    examples(
        lint,
        "mailconf lint /etc/opendkim.conf",
        "mailconf lint /etc/postfix/main.cf --json",
    )
    lint.set_defaults(handler=_lint)


def _lint(args: argparse.Namespace) -> int:
    from mailconf.findings import has_errors

    findings = _load(args).lint(args.root)
    if args.json:
        _print_json([finding.to_json() for finding in findings])
    else:
        for finding in findings:
            print(finding.render())
    return EXIT_FAILED if has_errors(findings) else EXIT_OK


# ------------------------------------------------------------------------------------------ lookup
def _lookup_parser(lookup: argparse.ArgumentParser) -> None:
    _file_arguments(lookup)
    lookup.add_argument("key", metavar="KEY")
    lookup.add_argument(
        "--spec",
        choices=("file", "refile"),
        help="how the daemon names the table: file: or refile: (default: refile for a "
        "SigningTable, as the walkthrough configures it; file otherwise)",
    )
    examples(
        lookup,
        "mailconf lookup /etc/opendkim/signing.table user@example.com",
        "mailconf lookup /etc/opendkim/key.table default._domainkey.example.com",
        "mailconf lookup /etc/opendkim/trusted.hosts 127.0.0.1",
    )
    lookup.set_defaults(handler=_lookup)


def _lookup(args: argparse.Namespace) -> int:
    from mailconf.milter.tables import HostList, KeyTable, SigningTable

    doc = _load(args)
    if isinstance(doc, HostList):
        matched = doc.match(args.key)
        print("match" if matched else "no match")
        return EXIT_OK if matched else EXIT_FAILED
    if isinstance(doc, SigningTable):
        answer = doc.lookup(args.key, regex=(args.spec or "refile") == "refile")
    elif isinstance(doc, KeyTable):
        answer = doc.lookup(args.key)
    else:
        raise UsageError(
            f"lookup works on keytable, signingtable and hostlist files, not {doc.kind}"
        )
    if answer is None:
        print("no match")  # as for a host list: one answer whatever the kind
        return EXIT_FAILED
    print(answer)
    return EXIT_OK


# -------------------------------------------------------------------------------------------- edit
def _edit_parser(edit: argparse.ArgumentParser) -> None:
    _file_arguments(edit)
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
    doc = _load(args)
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


def _print_json(value: object) -> None:
    import json

    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


#: The commands this module defines, each by the function that gives its parser its options.
PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "show": _show_parser,
    "fmt": _fmt_parser,
    "get": _get_parser,
    "lint": _lint_parser,
    "lookup": _lookup_parser,
    "edit": _edit_parser,
}
