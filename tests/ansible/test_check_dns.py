"""mailconf.mailconf.check with DNS (check_dns.yml, one real ``ansible-playbook`` run): its
findings are those of ``mailconf check --config`` asking the same name server, the published DMARC
policy compared with the spec's included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def test_check_compares_the_published_policy_as_mailconf_check(
    ansible: Any, tools: Any, tmp_path: Path
) -> None:
    """The example spec states p=none; the zone publishes p=reject: both report
    ``dmarc.policy-differs`` (the module once left the policy out of its comparison)."""
    root = tools.copy_example(tmp_path / "root")
    findings = tmp_path / "findings.json"
    published = {"_dmarc.hogehoge.com": [["v=DMARC1; p=reject; rua=mailto:d@hogehoge.com"]]}
    with tools.DnsServer(txt=published) as zone:
        inventory = tools.write_inventory(
            tmp_path / "inventory.yml",
            {
                "doctor": {
                    "doctor_root": str(root),
                    "spec_file": str(tools.EXAMPLE_TOML),
                    "findings_file": str(findings),
                    "nameserver": zone.address,
                }
            },
        )
        run = ansible.playbook(inventory, tools.HERE / "check_dns.yml")
        checked = tools.mailconf_cli(
            "check", "--json", "--root", root, "--config", tools.EXAMPLE_TOML,
            "--nameserver", zone.address,
        )  # fmt: skip
    assert run.returncode == 0, run.output
    from_module = json.loads(findings.read_text())
    assert from_module == json.loads(checked.stdout)
    (differs,) = [f for f in from_module if f["code"] == "dmarc.policy-differs"]
    assert "p=reject" in differs["message"]
