"""mailconf.mailconf.edit and .check through one real ``ansible-playbook`` run (edit_check.yml):
each edit, made by the module in three phases (check mode, for real, again), leaves its file as
``mailconf edit`` with the same options does; the doctor's findings are ``mailconf check``'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The edits of edits.yml, as ``mailconf edit`` options.
CLI_EDITS = {
    "etc/postfix/main.cf": [
        "--set", "smtpd_tls_security_level=may", "--set", "smtpd_tls_loglevel=1",
        "--add-restriction", "smtpd_recipient_restrictions",
        "check_policy_service unix:private/policyd-spf", "--last",
    ],
    "etc/opendkim.conf": [
        "--set", "Mode=sv", "--set", "SubDomains=no", "--unset", "OversignHeaders",
    ],
    "etc/postfix/master.cf": [
        "--add-service",
        "policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf",
    ],
    "etc/opendkim/key.table": [
        "--add-entry",
        "default._domainkey.example.org "
        "example.org:default:/etc/opendkim/keys/example.org/default.private",
    ],
    "etc/opendkim/trusted.hosts": [
        "--add-host", "::1", "--add-host", ".example.org", "--remove-host", "192.0.2.99",
    ],
}  # fmt: skip


def _tables(root: Path) -> Path:
    """The example tree has no OpenDKIM tables yet: a KeyTable and a host list to edit."""
    (root / "etc/opendkim").mkdir()
    (root / "etc/opendkim/key.table").write_text(
        "# keys\ndefault._domainkey.example.com example.com:default:/etc/opendkim/keys/k\n"
    )
    (root / "etc/opendkim/trusted.hosts").write_text("127.0.0.1\n192.0.2.99\n")
    return root


def test_edits_and_doctor(ansible: Any, tools: Any, tmp_path: Path) -> None:
    edited = _tables(tools.copy_example(tmp_path / "edited"))
    expected = _tables(tools.copy_example(tmp_path / "expected"))
    original = _tables(tools.copy_example(tmp_path / "original"))
    doctor = tools.copy_example(tmp_path / "doctor")
    findings = tmp_path / "findings.json"
    inventory = tools.write_inventory(
        tmp_path / "inventory.yml",
        {
            "editor": {
                "edit_root": str(edited),
                "doctor_root": str(doctor),
                "spec_file": str(tools.EXAMPLE_TOML),
                "findings_file": str(findings),
            }
        },
    )
    run = ansible.playbook(inventory, tools.HERE / "edit_check.yml", "--diff")
    assert run.returncode == 0, run.output
    assert run.host("editor")["failed"] == 0

    for relative, options in CLI_EDITS.items():
        done = tools.mailconf_cli("edit", expected / relative, *options)
        assert done.returncode == 0, done.stderr
        assert (edited / relative).read_bytes() == (expected / relative).read_bytes(), relative
        assert (edited / relative).read_bytes() != (original / relative).read_bytes(), relative
    main_cf = edited / "etc/postfix/main.cf"
    assert f"--- before: {main_cf}\n+++ after: {main_cf}" in run.output
    assert "\n+smtpd_tls_loglevel = 1\n" in run.output

    checked = tools.mailconf_cli(
        "check", "--no-dns", "--json", "--root", doctor, "--config", tools.EXAMPLE_TOML
    )
    assert checked.returncode == 1, checked.stderr  # error findings
    assert json.loads(findings.read_text()) == json.loads(checked.stdout)
