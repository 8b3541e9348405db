"""The model fuzzer shared by the property tests (tests/syntax/test_model_properties.py) and the
long run (benchmarks/fuzz.py): generated inputs of every kind, and one function per kind that
drives the parsed document through every accessor, lint, explain_line and edits.

The contract it checks is the CLI's: whatever the input, mailconf answers or raises
:class:`~mailconf.errors.MailconfError` (ParseError, EditError, ValidationError); anything else
is an internal error (the CLI's exit 70).  After an edit that succeeded, the document must dump
to text that parses again as the same kind and round-trips: an edit never writes a file that
mailconf itself (and so the daemon) would refuse.
"""

from __future__ import annotations

import contextlib
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mailconf
from mailconf import fileio
from mailconf.errors import MailconfError
from mailconf.milter.host_lint import lint_hostlist
from mailconf.milter.table_lint import lint_signingtable
from mailconf.postfix.lint import lint_main
from mailconf.syntax.kinds import KINDS
from support import CORPUS, corpus_files

# The characters that have a meaning somewhere (or that the daemons treat specially): C isspace,
# NUL, comment and assignment marks, braces, quotes, a backslash, data-set and socket punctuation,
# a non-ASCII letter and two surrogate escapes (bytes that are not UTF-8).
HARD_CHARS = " \t\r\n\v\f\x00#={}'\"\\$:,/!*.@[]%-o?xA0é\udc80\udcff"
_LINE_NOISE = ["\r\n", "\r", "\n\n", "\x00", "\v", "\f", " \t", "#", "\udcff", "é" * 3]

# Names the accessors are asked about besides the ones the file sets.
_PROBE_NAMES = {
    "postfix-main": ["myhostname", "smtpd_milters", "smtpd_recipient_restrictions", "x"],
    "opendkim": ["Socket", "KeyTable", "SigningTable", "Mode", "Include", "InternalHosts"],
    "opendmarc": ["Socket", "IgnoreHosts", "RejectString", "AuthservID"],
    "shellvars": ["SOCKET", "RUNDIR", "USER"],
}


# ---------------------------------------------------------------------------- inputs
def corpus_texts(kind: str) -> list[str]:
    """The shared corpus files of ``kind`` (shellvars has none: a small built-in set), as the
    lossless text mailconf reads."""
    texts = [fileio.read_text(path) for path in corpus_files(kind)]
    if kind == "shellvars":
        texts = [
            'SOCKET="local:/run/opendkim/opendkim.sock"\nRUNDIR=/run/opendkim\n',
            "# comment\nexport USER='opendkim'\nPIDFILE=$RUNDIR/$NAME.pid\nEXTRAAFTER=\n",
            'DAEMON_OPTS="-x /etc/opendkim.conf \\\n  -v"\nSOCKET=inet:8891@localhost # x\n',
            'if true; then\n  SOCKET=x\nfi\nUSER="a\'b"\\"c\n',
        ]
    return texts


def mutate(text: str, rng: random.Random) -> str:
    """``text`` with one to four random edits: characters inserted, replaced or deleted, a line
    duplicated, dropped, swapped, indented or cut, CRLF endings, a very long line, a truncation."""
    for _ in range(rng.randint(1, 4)):
        text = rng.choice(_MUTATIONS)(text, rng)
    return text


def _insert(text: str, rng: random.Random) -> str:
    at = rng.randint(0, len(text))
    noise = "".join(rng.choice(HARD_CHARS) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.3:
        noise = rng.choice(_LINE_NOISE)
    return text[:at] + noise + text[at:]


def _replace(text: str, rng: random.Random) -> str:
    if not text:
        return _insert(text, rng)
    at = rng.randrange(len(text))
    return text[:at] + rng.choice(HARD_CHARS) + text[at + 1 :]


def _delete(text: str, rng: random.Random) -> str:
    if not text:
        return text
    at = rng.randrange(len(text))
    return text[:at] + text[at + rng.randint(1, 8) :]


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) if text else []


def _line_edit(text: str, rng: random.Random) -> str:
    lines = _lines(text)
    if not lines:
        return _insert(text, rng)
    index = rng.randrange(len(lines))
    choice = rng.randrange(7)
    if choice == 0:
        lines.insert(index, lines[index])
    elif choice == 1:
        del lines[index]
    elif choice == 2:
        other = rng.randrange(len(lines))
        lines[index], lines[other] = lines[other], lines[index]
    elif choice == 3:
        lines[index] = rng.choice([" ", "\t", "  ", "\v", "\r"]) + lines[index]
    elif choice == 4:
        cut = rng.randint(0, len(lines[index]))
        lines[index] = lines[index][:cut] + lines[index][len(lines[index]) :]
    elif choice == 5:
        lines[index] = lines[index].lstrip(" \t#")
    else:
        lines[index] = lines[index].rstrip("\n") + "x" * rng.choice([1100, 5000]) + "\n"
    return "".join(lines)


def _whole(text: str, rng: random.Random) -> str:
    choice = rng.randrange(3)
    if choice == 0:
        return text.replace("\n", "\r\n")
    if choice == 1:
        return text[: rng.randint(0, len(text))]
    return text.rstrip("\n")


_MUTATIONS: list[Callable[[str, random.Random], str]] = [
    _insert,
    _insert,
    _replace,
    _delete,
    _line_edit,
    _line_edit,
    _whole,
]


def random_text(rng: random.Random, max_lines: int = 6) -> str:
    """A few short lines of hard characters and words: arbitrary text, mostly near the grammar."""
    words = ["a", "x=y", "-o", "inet", "unix", "-", "n", "y", "Mode", "SOCKET=", "{", "}", "#"]
    lines = []
    for _ in range(rng.randint(0, max_lines)):
        parts = [
            rng.choice(words) if rng.random() < 0.5 else rng.choice(HARD_CHARS)
            for _ in range(rng.randint(0, 6))
        ]
        lines.append(rng.choice(["", " ", "\t"]) + rng.choice(["", " ", "\t"]).join(parts))
    return rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n"])


def near_valid(corpus: list[str], rng: random.Random) -> str:
    """A mutated corpus file, usually a window of up to 60 of its lines (whole files now and
    then: a 1,500-line main.cf is slow to lint thousands of times and finds nothing more)."""
    text = rng.choice(corpus) if corpus else ""
    if rng.random() < 0.85:
        lines = _lines(text)
        start = rng.randrange(len(lines)) if lines else 0
        text = "".join(lines[start : start + rng.randint(1, 60)])
    return mutate(text, rng)


def generated_inputs(kind: str, rng: random.Random) -> Iterator[str]:
    """An endless stream of inputs for ``kind``: mostly mutated corpus files, some random text,
    some random bytes decoded as mailconf decodes a file."""
    corpus = corpus_texts(kind)
    while True:
        roll = rng.random()
        if roll < 0.7:
            yield near_valid(corpus, rng)
        elif roll < 0.9:
            yield random_text(rng)
        else:
            yield fileio.decode(bytes(rng.randrange(256) for _ in range(rng.randint(0, 80))))


# ---------------------------------------------------------------------------- driving the model
class Hang(BaseException):
    """An input mailconf gives no answer for within :data:`TIME_LIMIT` seconds: an internal error
    too (a lint that never returns is as bad as a traceback).  A BaseException, so that no
    ``except Exception`` (or ``except OSError``) in mailconf swallows it."""


TIME_LIMIT = 30.0  # seconds per input; a window of a corpus file takes milliseconds


@contextlib.contextmanager
def time_limit(seconds: float = TIME_LIMIT) -> Iterator[None]:
    """Raise :class:`Hang` in the body after ``seconds`` (SIGALRM: Unix, main thread)."""

    def expired(signum: int, frame: object) -> None:
        raise Hang(f"no answer after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def attempt(call: Callable[[], Any]) -> Any:
    """``call()``; a MailconfError is an allowed answer (returned as None)."""
    try:
        return call()
    except MailconfError:
        return None


def exercise(kind: str, text: str, root: str) -> bool:
    """Parse ``text`` as ``kind`` and drive the document through every accessor, lint and edits;
    True when it parsed.

    Raises whatever mailconf raises other than MailconfError (the caller reports it),
    AssertionError when an edit left text that does not parse or round-trip, and :class:`Hang`
    when the whole takes longer than :data:`TIME_LIMIT`.
    """
    with time_limit():
        try:
            doc = mailconf.parse(text, kind=kind, path=f"/fuzz/{kind}")
        except mailconf.ParseError as error:
            assert error.line >= 1 and error.column >= 1, error
            str(error)
            return False
        assert doc.dump() == text
        _protocol(doc, root)
        _DRIVERS[kind](doc, root)
        after = doc.dump()
        if after != text:
            again = mailconf.parse(after, kind=kind)
            assert again.dump() == after
    return True


def _protocol(doc: mailconf.Document, root: str) -> None:
    """The protocol every kind implements: ``name in doc``, ``doc[name]`` and ``doc.get(name)``
    give one answer; ``to_json()`` and ``lint(root)`` answer for any text that parses."""
    doc.to_json()
    doc.lint(root)
    words = [entry.text.split(maxsplit=1)[0] for entry in doc.entries[:4] if entry.text.split()]
    for name in ["myhostname", "Socket", "SOCKET", "smtp/inet", "example.com", "127.0.0.1", *words]:
        value = doc.get(name)
        assert (name in doc) == (value is not None), name
        try:
            assert doc[name] == value, name
        except KeyError:
            assert value is None, name


def _probe(doc: Any, kind: str, names: list[str]) -> list[str]:
    return names[:6] + _PROBE_NAMES.get(kind, [])


def _main(doc: Any, root: str) -> None:
    names = list(doc.parameters)
    doc.to_json()
    _ = doc.restriction_classes
    for name in _probe(doc, "postfix-main", names):
        doc.get(name)
        doc.effective(name)
        doc.list_items(name)
    for entry in doc.entries:
        doc.line_number(entry)
    master = mailconf.parse("policy unix - n n - 0 spawn\n", kind="postfix-master")
    lint_main(doc, master)
    first = names[0] if names else "myhostname"
    attempt(lambda: doc.set("myhostname", "mail.example.com"))
    attempt(lambda: doc.set(first, "a, b"))
    attempt(lambda: doc.list_append(first, "c"))
    attempt(lambda: doc.list_remove(first, "a"))
    attempt(lambda: doc.add_milter("inet:127.0.0.1:8891"))
    attempt(lambda: doc.add_restriction("smtpd_recipient_restrictions", "reject_unauth_pipelining"))
    attempt(lambda: doc.comment_out(names[-1] if names else "x"))
    attempt(lambda: doc.unset(names[1] if len(names) > 1 else "x"))
    doc.get(first)
    doc.lint()


def _master(doc: Any, root: str) -> None:
    doc.to_json()
    for service in doc.services:
        service.to_json()
        _ = (service.key, service.wakeup_seconds, service.wakeup_if_used, service.process_limit)
        _ = (service.option_end, service.overrides_list, service.command)
        doc.service(service.name, service.type)
    doc.lint()
    services = doc.services
    attempt(lambda: doc.add_service("policy unix - n n - 0 spawn user=nobody argv=/bin/true"))
    if services:
        first, last = services[0], services[-1]
        attempt(lambda: doc.set_override(first.name, first.type, "syslog_name", "fuzz"))
        attempt(lambda: doc.set_override(first.name, first.type, "smtpd_milters", "a b"))
        for name in list(first.overrides)[:1]:
            attempt(lambda name=name: doc.remove_override(first.name, first.type, name))
        attempt(lambda: doc.remove_service(last.name, last.type))
    doc.to_json()
    doc.lint()


def _milter(doc: Any, root: str) -> None:
    kind = doc.kind
    names = list(doc.options)
    doc.to_json()
    doc.typed_options()
    for name in _probe(doc, kind, names):
        doc.get(name)
        doc.typed(name)
        doc.dataset(name)
        doc.occurrences(name)
    for entry in doc.entries:
        _ = (entry.name, entry.value, entry.value_column)
        type(doc).explain_line(entry.text)
    doc.validate()
    doc.lint(root)
    attempt(lambda: doc.set("Socket", "inet:8891@localhost"))
    attempt(lambda: doc.set("Syslog", "yes", after=names[0] if names else None))
    attempt(lambda: doc.unset(names[-1] if names else "Mode"))
    doc.validate()


def _keytable(doc: Any, root: str) -> None:
    _table_common(doc)
    doc.keys()
    for row in doc.rows[:6]:
        doc.lookup(row.key)
    doc.entries_for("example.com", "default")
    doc.lint(root=root)
    attempt(lambda: doc.add_key("example.com", "fuzz", "/etc/opendkim/keys/fuzz.private"))
    _table_edits(doc)
    doc.lint(root=root)


def _signingtable(doc: Any, root: str) -> None:
    _table_common(doc)
    keytable = mailconf.parse("default._domainkey.example.com example.com:default:/k\n", "keytable")
    for address in ("user@example.com", "*@example.com", "example.com", ""):
        for regex in (True, False):
            attempt(lambda address=address, regex=regex: doc.lookup(address, regex=regex))
            attempt(lambda address=address, regex=regex: doc.keyname_for(address, regex=regex))
    doc.lint(root)
    lint_signingtable(doc, keytable=keytable, regex=False)
    attempt(lambda: doc.add_row("*@fuzz.example", "default._domainkey.fuzz.example"))
    _table_edits(doc)
    lint_signingtable(doc, keytable=keytable, regex=True)


def _hostlist(doc: Any, root: str) -> None:
    _table_common(doc)
    _ = doc.hosts
    for probe in ("127.0.0.1", "[::ffff:10.0.0.1]", "mail.example.com", ""):
        doc.match(probe)
    for row in doc.rows[:3]:
        doc.match(row.key)
    lint_hostlist(doc, opendmarc=True, resolver=lambda name: len(name) % 2 == 0)
    attempt(lambda: doc.add_host("10.1.2.0/24"))
    attempt(lambda: doc.remove_host(doc.hosts[0] if doc.hosts else "x"))
    doc.lint()


def _table_common(doc: Any) -> None:
    doc.to_json()
    for row in doc.rows:
        _ = (row.key, row.value, doc.refile_parts(row))


def _table_edits(doc: Any) -> None:
    rows = doc.rows
    attempt(lambda: doc.add_entry("fuzz.example", "value"))
    if rows:
        attempt(lambda: doc.add_entry(rows[0].key, "other"))
        attempt(lambda: doc.remove_entry(rows[-1].key))


def _shellvars(doc: Any, root: str) -> None:
    names = list(doc.variables)
    doc.to_json()
    environment = {"NAME": "opendkim", "RUNDIR": "/run/opendkim"}
    for name in _probe(doc, "shellvars", names):
        doc.get(name)
        doc.get(name, expand=True, environment=environment)
    for entry in doc.entries:
        _ = (entry.name, entry.value)
        entry.expanded_value(environment)
    attempt(lambda: doc.set("SOCKET", "local:$RUNDIR/opendkim.sock"))
    attempt(lambda: doc.set(names[0] if names else "USER", 'it\'s "quoted"'))
    attempt(lambda: doc.unset(names[-1] if names else "USER"))
    _ = doc.variables


_DRIVERS: dict[str, Callable[[Any, str], None]] = {
    "postfix-main": _main,
    "postfix-master": _master,
    "opendkim": _milter,
    "opendmarc": _milter,
    "keytable": _keytable,
    "signingtable": _signingtable,
    "hostlist": _hostlist,
    "shellvars": _shellvars,
}
assert set(_DRIVERS) == set(KINDS)


# ---------------------------------------------------------------------------- a lint root
def make_root(directory: Path) -> str:
    """A small system tree for lint's file checks: the data sets the corpus confs name most,
    filled from the corpus, so lint follows them (nothing under ``/`` is read)."""
    files = {
        "etc/opendkim/KeyTable": "keytable",
        "etc/opendkim/SigningTable": "signingtable",
        "etc/opendkim/TrustedHosts": "hostlist",
        "etc/opendmarc/ignore.hosts": "hostlist",
    }
    for relative, kind in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        texts = corpus_texts(kind)
        target.write_bytes(fileio.encode(texts[0] if texts else ""))
    (directory / "etc/opendkim/keys").mkdir(exist_ok=True)
    return str(directory)


def printable(text: str, limit: int = 300) -> str:
    """``text`` as a Python literal for a report, cut to ``limit`` characters."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit] + "..."


__all__ = [
    "CORPUS",
    "HARD_CHARS",
    "KINDS",
    "attempt",
    "corpus_texts",
    "exercise",
    "generated_inputs",
    "make_root",
    "mutate",
    "near_valid",
    "printable",
    "random_text",
]


# ---------------------------------------------------------------------------- the command line
CLI_INTERNAL_ERROR = 70


def cli_commands(kind: str, path: Path, text: str) -> list[list[str]]:
    """The read-only commands run on a generated file: show, lint and get (of a name the file
    sets when it sets one).  ``--`` ends the options: a name may start with ``-``."""
    name = _a_name(kind, text)
    return [
        ["show", "--json", "--kind", kind, "--", str(path)],
        ["lint", "--kind", kind, "--root", str(path.parent), "--", str(path)],
        ["get", "--kind", kind, "--", str(path), name],
    ]


def _a_name(kind: str, text: str) -> str:
    try:
        doc: Any = mailconf.parse(text, kind=kind)
    except MailconfError:
        return "x"
    names = {
        "postfix-main": lambda: list(doc.parameters),
        "opendkim": lambda: list(doc.options),
        "opendmarc": lambda: list(doc.options),
        "shellvars": lambda: list(doc.variables),
    }.get(kind, lambda: [])()
    return names[-1] if names else "x"


def run_cli_in_process(argv: list[str]) -> tuple[int, str]:
    """``mailconf ARGV`` in this process: (exit status, what it wrote to stderr)."""
    import contextlib
    import io

    from mailconf import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exit:  # argparse refusing the command line
            status = exit.code if isinstance(exit.code, int) else 2
    return status, err.getvalue()


def cli_problem(status: int, stderr: str) -> str | None:
    """Why a command's outcome is an internal error (None when it is an answer or a refusal).
    The markers are the CLI's own words at the start of a line: a refusal quotes the file's line,
    which may well say "internal error" in a comment."""
    markers = ("mailconf: internal error", "Traceback (most recent call last)")
    marked = any(line.startswith(markers) for line in stderr.splitlines())
    if status == CLI_INTERNAL_ERROR or marked:
        return f"exit {status}: {stderr.strip()[-500:]}"
    return None
