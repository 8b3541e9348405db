"""examples/ansible (the fleet example of the README) run for real: its inventory, with each host
pointed at a copy of the example tree and run locally, and its playbook."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from example_tree import EXAMPLES

EXAMPLE = EXAMPLES / "ansible"


def test_fleet_example_sets_up_both_hosts_and_collects_the_records(
    ansible: Any, tools: Any, tmp_path: Path
) -> None:
    hosts = {"mx1.example.com": ["example.com", "example.net"],
             "mx2.example.org": ["example.org", "shop.example.org"]}  # fmt: skip
    local = {
        "mail": {
            "hosts": {
                name: {"mailconf_root": str(tools.copy_example(tmp_path / name))} for name in hosts
            },
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "ansible_become": False,
            },
        }
    }
    (tmp_path / "local.yml").write_text(json.dumps(local))
    records = tmp_path / "dns-records.json"
    run = ansible.playbook(
        EXAMPLE / "inventory.yml", EXAMPLE / "site.yml",
        "-i", str(tmp_path / "local.yml"), "-e", f"records_file={records}",
    )  # fmt: skip
    assert run.returncode == 0, run.output
    collected = json.loads(records.read_text())
    assert sorted(collected) == sorted(hosts)
    for name, domains in hosts.items():
        assert run.host(name)["failed"] == 0
        names = {record["name"] for record in collected[name]}
        for domain in domains:
            assert {domain, f"_dmarc.{domain}"} <= names
            assert any(n.endswith(f"._domainkey.{domain}") for n in names)
        if name == "mx2.example.org":  # shop.example.org has ed25519: true
            assert "2026-ed25519._domainkey.shop.example.org" in names
        main_cf = (tmp_path / name / "etc/postfix/main.cf").read_text()
        assert "smtpd_milters" in main_cf
