"""SystemRoot: mapping system paths into --root DIR without ever leaving it."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from mailconf.errors import MailconfError
from mailconf.system.root import SystemRoot


def test_maps_system_paths_under_the_root(tmp_path: Path) -> None:
    root = SystemRoot(tmp_path)
    assert not root.is_live
    assert root.resolve("/etc/postfix/main.cf") == tmp_path / "etc/postfix/main.cf"
    assert root.system_path(tmp_path / "etc/postfix/main.cf") == PurePosixPath(
        "/etc/postfix/main.cf"
    )


def test_live_root_is_identity() -> None:
    root = SystemRoot.live()
    assert root.is_live
    assert root.resolve("/etc/postfix/main.cf") == Path("/etc/postfix/main.cf")


def test_root_given_through_a_symlink_is_still_a_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    root = SystemRoot(tmp_path / "link")
    assert root.resolve("/etc/x") == tmp_path / "real/etc/x"


@pytest.mark.parametrize("bad", ["etc/passwd", "/etc/../../outside", "/..", "/etc/\0x"])
def test_relative_dotdot_and_nul_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(MailconfError):
        SystemRoot(tmp_path).resolve(bad)


def test_symlink_leading_out_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root_dir = tmp_path / "root"
    (root_dir / "etc").mkdir(parents=True)
    (root_dir / "etc/opendkim").symlink_to(outside)  # absolute link out of the root
    (root_dir / "etc/escape.conf").symlink_to("../../outside/file")  # relative one
    root = SystemRoot(root_dir)
    with pytest.raises(MailconfError, match="outside the root"):
        root.resolve("/etc/opendkim/key.table")
    with pytest.raises(MailconfError, match="outside the root"):
        root.resolve("/etc/escape.conf")
    assert not root.exists("/etc/opendkim/key.table")


def test_symlink_inside_the_root_is_followed(tmp_path: Path) -> None:
    (tmp_path / "etc/real").mkdir(parents=True)
    os.symlink("real", tmp_path / "etc/alias")
    root = SystemRoot(tmp_path)
    assert root.resolve("/etc/alias/f") == tmp_path / "etc/alias/f"


def test_system_path_outside_root_refused(tmp_path: Path) -> None:
    with pytest.raises(MailconfError):
        SystemRoot(tmp_path / "a").system_path(tmp_path / "b")
