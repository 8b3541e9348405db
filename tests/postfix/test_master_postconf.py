"""master.cf as postconf reads and edits it (issue 13): ``get SERVICE/TYPE[/FIELD|/PARAM]`` against
``postconf -M/-F/-P``, and ``set_field``/``set_option``/``unset_option``/``remove_service``
against ``postconf -F/-P/-PX/-MX`` applied to a copy, compared by meaning (postconf's own
``-M``/``-F``/``-P`` output of both files), not by bytes.  Also the ``{ }`` that postconf warns
about and repairs (and master(8) refuses): read as postconf reads them, linted as errors.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

import mailconf
from mailconf.errors import EditError
from mailconf.postfix.master import POSTCONF_FIELDS, MasterCf
from postfix.test_oracle import (
    DEBIAN_MASTER,
    config_dir,
    corpus,
    normalise,
    postconf,
    postconf_path,
)

LAYOUT = (
    "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
    "smtp      inet  n       -       y       -       -       smtpd\n"
    "submission inet n       -       y       -       -       smtpd\n"
    "  -o syslog_name=postfix/submission\n"
    "  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
    "  -vo smtpd_sasl_auth_enable=yes\n"
    "pickup    unix  n       -       y       60?     1       pickup\n"
    "# a disabled service\n"
    "#old     unix  -       -       n       -       -       smtp\n"
    "maildrop  unix  -       n       n       -       -       pipe\n"
    "  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient} {a b} {c d}\n"
    "smtp      unix  -       -       y       -       -       smtp\n"
)
BRACES = (
    "a unix - n n - - smtpd -o {x=y}z -o b=c\n"
    "b unix - n n - - smtpd -o { c = d } {unbalanced arg\n"
    "c unix - n n - - pipe argv=/bin/x {a b} { c } {d}e\n"
    "d unix - n n - - smtpd -o {p = q\n"
    "e unix - n n - - smtpd -o { n = v } -o {m=1}} -o k\n"
)


def texts() -> list[tuple[str, str]]:
    found = [("layout", LAYOUT), ("braces", BRACES)]
    if DEBIAN_MASTER.exists():
        found.append(("debian", DEBIAN_MASTER.read_text()))
    found += [(p.name, p.read_text(errors="surrogateescape")) for p in corpus("postfix-master")[:6]]
    return found


TEXTS = texts()
IDS = [label for label, _ in TEXTS]


def master(text: str) -> MasterCf:
    doc = mailconf.parse(text, "postfix-master")
    assert isinstance(doc, MasterCf)
    return doc


def postconf_view(directory: Path, flag: str) -> dict[str, str]:
    """``postconf -F`` or ``-P`` output as {name/type/field: value}, the last entry winning (as
    master(8) uses the file)."""
    answers = {}
    for line in postconf(directory, flag).stdout.splitlines():
        key, _, value = line.partition(" = ")
        answers[key.rstrip(" =")] = normalise(value)
    return answers


def postconf_entries(directory: Path) -> dict[str, str]:
    entries = {}
    for line in postconf(directory, "-M").stdout.splitlines():
        words = line.split()
        entries[f"{words[0]}/{words[1]}"] = " ".join(words)
    return entries


@pytest.mark.parametrize(("label", "text"), TEXTS, ids=IDS)
def test_get_answers_as_postconf(label: str, text: str, tmp_path: Path) -> None:
    postconf_path()
    directory = config_dir(tmp_path, main="", master=text)
    doc = master(text)
    fields = postconf_view(directory, "-F")
    assert {key: normalise(doc.get(key) or "") for key in fields} == fields
    overrides = postconf_view(directory, "-P")
    assert {key: normalise(doc.get(key) or "") for key in overrides} == overrides
    entries = postconf_entries(directory)
    assert {key: normalise(doc.get(key) or "") for key in entries} == entries
    assert doc.get("nope/unix") is None and doc.get("smtp") is None


def meaning(directory: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    return (
        postconf_view(directory, "-F"),
        postconf_view(directory, "-P"),
        postconf_entries(directory),
    )


def edit_cases(doc: MasterCf) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(our method and arguments, postconf's option and argument) for the services present."""
    cases: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    for service in doc.services[:4]:
        key = service.key
        name, type_ = service.name, service.type
        for field, value in (
            ("chroot", "n" if service.chroot != "n" else "y"),
            ("private", "-"),
            ("unprivileged", "y"),
            ("wakeup", "300?"),
            ("process_limit", "100"),
            ("command", "smtpd -o smtpd_helo_required=yes -v"),
        ):
            cases.append(
                (("set_field", name, type_, field, value), ("-F", f"{key}/{field}={value}"))
            )
        cases += [
            (("set_option", name, type_, "syslog_name", "x/y"), ("-P", f"{key}/syslog_name=x/y")),
            (("remove_service", name, type_), ("-MX", key)),
        ]
        for param in service.overrides:
            cases.append((("unset_option", name, type_, param), ("-PX", f"{key}/{param}")))
            cases.append((("set_option", name, type_, param, "a,b"), ("-P", f"{key}/{param}=a,b")))
    return cases


@pytest.mark.parametrize(("label", "text"), TEXTS, ids=IDS)
def test_edits_mean_what_postconf_edits_mean(label: str, text: str, tmp_path: Path) -> None:
    postconf_path()
    cases = edit_cases(master(text))
    assert cases
    for index, ((method, *args), postconf_args) in enumerate(cases):
        mine = master(text)
        service = mine.service(args[0], args[1])
        if service is not None and service.brace_problems and method != "remove_service":
            with pytest.raises(EditError, match="fix the braces first"):
                getattr(mine, method)(*args)
            continue
        changed = getattr(mine, method)(*args)
        theirs = config_dir(tmp_path / f"theirs{index}", main="", master=text)
        postconf(theirs, *postconf_args)
        ours = config_dir(tmp_path / f"ours{index}", main="", master=mine.dump())
        assert meaning(ours) == meaning(theirs), (method, args)
        assert changed == (mine.dump() != text)
        assert getattr(mine, method)(*args) is False  # a second time changes nothing
        if method != "remove_service":
            assert_only_the_service_changed(text, mine.dump(), args[0], args[1])


def test_an_option_value_with_blanks_is_braced_and_postconf_reads_it(tmp_path: Path) -> None:
    """postconf -P refuses blanks in a value ("-Pe does not accept whitespace"); master.cf
    takes them in ``{ }`` (Postfix 3.0+), which is what set_option writes."""
    postconf_path()
    doc = master(LAYOUT)
    assert doc.set_option("smtp", "inet", "smtpd_client_restrictions", "permit_mynetworks, reject")
    read = postconf_view(config_dir(tmp_path, main="", master=doc.dump()), "-P")
    assert read["smtp/inet/smtpd_client_restrictions"] == "permit_mynetworks, reject"


def assert_only_the_service_changed(before: str, after: str, name: str, type_: str) -> None:
    """Lossless: the lines that differ all belong to the edited service (the last one)."""
    service = master(before).service(name, type_)
    assert service is not None
    owned = service.text.splitlines()
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line.startswith("- "):
            assert line[2:] in owned, line


def test_a_field_change_keeps_the_columns() -> None:
    doc = master(LAYOUT)
    assert doc.set_field("pickup", "unix", "wakeup", "3600")
    assert doc.set_field("smtp", "inet", "chroot", "n")
    lines = doc.dump().splitlines()
    assert lines[6] == "pickup    unix  n       -       y       3600    1       pickup"
    assert lines[1] == "smtp      inet  n       -       n       -       -       smtpd"


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("chroot", "x", "invalid chroot field"),
        ("wakeup", "1 2", "invalid wakeup value"),
        ("type", "tcp", "invalid type field"),
        ("bogus", "1", "invalid service attribute name"),
        ("service", "#x", "starts a comment"),
        ("type", "unix", "already has a service smtp/unix"),
        ("command", "", "invalid command value"),
    ],
)
def test_set_field_refuses_what_postconf_or_master_would(field: str, value: str, why: str) -> None:
    doc = master(LAYOUT)
    with pytest.raises(EditError, match=why):
        doc.set_field("smtp", "inet", field, value)
    assert doc.dump() == LAYOUT
    with pytest.raises(EditError, match="no service"):
        doc.set_field("nope", "unix", "chroot", "n")


def test_the_postconf_field_names() -> None:
    assert POSTCONF_FIELDS[3] == "unprivileged" and POSTCONF_FIELDS[6] == "process_limit"


# ------------------------------------------------------------------------- braces
def test_braces_postconf_repairs_are_read_as_postconf_reads_them(tmp_path: Path) -> None:
    postconf_path()
    result = postconf(config_dir(tmp_path, main="", master=BRACES), "-P")
    warned = {
        line.split(": ", 3)[3]
        for line in result.stderr.splitlines()
        if "master.cf: " in line and "unused parameter" not in line
    }
    doc = master(BRACES)
    ours = {problem for service in doc.services for problem in service.brace_problems}
    assert ours == warned
    findings = [f for f in doc.lint() if f.code == "postfix.master-braces"]
    assert len(findings) == len(ours)
    assert all(f.severity.name == "ERROR" and f.line for f in findings)


# ------------------------------------------------------------------------- the CLI
def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailconf.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_master_get_and_edits(tmp_path: Path) -> None:
    postconf_path()
    path = tmp_path / "master.cf"
    path.write_text(LAYOUT)
    result = run("get", str(path), "submission/inet/command", "pickup/unix/wakeup")
    expected = postconf(config_dir(tmp_path / "pc", main="", master=LAYOUT), "-Fh")
    assert result.returncode == 0, result.stderr
    wanted = {normalise(line) for line in expected.stdout.splitlines()}
    assert {normalise(line) for line in result.stdout.splitlines()} <= wanted
    assert run("get", str(path), "nope/unix").returncode == 1
    result = run(
        "edit",
        str(path),
        "--set-field",
        "smtp/inet/chroot=n",
        "--set-option",
        "smtp/inet/smtpd_milters=inet:127.0.0.1:8891",
        "--unset-option",
        "submission/inet/syslog_name",
        "--remove-service",
        "maildrop/unix",
    )
    assert result.returncode == 0, result.stderr
    doc = MasterCf.load(path)
    assert doc.get("smtp/inet/chroot") == "n"
    assert doc.get("smtp/inet/smtpd_milters") == "inet:127.0.0.1:8891"
    assert doc.get("submission/inet/syslog_name") is None
    assert doc.service("maildrop", "unix") is None
    bad = run("edit", str(path), "--set-field", "smtp/inet/chroot")
    assert bad.returncode == 2 and "NAME/TYPE/FIELD=VALUE" in bad.stderr
    refused = run("edit", str(path), "--set-field", "smtp/inet/chroot=maybe")
    assert refused.returncode == 1 and "invalid chroot field" in refused.stderr
