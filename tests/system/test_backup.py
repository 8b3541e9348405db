"""Backups restore content, mode and owner byte for byte; new files are removed on restore."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mailconf.errors import MailconfError
from mailconf.fileio import atomic_write
from mailconf.system.backup import BackupSet, list_backups
from mailconf.system.root import SystemRoot

ODD_BYTES = b"# caf\xe9 latin-1\r\nSocket local:/x\n\x00tail without newline"


def _meta(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def _file(root: SystemRoot, system_path: str, data: bytes) -> Path:
    """A file of ``data`` at ``system_path`` under ``root``, with the directories on its way."""
    path = root.resolve(system_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_backup_and_restore_byte_identical(tmp_path: Path) -> None:
    root = SystemRoot(tmp_path)
    conf = _file(root, "/etc/opendkim.conf", ODD_BYTES)
    os.chmod(conf, 0o640)
    if os.geteuid() == 0:
        os.chown(conf, 105, 111)
    before = _meta(conf)

    backup = BackupSet.create(root)
    entry = backup.backup("/etc/opendkim.conf")
    assert entry.existed and entry.size == len(ODD_BYTES)
    assert backup.backup("/etc/opendkim.conf") == entry  # first state is kept

    atomic_write(conf, b"changed\n", mode=0o644, uid=os.getuid(), gid=os.getgid())
    new_file = root.resolve("/etc/opendkim/key.table")
    backup.backup("/etc/opendkim/key.table")  # did not exist
    new_file.parent.mkdir()
    new_file.write_bytes(b"k d:s:/p\n")

    reopened = BackupSet.open(root, backup.directory)
    assert reopened.restore() == ["/etc/opendkim/key.table", "/etc/opendkim.conf"]
    assert conf.read_bytes() == ODD_BYTES
    assert _meta(conf) == before
    assert not new_file.exists()
    assert list_backups(root) == [backup.directory]


def test_backup_directory_is_private(tmp_path: Path) -> None:
    root = SystemRoot(tmp_path)
    key_bytes = b"-----BEGIN PRIVATE KEY-----\n"
    key = _file(root, "/etc/opendkim/keys/example.test/default.private", key_bytes)
    os.chmod(key, 0o600)
    backup = BackupSet.create(root)
    backup.backup(str(root.system_path(key)))
    assert stat.S_IMODE(os.stat(backup.directory).st_mode) == 0o700
    copy = backup.directory / "files/etc/opendkim/keys/example.test/default.private"
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600


def test_restore_single_file_and_unknown_file(tmp_path: Path) -> None:
    root = SystemRoot(tmp_path)
    a = _file(root, "/etc/a", b"a\n")
    backup = BackupSet.create(root)
    backup.backup("/etc/a")
    a.write_bytes(b"b\n")
    assert backup.restore("/etc/a") == ["/etc/a"]
    assert a.read_bytes() == b"a\n"
    with pytest.raises(MailconfError):
        backup.restore("/etc/other")


def test_damaged_backup_is_refused(tmp_path: Path) -> None:
    root = SystemRoot(tmp_path)
    a = _file(root, "/etc/a", b"abc\n")
    backup = BackupSet.create(root)
    backup.backup("/etc/a")
    (backup.directory / "files/etc/a").write_bytes(b"x")
    with pytest.raises(MailconfError, match="damaged"):
        backup.restore()
    assert a.read_bytes() == b"abc\n"


def test_backup_of_a_directory_refused(tmp_path: Path) -> None:
    root = SystemRoot(tmp_path)
    root.resolve("/etc/d").mkdir(parents=True)
    with pytest.raises(MailconfError, match="not a regular file"):
        BackupSet.create(root).backup("/etc/d")


def test_one_damaged_copy_does_not_stop_the_others_being_restored(tmp_path: Path) -> None:
    root = SystemRoot(tmp_path)
    first, second = _file(root, "/etc/a.conf", b"a old\n"), _file(root, "/etc/b.conf", b"b old\n")
    backup = BackupSet.create(root)
    backup.backup("/etc/a.conf")
    backup.backup("/etc/b.conf")
    first.write_bytes(b"a new\n")
    second.write_bytes(b"b new\n")
    (backup.directory / "files/etc/b.conf").write_bytes(b"x")  # restored first, and damaged
    with pytest.raises(MailconfError, match=r"/etc/b\.conf.*damaged") as caught:
        backup.restore()
    assert first.read_bytes() == b"a old\n"
    assert "/etc/a.conf" in str(caught.value)  # says what was restored
