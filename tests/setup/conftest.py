"""Fixtures and helpers of the setup tests: example and Debian trees, snapshots, golden files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from example_tree import EXAMPLE_TOML, EXAMPLE_TREE, applied, copy_example, root

__all__ = ["applied", "root"]  # the fixtures of a tree with the module's ``spec`` applied

GOLDEN = Path(__file__).resolve().parent / "golden"
#: Written by an apply but not part of the configuration (lock, backups, bookkeeping).
BOOKKEEPING = ("run/", "var/backups/", "var/lib/mailconf/", "etc/.pwd.lock")

DEBIAN_FILES = (
    "/etc/postfix/main.cf",
    "/etc/postfix/master.cf",
    "/etc/opendkim.conf",
    "/etc/opendmarc.conf",
    "/etc/default/opendkim",
    "/etc/default/opendmarc",
    "/etc/passwd",
    "/etc/group",
    "/etc/gshadow",
    "/etc/mailname",
    "/usr/share/dns/root.key",
    "/var/lib/dpkg/status",
)


def copy_debian(tmp_path: Path) -> Path:
    """This machine's Debian files (as the packages installed them) under a fresh root."""
    root = tmp_path / "debian"
    for system_path in DEBIAN_FILES:
        source = Path(system_path)
        if not source.exists():
            continue
        target = root / system_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (root / "var/spool/postfix").mkdir(parents=True, exist_ok=True)
    return root


def snapshot(root: Path, *, bookkeeping: bool = False) -> dict[str, tuple[str, int, int, int]]:
    """Every regular file under ``root``: sha256, mode, uid, gid (bookkeeping left out)."""
    result = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            if not bookkeeping and relative.startswith(BOOKKEEPING):
                continue
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            result[relative] = (digest, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return result


def check_golden(name: str, data: Any) -> None:
    """Compare with ``golden/NAME``; ``MAILCONF_UPDATE_GOLDEN=1`` rewrites it."""
    path = GOLDEN / name
    text = data if isinstance(data, str) else json.dumps(data, indent=2, sort_keys=True) + "\n"
    if os.environ.get("MAILCONF_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with MAILCONF_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"plan differs from {path} (MAILCONF_UPDATE_GOLDEN=1 updates)"


class Helpers:
    """The helpers above, handed to tests as the ``helpers`` fixture (tests import no module)."""

    EXAMPLE_TREE = EXAMPLE_TREE
    EXAMPLE_TOML = EXAMPLE_TOML
    copy_example = staticmethod(copy_example)
    copy_debian = staticmethod(copy_debian)
    snapshot = staticmethod(snapshot)
    check_golden = staticmethod(check_golden)


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers


@pytest.fixture
def example_root(tmp_path: Path) -> Path:
    """A private copy of examples/ubuntu-22.04."""
    return copy_example(tmp_path / "root")
