"""Every command's exit status, case by case, against the one rule of the README.

0 success; 1 the request was understood and the answer is no (a refused edit, a failed edit or
apply, an error finding, nothing found); 2 what mailconf was given cannot be used (the command
line, an argument, a file it must read and cannot read or parse); 70 never (an internal error).

Cases run through ``mailconf.cli.main`` in this process, except those run as ``nobody``, which need
a process of their own (``setpriv``; the suite runs as root, so they are skipped otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmarc_samples import Row, report_xml
from example_tree import EXAMPLE_TOML, copy_example
from mailconf.cli import build_parser, main
from support import run_as_nobody

KEY_DIRS = ("etc/opendkim/keys", "etc/opendkim/keys/hogehoge.com")

DMARC_REPORT = report_xml(
    "google",
    "g-1",
    0,
    [Row("192.0.2.10", 5, dkim=[("example.com", "pass")], spf=[("example.com", "pass")])],
).decode()
FILES = {
    "main.cf": "myhostname = mail.example.com\n"
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n",
    "edit/main.cf": "myhostname = mail.example.com\n"
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n",
    "secret/main.cf": "myhostname = mail.example.com\n",
    "opendkim.conf": "Mode sv\nSocket local:/run/opendkim/opendkim.sock\n",
    "broken/opendkim.conf": "Mode sv\nSocket\n",
    "aligned/opendkim.conf": "Mode   sv\nSocket local:/run/opendkim/opendkim.sock\n",
    "error/opendkim.conf": "Mode sv\nSubDomains off\n",
    "signing.table": "*@example.com default._domainkey.example.com\n",
    "broken/signing.table": "*@[ default._domainkey.example.com\n",
    "key.table": "default._domainkey.example.com example.com:default:/k/default.private\n",
    "edit/master.cf": "smtp      inet  n       -       y       -       -       smtpd\n",
    "mailconf.toml": EXAMPLE_TOML.read_text(),
    "secret/mailconf.toml": EXAMPLE_TOML.read_text(),
    "secret/tsig.key": 'key "k" { algorithm hmac-sha256; secret "c2VjcmV0"; };\n',
    "broken/mailconf.toml": "[[domain]\nname = 1\n",
    "tsig.key": 'key "k" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0";\n};\n',
    "broken/tsig.key": 'key "k" {\n\talgorithm hmac-sha256;\n};\n',
    "dmarc/report.xml": DMARC_REPORT,
    "secret/dmarc.xml": DMARC_REPORT,
}
SECRET = ("secret/main.cf", "secret/mailconf.toml", "secret/tsig.key", "secret/dmarc.xml")
DMARC = ("{d}/dmarc/report.xml",)
ADVISE = ("dmarc", "advise", "--domain", "example.com", "--no-dns")


def ok(*argv: str) -> tuple[tuple[str, ...], int, str]:
    return argv, 0, ""


def fails(*argv: str, why: str) -> tuple[tuple[str, ...], int, str]:
    """1: understood, and the answer is no; ``why`` is expected in the output."""
    return argv, 1, why


def bad(*argv: str, why: str) -> tuple[tuple[str, ...], int, str]:
    """2: what was given cannot be used; ``why`` is expected on stderr."""
    return argv, 2, why


SPEC = ("--config", "{d}/mailconf.toml")
SECRET_SPEC = ("--config", "{d}/secret/mailconf.toml")
OPEN_RELAY = (
    "--add-restriction",
    "smtpd_relay_restrictions",
    "permit",
    "--after",
    "permit_mynetworks",
)
FLAGS = ("--domain", "hogehoge.com", "--ip", "192.0.2.10")
DKIM = ("--domain", "hogehoge.com")
UPDATE = ("--update", "127.0.0.1:1", "--tsig-key")  # nothing listens on TCP port 1


def spec_cases(command: str, tree: str) -> dict[str, tuple[tuple[str, ...], int, str]]:
    """The cases every spec command (plan, apply, dns, check) shares."""
    c, r = command, ("--root", tree)
    return {
        "no spec": bad(c, *r, why=f"--domain and --ip (see mailconf {c} --help)"),
        "config and flags": bad(c, *r, *SPEC, "--domain", "a.example", why="cannot be combined"),
        "flags without ip": bad(c, *r, "--domain", "a.example", why="--ip is required"),
        "unknown option": bad(c, *r, *SPEC, "--frobnicate", why=f"see mailconf {c} --help"),
        "bad domain": bad(c, *r, "--domain", "../../etc", "--ip", "192.0.2.1", why="empty label"),
        "bad ip": bad(c, *r, "--domain", "a.example", "--ip", "192.0.2.300", why="not an IPv4"),
        "missing config": bad(c, *r, "--config", "{d}/nope.toml", why="No such file"),
        "unparsable config": bad(c, *r, "--config", "{d}/broken/mailconf.toml", why="TOML"),
        "root not a directory": bad(c, "--root", "/nonexistent", *SPEC, why="no such directory"),
    }


CASES: dict[str, dict[str, tuple[tuple[str, ...], int, str]]] = {
    "": {
        "no command": bad(why="usage: mailconf"),
        "unknown command": bad("frobnicate", why="invalid choice"),
        "version": ok("--version"),
    },
    "show": {
        "success": ok("show", "{d}/main.cf"),
        "no file": bad("show", why="required: FILE (see mailconf show --help)"),
        "unknown option": bad(
            "show", "{d}/main.cf", "--frobnicate", why="see mailconf show --help"
        ),
        "unknown kind": bad("show", "{d}/x.conf", why="cannot tell the file kind"),
        "missing file": bad("show", "{d}/nope/main.cf", why="No such file"),
        "a directory": bad("show", "{d}", "--kind", "postfix-main", why="Is a directory"),
        "unparsable": bad("show", "{d}/broken/opendkim.conf", why="opendkim.conf:2:7: option"),
    },
    "fmt": {
        "success": ok("fmt", "--check", "{d}/aligned/opendkim.conf"),
        "not formatted": fails("fmt", "--check", "{d}/opendkim.conf", why="+Mode   sv"),
        "no file": bad("fmt", "--check", why="required: FILE (see mailconf fmt --help)"),
        "missing file": bad("fmt", "--check", "{d}/nope/main.cf", why="No such file"),
        "unparsable": bad("fmt", "--check", "{d}/broken/opendkim.conf", why=":2:7:"),
    },
    "get": {
        "success": ok("get", "{d}/main.cf", "myhostname"),
        "default": ok("get", "{d}/main.cf", "queue_directory"),
        "not set": fails("get", "-n", "{d}/main.cf", "relayhost", why="relayhost is not set"),
        "unknown name": fails(
            "get", "{d}/main.cf", "smtpd_milter", why="did you mean smtpd_milters"
        ),
        "mode for another kind": bad(
            "get", "-x", "{d}/opendkim.conf", "Mode", why="--expand are for main.cf"
        ),
        "no name": bad("get", "{d}/main.cf", why="see mailconf get --help"),
        "missing file": bad("get", "{d}/nope/main.cf", "myhostname", why="No such file"),
        "unparsable": bad("get", "{d}/broken/opendkim.conf", "Mode", why=":2:7:"),
    },
    "lint": {
        "success": ok("lint", "{d}/opendkim.conf"),
        "error finding": fails("lint", "{d}/error/opendkim.conf", why="[milter.illegal-value]"),
        "no file": bad("lint", why="see mailconf lint --help"),
        "root not a directory": bad("lint", "{d}/main.cf", "--root", "/nonexistent", why="no such"),
        "missing file": bad("lint", "{d}/nope/main.cf", why="No such file"),
        "unparsable": bad("lint", "{d}/broken/opendkim.conf", why=":2:7:"),
    },
    "lookup": {
        "success": ok("lookup", "{d}/signing.table", "user@example.com"),
        "no match": fails("lookup", "{d}/signing.table", "user@example.org", why=""),
        "not a table": bad("lookup", "{d}/main.cf", "x", why="see mailconf lookup --help"),
        "missing file": bad("lookup", "{d}/nope/key.table", "k", why="No such file"),
        "unusable table": bad("lookup", "{d}/broken/signing.table", "a@example.com", why="regular"),
    },
    "edit": {
        "success": ok("edit", "{d}/edit/main.cf", "--set", "myhostname=mx.example.com"),
        "refused": fails("edit", "{d}/main.cf", *OPEN_RELAY, why="relay"),
        "no milter socket under root": fails(
            "edit", "{d}/main.cf", "--root", "{d}", "--add-milter", "opendkim", why="no Socket"
        ),
        "bad --set": bad("edit", "{d}/main.cf", "--set", "x", why="(see mailconf edit --help)"),
        "bad value": bad("edit", "{d}/opendkim.conf", "--set", "SubDomains=off", why="boolean"),
        "bad name": bad("edit", "{d}/main.cf", "--set", "a b=1", why="invalid parameter name"),
        "wrong kind": bad("edit", "{d}/key.table", "--set", "a=1", why="does not apply"),
        "no position": bad(
            "edit",
            "{d}/main.cf",
            "--add-restriction",
            "smtpd_relay_restrictions",
            "x",
            why="--last",
        ),
        "root not a directory": bad(
            "edit",
            "{d}/main.cf",
            "--root",
            "/nonexistent",
            "--add-milter",
            "opendkim",
            why="no such",
        ),
        "missing file": bad("edit", "{d}/nope/main.cf", "--set", "a=1", why="No such file"),
        "unparsable": bad("edit", "{d}/broken/opendkim.conf", "--set", "Mode=v", why=":2:7:"),
        "no operation": bad("edit", "{d}/main.cf", why="nothing to do: give an edit (--add-"),
        "--last alone": bad("edit", "{d}/main.cf", "--last", why="goes with --add-restriction"),
    },
    "plan": {
        **spec_cases("plan", "{fresh}"),
        "success": ok("plan", "--root", "{fresh}", *SPEC),
        "success with flags": ok("plan", "--root", "{fresh}", *FLAGS),
        "unparsable system file": bad("plan", "--root", "{broken}", *SPEC, why="main.cf:1:"),
    },
    "apply": {
        **spec_cases("apply", "{fresh}"),
        "success": ok("apply", "--root", "{own}", *SPEC),
        "failed": fails("apply", "--root", "{no-trust-anchor}", *SPEC, why="apply failed"),
        "unparsable system file": bad("apply", "--root", "{broken}", *SPEC, why="main.cf:1:"),
    },
    "dns": {
        **spec_cases("dns", "{applied}"),
        "success": ok("dns", "--root", "{applied}", *SPEC),
        "before any key": bad("dns", "--root", "{fresh}", *SPEC, why="no DKIM key yet"),
        "update unreachable": fails(
            "dns", "--root", "{applied}", *SPEC, *UPDATE, "{d}/tsig.key", why="refused the conn"
        ),
        "update without key": bad(
            "dns", "--root", "{applied}", *SPEC, "--update", "127.0.0.1:1", why="--tsig-key FILE"
        ),
        "update unparsable key": bad(
            "dns", "--root", "{applied}", *SPEC, *UPDATE, "{d}/broken/tsig.key", why=":3:1: key k"
        ),
    },
    "check": {
        **spec_cases("check", "{applied}"),
        "success": ok("check", "--no-dns", "--root", "{applied}", *SPEC),
        "error finding": fails("check", "--no-dns", "--root", "{fresh}", *SPEC, why="error:"),
        "broken system file is a finding": fails(
            "check", "--no-dns", "--root", "{broken}", *SPEC, why="[system.parse-error]"
        ),
        "broken master.cf is a finding": fails(
            "check", "--no-dns", "--root", "{broken-master}", *SPEC, why="master.cf:46:1: error:"
        ),
        "bad nameserver": bad("check", "--root", "{applied}", *SPEC, "--nameserver", "x", why="x"),
        "with reports": ok("check", "--no-dns", "--root", "{applied}", *SPEC, "--reports", *DMARC),
        "missing report": bad(
            "check", "--no-dns", "--root", "{applied}", *SPEC, "--reports", "{d}/no.xml", why="No"
        ),
    },
    "dmarc": {
        "report": ok("dmarc", "report", "--no-dns", *DMARC),
        "advise: safe": ok(*ADVISE, "--min-days", "1", *DMARC),
        "advise: not yet": fails(*ADVISE, *DMARC, why="not yet: stay at p=none"),
        "no subcommand": bad("dmarc", why="required: SUBCOMMAND (see mailconf dmarc --help)"),
        "no path": bad("dmarc", "report", why="PATH (see mailconf dmarc report --help)"),
        "unknown option": bad(
            "dmarc", "report", "--frobnicate", *DMARC, why="see mailconf dmarc report --help"
        ),
        "missing path": bad("dmarc", "report", "{d}/nope.xml", why="No such file"),
        "nothing readable": bad(
            "dmarc", "report", "--no-dns", "{d}/main.cf", why="no report attachment"
        ),
        "bad domain": bad("dmarc", "advise", "--domain", "../x", *DMARC, why="empty label"),
        "bad since": bad("dmarc", "report", "--since", "yesterday", *DMARC, why="not a date"),
        "bad threshold": bad(*ADVISE, "--threshold", "101", *DMARC, why="not a percentage"),
        "bad nameserver": bad("dmarc", "report", "--nameserver", "x", *DMARC, why="'x'"),
        "bad ip": bad(*ADVISE, "--ip", "192.0.2.300", *DMARC, why="--ip"),
        "advise with the spec's ips": fails(*ADVISE, *SPEC, *DMARC, why="not yet"),
        "unparsable config": bad(
            *ADVISE, "--config", "{d}/broken/mailconf.toml", *DMARC, why="TOML"
        ),
    },
    "dkim": {
        "status": ok("dkim", "status", "--root", "{applied}", "--no-dns"),
        "rotate dry run": ok("dkim", "rotate", "--root", "{applied}", *DKIM, "--dry-run"),
        "rotate a first key": fails("dkim", "rotate", "--root", "{fresh}", *DKIM, why="apply"),
        "activate nothing staged": fails(
            "dkim", "activate", "--root", "{applied}", *DKIM, "--force", why="no staged key"
        ),
        "retire the signing key": fails(
            "dkim", "retire", "--root", "{applied}", *DKIM, "--selector", "default", why="signs"
        ),
        "no action": bad("dkim", why="ACTION (see mailconf dkim --help)"),
        "bad domain": bad("dkim", "rotate", "--root", "{applied}", "--domain", "a..b", why="a..b"),
        "bad grace": bad("dkim", "retire", *DKIM, "--selector", "x", "--grace-days", "y", why="y"),
        "update without key": bad(
            "dkim", "retire", *DKIM, "--selector", "x", "--update", "127.0.0.1:1", why="--tsig-key"
        ),
        "unparsable system file": bad("dkim", "status", "--root", "{broken}", why="main.cf:1:"),
    },
    "completion": {
        "bash": ok("completion", "bash"),
        "zsh": ok("completion", "zsh"),
        "no shell": bad("completion", why="required: shell (see mailconf completion --help)"),
        "unknown shell": bad("completion", "fish", why="invalid choice: 'fish'"),
    },
}

#: Run as nobody: (argv, status, why).
# master.cf's postconf-style edits (-F, -P, -PX, -MX), kept apart from the rows above.
CASES["edit"].update(
    {
        "master field": ok("edit", "{d}/edit/master.cf", "--set-field", "smtp/inet/chroot=n"),
        "master field refused": fails(
            "edit", "{d}/edit/master.cf", "--set-field", "smtp/inet/chroot=x", why="invalid chroot"
        ),
        "master no such service": fails(
            "edit", "{d}/edit/master.cf", "--unset-option", "a/unix/b", why="no service a/unix"
        ),
        "master bad form": bad(
            "edit", "{d}/edit/master.cf", "--set-option", "smtp/inet", why="NAME/TYPE/PARAM=VALUE"
        ),
    }
)

AS_NOBODY = {
    "show unreadable file": bad("show", "{d}/secret/main.cf", why="Permission denied"),
    "fmt unreadable file": bad("fmt", "--check", "{d}/secret/main.cf", why="Permission denied"),
    "get unreadable file": bad("get", "{d}/secret/main.cf", "myhostname", why="Permission denied"),
    "lint unreadable file": bad("lint", "{d}/secret/main.cf", why="Permission denied"),
    "lookup unreadable file": bad(
        "lookup", "{d}/secret/main.cf", "x", "--kind", "keytable", why="Permission denied"
    ),
    "edit unreadable file": bad("edit", "{d}/secret/main.cf", "--set", "a=1", why="denied"),
    "edit write denied": fails("edit", "{d}/main.cf", "--set", "a=1", why="main.cf: cannot write"),
    "plan unreadable config": bad("plan", "--root", "{fresh}", *SECRET_SPEC, why="denied"),
    "apply unreadable config": bad("apply", "--root", "{fresh}", *SECRET_SPEC, why="denied"),
    "dns unreadable config": bad("dns", "--root", "{applied}", *SECRET_SPEC, why="denied"),
    "dns unreadable tsig key": bad(
        "dns", "--root", "{open}", *SPEC, *UPDATE, "{d}/secret/tsig.key", why="denied"
    ),
    "check unreadable config": bad("check", "--root", "{applied}", *SECRET_SPEC, why="denied"),
    "dns public half from the txt": ok("dns", "--root", "{open}", *SPEC),
    "check public half from the txt": ok("check", "--no-dns", "--root", "{open}", *SPEC),
    "dns key closed to the user": bad(
        "dns", "--root", "{applied}", *SPEC, why="keys is mode 0700 owned by uid"
    ),
    "dkim status key closed to the user": bad(
        "dkim", "status", "--root", "{applied}", "--no-dns", why="nor its public half"
    ),
    "dmarc unreadable report": bad(
        "dmarc", "report", "--no-dns", "{d}/secret/dmarc.xml", why="Permission denied"
    ),
    "check key closed to the user": bad(
        "check", "--no-dns", "--root", "{applied}", *SPEC, why="nor its public half"
    ),
    "completion for any user": ok("completion", "bash"),
}


@pytest.fixture(scope="module")
def places() -> Iterator[dict[str, str]]:
    """The files and system trees the cases name, under a directory nobody may enter."""
    base = Path(tempfile.mkdtemp(prefix="mailconf-exit-codes-"))
    base.chmod(0o755)
    try:
        area = base / "d"
        for name, text in FILES.items():
            (area / name).parent.mkdir(parents=True, exist_ok=True)
            (area / name).write_text(text)
        for name in SECRET:
            (area / name).chmod(0o600)
        trees = {
            name: base / name for name in ("fresh", "applied", "open", "broken", "broken-master")
        }
        for tree in trees.values():
            copy_example(tree)
        (trees["broken"] / "etc/postfix/main.cf").write_text("= no name\n")
        with (trees["broken-master"] / "etc/postfix/master.cf").open("a") as master:
            master.write("broken line\n")
        for name in ("applied", "open"):
            assert main(["apply", "-q", "--root", str(trees[name]), *_fill(SPEC, {"d": area})]) == 0
        for directory in KEY_DIRS:  # a layout where the 0644 .txt is reachable, the key not
            (trees["open"] / directory).chmod(0o711)
        yield {"d": str(area), **{name: str(path) for name, path in trees.items()}}
    finally:
        shutil.rmtree(base)


def _fill(argv: tuple[str, ...], places: dict[str, str]) -> list[str]:
    return [arg.format_map(places) for arg in argv]


def _own_tree(tmp_path: Path, name: str) -> str:
    """A fresh tree for a case that writes; ``no-trust-anchor`` makes opendkim -n refuse."""
    tree = tmp_path / name
    copy_example(tree)
    if name == "no-trust-anchor":
        (tree / "usr/share/dns/root.key").unlink()
    return str(tree)


def _check_output(status: int, expected: int, why: str, out: str, err: str) -> None:
    assert status == expected, out + err
    assert "Traceback" not in err and "internal error" not in err
    assert why in out + err
    if expected == 2 and not err.startswith("usage:"):
        assert err.startswith("mailconf: "), err
        # One line, and a parse error's two lines quoting the input.
        assert len(err.rstrip("\n").splitlines()) in (1, 3), err


@pytest.mark.parametrize(
    ("argv", "status", "why"),
    [
        pytest.param(*case, id=f"{c} {name}")
        for c, cases in CASES.items()
        for name, case in cases.items()
    ],
)
def test_exit_status(
    places: dict[str, str],
    tmp_path: Path,
    argv: tuple[str, ...],
    status: int,
    why: str,
) -> None:
    filled = {**places, "own": "", "no-trust-anchor": ""}
    for name in ("own", "no-trust-anchor"):
        if any(f"{{{name}}}" in arg for arg in argv):
            filled[name] = _own_tree(tmp_path, name)
    if "{no-trust-anchor}" in argv and not shutil.which("opendkim", path="/usr/sbin:/usr/bin"):
        pytest.skip("the failed apply needs opendkim to refuse the configuration")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(_fill(argv, filled))
        except SystemExit as exit:  # argparse's errors
            code = int(exit.code or 0)
    _check_output(code, status, why, out.getvalue(), err.getvalue())


@pytest.mark.parametrize(
    ("argv", "status", "why"),
    [pytest.param(*case, id=name) for name, case in AS_NOBODY.items()],
)
def test_exit_status_as_nobody(
    places: dict[str, str], argv: tuple[str, ...], status: int, why: str
) -> None:
    result = run_as_nobody("-m", "mailconf", *_fill(argv, places))
    _check_output(result.returncode, status, why, result.stdout, result.stderr)


def test_every_command_has_cases() -> None:
    """A new subcommand must come with its rows in the table."""
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands = subparsers.choices
    assert set(commands) == set(CASES) - {""}
    for command in commands:
        assert any(case[0][:1] == (command,) and case[1] == 0 for case in CASES[command].values())
        assert any(case[1] == 2 for case in CASES[command].values())
        assert any(argv[:1] == (command,) for argv, _, _ in AS_NOBODY.values()), command


def test_the_key_falls_back_to_the_txt_only_for_the_reader_who_needs_it(
    places: dict[str, str],
) -> None:
    """As nobody, check says the key itself went unchecked; as root the finding is absent."""
    argv = ["check", "--no-dns", "--root", places["open"], *_fill(SPEC, places)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    assert "[dkim.key-unchecked]" not in out.getvalue()
    result = run_as_nobody("-m", "mailconf", *argv)
    assert "[dkim.key-unchecked]" in result.stdout
