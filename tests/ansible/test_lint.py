"""ansible-lint (its production profile) passes on the example playbook of the README and on the
playbooks of these tests, run offline: the run starts in a network namespace of its own when
``unshare`` allows it, so a rule that fetched anything would fail here rather than hang in CI.
A playbook with known faults is linted in the same run, so the test fails if ansible-lint stops
checking (or the collection's modules stop resolving: a module it cannot find is a
syntax-check failure).

Skipped when ansible-lint is not importable (the test extras install it on Python 3.11 and
newer; .ci/run's Python 3.10 pass leaves tests/ansible out).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ansiblelint", reason="ansible-lint is not installed (pip install -e .[test])")

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = [
    "examples/ansible/site.yml",
    "examples/ansible/inventory.yml",
    *(f"tests/ansible/{path.name}" for path in sorted(Path(__file__).parent.glob("*.yml"))),
]
#: A play without a name, a task without a name, a command that always reports a change.
FAULTY = "- hosts: all\n  tasks:\n    - ansible.builtin.command: echo hi\n"
FAULTS = {"name[play]", "name[missing]", "no-changed-when"}


def _offline() -> list[str]:
    """``unshare -n`` (a network namespace with no interface up) where this user may make one."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], check=False).returncode == 0:
        return [unshare, "-n"]
    return []


def test_playbooks_pass_ansible_lint(ansible: Any, tmp_path: Path) -> None:
    for relative in PLAYBOOKS:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, tmp_path / relative)
    (tmp_path / "faulty.yml").write_text(FAULTY)
    linted = subprocess.run(
        [*_offline(), sys.executable, "-m", "ansiblelint", "--offline", "--nocolor",
         "--project-dir", str(tmp_path), "-f", "json", *PLAYBOOKS, "faulty.yml"],
        capture_output=True, text=True, env=ansible.env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert linted.returncode == 2, linted.stdout + linted.stderr  # the faulty playbook's faults
    issues = json.loads(linted.stdout)
    where = {(issue["location"]["path"], issue["check_name"]) for issue in issues}
    assert where == {("faulty.yml", fault) for fault in FAULTS}, linted.stderr
    # Each file given, and the task files the playbooks include.
    processed = re.search(r" in (\d+) files processed", linted.stderr)
    assert processed and int(processed[1]) > len(PLAYBOOKS), linted.stderr
