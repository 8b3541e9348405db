"""The bundled example system tree (examples/ubuntu-22.04) as the doctor, setup and Ansible tests
use it: a private copy, a copy with a setup applied, and the ``mailconf`` command run on one.

One place for this set-up, so that every area copies and applies the tree the same way.  The
``applied`` and ``root`` fixtures are imported by the conftests of the areas that use them; a test
module using them says what is applied with a module-scoped ``spec`` fixture.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mailconf.setup import Setup

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
EXAMPLE_TREE = EXAMPLES / "ubuntu-22.04"
EXAMPLE_TOML = EXAMPLES / "mailconf.toml"
#: The domain and selector of the doctor tests' setups.
DOMAIN = "example.test"
SELECTOR = "mail"


def copy_example(target: Path) -> Path:
    """A private copy of the example tree at ``target`` (which must not exist)."""
    shutil.copytree(EXAMPLE_TREE, target, symlinks=True)
    return target


def copy_owned(source: Path, target: Path) -> Path:
    """``cp -a``, not copytree: an applied tree's owners matter and copytree does not keep them."""
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target


def require_root_to_apply() -> None:
    """Skip unless root: an apply sets owners from the tree's passwd (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("apply sets owners from the tree's passwd: needs root (CI runs as root)")


@pytest.fixture(scope="module")
def applied(spec: Setup, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example tree with the module's ``spec`` applied, once per module (tests change
    ``root``, a copy)."""
    require_root_to_apply()
    # Imported here: the Ansible conftest (which the e2e driver loads too) needs none of it.
    from mailconf.setup import apply
    from mailconf.system.root import SystemRoot

    root = copy_example(tmp_path_factory.mktemp("applied") / "root")
    apply(spec, SystemRoot(root), progress=lambda line: None)
    return root


@pytest.fixture
def root(applied: Path, tmp_path: Path) -> Path:
    """A private copy of ``applied``, owners kept, for one test to change."""
    return copy_owned(applied, tmp_path / "root")


def mailconf_cli(
    *args: str | Path, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``mailconf`` command of this interpreter, as a user runs it (in ``cwd``)."""
    return subprocess.run(
        [sys.executable, "-m", "mailconf", *map(str, args)],
        capture_output=True, text=True, check=False, timeout=timeout, cwd=cwd,
    )  # fmt: skip


def check_cli(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``mailconf check`` of the doctor tests' domain and selector on the tree ``root``."""
    return mailconf_cli("check", "--root", root, "--domain", DOMAIN, "--selector", SELECTOR, *extra)
