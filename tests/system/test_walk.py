"""The descriptor walk resolves paths as the kernel does, with mailconf's link rule on top."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mailconf import fileio
from mailconf.errors import MailconfError
from mailconf.system import accounts
from mailconf.system.root import SystemRoot
from mailconf.walk import walk


def test_relative_and_absolute_links_resolve_as_the_kernel_does(tmp_path: Path) -> None:
    (tmp_path / "a/real").mkdir(parents=True)
    (tmp_path / "a/real/file").write_text("x")
    (tmp_path / "b").mkdir()
    (tmp_path / "b/rel").symlink_to("../a/real")
    (tmp_path / "b/abs").symlink_to(tmp_path / "a")
    for path in ("b/rel/file", "b/abs/real/file", "b/rel/../real/file"):
        with walk(tmp_path / path) as place:
            assert place.path == os.path.realpath(tmp_path / path)
            assert place.read_bytes() == b"x"


def test_a_missing_directory_on_the_way_fails_only_when_used(tmp_path: Path) -> None:
    with walk(tmp_path / "missing/file") as place:
        assert place.lstat() is None
        with pytest.raises(FileNotFoundError):
            place.read_bytes()
    (tmp_path / "file").write_text("x")
    with walk(tmp_path / "file/below") as place, pytest.raises(NotADirectoryError):
        place.read_bytes()


def test_created_parents_get_the_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        fileio.atomic_write(tmp_path / "a/b/file", b"x", create_parents=0o755)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a/b").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a/b/file").stat().st_mode) == 0o644


def test_a_write_replaces_a_link_that_appeared_at_the_last_name(tmp_path: Path) -> None:
    """The walk found a file; if a link takes its place, the rename replaces the link (in the
    directory walked), it never writes through it."""
    target = tmp_path / "conf"
    target.write_text("old")
    outside = tmp_path / "outside"
    outside.write_text("keep")
    with walk(target) as place:
        target.unlink()
        target.symlink_to(outside)
        place.write(b"new")
        assert not target.is_symlink()
    assert target.read_text() == "new"
    assert outside.read_text() == "keep"


def test_chmod_refuses_a_link_that_appeared_at_the_last_name(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_text("k")
    outside = tmp_path / "outside"
    outside.write_text("keep")
    outside.chmod(0o600)
    with walk(target) as place:
        target.unlink()
        target.symlink_to(outside)
        with pytest.raises(MailconfError, match="is a symbolic link"):
            place.chmod(0o666)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o600


def test_ensure_directory_refuses_a_dangling_link(fake_root: SystemRoot) -> None:
    """As ``mkdir -p``: a link in the way is not created through, even our own."""
    fake_root.resolve("/etc/opendkim").symlink_to("nowhere")
    with pytest.raises(MailconfError, match="not a directory"):
        accounts.ensure_directory(fake_root, "/etc/opendkim")
    assert not (fake_root.path / "etc/nowhere").exists()


def test_alternate_root_writes_never_leave_it(tmp_path: Path) -> None:
    root_dir = tmp_path / "root"
    (root_dir / "etc").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root_dir / "etc/opendkim").symlink_to("../../outside")
    (root_dir / "etc/back").symlink_to("../../root/etc")  # out and in again: fine
    root = SystemRoot(root_dir)
    with pytest.raises(MailconfError, match="outside the root"):
        root.write("/etc/opendkim/key.table", b"x")
    assert list((tmp_path / "outside").iterdir()) == []
    root.write("/etc/back/x", b"x")
    assert (root_dir / "etc/x").read_bytes() == b"x"
