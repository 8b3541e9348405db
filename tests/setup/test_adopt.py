"""Adopt, never clobber (issue 12): an existing OpenDKIM on inet:8891 with selector ``mail``,
``milter_default_action = tempfail`` and rspamd is taken over without losing any of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mailconf.doctor import DomainCheck, run_checks
from mailconf.findings import Severity
from mailconf.keys import generate_key
from mailconf.setup import Setup, apply, make_plan
from mailconf.setup.adopt import ConflictError
from mailconf.system.root import SystemRoot

KEY = "/etc/opendkim/keys/hogehoge.com/mail.private"
OPENDKIM_UID, OPENDKIM_GID = 116, 122  # the example tree's opendkim account


def build_adopt_tree(root: Path, *, spf: str | None = None) -> bytes:
    """The issue's server under ``root`` (a copy of the example tree); the key's bytes."""
    conf = root / "etc/opendkim.conf"
    text = conf.read_text().replace(
        "Socket\t\t\tlocal:/run/opendkim/opendkim.sock", "Socket\t\t\tinet:8891@localhost"
    )
    text += (
        "KeyTable\t\t/etc/opendkim/KeyTable\nSigningTable\t\trefile:/etc/opendkim/SigningTable\n"
    )
    conf.write_text(text)
    tables = root / "etc/opendkim"
    (tables / "keys/hogehoge.com").mkdir(parents=True)
    (tables / "KeyTable").write_text(f"mail._domainkey.hogehoge.com hogehoge.com:mail:{KEY}\n")
    (tables / "SigningTable").write_text("*@hogehoge.com mail._domainkey.hogehoge.com\n")
    key, _ = generate_key("rsa", 2048)
    pem = key.private_pem()
    private = root / KEY.lstrip("/")
    private.write_bytes(pem)
    private.chmod(0o600)
    for path in (tables, tables / "keys", tables / "keys/hogehoge.com", private):
        if path.is_dir():
            path.chmod(0o755 if path == tables else 0o700)
        if os.geteuid() == 0:
            os.chown(path, OPENDKIM_UID, OPENDKIM_GID)
    main = root / "etc/postfix/main.cf"
    main.write_text(
        main.read_text() + "milter_default_action = tempfail\n"
        "smtpd_milters = inet:localhost:8891, inet:localhost:11332\n"
        "non_smtpd_milters = inet:localhost:8891\n" + (spf or "")
    )
    return pem


def changed(diff: str) -> str:
    """The lines a diff adds or removes (no context, no headers)."""
    lines = diff.splitlines()
    return "\n".join(
        line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def spec(**kwargs: Any) -> Setup:
    return Setup.from_flags(domain="hogehoge.com", ip=["192.0.2.10"], **kwargs)


def postconf(root: Path, *names: str) -> list[str]:
    binary = shutil.which("postconf") or "/usr/sbin/postconf"
    if not os.path.exists(binary):
        pytest.skip("postconf is not installed")
    out = subprocess.run(
        [binary, "-c", str(root / "etc/postfix"), "-h", *names],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


@pytest.fixture
def adopt_root(example_root: Path) -> tuple[Path, bytes]:
    if os.geteuid() != 0:
        pytest.skip("the tree's keys are owned by opendkim: needs root (CI runs as root)")
    return example_root, build_adopt_tree(example_root)


def test_plan_adopts_the_key_and_moves_the_milter_in_place(adopt_root: tuple[Path, bytes]) -> None:
    root, _ = adopt_root
    plan = make_plan(spec(), SystemRoot(root))
    targets = {step.target: step for step in plan.steps}
    assert "/etc/opendkim/key.table" not in targets and "/etc/opendkim/KeyTable" not in targets
    assert "/etc/opendkim/SigningTable" not in targets
    # The adopted key is never generated again; only its public half is written next to it.
    assert [s.target for s in plan.of_kind("key")] == ["/etc/opendkim/keys/hogehoge.com/mail.txt"]
    assert "(kept)" in plan.of_kind("key")[0].description
    main = targets["/etc/postfix/main.cf"]
    assert "milter_default_action" not in changed(main.diff)
    assert any("replace smtpd_milters entry inet:localhost:8891" in f for f in main.replaces)
    assert any("replace non_smtpd_milters entry inet:localhost:8891" in f for f in main.replaces)
    conf = targets["/etc/opendkim.conf"]
    assert any(f.startswith("replace Socket inet:8891@localhost") for f in conf.replaces)
    assert "KeyTable" not in changed(conf.diff) and "SigningTable" not in changed(conf.diff)
    codes = {note.code for note in plan.notes}
    assert {"setup.key-adopted", "setup.default-action-kept"} <= codes
    tempfail = next(n for n in plan.notes if n.code == "setup.default-action-kept")
    assert "defers" in tempfail.message
    rendered = plan.render()
    assert "! replace smtpd_milters entry inet:localhost:8891" in rendered
    assert plan.to_json()["steps"][[s.target for s in plan.steps].index("/etc/postfix/main.cf")][
        "replaces"
    ]


def test_apply_keeps_key_position_rspamd_and_tempfail(adopt_root: tuple[Path, bytes]) -> None:
    root, pem = adopt_root
    result = apply(spec(), SystemRoot(root), progress=lambda line: None)
    assert result.ok
    assert any("smtpd_milters entry inet:localhost:8891" in f for f in result.flags())
    assert "replaced or removed, as the plan flagged" in result.render()
    assert (root / KEY.lstrip("/")).read_bytes() == pem
    smtpd, non_smtpd, action = postconf(
        root, "smtpd_milters", "non_smtpd_milters", "milter_default_action"
    )
    assert smtpd == (
        "local:opendkim/opendkim.sock, inet:localhost:11332, local:opendmarc/opendmarc.sock"
    )
    assert non_smtpd == "local:opendkim/opendkim.sock, local:opendmarc/opendmarc.sock"
    assert action == "tempfail"
    assert (root / "etc/opendkim/KeyTable").read_text() == (
        f"mail._domainkey.hogehoge.com hogehoge.com:mail:{KEY}\n"
    )
    assert not (root / "etc/opendkim/key.table").exists()
    assert make_plan(spec(), SystemRoot(root)).empty
    findings = run_checks(SystemRoot(root), [DomainCheck("hogehoge.com", "mail")], query_dns=False)
    errors = [f.render() for f in findings if f.severity is Severity.ERROR]
    assert errors == []


def test_inet_spec_keeps_the_socket_as_written(adopt_root: tuple[Path, bytes]) -> None:
    root, _ = adopt_root
    plan = make_plan(spec(socket_style="inet"), SystemRoot(root))
    targets = {step.target: step for step in plan.steps}
    assert "Socket" not in changed(targets["/etc/opendkim.conf"].diff)
    main = targets["/etc/postfix/main.cf"]
    assert "+smtpd_milters = inet:localhost:8891, inet:localhost:11332, inet:127.0.0.1:8893" in (
        main.diff
    )
    assert not main.replaces


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"selector": "s2026"}, ["'mail'", "--selector mail", "mailconf dkim rotate"]),
        ({"rsa_bits": 4096}, ["2048-bit", "--rsa-bits 2048", "mailconf dkim rotate"]),
    ],
)
def test_conflicting_spec_is_refused_with_nothing_written(
    adopt_root: tuple[Path, bytes], helpers: Any, kwargs: dict[str, Any], words: list[str]
) -> None:
    root, _ = adopt_root
    before = helpers.snapshot(root, bookkeeping=True)
    with pytest.raises(ConflictError) as refused:
        apply(spec(**kwargs), SystemRoot(root), progress=lambda line: None)
    for word in words:
        assert word in str(refused.value)
    after = helpers.snapshot(root, bookkeeping=True)
    assert {k: v for k, v in after.items() if not k.startswith("run/")} == {
        k: v for k, v in before.items() if not k.startswith("run/")
    }


def test_cli_refusal_exit_status(adopt_root: tuple[Path, bytes]) -> None:
    root, _ = adopt_root
    argv = [sys.executable, "-m", "mailconf", "plan", "--root", str(root)]
    argv += ["--domain", "hogehoge.com", "--ip", "192.0.2.10", "--selector", "other"]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "already signs with selector 'mail'" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("asked", "flags", "toml"),
    [
        (
            "selector",
            ["--selector", "other"],
            '[[domain]]\nname = "hogehoge.com"\nselector = "other"\n',
        ),
        (
            "size",
            ["--rsa-bits", "4096"],
            '[[domain]]\nname = "hogehoge.com"\n[dkim]\nrsa_bits = 4096\n',
        ),
    ],
)
def test_the_ways_on_are_those_that_work_in_the_run(
    adopt_root: tuple[Path, bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    asked: str,
    flags: list[str],
    toml: str,
) -> None:
    """A spec file refuses the one-domain flags: its refusal names the spec's setting; the
    flags' refusal names the flag (and not the spec file's setting)."""
    from mailconf.cli import main as mailconf

    root, _ = adopt_root
    setting, flag = {
        "selector": ('selector = "mail" in the spec', "--selector mail"),
        "size": ("rsa_bits = 2048 under [dkim] in the spec", "--rsa-bits 2048"),
    }[asked]
    spec_file = tmp_path / "mailconf.toml"
    spec_file.write_text('ips = ["192.0.2.10"]\n' + toml)
    assert mailconf(["plan", "--root", str(root), "--config", str(spec_file)]) == 1
    from_file = capsys.readouterr().err
    assert f"adopt it ({setting}" in from_file and flag not in from_file
    assert (
        mailconf(
            ["plan", "--root", str(root), "--domain", "hogehoge.com", "--ip", "192.0.2.10", *flags]
        )
        == 1
    )
    from_flags = capsys.readouterr().err
    assert f"adopt it ({flag}" in from_flags and "in the spec" not in from_flags
    # What the message offers works: adopting that way plans without a refusal.
    spec_file.write_text(spec_file.read_text().replace("other", "mail").replace("4096", "2048"))
    assert mailconf(["plan", "--root", str(root), "--config", str(spec_file)]) == 0
    flag_args = ["--root", str(root), "--domain", "hogehoge.com", "--ip", "192.0.2.10"]
    assert mailconf(["plan", *flag_args, *flag.split()]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("service", "program", "noted"),
    [
        ("policyd-spf", "/usr/bin/policyd-spf", False),  # mailconf's own: kept without a note
        ("spf", "/usr/bin/policyd-spf", True),
        ("spfcheck", "/usr/sbin/postfix-policyd-spf-perl", True),
    ],
)
def test_existing_spf_check_is_kept_and_not_doubled(
    example_root: Path, service: str, program: str, noted: bool
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (key owners)")
    build_adopt_tree(
        example_root,
        spf="smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, "
        f"check_policy_service unix:private/{service}\n",
    )
    master = example_root / "etc/postfix/master.cf"
    master.write_text(
        master.read_text() + f"{service} unix - n n - 0 spawn\n  user=nobody argv={program}\n"
    )
    plan = make_plan(spec(), SystemRoot(example_root))
    assert "/etc/postfix/master.cf" not in {s.target for s in plan.steps}
    main = next(s for s in plan.steps if s.target == "/etc/postfix/main.cf")
    assert "check_policy_service" not in changed(main.diff)
    assert "spf_time_limit" not in changed(main.diff)
    notes = [n for n in plan.notes if n.code == "setup.spf-adopted"]
    assert bool(notes) == noted and all(service in n.message for n in notes)


def test_tables_named_in_an_include_are_adopted(adopt_root: tuple[Path, bytes]) -> None:
    """OpenDKIM reads an ``Include``d file in place: the planner sees the KeyTable and the
    SigningTable set there (as ``opendkim -e`` does) and adopts them, not adds new ones."""
    root, _ = adopt_root
    conf = root / "etc/opendkim.conf"
    text = conf.read_text()
    tables = (
        "KeyTable\t\t/etc/opendkim/KeyTable\nSigningTable\t\trefile:/etc/opendkim/SigningTable\n"
    )
    assert tables in text
    conf.write_text(text.replace(tables, "Include\t\t\t/etc/opendkim/signing.conf\n"))
    (root / "etc/opendkim/signing.conf").write_text(tables)
    plan = make_plan(spec(), SystemRoot(root))
    assert "setup.key-adopted" in {note.code for note in plan.notes}
    targets = {step.target for step in plan.steps}
    assert not targets & {"/etc/opendkim/key.table", "/etc/opendkim/signing.table"}
    changed_conf = changed(next(s for s in plan.steps if s.target == "/etc/opendkim.conf").diff)
    assert "KeyTable" not in changed_conf and "SigningTable" not in changed_conf
