"""Runs inside ``unshare --mount --net --pid --fork``: overlays /etc and /run, then drives OpenDKIM.

Not a test module: ``test_services.py`` starts it as a separate program and reads the JSON it
prints. Everything it changes lives in the overlays' upper directories under the work directory
given as argv[1]; the namespace ends with this process, and with it every daemon it started
(this process is the namespace's PID 1).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from mailconf.errors import MailconfError
from mailconf.system.accounts import ensure_group_member, read_groups
from mailconf.system.root import SystemRoot
from mailconf.system.services import ServiceError, ServiceManager, stop_pid


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, timeout=30)


def overlay(work: Path, target: str) -> None:
    name = target.strip("/").replace("/", "_")
    upper, scratch = work / name / "upper", work / name / "work"
    upper.mkdir(parents=True)
    scratch.mkdir(parents=True)
    options = f"lowerdir={target},upperdir={upper},workdir={scratch}"
    sh("mount", "-t", "overlay", "overlay", "-o", options, target)


def main() -> int:
    work = Path(sys.argv[1])
    sh("mount", "--make-rprivate", "/")
    sh("mount", "-t", "proc", "proc", "/proc")
    for target in ("/etc", "/run"):
        overlay(work, target)
    sh("ip", "link", "set", "lo", "up")
    report: dict[str, object] = {}
    manager = ServiceManager(SystemRoot.live(), method="direct", ready_timeout=15)
    started: list[int] = []
    try:
        # The real gpasswd on the (overlaid) live /etc, twice: the second call changes nothing.
        live = SystemRoot.live()
        report["gpasswd"] = [
            ensure_group_member(live, "opendmarc", "postfix"),
            ensure_group_member(live, "opendmarc", "postfix"),
            "postfix" in read_groups(live)["opendmarc"].members,
        ]
        # Without systemd nothing creates /run/opendkim: the direct method must.
        sh("rm", "-rf", "/run/opendkim")
        Path("/etc/opendkim.conf").write_text(
            "Syslog no\nUMask 007\nUserID opendkim\n"
            "Socket local:/run/opendkim/opendkim.sock\nPidFile /run/opendkim/opendkim.pid\n"
        )
        first = manager.start("opendkim")
        assert first.pid is not None
        started.append(first.pid)
        st = os.stat("/run/opendkim")
        report["rundir_owner"] = st.st_uid
        report["start"] = [first.pid, first.message, [list(c) for c in first.commands]]
        report["already"] = manager.start("opendkim").message
        t0 = time.monotonic()
        second = manager.restart("opendkim")
        assert second.pid is not None
        started.append(second.pid)
        report["restart"] = [second.pid, round(time.monotonic() - t0, 2)]
        report["first_alive_after_restart"] = os.path.exists(f"/proc/{first.pid}/status") and (
            "State:\tZ" not in Path(f"/proc/{first.pid}/status").read_text()
        )
        stopped = manager.stop("opendkim")
        report["stop"] = stopped.message
        report["running_after_stop"] = manager.running_pid("opendkim")

        # A daemon that forks, exits 0, then fails: the TCP port is already taken.
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", 8891))
        blocker.listen()
        Path("/etc/opendkim.conf").write_text(
            "Syslog no\nUserID opendkim\nSocket inet:8891@127.0.0.1\n"
            "PidFile /run/opendkim/opendkim.pid\n"
        )
        try:
            manager.start("opendkim")
            report["busy_port"] = "started?!"
        except ServiceError as exc:
            report["busy_port"] = str(exc)
            if exc.result.pid:
                started.append(exc.result.pid)
        blocker.close()

        # Forks and exits 0, then the child cannot create its socket (no such directory).
        Path("/etc/opendkim.conf").write_text(
            "Syslog no\nUserID opendkim\nSocket local:/nonexistent-dir/opendkim.sock\n"
            "PidFile /run/opendkim/opendkim.pid\n"
        )
        fast = ServiceManager(SystemRoot.live(), method="direct", ready_timeout=5)
        t0 = time.monotonic()
        try:
            fast.start("opendkim")
            report["bad_socket"] = "started?!"
        except ServiceError as exc:
            report["bad_socket"] = [str(exc), round(time.monotonic() - t0, 2)]
            if exc.result.pid:
                started.append(exc.result.pid)
    except (MailconfError, AssertionError, OSError, subprocess.SubprocessError) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for pid in started:
            stop_pid(pid, timeout=10)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
