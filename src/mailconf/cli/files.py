"""The read commands: show, fmt, get, lint and lookup, each on one configuration file.

FILE's kind comes from its name (``--kind`` overrides).  This module is imported only when one of
these commands runs, and it imports the file's model and nothing heavier: no doctor, planner,
dnspython or cryptography, which a one-line answer does not need (tests/cli/test_lazy_imports.py
holds it to that).

Every command is a call of the document's public API, so the CLI and a Python caller cannot
disagree: ``show``, ``get`` and ``lint`` use the protocol every kind implements
(:class:`~mailconf.syntax.document.Document`).  ``edit`` is in :mod:`mailconf.cli.edit`, which
shares :func:`file_arguments`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailconf.cli.common import command, directory, examples, fail
from mailconf.errors import EXIT_FAILED, EXIT_OK, MailconfError, UsageError

if TYPE_CHECKING:
    from mailconf.postfix.main import MainCf
    from mailconf.syntax.document import Document


def file_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE and ``--kind``: the arguments every file command takes."""
    from mailconf.syntax.kinds import KINDS

    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--kind", choices=KINDS, help="file kind (default: from the file name)")


def load(args: argparse.Namespace) -> Document:
    """The document FILE holds, as its kind's model, with its ``Include``s under ``--root``
    (:func:`mailconf.edits.load`, which ``edit`` reads it with too)."""
    from mailconf.edits import load as load_document

    return load_document(args.file, args.kind, getattr(args, "root", "/"))


# -------------------------------------------------------------------------------------------- show
def _show_parser(show: argparse.ArgumentParser) -> None:
    file_arguments(show)
    show.add_argument("--json", action="store_true", help="as JSON (typed values)")
    command(
        show,
        "Print what the daemon reads from FILE, one setting per line as the file writes it\n"
        "(comments, continuations and layout left out); --json for programs.",
        _show,
        "mailconf show /etc/postfix/main.cf",
        "mailconf show /etc/opendkim/key.table --json",
    )


def _show(args: argparse.Namespace) -> int:
    from mailconf.errors import printable

    doc = load(args)
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
    file_arguments(fmt)
    fmt.add_argument(
        "--check",
        action="store_true",
        help="write nothing: print the diff and exit 1 when FILE is not formatted",
    )
    command(
        fmt,
        "Align the values of opendkim.conf, opendmarc.conf, KeyTable and SigningTable in one\n"
        "column (only the blanks the daemon skips change). Other kinds are only checked to parse.",
        _fmt,
        "mailconf fmt /etc/opendkim.conf",
        "mailconf fmt --check /etc/opendmarc.conf",
    )


def _fmt(args: argparse.Namespace) -> int:
    doc = load(args)
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
    file_arguments(get)
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
    command(
        get,
        "Print each NAME's value as the daemon sees it. For main.cf, as postconf answers:\n"
        "the value the file sets, else the built-in default of the Postfix that reads it; an\n"
        "unknown name is warned about (with a close known name). For master.cf, NAME is\n"
        "SERVICE/TYPE (the entry), SERVICE/TYPE/FIELD (a field as postconf -F names it) or\n"
        "SERVICE/TYPE/PARAMETER (a -o override, postconf -P).",
        _get,
        "mailconf get /etc/postfix/main.cf queue_directory    # the default when unset",
        "mailconf get -x /etc/postfix/main.cf smtpd_banner     # $names expanded",
        "mailconf get /etc/postfix/master.cf smtp/inet/chroot",
    )


def _get(args: argparse.Namespace) -> int:
    doc = load(args)
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
    file_arguments(lint)
    lint.add_argument(
        "--root", default="/", type=directory, help="system root for file checks (default /)"
    )
    lint.add_argument("--json", action="store_true", help="the findings as JSON")
    command(
        lint,
        "Report what the daemon would refuse or do wrong. A main.cf is linted together with\n"
        "the master.cf beside it.",
        _lint,
        "mailconf lint /etc/opendkim.conf",
        "mailconf lint /etc/postfix/main.cf --json",
    )


def _lint(args: argparse.Namespace) -> int:
    from mailconf.findings import has_errors

    findings = load(args).lint(args.root)
    if args.json:
        _print_json([finding.to_json() for finding in findings])
    else:
        for finding in findings:
            print(finding.render())
    return EXIT_FAILED if has_errors(findings) else EXIT_OK


# ------------------------------------------------------------------------------------------ lookup
def _lookup_parser(lookup: argparse.ArgumentParser) -> None:
    file_arguments(lookup)
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

    doc = load(args)
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
}
