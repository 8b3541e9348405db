"""``mailconf plan`` / ``mailconf apply`` through ``cli_setup.register`` and ``./dev example``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from example_tree import EXAMPLE_TOML as TOML
from example_tree import EXAMPLES
from mailconf.cli import main as mailconf


def test_plan_json_then_apply_then_empty(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--root", str(example_root), "--domain", "hogehoge.com", "--ip", "192.0.2.10"]
    flags += ["--hostname", "mail.hogehoge.com"]
    assert mailconf(["plan", "--json", *flags]) == 0
    steps = json.loads(capsys.readouterr().out)["steps"]
    assert [s["kind"] for s in steps][-3:] == ["restart"] * 3
    assert all("diff" in s for s in steps if s["kind"] == "file")
    assert mailconf(["apply", *flags]) == 0
    out = capsys.readouterr().out
    assert "done:" in out and "validation opendkim" in out
    assert mailconf(["plan", "--json", *flags]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == []
    assert mailconf(["plan", *flags]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_config_file(example_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mailconf(["apply", "--json", "--root", str(example_root), "--config", str(TOML)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--domain", "../../etc"], "empty label"),
        (["--domain", "hogehoge.com", "--selector", "a;b"], "selector 'a;b'"),
        (["--domain", "hogehoge.com."], "trailing dot"),
        (["--domain", "ほげほげ.com"], "xn--"),
    ],
)
def test_hostile_flags(
    example_root: Path,
    helpers: Any,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    before = helpers.snapshot(example_root, bookkeeping=True)
    for command in ("plan", "apply"):
        code = mailconf([command, "--root", str(example_root), "--ip", "192.0.2.10", *flags])
        assert code == 2  # a bad argument
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert helpers.snapshot(example_root, bookkeeping=True) == before


def test_usage_errors(example_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = ["--root", str(example_root)]
    assert mailconf(["plan", *root]) == 2
    assert "--config FILE, or --domain" in capsys.readouterr().err
    assert mailconf(["plan", *root, "--domain", "hogehoge.com"]) == 2
    assert "--ip is required" in capsys.readouterr().err
    assert mailconf(["plan", *root, "--config", str(TOML), "--domain", "a.example"]) == 2
    assert "cannot be combined" in capsys.readouterr().err


def test_failed_apply_exit_1_names_the_check(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (example_root / "etc/opendkim").mkdir(exist_ok=True)
    (example_root / "etc/opendkim/signing.table").write_text("*@[bad x\n")
    code = mailconf(["apply", "--root", str(example_root), "--config", str(TOML)])
    captured = capsys.readouterr()
    if "opendkim skipped" in captured.out:
        pytest.skip("opendkim is not installed")
    assert code == 1
    # Refused on the planned files, before the first write: nothing to restore.
    assert "nothing was written" in captured.err and "opendkim refuses" in captured.err
    assert "not done:" in captured.out and "restored to how it was:" not in captured.out


def test_plan_exits_1_on_what_apply_would_stop_on(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (example_root / "usr/share/dns/root.key").unlink()
    flags = ["--root", str(example_root), "--config", str(TOML)]
    assert mailconf(["plan", *flags]) == 1
    assert mailconf(["plan", "--detailed-exitcode", *flags]) == 1
    out = capsys.readouterr().out
    assert "error: TrustAnchorFile names /usr/share/dns/root.key" in out
    assert "[setup.missing-file]" in out


def test_a_missing_file_is_one_error_not_two(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """opendkim -n refuses the missing TrustAnchorFile too; the precheck said it first, with the
    fix: plan and apply show one error, and still exit 1."""
    (example_root / "usr/share/dns/root.key").unlink()
    flags = ["--root", str(example_root), "--config", str(TOML)]
    assert mailconf(["plan", "--json", *flags]) == 1
    data = json.loads(capsys.readouterr().out)
    errors = [n for n in data["notes"] if n["severity"] == "error"]
    assert [n["code"] for n in errors] == ["setup.missing-file"], errors
    [opendkim] = [v for v in data["validations"] if v["tool"] == "opendkim"]
    if opendkim["skipped"]:
        pytest.skip("opendkim is not installed")
    assert not opendkim["ok"] and "/usr/share/dns/root.key" in opendkim["message"]
    assert mailconf(["plan", *flags]) == 1
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if ": error: " in line] == [
        line for line in out.splitlines() if "[setup.missing-file]" in line
    ]
    assert mailconf(["apply", "--yes", *flags]) == 1
    err = capsys.readouterr().err
    assert "nothing was written" in err and "opendkim refuses" not in err
    assert err.count("[setup.missing-file]") == 1


def test_apply_runs_each_daemon_check_once_on_the_plan_and_once_on_the_files(
    example_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply shows the plan its own apply validated under the lock: the planned files are
    checked once (not once for the display and again under the lock), the written files once."""
    from mailconf.system import validate

    for program in ("postconf", "opendkim", "opendmarc"):
        if validate.which(program) is None:
            pytest.skip(f"{program} is not installed")
    runs: list[tuple[str, str]] = []
    real = validate._run_checked

    def counted(tool: str, argv: list[str], *args: Any, **kwargs: Any) -> Any:
        runs.append((tool, argv[argv.index("-n") if "-n" in argv else -1]))
        return real(tool, argv, *args, **kwargs)

    monkeypatch.setattr(validate, "_run_checked", counted)
    flags = ["--root", str(example_root), "--config", str(TOML)]
    assert mailconf(["apply", "--yes", *flags]) == 0, capsys.readouterr()
    expected = [("postconf", "-n"), ("postconf", "-M"), ("opendkim", "-n"), ("opendmarc", "-n")]
    assert sorted(runs) == sorted(expected * 2), runs  # the plan's files, then the written ones


def test_dev_example_runs_the_plan_on_the_bundled_tree() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_example.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "+smtpd_milters = local:opendkim/opendkim.sock" in result.stdout
    assert "restart: restart postfix" in result.stdout
