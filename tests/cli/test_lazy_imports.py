"""A file command imports the file's model, not the doctor, the planner, dnspython, cryptography.

Structural, not timed: each case runs ``mailconf.cli.main`` in a fresh interpreter and looks at
``sys.modules`` afterwards.  The start-up time this protects is measured in benchmarks/run.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Runs one command in a fresh interpreter; prints its exit status and every module it imported.
_PROBE = """
import contextlib, io, json, sys
from mailconf.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        status = main(sys.argv[1:])
    except SystemExit as exit:
        status = exit.code
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""

#: What a one-line answer about one file has no use for.
HEAVY = (
    "mailconf.doctor",
    "mailconf.setup.planner",
    "mailconf.cli.setup",
    "mailconf.cli.doctor",
    "dns",
    "cryptography",
)


def imported(*argv: str) -> tuple[int, set[str]]:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    return report["status"], set(report["modules"])


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.fixture
def postfix(tmp_path: Path) -> Path:
    """A main.cf with a master.cf beside it, which ``lint`` reads too."""
    (tmp_path / "main.cf").write_text(
        "myhostname = mail.example.com\nsmtpd_milters = inet:127.0.0.1:8891\n"
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
    )
    (tmp_path / "master.cf").write_text(
        "smtp      inet  n       -       y       -       -       smtpd\n"
    )
    return tmp_path / "main.cf"


@pytest.mark.parametrize(
    "argv",
    [
        ("get", "{main}", "myhostname"),
        ("show", "{main}", "--json"),
        ("lint", "{main}"),
        ("fmt", "--check", "{main}"),
        ("edit", "{main}", "--add-milter", "unix:/run/opendmarc.sock", "--diff"),
    ],
    ids=lambda argv: argv[0],
)
def test_file_commands_import_only_the_model(postfix: Path, argv: tuple[str, ...]) -> None:
    status, modules = imported(*(a.format(main=postfix) for a in argv))
    assert status == 0
    assert "mailconf.postfix.main" in modules  # the probe sees what the command imported
    assert heavy(modules) == []
    assert [m for m in modules if m.startswith("mailconf.milter")] == []  # other kinds' models


def test_help_lists_the_commands_without_importing_them() -> None:
    status, modules = imported("--help")
    assert status == 0
    assert sorted(m for m in modules if m.startswith("mailconf.cli.")) == ["mailconf.cli.common"]


def test_add_milter_by_name_reads_the_daemon_conf_without_the_doctor(postfix: Path) -> None:
    """Naming the daemon resolves its socket from the daemon's own files, in the model layer
    (``MainCf.add_milter`` does it, for the CLI and the API alike): its conf model is imported,
    and still nothing heavy."""
    root = postfix.parent / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "opendkim.conf").write_text(
        "Socket local:/var/spool/postfix/opendkim/opendkim.sock\n"
    )
    status, modules = imported(
        "edit", str(postfix), "--add-milter", "opendkim", "--root", str(root), "--diff"
    )
    assert status == 0
    assert "mailconf.postfix.milters" in modules and "mailconf.milter.conf" in modules
    assert heavy(modules) == []
