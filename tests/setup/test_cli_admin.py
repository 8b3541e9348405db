"""``plan``/``apply`` as an admin runs them: apply shows the plan and asks on a terminal, ``-q``,
``plan --detailed-exitcode``, spec discovery, and a failed apply that leaves no new directory."""

from __future__ import annotations

import importlib
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from example_tree import EXAMPLE_TOML as TOML
from mailconf.cli import main as mailconf
from mailconf.system.root import SystemRoot
from mailconf.system.validate import Validation

# The module, not the function ``mailconf.setup.apply`` that the package exports in its place.
apply_module = importlib.import_module("mailconf.setup.apply")


def command(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailconf", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def on_terminal(argv: list[str], answer: str) -> tuple[int, str]:
    """Run ``mailconf ARGV`` with a terminal as stdin/stdout, typing ``answer`` at the prompt."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "mailconf", *argv],
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    answered = False
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"[y/N]" in output:
            os.write(leader, answer.encode() + b"\n")
            answered = True
    os.close(leader)
    return process.wait(timeout=300), output.decode(errors="replace")


def test_apply_prints_the_plan_then_the_result(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--root", str(example_root), "--config", str(TOML)]
    assert mailconf(["plan", *flags]) == 0
    planned = capsys.readouterr().out
    assert mailconf(["apply", *flags]) == 0
    out = capsys.readouterr().out
    assert out.startswith(planned)  # the plan exactly as `plan` shows it: steps and diffs
    assert "+smtpd_milters = " in out and "done:" in out


def test_apply_quiet_prints_only_warnings_and_the_summary(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--root", str(example_root), "--config", str(TOML)]
    assert mailconf(["apply", "-q", *flags]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("applied: ") and "done" in lines[-1]
    assert not [line for line in lines[:-1] if not line.startswith(("warning", "info", "error"))]
    assert mailconf(["apply", "-q", *flags]) == 0
    assert capsys.readouterr().out.endswith("already matches the setup\n")


def test_detailed_exitcode(example_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--root", str(example_root), "--config", str(TOML), "--detailed-exitcode"]
    assert mailconf(["plan", *flags]) == 2
    assert mailconf(["plan", *flags[:-1]]) == 0  # without it, pending changes are success
    assert mailconf(["apply", "-q", *flags[:-1]]) == 0
    assert mailconf(["plan", *flags]) == 0
    bad = ["plan", "--root", str(example_root), "--config", str(example_root / "nope.toml")]
    assert mailconf([*bad, "--detailed-exitcode"]) == 1
    assert mailconf(bad) == 2
    capsys.readouterr()


@pytest.mark.parametrize(("answer", "status"), [("n", 1), ("yes", 0)])
def test_apply_asks_on_a_terminal(
    example_root: Path, helpers: type, answer: str, status: int
) -> None:
    before = helpers.snapshot(example_root)  # type: ignore[attr-defined]
    code, output = on_terminal(
        ["apply", "--root", str(example_root), "--config", str(TOML)], answer
    )
    assert code == status, output
    assert "apply these changes? [y/N]" in output
    changed = helpers.snapshot(example_root) != before  # type: ignore[attr-defined]
    assert changed is (status == 0)
    if status:
        assert "nothing applied" in output


def test_apply_yes_and_no_terminal_never_ask(example_root: Path) -> None:
    code, output = on_terminal(
        ["apply", "--yes", "--root", str(example_root), "--config", str(TOML)], "n"
    )
    assert code == 0 and "[y/N]" not in output, output
    result = command("apply", "--root", str(example_root), "--config", str(TOML))
    assert result.returncode == 0 and "[y/N]" not in result.stdout  # stdin not a terminal


def test_spec_discovery_says_which_file(example_root: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = command("plan", "--root", str(example_root), cwd=work)
    assert result.returncode == 2 and "no ./mailconf.toml" in result.stderr
    etc = example_root / "etc/mailconf"
    etc.mkdir()
    shutil.copy(TOML, etc / "mailconf.toml")
    result = command("plan", "--root", str(example_root), cwd=work)
    assert result.returncode == 0, result.stderr
    assert f"using the spec {example_root}/etc/mailconf/mailconf.toml" in result.stderr
    shutil.copy(TOML, work / "mailconf.toml")
    result = command("plan", "--root", str(example_root), cwd=work)
    assert result.returncode == 0 and "using the spec ./mailconf.toml" in result.stderr
    # A flag beside the found spec would hold for one run (the next would undo it): refused.
    for flag in (["--dmarc-policy", "quarantine"], ["--selector", "s2"], ["--ed25519"]):
        result = command("plan", "--root", str(example_root), *flag, cwd=work)
        assert result.returncode == 2, result.stderr
        assert f"the spec ./mailconf.toml cannot be combined with {flag[0]}" in result.stderr
    (work / "mailconf.toml").chmod(0o666)  # anyone could have written it: not read as root
    result = command("plan", "--root", str(example_root), cwd=work)
    assert result.returncode == 2 and "another user may have written it" in result.stderr
    (work / "mailconf.toml").chmod(0o644)
    work.chmod(0o1777)  # like /tmp
    result = command("plan", "--root", str(example_root), cwd=work)
    assert result.returncode == 2 and "another user may have written it" in result.stderr


def test_failed_apply_removes_the_directories_it_created(
    example_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuses_once_written(root: SystemRoot, **kwargs: Any) -> Validation:
        # The check of the planned files passes; the one of the files in place (where only
        # ``postfix check`` can differ from it) refuses.
        return Validation("postfix check", ok="staged" in kwargs, message="injected")

    monkeypatch.setattr(apply_module, "DEFAULT_VALIDATORS", (refuses_once_written,))
    before = sorted(p for p in example_root.rglob("*") if p.is_dir())
    code = mailconf(["apply", "--root", str(example_root), "--config", str(TOML)])
    out = capsys.readouterr().out
    assert code == 1
    after = sorted(p for p in example_root.rglob("*") if p.is_dir())
    created = {p.relative_to(example_root).as_posix() for p in set(after) - set(before)}
    # Only the apply's own bookkeeping (lock, backups) may stay.
    assert not {p for p in created if not p.startswith(("run", "var/backups", "var/lib"))}
    assert "(created, removed again)" in out


def test_a_refusal_of_the_planned_files_writes_nothing(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("opendkim", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("opendkim is not installed")
    (example_root / "etc/opendkim").mkdir(exist_ok=True)  # opendkim -n refuses its pattern
    (example_root / "etc/opendkim/signing.table").write_text("*@[bad x\n")
    before = sorted(example_root.rglob("*"))
    code = mailconf(["apply", "--root", str(example_root), "--config", str(TOML)])
    assert code == 1
    assert "nothing was written" in capsys.readouterr().err
    created = {p.relative_to(example_root).as_posix() for p in set(example_root.rglob("*"))}
    created -= {p.relative_to(example_root).as_posix() for p in before}
    assert not {p for p in created if not p.startswith("run")}  # the apply lock only


def test_the_host_name_chosen_is_stated(
    example_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = example_root / "etc/postfix/main.cf"
    main.write_text(
        "".join(
            "myhostname = vm\n" if line.startswith("myhostname") else line
            for line in main.read_text().splitlines(keepends=True)
        )
    )
    (example_root / "etc/mailname").write_text("mail.example.test\n")
    flags = ["--root", str(example_root), "--domain", "example.test", "--ip", "192.0.2.10"]
    assert mailconf(["plan", *flags]) == 0
    out = capsys.readouterr().out
    assert "main.cf myhostname 'vm' is not a fully qualified name" in out
    assert "host name mail.example.test (from /etc/mailname)" in out


@pytest.mark.parametrize(
    ("by_flags", "choose"),
    [(True, "--hostname FQDN"), (False, 'hostname = "FQDN" in the spec')],
    ids=["flags", "spec-file"],
)
def test_how_to_choose_the_host_name_is_said_the_way_the_spec_is_given(
    example_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    by_flags: bool,
    choose: str,
) -> None:
    """A spec file cannot be combined with --hostname: its messages name the spec's setting."""
    spec = tmp_path / "mailconf.toml"
    spec.write_text('ips = ["192.0.2.10"]\n[[domain]]\nname = "example.test"\n')
    given = (
        ["--domain", "example.test", "--ip", "192.0.2.10"] if by_flags else ["--config", str(spec)]
    )
    argv = ["plan", "--root", str(example_root), *given]
    assert mailconf(argv) == 0
    note = f"TrustedAuthservIDs; to choose another: {choose} [setup.hostname]\n"
    assert note in capsys.readouterr().out
    main = example_root / "etc/postfix/main.cf"
    main.write_text(
        "".join(
            "myhostname = vm\n" if line.startswith("myhostname") else line
            for line in main.read_text().splitlines(keepends=True)
        )
    )
    (example_root / "etc/mailname").unlink(missing_ok=True)
    assert mailconf(argv) == 2
    err = capsys.readouterr().err
    refusal = "cannot tell the host's fully qualified name (main.cf myhostname, /etc/mailname)"
    assert f"{refusal}; give it: {choose}" in err
    assert ("--hostname" in err) is by_flags


def test_root_says_what_it_lacks(example_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(example_root / "var/spool/postfix")
    (example_root / "var/lib/dpkg/status").unlink()
    assert mailconf(["plan", "--root", str(example_root), "--config", str(TOML)]) == 0
    out = capsys.readouterr().out
    assert "has no /var/spool/postfix" in out and "[setup.root-incomplete]" in out
    assert "no dpkg database under" in out
