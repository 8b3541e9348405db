"""mailconf.mailconf.dkim through a real ``ansible-playbook --diff`` run of tests/ansible/dkim.yml
(check mode, the refusals, idempotence: asserted in the playbook), and the tree it leaves is the
one ``mailconf dkim rotate``, ``activate --force`` and ``retire --force`` leave (key material and
dates aside)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

#: A date of the marks above the KeyTable rows.
_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
#: Nothing answers DNS here (the discard port of this host).
DEAD_NAMESERVER = "127.0.0.1:9"


def _applied(tools: Any, target: Path) -> Path:
    root = tools.copy_example(target)
    done = tools.mailconf_cli("apply", "--quiet", "--root", root, "--config", tools.EXAMPLE_TOML)
    assert done.returncode == 0, done.stderr
    return root


def _undated(tree: dict[str, tuple[object, ...]]) -> dict[str, tuple[object, ...]]:
    """``tree`` (``tools.tree``) without the dates of the marks, and without the backups."""
    return {
        path: tuple(_STAMP.sub(b"DATE", v) if isinstance(v, bytes) else v for v in entry)
        for path, entry in tree.items()
        if not path.startswith("var/backups/")
    }


def _backups(root: Path) -> list[list[tuple[str, bytes]]]:
    """Each backup under ``root`` (in no order: two made in one second sort by process id), its
    files' contents without key material, dates and key sizes (an RSA key's length varies)."""
    backups = []
    for directory in (root / "var/backups/mailconf").iterdir():
        files = []
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory).as_posix()
            if not path.is_file():
                continue
            content = path.read_bytes().replace(bytes(root), b"$ROOT")
            if "/etc/opendkim/keys/" in f"/{relative}":
                content = b"key"
            elif relative == "manifest.json":
                manifest = json.loads(content)
                for entry in manifest["entries"]:
                    if "/etc/opendkim/keys/" in entry["system_path"]:
                        entry["size"] = None
                content = json.dumps(manifest, sort_keys=True).encode()
            files.append((relative, _STAMP.sub(b"DATE", content)))
        backups.append(files)
    return sorted(backups)


def test_a_key_life_as_the_command_lives_it(ansible: Any, tools: Any, tmp_path: Path) -> None:
    by_module = _applied(tools, tmp_path / "module")
    by_cli = _applied(tools, tmp_path / "cli")
    inventory = tools.write_inventory(
        tmp_path / "inventory.yml",
        {"keeper": {"dkim_root": str(by_module), "dead_nameserver": DEAD_NAMESERVER}},
    )
    run = ansible.playbook(inventory, tools.HERE / "dkim.yml", "--diff")
    assert run.returncode == 0, run.output
    assert run.host("keeper")["failed"] == 0
    key_table = by_module / "etc/opendkim/key.table"
    assert f"--- before: {key_table}" not in run.output  # the diff names the file as planned
    assert "--- before: /etc/opendkim/key.table" in run.output
    assert "\n+# mailconf-dkim: staged=" in run.output

    domain = ("--root", by_cli, "--domain", "hogehoge.com", "--quiet")
    for argv in (
        ("rotate", *domain, "--selector", "s2"),
        ("activate", *domain, "--force"),
        ("retire", *domain, "--selector", "default", "--force"),
    ):
        done = tools.mailconf_cli("dkim", *argv)
        assert done.returncode == 0, done.stderr
    assert _undated(tools.tree(by_module)) == _undated(tools.tree(by_cli))
    assert len(_backups(by_module)) == 4  # the apply's, then rotate, activate, retire
    assert _backups(by_module) == _backups(by_cli)
    assert not (by_module / "etc/opendkim/keys/hogehoge.com/default.private").exists()
    assert (by_module / "etc/opendkim/keys/hogehoge.com/s2.private").exists()
