"""The file commands: show, fmt, get, lint, lookup and edit, each on one configuration file.

FILE's kind comes from its name (``--kind`` overrides).  This module is imported only when one of
these commands runs, and it imports the file's model and nothing heavier: no doctor, planner,
dnspython or cryptography, which a one-line answer does not need (tests/cli/test_lazy_imports.py
holds it to that).  The one exception is ``edit --add-milter opendkim``, which finds the daemon's
socket the way the doctor does, and imports the doctor's view of the system for that alone.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from mailconf.cli.common import directory, examples, fail
from mailconf.errors import EXIT_FAILED, EXIT_OK, EditError, MailconfError, UsageError


def _file_arguments(parser: argparse.ArgumentParser) -> None:
    from mailconf.syntax.kinds import KINDS

    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--kind", choices=KINDS, help="file kind (default: from the file name)")


def _load(args: argparse.Namespace) -> Any:
    import mailconf

    return mailconf.load(args.file, kind=args.kind)


# -------------------------------------------------------------------------------------------- show
def _show_parser(show: argparse.ArgumentParser) -> None:
    _file_arguments(show)
    show.add_argument("--json", action="store_true", help="as JSON (the default)")
    examples(
        show,
        "mailconf show /etc/postfix/main.cf --json     # parameters as Postfix sees them",
        "mailconf show /etc/opendkim/key.table",
    )
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    doc = _load(args)
    _print_json(doc.to_json())
    return EXIT_OK


# --------------------------------------------------------------------------------------------- fmt
def _fmt_parser(fmt: argparse.ArgumentParser) -> None:
    _file_arguments(fmt)
    fmt.add_argument("--check", action="store_true", required=True, help="only check (required)")
    examples(fmt, "mailconf fmt --check /etc/opendmarc.conf")
    fmt.set_defaults(handler=_fmt)


def _fmt(args: argparse.Namespace) -> int:
    _load(args)
    return EXIT_OK


# --------------------------------------------------------------------------------------------- get
def _get_parser(get: argparse.ArgumentParser) -> None:
    _file_arguments(get)
    get.add_argument("name", metavar="NAME")
    examples(
        get,
        "mailconf get /etc/postfix/main.cf smtpd_milters",
        "mailconf get /etc/opendkim.conf Socket",
    )
    get.set_defaults(handler=_get)


def _get(args: argparse.Namespace) -> int:
    doc = _load(args)
    value = _method(doc, "get", "get")(args.name)
    if value is None:
        fail(f"{args.file}: {args.name} is not set")
        return EXIT_FAILED
    print(value)
    return EXIT_OK


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

    findings = lint_document(_load(args), args.root)
    if args.json:
        _print_json([finding.to_json() for finding in findings])
    else:
        for finding in findings:
            print(finding.render())
    return EXIT_FAILED if has_errors(findings) else EXIT_OK


def lint_document(doc: Any, root: str = "/") -> list[Any]:
    """The findings of one file; main.cf is linted together with the master.cf beside it."""
    import mailconf

    findings: list[Any] = []
    if doc.kind == "postfix-main":
        master = None
        if doc.path:
            sibling = os.path.join(os.path.dirname(doc.path), "master.cf")
            if os.path.exists(sibling):
                master = mailconf.load(sibling, kind="postfix-master")
        findings += doc.lint(master, root)
    elif doc.kind in ("opendkim", "opendmarc"):
        findings += doc.validate()
        findings += doc.lint(root)
    elif doc.kind == "postfix-master":
        findings += doc.lint(root)
    elif hasattr(doc, "lint"):
        findings += doc.lint()
    return [_with_path(finding, doc.path) for finding in findings]


def _with_path(finding: Any, path: str | None) -> Any:
    import attrs

    return finding if finding.path is not None or path is None else attrs.evolve(finding, path=path)


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
    doc = _load(args)
    if doc.kind == "hostlist":
        matched = doc.match(args.key)
        print("match" if matched else "no match")
        return EXIT_OK if matched else EXIT_FAILED
    if doc.kind == "signingtable":
        answer = doc.lookup(args.key, regex=(args.spec or "refile") == "refile")
    elif doc.kind == "keytable":
        answer = doc.lookup(args.key)
    else:
        raise UsageError(
            f"lookup works on keytable, signingtable and hostlist files, not {doc.kind}"
        )
    if answer is None:
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
        help="main.cf: add a milter (opendkim, opendmarc, or a socket spec) to smtpd_milters",
    )
    add("--remove-milter", action="append", default=[], metavar="M")
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
    add(
        "--root",
        default="/",
        type=directory,
        help="where to find opendkim.conf/opendmarc.conf for --add-milter",
    )
    add("--diff", action="store_true", help="print a unified diff and write nothing")
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
    for assignment in args.set:
        name, equals, value = assignment.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"--set needs NAME=VALUE, got {assignment!r}")
        _method(doc, "set", "--set")(name.strip(), value.strip())
    for name in args.unset:
        _method(doc, "unset", "--unset")(name)
    for milter in args.add_milter:
        _method(doc, "add_milter", "--add-milter")(resolve_milter(milter, doc, args.root))
    for milter in args.remove_milter:
        _method(doc, "remove_milter", "--remove-milter")(resolve_milter(milter, doc, args.root))
    if args.add_restriction:
        if not (args.last or args.after):
            raise UsageError("--add-restriction needs --last or --after ITEM")
        list_name, item = args.add_restriction
        _method(doc, "add_restriction", "--add-restriction")(list_name, item, after=args.after)
    for line in args.add_service:
        _method(doc, "add_service", "--add-service")(line)
    for row in args.add_entry:
        key, _, value = row.strip().partition(" ")
        _method(doc, "add_entry", "--add-entry")(key, value.strip())
    for key in args.remove_entry:
        _method(doc, "remove_entry", "--remove-entry")(key)
    for host in args.add_host:
        _method(doc, "add_host", "--add-host")(host)
    for host in args.remove_host:
        _method(doc, "remove_host", "--remove-host")(host)
    after = doc.dump()
    if args.diff:
        from mailconf.diff import unified_diff

        sys.stdout.write(unified_diff(before, after, f"a/{args.file}", f"b/{args.file}"))
    elif after != before:
        try:
            doc.save()
        except OSError as error:
            raise MailconfError.from_os_error(args.file, error, "write it") from None
    return EXIT_OK


def _method(doc: Any, name: str, option: str) -> Callable[..., Any]:
    method = getattr(doc, name, None)
    if method is None:
        raise UsageError(f"{option} does not apply to a {doc.kind} file")
    return method  # type: ignore[no-any-return]


def resolve_milter(milter: str, main_cf: Any, root: str) -> str:
    """``opendkim``/``opendmarc`` -> the local daemon's socket as Postfix must name it.

    The socket is found the way the doctor finds it (the conf's Socket, else /etc/default's
    SOCKET, as Debian's init scripts do), so `edit --add-milter` and `check` cannot disagree.
    Only this operation imports the doctor's view of the system.
    """
    if milter not in ("opendkim", "opendmarc"):
        return milter
    from mailconf.doctor.system_view import SystemView
    from mailconf.postfix import main as maincf
    from mailconf.system.root import SystemRoot

    socket = SystemView(SystemRoot(root)).milter_socket(milter)
    if socket is None:
        raise EditError(
            f"no Socket for {milter} under {root} (/etc/{milter}.conf, /etc/default/{milter}); "
            "give the milter as a socket spec instead"
        )
    queue_directory = main_cf.get("queue_directory") or "/var/spool/postfix"
    return maincf.milter_socket_for_postfix(socket, queue_directory)


def _print_json(value: Any) -> None:
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
