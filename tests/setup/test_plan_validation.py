"""``plan`` runs the checks an apply runs before writing: the real daemons on the planned files
(:mod:`mailconf.setup.validation`), with nothing written anywhere under the root."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import attrs
import pytest

from example_tree import EXAMPLE_TOML as TOML
from mailconf.cli import main as mailconf
from mailconf.findings import Severity
from mailconf.setup import Setup, make_plan
from mailconf.setup.plan import Step
from mailconf.setup.validation import staged_files, validate_plan
from mailconf.system.root import SystemRoot
from mailconf.system.validate import Validation

DAEMONS = ("postconf", "opendkim", "opendmarc")


def need_daemons() -> None:
    for program in DAEMONS:
        if shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            pytest.skip(f"{program} is not installed on this machine")


def tree(root: Path) -> dict[str, bytes | None]:
    """Everything under ``root``: each file's content, each directory as None."""
    return {
        path.relative_to(root).as_posix(): None if path.is_dir() else path.read_bytes()
        for path in root.rglob("*")
    }


def test_a_normal_plan_is_checked_by_the_daemons(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_daemons()
    before = tree(example_root)
    flags = ["--root", str(example_root), "--config", str(TOML)]
    assert mailconf(["plan", "--json", *flags]) == 0
    checks = {v["tool"]: v for v in json.loads(capsys.readouterr().out)["validations"]}
    for tool in DAEMONS:
        assert checks[tool]["ok"] and not checks[tool]["skipped"], checks[tool]
    assert checks["postfix check"]["skipped"]  # it inspects the files in place only
    assert mailconf(["plan", *flags]) == 0
    out = capsys.readouterr().out
    assert "checked as planned: postconf ok, " in out and "opendkim ok, opendmarc ok" in out
    assert tree(example_root) == before  # not even the apply lock's directory


def test_plan_fails_on_what_the_daemon_refuses_and_writes_nothing(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An admin's SigningTable row that mailconf keeps and opendkim cannot compile: plan says
    so (file and opendkim's own words) and exits 1, with and without --detailed-exitcode."""
    need_daemons()
    (example_root / "etc/opendkim").mkdir(exist_ok=True)
    (example_root / "etc/opendkim/signing.table").write_text("*@[bad x\n")
    before = tree(example_root)
    flags = ["--root", str(example_root), "--config", str(TOML)]
    assert mailconf(["plan", *flags]) == 1
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "[setup.validation-failed]" in line]
    assert line.startswith("/etc/opendkim.conf: error: opendkim refuses")
    assert "/etc/opendkim/signing.table" in line and "regular expression" in line
    assert str(example_root) not in line and "mailconf-validate" not in line
    assert "opendkim FAILED" in out
    assert mailconf(["plan", "--detailed-exitcode", *flags]) == 1
    capsys.readouterr()
    assert mailconf(["plan", "--json", *flags]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [v["ok"] for v in data["validations"] if v["tool"] == "opendkim"] == [False]
    assert tree(example_root) == before


def test_the_staged_files_are_the_plans_files(example_root: Path) -> None:
    plan = make_plan(Setup.from_toml(TOML), SystemRoot(example_root))
    staged = staged_files(plan)
    for step in plan.of_kind("file"):
        assert staged[step.target] == step.content
    assert "/etc/postfix/main.cf" in staged and "/etc/opendkim.conf" in staged


def refuses(root: SystemRoot, **kwargs: Any) -> Validation:
    return Validation("opendkim", ok=False, message="bad", conf="/etc/opendkim.conf")


def test_a_refusal_while_packages_are_pending_is_a_warning(example_root: Path) -> None:
    """The packages bring files the configuration opens; apply checks again once they are in."""
    plan = make_plan(Setup.from_toml(TOML), SystemRoot(example_root))
    checked = validate_plan(plan, [refuses])
    [note] = [n for n in checked.notes if n.code == "setup.validation-failed"]
    assert note.severity is Severity.ERROR and note.path == "/etc/opendkim.conf"
    assert checked.validations[0].message == "bad"
    package = Step("package", "opendkim", "apt-get install -y opendkim")
    pending = validate_plan(attrs.evolve(plan, steps=(package, *plan.steps)), [refuses])
    [note] = [n for n in pending.notes if n.code == "setup.validation-failed"]
    assert note.severity is Severity.WARNING and "not installed yet" in note.message


def test_an_empty_plan_runs_nothing(example_root: Path) -> None:
    def never(root: SystemRoot, **kwargs: Any) -> Validation:
        raise AssertionError("an empty plan is not validated")

    plan = make_plan(Setup.from_toml(TOML), SystemRoot(example_root))
    assert validate_plan(attrs.evolve(plan, steps=()), [never]).validations == ()


def test_only_a_refusal_for_the_file_reported_missing_is_not_repeated(example_root: Path) -> None:
    (example_root / "usr/share/dns/root.key").unlink()
    plan = make_plan(Setup.from_toml(TOML), SystemRoot(example_root))
    assert [n.code for n in plan.notes if n.severity is Severity.ERROR] == ["setup.missing-file"]

    def opendkim_says(message: str) -> Any:
        def check(root: SystemRoot, **kwargs: Any) -> Validation:
            return Validation("opendkim", ok=False, message=message, conf="/etc/opendkim.conf")

        return check

    same = "opendkim: /etc/opendkim.conf: /usr/share/dns/root.key: No such file or directory"
    checked = validate_plan(plan, [opendkim_says(same)])
    assert [n.code for n in checked.notes] == [n.code for n in plan.notes]
    assert not checked.validations[0].ok  # the verdict itself is kept
    other = "opendkim: /etc/opendkim.conf: unknown option Frobnicate"
    checked = validate_plan(plan, [opendkim_says(other)])
    assert [n.code for n in checked.notes].count("setup.validation-failed") == 1
