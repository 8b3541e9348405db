"""Apply safety: restarts owed after a failure, the apply lock, symlinks in the way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from example_tree import EXAMPLE_TOML
from mailconf.errors import MailconfError
from mailconf.setup import ApplyError, Setup, apply, make_plan
from mailconf.system import validate
from mailconf.system.root import SystemRoot

SPEC = Setup.from_toml(EXAMPLE_TOML)


def failing_postconf(root: SystemRoot, **kwargs: Any) -> validate.Validation:
    """Passes the check of the planned files (``staged``, before writing) and refuses the files
    once written: the failure only an apply's second validation can meet (``postfix check``)."""
    if "staged" in kwargs:
        return validate.Validation("postconf", ok=True, message="")
    return validate.Validation("postconf", ok=False, message="main.cf: injected failure")


def test_failed_apply_removes_the_directory_it_created(example_root: Path) -> None:
    """A directory an apply created is removed by the rollback: the next plan is the same."""
    apply(SPEC, SystemRoot(example_root), validators=())
    assert make_plan(SPEC, SystemRoot(example_root)).empty
    (example_root / "var/spool/postfix/opendmarc").rmdir()  # OpenDMARC cannot make its socket
    plan = make_plan(SPEC, SystemRoot(example_root))
    assert [s.kind for s in plan.steps] == ["directory", "restart"]
    with pytest.raises(ApplyError, match="injected failure"):
        apply(SPEC, SystemRoot(example_root), validators=[failing_postconf])
    assert not (example_root / "var/spool/postfix/opendmarc").exists()  # undone
    again = make_plan(SPEC, SystemRoot(example_root))
    assert again.to_json()["steps"] == plan.to_json()["steps"]


def test_failed_apply_still_owes_restarts_for_what_it_did_not_undo(example_root: Path) -> None:
    """A directory an apply changed (not created) stays so after a rollback: its restart must
    stay owed."""
    apply(SPEC, SystemRoot(example_root), validators=())
    (example_root / "var/spool/postfix/opendmarc").chmod(0o755)  # the plan sets 0750 again
    plan = make_plan(SPEC, SystemRoot(example_root))
    assert [s.kind for s in plan.steps] == ["mode", "restart"]
    with pytest.raises(ApplyError, match="injected failure"):
        apply(SPEC, SystemRoot(example_root), validators=[failing_postconf])
    assert (example_root / "var/spool/postfix/opendmarc").stat().st_mode & 0o777 == 0o750
    again = make_plan(SPEC, SystemRoot(example_root))
    assert [(s.kind, s.target) for s in again.steps] == [("restart", "opendmarc")]


def test_failed_apply_does_not_owe_restarts_for_restored_files(example_root: Path) -> None:
    apply(SPEC, SystemRoot(example_root), validators=())
    main = example_root / "etc/postfix/main.cf"
    main.write_text(main.read_text().replace("milter_protocol = 6\n", ""))
    with pytest.raises(ApplyError, match="injected failure"):
        apply(SPEC, SystemRoot(example_root), validators=[failing_postconf])
    again = make_plan(SPEC, SystemRoot(example_root))
    assert [s.kind for s in again.steps] == ["file", "restart"]
    assert [s.target for s in again.of_kind("restart")] == ["postfix"]
    apply(SPEC, SystemRoot(example_root), validators=())
    assert make_plan(SPEC, SystemRoot(example_root)).empty


@pytest.mark.skipif(os.geteuid() != 0, reason="lchown to another user needs root")
def test_link_planted_by_the_opendkim_account_is_not_followed(example_root: Path) -> None:
    """After a first apply /etc/opendkim belongs to opendkim; a link it plants leads nowhere."""
    apply(SPEC, SystemRoot(example_root), validators=())
    table = example_root / "etc/opendkim/trusted.hosts"
    table.unlink()
    table.symlink_to(example_root / "etc/gshadow")
    opendkim = (example_root / "etc/opendkim").stat().st_uid
    os.lchown(table, opendkim, opendkim)
    shadow = (example_root / "etc/gshadow").read_bytes()
    with pytest.raises(MailconfError, match="symlink owned by uid"):
        make_plan(SPEC, SystemRoot(example_root))
    with pytest.raises(MailconfError, match="symlink owned by uid"):
        apply(SPEC, SystemRoot(example_root), validators=())
    assert (example_root / "etc/gshadow").read_bytes() == shadow


def test_ed25519_key_signs_beside_the_rsa_key(example_root: Path) -> None:
    """MultipleSignatures: the SigningTable maps the domain to both keys, RSA first."""
    setup = Setup(domains=["hogehoge.com"], hostname="mail.hogehoge.com", ed25519=True)
    apply(setup, SystemRoot(example_root), validators=())
    rows = (example_root / "etc/opendkim/signing.table").read_text().splitlines()
    assert [row.split() for row in rows] == [
        ["*@hogehoge.com", "default._domainkey.hogehoge.com"],
        ["*@hogehoge.com", "default-ed25519._domainkey.hogehoge.com"],
    ]
    assert make_plan(setup, SystemRoot(example_root)).empty


def test_a_damaged_backup_copy_does_not_stop_the_rollback(example_root: Path) -> None:
    master = example_root / "etc/postfix/master.cf"
    master_before = master.read_bytes()

    def damage_then_fail(root: SystemRoot, **kwargs: Any) -> validate.Validation:
        if "staged" in kwargs:  # the check before writing: no backup yet
            return failing_postconf(root, **kwargs)
        (copy,) = (example_root / "var/backups/mailconf").glob("*/files/etc/postfix/main.cf")
        copy.write_bytes(b"x")
        return failing_postconf(root)

    with pytest.raises(ApplyError, match="injected failure") as caught:
        apply(SPEC, SystemRoot(example_root), validators=[damage_then_fail])
    result = caught.value.result
    assert master.read_bytes() == master_before  # the others were still restored
    assert "/etc/postfix/master.cf" in result.restored
    assert any("main.cf" in item and "damaged" in item for item in result.not_done)


def test_membership_written_to_group_but_not_gshadow_converges(example_root: Path) -> None:
    """An apply killed between etc/group and etc/gshadow (the kill -9 test hits it under load):
    the next plan sees gshadow behind and the next apply completes it."""
    apply(SPEC, SystemRoot(example_root), progress=lambda line: None)
    gshadow = example_root / "etc/gshadow"
    text = gshadow.read_text()
    assert "opendkim:!::postfix\n" in text
    gshadow.write_text(text.replace("opendkim:!::postfix\n", "opendkim:!::\n"))
    plan = make_plan(SPEC, SystemRoot(example_root))
    assert [s.target for s in plan.of_kind("group-member")] == ["postfix@opendkim"]
    apply(SPEC, SystemRoot(example_root), progress=lambda line: None)
    assert gshadow.read_text() == text
    assert make_plan(SPEC, SystemRoot(example_root)).empty
