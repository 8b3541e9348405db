"""The collection as ``ansible-galaxy collection build`` makes it and ``ansible-doc`` reads it:
every module's documentation, examples and return values render from the installed tarball."""

from __future__ import annotations

import json
from typing import Any

MODULES = ("setup", "edit", "check")


def test_every_module_is_documented(ansible: Any) -> None:
    shown = ansible.run("doc", "--json", *(f"mailconf.mailconf.{m}" for m in MODULES))
    assert shown.returncode == 0, shown.stderr
    docs = json.loads(shown.stdout)
    assert sorted(docs) == sorted(f"mailconf.mailconf.{m}" for m in MODULES)
    for name, doc in docs.items():
        assert doc["doc"]["short_description"], name
        assert doc["examples"].strip(), name
        assert doc["doc"]["options"], name
        for option, spec in doc["doc"]["options"].items():
            assert spec.get("description"), f"{name}: {option} has no description"
    setup = docs["mailconf.mailconf.setup"]
    # The spec options come from the doc fragment, the module's own after them.
    assert {"domains", "ips", "config", "root", "hard_fail"} <= set(setup["doc"]["options"])
    assert {"steps", "records", "findings"} <= set(setup["return"])


def test_ansible_doc_renders_the_text(ansible: Any) -> None:
    shown = ansible.run("doc", *(f"mailconf.mailconf.{m}" for m in MODULES))
    assert shown.returncode == 0, shown.stderr
    for module in MODULES:
        assert f"mailconf.mailconf.{module}" in shown.stdout
    assert shown.stdout.count("EXAMPLES") == shown.stdout.count("RETURN VALUES") == len(MODULES)
