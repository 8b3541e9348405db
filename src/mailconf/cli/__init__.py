"""The ``mailconf`` command.

Every failure a user can cause ends as one line on stderr and a documented exit status, never a
traceback.  The status is decided here, in :func:`main`, from the class of the exception (see
:mod:`mailconf.errors`): 0 success, 1 a refused edit, a failed apply or an error finding, 2 the
command line, an argument, or an input file that cannot be read or parsed; 70 an internal error.
Heavy modules are imported inside the commands that need them so ``mailconf fmt`` stays quick.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from mailconf import _version
from mailconf.errors import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    EditError,
    MailconfError,
    UsageError,
    printable,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mailconf: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
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
        _fail(f"{error}{hint}")
        return error.exit_status
    except BrokenPipeError:  # `mailconf show ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:
        # A file that could not be read or examined: what writes (edit, apply) is wrapped
        # where it writes, into an error of exit status 1.
        _fail(f"{error.filename or ''}{': ' if error.filename else ''}{error.strerror or error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug of ours: still no traceback, but a report
        _fail(f"internal error: {type(error).__name__}: {error} (please report this)")
        return EXIT_INTERNAL


def _fail(message: str) -> None:
    sys.stderr.write(f"mailconf: {printable(message)}\n")


def directory(text: str) -> str:
    """The argparse type of ``--root``: an existing directory, so a typo is a usage error (2)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(
            f"{text}: {'not a directory' if os.path.lexists(text) else 'no such directory'}"
        )
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mailconf", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"mailconf {_version.__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for register in _COMMANDS:
        register(commands)
    for command in commands.choices.values():
        command.set_defaults(command_parser=command)
    return parser


# ---------------------------------------------------------------------------------- file commands
def _file_arguments(parser: argparse.ArgumentParser) -> None:
    from mailconf.syntax.kinds import KINDS

    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--kind", choices=KINDS, help="file kind (default: from the file name)")


def _load(args: argparse.Namespace) -> Any:
    import mailconf

    return mailconf.load(args.file, kind=args.kind)


def _register_show(commands: Any) -> None:
    show = commands.add_parser("show", help="print the parsed structure of a file")
    _file_arguments(show)
    show.add_argument("--json", action="store_true", help="as JSON (the default)")
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    doc = _load(args)
    _print_json(doc.to_json())
    return EXIT_OK


def _register_fmt(commands: Any) -> None:
    fmt = commands.add_parser("fmt", help="check that a file parses (it is never reformatted)")
    _file_arguments(fmt)
    fmt.add_argument("--check", action="store_true", required=True, help="only check (required)")
    fmt.set_defaults(handler=_fmt)


def _fmt(args: argparse.Namespace) -> int:
    _load(args)
    return EXIT_OK


def _register_get(commands: Any) -> None:
    get = commands.add_parser("get", help="print a parameter/option value as the daemon sees it")
    _file_arguments(get)
    get.add_argument("name", metavar="NAME")
    get.set_defaults(handler=_get)


def _get(args: argparse.Namespace) -> int:
    doc = _load(args)
    value = _method(doc, "get", "get")(args.name)
    if value is None:
        _fail(f"{args.file}: {args.name} is not set")
        return EXIT_FAILED
    print(value)
    return EXIT_OK


def _register_lint(commands: Any) -> None:
    lint = commands.add_parser("lint", help="report what the daemon would refuse or do wrong")
    _file_arguments(lint)
    lint.add_argument(
        "--root", default="/", type=directory, help="system root for file checks (default /)"
    )
    lint.add_argument("--json", action="store_true")
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
        findings += doc.lint(master)
    elif doc.kind in ("opendkim", "opendmarc"):
        findings += doc.validate()
        findings += doc.lint(root)
    elif hasattr(doc, "lint"):
        findings += doc.lint()
    return [_with_path(finding, doc.path) for finding in findings]


def _with_path(finding: Any, path: str | None) -> Any:
    import attrs

    return finding if finding.path is not None or path is None else attrs.evolve(finding, path=path)


def _register_lookup(commands: Any) -> None:
    lookup = commands.add_parser("lookup", help="answer a table lookup the way OpenDKIM does")
    _file_arguments(lookup)
    lookup.add_argument("key", metavar="KEY")
    lookup.add_argument(
        "--spec",
        choices=("file", "refile"),
        help="how the daemon names the table: file: or refile: (default: refile for a "
        "SigningTable, as the walkthrough configures it; file otherwise)",
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


def _register_edit(commands: Any) -> None:
    edit = commands.add_parser(
        "edit", help="change a file, touching only the lines the change needs (atomic write)"
    )
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
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _register_setup(commands: Any) -> None:
    from mailconf.cli.doctor import register as register_checks
    from mailconf.cli.setup import register as register_setup

    register_setup(commands)
    register_checks(commands)


_COMMANDS = [
    _register_show,
    _register_fmt,
    _register_get,
    _register_lint,
    _register_lookup,
    _register_edit,
    _register_setup,
]

if __name__ == "__main__":
    sys.exit(main())
