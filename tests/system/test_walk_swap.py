"""A daemon account swaps a checked directory for a symlink mid-walk: nothing escapes.

``mailconf.walk.component_checked`` is called once the walk has checked a component; the tests
replace it to do what the opendkim account could do at that very moment in a directory it owns:
rename the checked directory away and put a symlink to an outside directory in its place. A walk
that checked names and then used the path would follow the new link (each test asserts that the
path now leads outside, so it would have); the descriptor walk works on what it checked and
refuses the change.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from example_tree import EXAMPLE_TOML, copy_example
from mailconf import fileio, walk
from mailconf.errors import MailconfError
from mailconf.setup import ApplyError, Setup, apply, make_plan
from mailconf.system import accounts
from mailconf.system.root import SystemRoot

OPENDKIM = 105  # the fake root's opendkim uid
KEYS = "/etc/opendkim/keys/hogehoge.com"
KEY = f"{KEYS}/default.private"


def _state(directory: Path) -> dict[str, tuple[bytes, int, int, int]]:
    """Every file below ``directory``: content, mode, owner, group."""
    found = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else b""
        found[str(path.relative_to(directory))] = (
            data,
            stat.S_IMODE(info.st_mode),
            info.st_uid,
            info.st_gid,
        )
    return found


def _swapper(
    monkeypatch: pytest.MonkeyPatch,
    directory: Path,
    outside: Path,
    armed: Callable[[], bool] = lambda: True,
) -> list[str]:
    """Install the attack on ``directory``; returns the list of swaps done (one at most)."""
    swaps: list[str] = []

    def component_checked(path: str) -> None:
        if path == str(directory) and not swaps and armed():
            directory.rename(directory.with_name(directory.name + ".moved"))
            directory.symlink_to(outside)
            if os.geteuid() == 0:
                os.lchown(directory, OPENDKIM, OPENDKIM)  # the daemon account's link
            swaps.append(path)

    monkeypatch.setattr(walk, "component_checked", component_checked)
    return swaps


@pytest.fixture
def attack(fake_root: SystemRoot, tmp_path: Path) -> Path:
    """The key directory with a key, and an outside directory holding a decoy of the same name."""
    keys = fake_root.path / KEYS.lstrip("/")
    keys.mkdir(parents=True)
    (keys / "default.private").write_bytes(b"the real key\n")
    (keys / "default.private").chmod(0o600)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "default.private").write_bytes(b"not ours\n")
    (outside / "default.private").chmod(0o644)
    return outside


OPERATIONS: dict[str, Callable[[SystemRoot], object]] = {
    "write": lambda root: root.write(KEY, b"new\n", mode=0o600),
    "atomic_write": lambda root: fileio.atomic_write(root.path / KEY.lstrip("/"), b"new\n"),
    "chmod": lambda root: accounts.chmod(root, KEY, 0o666),
    "chown": lambda root: accounts.chown(root, KEY, OPENDKIM, 111),
    "mkdir": lambda root: accounts.ensure_directory(root, f"{KEYS}/sub", mode=0o777),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_swap_after_the_check_is_refused_and_nothing_escapes(
    fake_root: SystemRoot, attack: Path, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    if operation == "chown" and os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    keys = fake_root.path / KEYS.lstrip("/")
    before = _state(attack)
    swaps = _swapper(monkeypatch, keys, attack)
    with pytest.raises(MailconfError, match="was replaced while mailconf was working in it"):
        OPERATIONS[operation](fake_root)
    assert swaps == [str(keys)], "the swap never happened: the test proves nothing"
    assert Path(os.path.realpath(keys / "default.private")) == attack / "default.private"
    assert _state(attack) == before
    moved = keys.with_name("hogehoge.com.moved")
    assert sorted(p.name for p in moved.iterdir()) == ["default.private"]  # no temporary left
    assert (moved / "default.private").read_bytes() == b"the real key\n"
    assert stat.S_IMODE((moved / "default.private").stat().st_mode) == 0o600


def test_a_read_after_the_swap_returns_what_was_checked(
    fake_root: SystemRoot, attack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = fake_root.path / KEYS.lstrip("/")
    swaps = _swapper(monkeypatch, keys, attack)
    assert fake_root.read_bytes(KEY) == b"the real key\n"
    assert swaps


def test_a_trusted_link_swapped_after_its_check_is_followed_as_checked(
    fake_root: SystemRoot, attack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Owner and target come from one descriptor of the link: replacing the link between the
    owner check and ``readlink`` changes nothing."""
    keys = fake_root.path / KEYS.lstrip("/")
    (keys / "default.private").rename(keys / "real.private")
    link = keys / "default.private"
    link.symlink_to("real.private")  # ours: followed
    before = _state(attack)
    swapped: list[str] = []

    def component_checked(path: str) -> None:
        if path == str(link) and not swapped:
            link.unlink()
            link.symlink_to(attack / "default.private")
            swapped.append(path)

    monkeypatch.setattr(walk, "component_checked", component_checked)
    assert accounts.chmod(fake_root, KEY, 0o640)
    assert swapped
    assert stat.S_IMODE((keys / "real.private").stat().st_mode) == 0o640
    assert _state(attack) == before


def _example_root(tmp_path: Path) -> SystemRoot:
    root = tmp_path / "example"
    copy_example(root)
    return SystemRoot(root)


def test_swap_mid_apply_is_refused_and_nothing_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a first apply the key directory belongs to opendkim. A second apply has to chmod the
    key back to 0600; while it does, the account swaps the directory for a link to /etc-like
    files. The apply stops with a clear error and the outside file keeps its mode and owner."""
    root = _example_root(tmp_path)
    setup = Setup.from_toml(EXAMPLE_TOML)
    apply(setup, root, validators=())
    keys = root.path / KEYS.lstrip("/")
    (keys / "default.private").chmod(0o644)
    assert [s.kind for s in make_plan(setup, root).steps if s.target == KEY] == ["mode"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "default.private").write_bytes(b"root's secret\n")
    (outside / "default.private").chmod(0o644)
    before = _state(outside)
    in_mode_step: list[bool] = []
    swaps = _swapper(monkeypatch, keys, outside, armed=lambda: bool(in_mode_step))

    def before_step(index: int, step: object) -> None:
        in_mode_step[:] = [getattr(step, "kind", "") == "mode"]

    with pytest.raises(ApplyError, match="was replaced while mailconf was working in it"):
        apply(setup, root, validators=(), before_step=before_step)
    assert swaps == [str(keys)]
    assert Path(os.path.realpath(keys / "default.private")) == outside / "default.private"
    assert _state(outside) == before
