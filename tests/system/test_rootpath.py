"""One mapping of system paths under a root, for the system layer and for the milters' lint: the
lint of a --root tree reads nothing outside it and nothing through a link a daemon account
planted (it used to join the paths and follow whatever links were there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailconf.milter.conf import OpenDkimConf
from mailconf.rootpath import under
from mailconf.syntax.kinds import parse_kind
from mailconf.system.root import SystemRoot

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="lchown to another user needs root")


def test_absolute_paths_are_mapped_and_relative_ones_kept(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    assert under(str(tmp_path), "/etc/opendkim.conf") == str(tmp_path / "etc/opendkim.conf")
    assert under(str(tmp_path), "/etc/opendkim.conf") == str(
        SystemRoot(tmp_path).resolve("/etc/opendkim.conf")
    )
    assert under("/", "/etc/passwd") == "/etc/passwd"
    assert under(str(tmp_path), "keys/a.private") == "keys/a.private"


def test_what_the_mapping_refuses_reads_as_missing(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/out").symlink_to("/etc")  # absolute: leads out of the root
    assert under(str(tmp_path), "/etc/out/passwd") == ""
    assert under(str(tmp_path), "/etc/../../etc/passwd") == ""
    assert not os.path.isfile(under(str(tmp_path), "/etc/out/passwd"))
    with pytest.raises(FileNotFoundError):
        os.stat(under(str(tmp_path), "/etc/out/passwd"))


def _lint(root: Path, conf_text: str) -> list[str]:
    conf = parse_kind(conf_text, "opendkim", path=str(root / "etc/opendkim.conf"))
    assert isinstance(conf, OpenDkimConf)
    return [f.render() for f in conf.lint(root=str(root))]


def test_lint_of_a_root_does_not_read_the_live_system_through_a_link(tmp_path: Path) -> None:
    (tmp_path / "etc/opendkim").mkdir(parents=True)
    (tmp_path / "etc/opendkim/trusted.hosts").symlink_to("/etc/passwd")
    rendered = _lint(tmp_path, "InternalHosts /etc/opendkim/trusted.hosts\n")
    assert not [line for line in rendered if "root:" in line]
    assert any("trusted.hosts does not exist" in line for line in rendered)


@needs_root
def test_lint_does_not_follow_a_link_a_daemon_account_planted(tmp_path: Path) -> None:
    (tmp_path / "etc/opendkim").mkdir(parents=True)
    (tmp_path / "etc/secret").write_text("root:$6$secret:19000:0:99999:7:::\n")
    link = tmp_path / "etc/opendkim/trusted.hosts"
    link.symlink_to("../secret")  # inside the root, but owned by a daemon account
    os.lchown(link, 105, 105)
    rendered = _lint(tmp_path, "InternalHosts /etc/opendkim/trusted.hosts\n")
    assert not [line for line in rendered if "secret" in line]
