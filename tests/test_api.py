"""The public API: one protocol for every kind, and one meaning behind both doors (every ``mailconf
edit`` option is the model's method of the same name with the same options, so a Python caller
gets what the CLI gets)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import mailconf
from example_tree import copy_example
from mailconf.cli import main as cli
from mailconf.findings import Severity
from mailconf.setup.planner import make_plan
from mailconf.setup.validation import validate_plan
from mailconf.system.root import SystemRoot

DKIM_SOCKET = "local:/var/spool/postfix/opendkim/opendkim.sock"
MAIN = (
    "myhostname = mail.example.com\n"
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
    "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A system tree: main.cf, and OpenDKIM's socket in its conf file."""
    (tmp_path / "etc/postfix").mkdir(parents=True)
    (tmp_path / "etc/default").mkdir()
    (tmp_path / "etc/postfix/main.cf").write_text(MAIN)
    (tmp_path / "etc/opendkim.conf").write_text(f"Socket {DKIM_SOCKET}\n")
    return tmp_path


def cli_result(path: Path, *options: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The file after ``mailconf edit PATH OPTIONS`` (the file itself is left alone)."""
    before = path.read_text()
    assert cli(["edit", str(path), *options]) == 0, capsys.readouterr().err
    after = path.read_text()
    path.write_text(before)
    return after


# ------------------------------------------------------------------------------- the protocol
@pytest.mark.parametrize(
    ("kind", "text", "name", "value", "absent"),
    [
        ("postfix-main", "biff = no\nbiff = yes\n", "biff", "yes", "relayhost"),
        (
            "postfix-master",
            "smtp inet n - y - - smtpd\n",
            "smtp/inet",
            "smtp inet n - y - - smtpd",
            "smtp/unix",
        ),
        ("opendkim", "Socket inet:8891@localhost\n", "socket", "inet:8891@localhost", "Mode"),
        ("opendmarc", "AuthservID mail\nAuthservID other\n", "AuthservID", "other", "Socket"),
        ("keytable", "k a:s:/1\nk a:s:/2\n", "k", "a:s:/1", "K"),
        ("signingtable", "*@Example.com k1\n*@example.com k2\n", "*@example.COM", "k1", "x"),
        (
            "hostlist",
            "!10.0.0.1\n10.0.0.0/8\n.example.com\n",
            "mail.example.com",
            ".example.com",
            "10.0.0.1",
        ),
        ("shellvars", 'SOCKET="local:/run/x"\n', "SOCKET", "local:/run/x", "USER"),
    ],
    ids=lambda value: value if value in mailconf.KINDS else "",
)
def test_get_in_and_subscript_give_the_daemons_answer(
    kind: str, text: str, name: str, value: str, absent: str
) -> None:
    doc = mailconf.parse(text, kind)
    assert doc.get(name) == value and doc[name] == value and name in doc
    assert doc.get(absent) is None and absent not in doc
    with pytest.raises(KeyError):
        doc[absent]
    assert isinstance(doc.to_json(), dict)


@pytest.mark.parametrize("kind", mailconf.KINDS)
def test_every_kind_lints_with_the_same_signature(kind: str, tmp_path: Path) -> None:
    path = str(tmp_path / "file")
    findings = mailconf.parse("", kind, path=path).lint(root=str(tmp_path))
    assert [finding.path for finding in findings] == [path] * len(findings)
    assert bool(findings) == (kind == "postfix-main")  # an empty main.cf has no relay control


def test_main_cf_lint_reads_the_master_cf_beside_it(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text(
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
        "smtpd_recipient_restrictions = reject_unauth_destination,"
        " check_policy_service unix:private/spf\n"
    )
    doc = mailconf.load(tmp_path / "main.cf", kind="postfix-main")
    assert doc.lint() == []  # no master.cf: the policy service cannot be checked
    (tmp_path / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    (finding,) = doc.lint()
    assert (finding.code, finding.path) == ("postfix.policy-service-missing", doc.path)


def test_milter_conf_lint_includes_what_the_daemon_refuses() -> None:
    doc = mailconf.parse("Mode sv\nCanonicalization fuzzy\n", "opendkim")
    (finding,) = doc.lint()
    assert (finding.code, finding.severity) == ("milter.bad-canonicalization", Severity.ERROR)
    assert doc.validate() == [finding]


# ---------------------------------------------------------------------- one meaning, two doors
def test_add_milter_by_name_resolves_the_socket_as_the_cli_does(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = root / "etc/postfix/main.cf"
    doc = mailconf.load(path, kind="postfix-main")
    assert doc.add_milter("opendkim", root=root)
    assert doc.get("smtpd_milters") == "local:opendkim/opendkim.sock"
    assert doc.dump() == cli_result(
        path, "--add-milter", "opendkim", "--root", str(root), capsys=capsys
    )
    assert not doc.add_milter("opendkim", root=str(root))  # the same socket: already there
    assert doc.remove_milter("opendkim", root=root)
    assert doc.get("smtpd_milters") == ""


def test_add_milter_by_name_falls_back_to_etc_default(root: Path) -> None:
    """Debian's init script passes /etc/default's SOCKET when the conf has none ($RUNDIR set)."""
    (root / "etc/opendkim.conf").write_text("Mode sv\n")
    (root / "etc/default/opendkim").write_text(
        "RUNDIR=/var/spool/postfix/opendkim\nSOCKET=local:$RUNDIR/opendkim.sock\n"
    )
    doc = mailconf.parse(MAIN, "postfix-main")
    assert doc.add_milter("opendkim", root=root)
    assert doc.get("smtpd_milters") == "local:opendkim/opendkim.sock"


def test_add_milter_refuses_a_daemon_without_a_socket(root: Path) -> None:
    doc = mailconf.parse(MAIN, "postfix-main")
    with pytest.raises(mailconf.EditError, match="no Socket for opendmarc under"):
        doc.add_milter("opendmarc", root=root)
    (root / "etc/opendkim.conf").write_text("Socket local:/run/opendkim/opendkim.sock\n")
    with pytest.raises(mailconf.EditError, match="outside Postfix's queue directory"):
        doc.add_milter("opendkim", root=root)
    assert doc.dump() == MAIN


def test_add_restriction_last_is_the_clis_last(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = root / "etc/postfix/main.cf"
    item = "check_policy_service unix:private/policyd-spf"
    doc = mailconf.load(path, kind="postfix-main")
    assert doc.add_restriction("smtpd_recipient_restrictions", item, last=True)
    assert doc.get("smtpd_recipient_restrictions") == (
        f"permit_mynetworks, reject_unauth_destination, {item}"
    )
    expected = cli_result(
        path, "--add-restriction", "smtpd_recipient_restrictions", item, "--last", capsys=capsys
    )
    assert doc.dump() == expected
    with pytest.raises(mailconf.EditError, match="not both"):
        doc.add_restriction("smtpd_relay_restrictions", item, after="permit_mynetworks", last=True)


@pytest.mark.parametrize(
    ("kind", "text", "name", "expected"),
    [
        (
            "postfix-main",
            "milter_protocol = 2\n",
            "milter_protocol",
            "milter_protocol = 6\nbiff = no\n",
        ),
        ("opendkim", "Mode sv\n", "MinimumKeyBits", "Mode sv\nMinimumKeyBits 6\nSyslog no\n"),
        ("shellvars", "USER=x\n", "PORT", "USER=x\nPORT=6\nDEBUG=no\n"),
    ],
)
def test_set_takes_numbers_and_booleans(kind: str, text: str, name: str, expected: str) -> None:
    doc = mailconf.parse(text, kind)
    boolean = {"postfix-main": "biff", "opendkim": "Syslog", "shellvars": "DEBUG"}[kind]
    assert doc.set(name, 6) and doc.set(boolean, False)  # type: ignore[attr-defined]
    assert doc.dump() == expected
    assert not doc.set(name, 6)  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        doc.set(name, 6.5)  # type: ignore[attr-defined]


def test_an_edit_option_of_another_kind_is_a_usage_error(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = root / "etc/opendkim.conf"
    assert cli(["edit", str(path), "--add-host", "10.0.0.1"]) == 2
    assert "--add-host does not apply to a opendkim file" in capsys.readouterr().err


def test_plan_takes_a_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    copy_example(root)
    setup = mailconf.Setup(domains=["example.com"], ips=["192.0.2.10"])
    planned = mailconf.plan(setup, root=root)
    made = make_plan(setup, SystemRoot(root))
    assert planned.steps == made.steps and planned.validations  # checked, as `mailconf plan`
    assert planned.render() == validate_plan(made).render()
    assert planned.to_json() == mailconf.plan(setup, root=str(root)).to_json()


def test_plan_stage_only_is_the_clis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``mailconf.plan(..., stage_only=True)`` is ``mailconf plan --stage-only``: the first key
    is staged (the KeyTable row marked, no SigningTable row), as the CLI plans it."""
    root = tmp_path / "root"
    copy_example(root)
    setup = mailconf.Setup(domains=["example.com"], ips=["192.0.2.10"])
    staged = mailconf.plan(setup, root, stage_only=True)
    assert staged.stage_only and staged.validations
    assert staged.steps != mailconf.plan(setup, root).steps
    flags = ["--root", str(root), "--domain", "example.com", "--ip", "192.0.2.10", "--json"]
    assert cli(["plan", "--stage-only", *flags]) == 0
    shown = json.loads(capsys.readouterr().out)
    # The two plans were made a moment apart: the staging time in the KeyTable's mark may differ.
    assert _unstamped(shown["steps"]) == _unstamped(staged.to_json()["steps"])
    assert STAMP.search(json.dumps(shown["steps"]))


#: The staging time of a KeyTable mark (keymarks.TIME_FORMAT), as the JSON of a step shows it.
STAMP = re.compile(r"staged=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _unstamped(steps: list[dict[str, object]]) -> str:
    return STAMP.sub("staged=<time>", json.dumps(steps))
