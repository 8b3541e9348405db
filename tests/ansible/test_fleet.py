"""mailconf.mailconf.setup through real ``ansible-playbook`` runs on a fleet: five hosts (local
connections, forks 5), each managing its own copy of examples/ubuntu-22.04, plus a host whose spec
is bad and a host whose Python has no mailconf.

Three runs of tests/ansible/fleet.yml (``--check --diff``, the apply, the apply again) are made
once for the module; each test asserts one thing about them.  The reference is a tree set up by
``mailconf apply --root`` with examples/mailconf.toml, which the playbook's options restate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mailconf

FLEET = [f"fleet{n}" for n in range(1, 6)]
BAD_IP = "192.0.2.300"
GOOD_IPS = ["192.0.2.10", "2001:db8::10"]


class Fleet:
    """The trees, the reference and the three runs."""

    def __init__(self, base: Path, ansible: Any, tools: Any) -> None:
        self.base = base
        self.tools = tools
        self.pristine = tools.tree(tools.copy_example(base / "pristine"))
        self.reference = tools.copy_example(base / "reference")
        applied = tools.mailconf_cli(
            "apply", "--quiet", "--root", self.reference, "--config", tools.EXAMPLE_TOML
        )
        assert applied.returncode == 0, applied.stderr
        self.roots = {
            name: tools.copy_example(base / "roots" / name)
            for name in [*FLEET, "badspec", "nolib", "refused"]
        }
        # A row opendkim cannot compile, which the plan keeps: the daemon refuses the planned files.
        signing = self.roots["refused"] / "etc/opendkim/signing.table"
        signing.parent.mkdir(exist_ok=True)
        signing.write_text("*@[bad x\n")
        self.before_refused = tools.tree(self.roots["refused"])
        bare = base / "bare-python"
        # A Python without mailconf: a virtual environment of this one, without its packages.
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", bare], check=True)
        hosts: dict[str, dict[str, object]] = {
            name: {"mailconf_root": str(root), "mailconf_ips": GOOD_IPS}
            for name, root in self.roots.items()
        }
        hosts["badspec"]["mailconf_ips"] = [BAD_IP]
        hosts["nolib"]["ansible_python_interpreter"] = str(bare / "bin" / "python")
        inventory = tools.write_inventory(base / "inventory.yml", hosts)
        self.records = base / "records"
        self.records.mkdir()
        playbook = tools.HERE / "fleet.yml"
        extra = ["-e", f"records_dir={self.records}"]
        self.check = ansible.playbook(inventory, playbook, "--check", "--diff", *extra)
        self.after_check = {name: tools.tree(root) for name, root in self.roots.items()}
        self.apply = ansible.playbook(inventory, playbook, *extra)
        self.after_apply = {name: tools.tree(root) for name, root in self.roots.items()}
        self.again = ansible.playbook(inventory, playbook, *extra)


@pytest.fixture(scope="module")
def fleet(ansible: Any, tools: Any, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return Fleet(tmp_path_factory.mktemp("fleet"), ansible, tools)


def test_check_mode_reports_changed_and_changes_nothing(fleet: Fleet) -> None:
    for name in FLEET:
        assert fleet.check.host(name) == {"ok": 1, "changed": 1, "failed": 0}, fleet.check.output
    for name, snapshot in fleet.after_check.items():
        before = fleet.before_refused if name == "refused" else fleet.pristine
        assert snapshot == before, f"check mode changed {name}'s tree"


def test_diff_shows_the_main_cf_change(fleet: Fleet) -> None:
    output = fleet.check.output
    assert "--- before: /etc/postfix/main.cf\n+++ after: /etc/postfix/main.cf" in output
    before = (fleet.base / "pristine/etc/postfix/main.cf").read_text()
    after = (fleet.reference / "etc/postfix/main.cf").read_text()
    added = fleet.tools.added_lines(before, after)
    assert any(line.startswith("smtpd_milters") for line in added)
    for line in added:
        assert f"\n+{line}\n" in output, output


def test_apply_changes_every_tree_as_mailconf_apply_does(fleet: Fleet) -> None:
    for name in FLEET:
        # The setup, then the records file on the controller.
        assert fleet.apply.host(name) == {"ok": 2, "changed": 2, "failed": 0}, fleet.apply.output
    reference = fleet.tools.tree(fleet.reference)
    assert reference != fleet.pristine
    for name in FLEET:
        assert fleet.after_apply[name] == reference, f"{name} differs from mailconf apply"


def test_records_are_what_mailconf_dns_prints(fleet: Fleet) -> None:
    for name in FLEET:
        printed = fleet.tools.mailconf_cli(
            "dns", "--format", "json", "--root", fleet.roots[name],
            "--config", fleet.tools.EXAMPLE_TOML,
        )  # fmt: skip
        assert printed.returncode == 0, printed.stderr
        records = json.loads((fleet.records / f"{name}.json").read_text())
        assert records == json.loads(printed.stdout)
        assert [r["name"] for r in records] == [
            "hogehoge.com", "default._domainkey.hogehoge.com", "_dmarc.hogehoge.com"
        ]  # fmt: skip
    keys = {(fleet.records / f"{name}.json").read_text() for name in FLEET}
    assert len(keys) == len(FLEET), "each host has its own DKIM key"


def test_second_run_changes_nothing(fleet: Fleet) -> None:
    for name in FLEET:
        assert fleet.again.host(name) == {"ok": 2, "changed": 0, "failed": 0}, fleet.again.output


def test_bad_spec_fails_its_host_with_the_library_message(fleet: Fleet) -> None:
    with pytest.raises(mailconf.ValidationError) as refused:
        mailconf.Setup(domains=["hogehoge.com"], ips=[BAD_IP])
    message = json.dumps(str(refused.value))
    for run in (fleet.check, fleet.apply, fleet.again):
        assert run.returncode == 2  # ansible-playbook: a host failed
        assert run.host("badspec")["failed"] == 1
        assert "fatal: [badspec]: FAILED! => " in run.output
        assert f'"msg": {message}' in run.output, run.output
    assert fleet.after_apply["badspec"] == fleet.pristine


def test_planned_files_the_daemon_refuses_fail_the_host_in_check_mode_too(fleet: Fleet) -> None:
    # As ``mailconf plan`` exits 1 when a daemon refuses the planned files, check mode fails.
    assert fleet.check.host("refused")["failed"] == 1, fleet.check.output
    assert "the plan is refused: /etc/opendkim.conf: error: opendkim refuses" in fleet.check.output
    assert fleet.apply.host("refused")["failed"] == 1, fleet.apply.output
    lock = {"run", "run/mailconf.lock"}  # apply's lock, taken before it plans
    after = {
        path: entry for path, entry in fleet.after_apply["refused"].items() if path not in lock
    }
    assert after == fleet.before_refused  # nothing written


def test_host_without_mailconf_says_how_to_install_it(fleet: Fleet) -> None:
    for run in (fleet.check, fleet.apply):
        assert run.host("nolib")["failed"] == 1
        assert "the mailconf Python library is not importable by" in run.output
        assert "python3 -m pip install /path/to/mailconf-VERSION-py3-none-any.whl" in run.output
    assert fleet.after_apply["nolib"] == fleet.pristine
