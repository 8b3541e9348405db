"""The collection as ``ansible-galaxy collection build`` makes it and ``ansible-doc`` reads it:
every module's documentation, examples and return values render from the installed tarball."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

MODULES = ("setup", "edit", "check", "dkim")
COMMON = Path(__file__).resolve().parents[2] / "ansible/plugins/module_utils/mailconf_common.py"


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


def _common() -> Any:
    """The collection's module_utils, as a module (it imports only mailconf at its top)."""
    spec = importlib.util.spec_from_file_location("mailconf_common", COMMON)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documentation(module: str) -> dict[str, Any]:
    """A module's DOCUMENTATION as written (ansible-doc reads it without running the module)."""
    import ast

    import yaml

    tree = ast.parse((COMMON.parents[1] / "modules" / f"{module}.py").read_text())
    (text,) = (
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", None) == "DOCUMENTATION"
        and isinstance(node.value, ast.Constant)
    )
    documentation: dict[str, Any] = yaml.safe_load(text)
    return documentation


def _shape(spec: dict[str, Any]) -> dict[str, Any]:
    """What the documentation and the argument spec must agree on, for one option."""
    shape = {key: spec.get(key) for key in ("type", "elements", "default")}
    shape["required"] = bool(spec.get("required"))
    shape["options"] = {k: _shape(v) for k, v in (spec.get("options") or {}).items()}
    return shape


def test_edit_documents_exactly_the_options_the_catalogue_makes(ansible: Any) -> None:
    """The edit module's argument spec is made from the library's catalogue at run time; its
    DOCUMENTATION (read by ansible-doc, a literal) must say the same options, shaped the same."""
    shown = ansible.run("doc", "--json", "mailconf.mailconf.edit")
    assert shown.returncode == 0, shown.stderr
    documented = json.loads(shown.stdout)["mailconf.mailconf.edit"]["doc"]["options"]
    for spec in documented.values():  # ansible-doc's name for a dict's options
        if "suboptions" in spec:
            spec["options"] = spec.pop("suboptions")
    arguments = _common().edit_options()["argument_spec"]
    # The order the edits are made in (ansible-doc sorts the options; the literal keeps it).
    assert list(_documentation("edit")["options"]) == list(arguments)
    assert {k: _shape(v) for k, v in documented.items()} == {
        k: _shape(v) for k, v in arguments.items()
    }
