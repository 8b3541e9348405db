"""On a host whose Python has no mailconf, the edit and dkim modules (whose options come from the
library's catalogue) fail the task saying how to install it, not that their options are unknown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def test_modules_say_how_to_install_mailconf(ansible: Any, tools: Any, tmp_path: Path) -> None:
    bare = tmp_path / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", bare], check=True)
    inventory = tools.write_inventory(
        tmp_path / "inventory.yml",
        {"nolib": {"ansible_python_interpreter": str(bare / "bin" / "python")}},
    )
    tasks = [
        {"name": "edit", "mailconf.mailconf.edit": {"path": "/nonexistent/main.cf",
                                                    "set": {"biff": "no"}}},
        {"name": "dkim", "mailconf.mailconf.dkim": {"command": "status", "root": str(tmp_path)}},
    ]  # fmt: skip
    for task in tasks:
        task.update(ignore_errors=True)
    playbook = tmp_path / "nolib.yml"
    playbook.write_text(json.dumps([{"hosts": "fleet", "gather_facts": False, "tasks": tasks}]))
    run = ansible.playbook(inventory, playbook)
    assert run.host("nolib")["failed"] == 0  # ignored
    said = '"msg": "the mailconf Python library is not importable by'
    assert run.output.count(said) == 2, run.output
    assert "Unsupported parameters" not in run.output
