"""Symlinks a daemon account could plant are not followed, and the lock never writes through one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailconf.errors import MailconfError
from mailconf.system import accounts
from mailconf.system.lock import ApplyLock
from mailconf.system.root import SystemRoot

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="lchown to another user needs root")


def planted(link: Path, target: str, uid: int = 105) -> None:
    """A symlink owned by ``uid``, as the opendkim account could make in a directory it owns."""
    link.symlink_to(target)
    os.lchown(link, uid, uid)


@needs_root
def test_symlink_owned_by_another_user_is_refused(fake_root: SystemRoot) -> None:
    keys = fake_root.resolve("/etc/opendkim/keys/hogehoge.com")
    keys.mkdir(parents=True)
    secret = fake_root.resolve("/etc/gshadow")
    planted(keys / "default.private", str(secret))  # last component
    with pytest.raises(MailconfError, match="symlink owned by uid 105"):
        fake_root.resolve("/etc/opendkim/keys/hogehoge.com/default.private")
    before = os.stat(secret)
    with pytest.raises(MailconfError, match="symlink owned by uid 105"):
        accounts.chown(fake_root, "/etc/opendkim/keys/hogehoge.com/default.private", 105, 111)
    with pytest.raises(MailconfError, match="symlink owned by uid 105"):
        accounts.chmod(fake_root, "/etc/opendkim/keys/hogehoge.com/default.private", 0o666)
    after = os.stat(secret)
    assert (after.st_uid, after.st_gid, after.st_mode) == (
        before.st_uid,
        before.st_gid,
        before.st_mode,
    )
    assert not fake_root.exists("/etc/opendkim/keys/hogehoge.com/default.private")


@needs_root
def test_directory_symlink_owned_by_another_user_is_refused(fake_root: SystemRoot) -> None:
    fake_root.resolve("/etc/opendkim/keys").mkdir(parents=True)
    planted(fake_root.resolve("/etc/opendkim/keys/hogehoge.com"), "../..")  # -> /etc
    with pytest.raises(MailconfError, match="symlink owned by uid 105"):
        accounts.ensure_directory(
            fake_root, "/etc/opendkim/keys/hogehoge.com", mode=0o700, owner="opendkim"
        )
    with pytest.raises(MailconfError, match="symlink owned by uid 105"):
        fake_root.resolve("/etc/opendkim/keys/hogehoge.com/default.private")
    assert os.stat(fake_root.resolve("/etc")).st_uid == os.geteuid()


@needs_root
def test_a_chain_through_an_untrusted_link_is_refused(fake_root: SystemRoot) -> None:
    etc = fake_root.resolve("/etc")
    planted(etc / "untrusted", "gshadow")
    (etc / "alias").symlink_to("untrusted")  # ours, but it leads through the planted one
    with pytest.raises(MailconfError, match="symlink owned by uid 105"):
        fake_root.resolve("/etc/alias")


def test_own_and_root_symlinks_are_still_followed(fake_root: SystemRoot) -> None:
    etc = fake_root.resolve("/etc")
    (etc / "real").mkdir()
    (etc / "alias").symlink_to("real")
    (etc / "chain").symlink_to("alias")
    assert fake_root.resolve("/etc/chain/x") == etc / "chain/x"


def test_lock_never_writes_through_a_symlink(fake_root: SystemRoot) -> None:
    group = fake_root.resolve("/etc/group")
    content = group.read_bytes()
    run = fake_root.resolve("/run")
    run.mkdir()
    (run / "mailconf.lock").symlink_to("../etc/group")
    with pytest.raises(MailconfError, match=r"not a regular file|symbolic link"):
        ApplyLock(fake_root).acquire()
    assert group.read_bytes() == content
