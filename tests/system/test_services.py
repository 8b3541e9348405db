"""Services: reports under an alternate root, and the real OpenDKIM started in a namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from mailconf.system.daemons import Endpoint, milter_setup
from mailconf.system.root import SystemRoot
from mailconf.system.run import CommandResult
from mailconf.system.services import ServiceManager

HELPER = Path(__file__).with_name("ns_opendkim_helper.py")


def refuse_to_run(
    argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> CommandResult:
    raise AssertionError(f"nothing may run under an alternate root: {argv}")


def milter_root(tmp_path: Path) -> SystemRoot:
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / "etc/opendkim.conf").write_text("Socket local:/var/spool/postfix/opendkim/s.sock\n")
    (tmp_path / "etc/default/opendkim").write_text(
        'RUNDIR=/run/opendkim\nSOCKET="local:$RUNDIR/opendkim.sock"\nUSER=opendkim\n'
        "PIDFILE=$RUNDIR/$NAME.pid\n"
    )
    (tmp_path / "etc/opendmarc.conf").write_text(
        "PidFile /run/opendmarc/p.pid # x\nSocket inet:8893@localhost\nUserID opendmarc\n"
    )
    return SystemRoot(tmp_path)


def test_alternate_root_only_reports(tmp_path: Path) -> None:
    root = milter_root(tmp_path)
    manager = ServiceManager(root, runner=refuse_to_run)
    assert manager.method("opendkim") == "direct"
    result = manager.restart("opendkim")
    assert not result.performed
    assert "not run" in result.message
    assert result.commands[-1] == ("opendkim", "-x", "/etc/opendkim.conf", "-P",
                                   "/run/opendkim/opendkim.pid", "-u", "opendkim")  # fmt: skip
    assert manager.restart("postfix").commands == (("postfix", "stop"), ("postfix", "start"))


def test_method_follows_the_root(tmp_path: Path) -> None:
    root = milter_root(tmp_path)
    init = tmp_path / "etc/init.d/opendkim"
    init.parent.mkdir()
    init.write_text("#!/bin/sh\n")
    init.chmod(0o755)
    manager = ServiceManager(root, runner=refuse_to_run)
    assert manager.method("opendkim") == "init"
    assert manager.restart("opendkim").commands == (("/etc/init.d/opendkim", "restart"),)
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    assert manager.method("opendkim") == "systemd"
    assert manager.restart("postfix").commands == (("systemctl", "restart", "postfix"),)
    assert manager.reload("postfix").commands == (("systemctl", "reload-or-restart", "postfix"),)
    regenerate = manager.defaults_changed("opendkim")
    assert not regenerate.performed
    assert regenerate.commands == (
        ("/lib/opendkim/opendkim.service.generate",),
        ("systemctl", "daemon-reload"),
    )


def test_milter_setup_reads_conf_then_defaults(tmp_path: Path) -> None:
    root = milter_root(tmp_path)
    dkim = milter_setup(root, "opendkim")
    assert dkim.pid_file == "/run/opendkim/opendkim.pid"  # from /etc/default, $NAME expanded
    assert dkim.endpoint == Endpoint("local", path="/var/spool/postfix/opendkim/s.sock")
    dmarc = milter_setup(root, "opendmarc")
    assert dmarc.pid_file == "/run/opendmarc/p.pid"
    assert dmarc.endpoint == Endpoint("inet", host="localhost", port=8893)
    assert dmarc.user == "opendmarc" and dmarc.extra_args == ()


def test_endpoint_parse() -> None:
    assert Endpoint.parse("inet6:8891@[::1]") == Endpoint("inet", host="::1", port=8891)


def test_a_milter_that_does_not_come_up_is_explained_by_its_own_checker(tmp_path: Path) -> None:
    """Without syslog the daemon's complaint is lost: the failure carries ``opendkim -n``'s
    verdict, run as the apply's validation runs it (on a copy under an alternate root)."""
    if shutil.which("opendkim") is None:
        pytest.skip("opendkim is not installed")
    seen: list[Sequence[str]] = []

    def refuses(
        argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        seen.append(argv)
        return CommandResult(tuple(argv), 78, "", f"{argv[-1]}: line 1: bad Socket")

    manager = ServiceManager(milter_root(tmp_path), runner=refuses)
    assert (
        manager._diagnose("opendkim")
        == "; opendkim -n says: /etc/opendkim.conf: line 1: bad Socket"
    )
    assert [list(argv[:3]) for argv in seen] == [["opendkim", "-n", "-x"]]
    assert manager._diagnose("postfix") == ""


def _namespace_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mount namespaces with overlayfs)"
    for program in ("unshare", "opendkim", "ip", "mount"):
        if shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            return f"{program} is not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--net", "--pid", "--fork", "true"],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"unshare refused here: {probe.stderr.decode(errors='replace').strip()}"
    return None


def test_opendkim_started_and_stopped_directly_in_a_namespace(tmp_path: Path) -> None:
    """Start, restart (old process holds its socket ~5 s) and stop the real OpenDKIM.

    Runs in private mount, network and pid namespaces with overlays over /etc and /run, so the
    machine is untouched and any daemon left behind dies with the namespace.
    """
    reason = _namespace_unavailable()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child",
         sys.executable, str(HELPER), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in report, report
    assert report["gpasswd"] in ([True, False, True], [False, False, True])
    pid, message, commands = report["start"]
    assert message == f"running (pid {pid})"
    assert commands == [["opendkim", "-x", "/etc/opendkim.conf"]]
    assert report["rundir_owner"] != 0  # /run/opendkim created for the opendkim user
    assert report["already"] == "already running"
    new_pid, seconds = report["restart"]
    assert new_pid != pid and not report["first_alive_after_restart"]
    assert seconds < 30
    assert report["stop"] == "stopped" and report["running_after_stop"] is None
    assert "inet:8891@127.0.0.1 is already in use" in report["busy_port"], report["busy_port"]
    message, seconds = report["bad_socket"]
    assert message.startswith("start opendkim (direct): ")
    assert "exited right after starting" in message or "no live process" in message
    assert seconds < 20


def test_init_start_is_a_no_op_when_already_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's init scripts exit 1 on `start` when the daemon runs: do not call them then."""
    calls: list[Sequence[str]] = []

    def record(
        argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        calls.append(argv)
        return CommandResult(tuple(argv), 1, "", "already running")

    manager = ServiceManager(SystemRoot.live(), runner=record, method="init")
    monkeypatch.setattr(manager, "running_pid", lambda service: 4242)
    result = manager.start("opendkim")
    assert calls == []
    assert (result.performed, result.pid) == (False, 4242)
