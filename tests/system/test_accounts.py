"""Users, groups, membership and directories under an alternate root."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence

import pytest

from mailconf.errors import MailconfError
from mailconf.system import accounts
from mailconf.system.root import SystemRoot
from mailconf.system.run import CommandResult


def test_read_users_and_groups(fake_root: SystemRoot) -> None:
    users = accounts.read_users(fake_root)
    assert users["opendkim"].uid == 105
    assert users["postfix"].gid == 110
    groups = accounts.read_groups(fake_root)
    assert groups["opendmarc"].members == ("alice", "bob")
    assert groups["postdrop"].gid == 113
    assert "+nisgroup" not in groups


def test_group_membership_rewrites_only_the_member_field(fake_root: SystemRoot) -> None:
    group_file = fake_root.resolve("/etc/group")
    gshadow = fake_root.resolve("/etc/gshadow")
    group_before, gshadow_before = group_file.read_bytes(), gshadow.read_bytes()
    assert accounts.ensure_group_member(fake_root, "opendkim", "postfix") is True
    expected = group_before.replace(b"opendkim:x:111:", b"opendkim:x:111:postfix")
    assert group_file.read_bytes() == expected
    expected = gshadow_before.replace(b"opendkim:!::", b"opendkim:!::postfix")
    assert gshadow.read_bytes() == expected
    assert stat.S_IMODE(os.stat(gshadow).st_mode) == 0o640

    assert accounts.ensure_group_member(fake_root, "opendmarc", "postfix") is True
    assert b"opendmarc:x:112:alice,bob,postfix\n" in group_file.read_bytes()
    assert b"opendmarc:!::alice,bob,postfix\n" in gshadow.read_bytes()
    assert accounts.is_group_member(fake_root, "opendmarc", "postfix")


def test_group_membership_is_idempotent(fake_root: SystemRoot) -> None:
    accounts.ensure_group_member(fake_root, "opendkim", "postfix")
    before = fake_root.resolve("/etc/group").read_bytes()
    before_shadow = fake_root.resolve("/etc/gshadow").read_bytes()
    assert accounts.ensure_group_member(fake_root, "opendkim", "postfix") is False
    assert fake_root.resolve("/etc/group").read_bytes() == before
    assert fake_root.resolve("/etc/gshadow").read_bytes() == before_shadow


def test_primary_group_counts_as_membership(fake_root: SystemRoot) -> None:
    before = fake_root.resolve("/etc/group").read_bytes()
    assert accounts.ensure_group_member(fake_root, "postfix", "postfix") is False
    assert fake_root.resolve("/etc/group").read_bytes() == before


def test_last_line_without_newline_and_missing_gshadow(fake_root: SystemRoot) -> None:
    fake_root.resolve("/etc/gshadow").unlink()
    assert accounts.ensure_group_member(fake_root, "postdrop", "postfix")
    assert fake_root.resolve("/etc/group").read_bytes().endswith(b"\npostdrop:x:113:postfix")
    assert not fake_root.resolve("/etc/gshadow").exists()


def test_unknown_user_or_group_is_a_clear_error(fake_root: SystemRoot) -> None:
    with pytest.raises(MailconfError, match="user 'nobody2' does not exist"):
        accounts.ensure_group_member(fake_root, "opendkim", "nobody2")
    with pytest.raises(MailconfError, match="group 'nogroup2' does not exist"):
        accounts.ensure_group_member(fake_root, "nogroup2", "postfix")


def test_live_root_runs_gpasswd_as_an_argument_list() -> None:
    calls: list[tuple[str, ...]] = []

    def fake_runner(
        argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        calls.append(tuple(argv))
        return CommandResult(tuple(argv), 0, "", "")

    live = SystemRoot.live()
    users = accounts.read_users(live)
    groups = accounts.read_groups(live)
    if "postfix" not in users or "opendkim" not in groups:
        pytest.skip("postfix/opendkim accounts not on this machine")
    if accounts.is_group_member(live, "opendkim", "postfix"):
        pytest.skip("postfix is already in opendkim here: gpasswd would not be called")
    assert accounts.ensure_group_member(live, "opendkim", "postfix", runner=fake_runner)
    assert calls == [("gpasswd", "-a", "postfix", "opendkim")]


def test_ensure_directory_mode_and_owner_by_name(fake_root: SystemRoot) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to other users needs root")
    path = "/var/spool/postfix/opendkim"
    assert accounts.ensure_directory(fake_root, path, mode=0o750, owner="opendkim", group="postfix")
    st = os.stat(fake_root.resolve(path))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 105, 110)
    parent = os.stat(fake_root.resolve("/var/spool/postfix"))
    assert stat.S_IMODE(parent.st_mode) == 0o755
    assert not accounts.ensure_directory(
        fake_root, path, mode=0o750, owner="opendkim", group="postfix"
    )
    assert accounts.chmod(fake_root, path, 0o700)
    assert accounts.chown(fake_root, path, group="opendkim")
    assert os.stat(fake_root.resolve(path)).st_gid == 111


def test_ensure_directory_unknown_owner_creates_nothing(fake_root: SystemRoot) -> None:
    with pytest.raises(MailconfError):
        accounts.ensure_directory(fake_root, "/etc/opendkim/keys", owner="nobody2")
    assert not fake_root.resolve("/etc/opendkim").exists()


def test_ensure_directory_refuses_a_file_in_the_way(fake_root: SystemRoot) -> None:
    fake_root.resolve("/etc/opendkim").write_text("x")
    with pytest.raises(MailconfError, match="not a directory"):
        accounts.ensure_directory(fake_root, "/etc/opendkim")
