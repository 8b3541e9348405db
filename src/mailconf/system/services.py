"""Starting, stopping and restarting Postfix, OpenDKIM and OpenDMARC, and knowing it worked.

How a service is driven, in order of preference (see :meth:`ServiceManager.method`):

1. ``systemd`` — PID 1 is systemd (``/run/systemd/system`` exists): ``systemctl restart NAME``.
   After ``/etc/default/opendkim`` (or ``opendmarc``) changed, its ``SOCKET`` only takes effect
   once ``/lib/NAME/NAME.service.generate`` wrote the unit override and ``systemctl daemon-reload``
   ran (:meth:`ServiceManager.defaults_changed`).
2. ``init`` — the Debian init script ``/etc/init.d/NAME`` (containers, chroots, WSL).
3. ``direct`` — no init system at all: ``postfix start|stop``, ``opendkim -x CONF``,
   ``opendmarc -c CONF``, and stopping by pid.

Whatever ran, "exit status 0" is not trusted: the milters fork and exit 0 even when the child
dies a moment later (bad key table, socket in use), so after every start we wait, bounded, for the
pid file to name a live process *and* the socket to accept connections, and report failure
otherwise (with ``opendkim -n`` / ``opendmarc -n``'s verdict, since without syslog the daemon's
own complaint is lost). After SIGTERM an old OpenDKIM keeps its socket for ~5 s, so a stop waits
for the process to be gone and the socket to be free before a start. Without systemd nothing
creates ``/run/opendkim`` or ``/run/opendmarc``: the direct method creates missing run
directories, owned by the daemon's user, as the init scripts do.

Under an alternate root nothing is run: every call returns a :class:`ServiceResult` with
``performed=False`` describing what would run on the live system.  A milter's pid file, socket
and user are :mod:`mailconf.system.daemons`'s; waiting on processes is
:mod:`mailconf.system.processes`'s.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import attrs

from mailconf.errors import MailconfError
from mailconf.system import accounts
from mailconf.system.daemons import MILTERS, MilterSetup, milter_setup
from mailconf.system.processes import STOP_TIMEOUT, daemon_pid, pid_alive, stop_pid, wait_until
from mailconf.system.root import SystemRoot
from mailconf.system.run import CommandResult, Runner, run, which
from mailconf.system.validate import milter_check

# pid_alive and stop_pid are named here too: the end-to-end driver stops what it started by them.
__all__ = ["ServiceError", "ServiceManager", "ServiceResult", "pid_alive", "stop_pid"]

Method = Literal["systemd", "init", "direct"]
Action = Literal["start", "stop", "restart", "reload"]

COMMAND_TIMEOUT = 60.0
READY_TIMEOUT = 15.0
SERVICES = ("postfix", *MILTERS)


class ServiceError(MailconfError):
    """A service did not reach the requested state; ``result`` holds the details."""

    def __init__(self, result: ServiceResult) -> None:
        self.result = result
        super().__init__(f"{result.action} {result.service} ({result.method}): {result.message}")


@attrs.frozen
class ServiceResult:
    """What was (or, when ``performed`` is False, would be) done to a service."""

    service: str
    action: str
    method: str
    performed: bool
    commands: tuple[tuple[str, ...], ...] = ()
    pid: int | None = None
    message: str = ""


# --------------------------------------------------------------------------------------------


class ServiceManager:
    """Drives services on one root. Under an alternate root every action is only reported."""

    def __init__(
        self,
        root: SystemRoot,
        *,
        runner: Runner = run,
        method: Method | None = None,
        ready_timeout: float = READY_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.root = root
        self.runner = runner
        self._programs: dict[str, str] = {}
        self._method = method
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout

    # -- choosing how ---------------------------------------------------------------------

    def systemd_running(self) -> bool:
        """PID 1 is systemd (the test ``sd_booted(3)`` uses)."""
        return self.root.resolve("/run/systemd/system").is_dir()

    def method(self, service: str) -> Method:
        """How ``service`` is driven here: forced method, else systemd, init script, direct."""
        if self._method is not None:
            return self._method
        if self.systemd_running():
            return "systemd"
        if os.access(self.root.resolve(f"/etc/init.d/{service}"), os.X_OK):
            return "init"
        return "direct"

    # -- public actions -------------------------------------------------------------------

    def start(self, service: str) -> ServiceResult:
        """Start ``service`` (a no-op success when it already runs, except under systemd)."""
        return self._act(service, "start")

    def stop(self, service: str) -> ServiceResult:
        """Stop ``service`` and wait until it is gone."""
        return self._act(service, "stop")

    def restart(self, service: str) -> ServiceResult:
        """Stop (if running) then start; a full restart is needed for new group memberships."""
        return self._act(service, "restart")

    def reload(self, service: str) -> ServiceResult:
        """Make ``service`` re-read its configuration (Postfix: ``postfix reload``).

        The milters have no safe reload in Debian's packaging: this restarts them.
        """
        return self._act(service, "reload")

    def defaults_changed(self, service: str) -> ServiceResult:
        """Apply a changed ``/etc/default/NAME`` (opendkim/opendmarc) before the next restart.

        Under systemd the unit override is regenerated and systemd reloaded; init scripts and
        the direct method read the file at every start, so nothing is needed there.
        """
        commands: list[tuple[str, ...]] = []
        method = self.method(service)
        if method == "systemd":
            commands = [
                (f"/lib/{service}/{service}.service.generate",),
                ("systemctl", "daemon-reload"),
            ]
        if not self.root.is_live:
            return self._report(service, "daemon-reload", method, commands)
        if not commands:
            return ServiceResult(
                service,
                "daemon-reload",
                method,
                True,
                (),
                None,
                "not needed: the file is read at every start",
            )
        generator = Path(commands[0][0])
        if not generator.exists():
            commands = commands[1:]
        for argv in commands:
            self._must(service, "daemon-reload", method, argv, commands)
        return ServiceResult(service, "daemon-reload", method, True, tuple(commands))

    def running_pid(self, service: str) -> int | None:
        """The pid of the running service's main process, from its pid file, or None."""
        pid_path = self._pid_path(service)
        return daemon_pid(pid_path, self._program(service)) if pid_path is not None else None

    def _program(self, service: str) -> str:
        """The binary the service's main process runs: a pid file naming any other process is
        not believed (:func:`~mailconf.system.processes.daemon_pid`)."""
        if service not in self._programs:
            if service == "postfix":
                directory = self._postconf("daemon_directory") or "/usr/lib/postfix/sbin"
                self._programs[service] = f"{directory}/master"
            else:
                self._programs[service] = which(service) or service
        return self._programs[service]

    # -- machinery ------------------------------------------------------------------------

    def _pid_path(self, service: str) -> Path | None:
        if service == "postfix":
            queue = self._postconf("queue_directory") or "/var/spool/postfix"
            return self.root.resolve(f"{queue}/pid/master.pid")
        if service in MILTERS:
            return self.root.resolve(milter_setup(self.root, service).pid_file)
        return None

    def _postconf(self, name: str) -> str | None:
        try:
            result = self.runner(["postconf", "-h", name], timeout=COMMAND_TIMEOUT)
        except MailconfError:
            return None
        return result.stdout.strip() or None if result.ok else None

    def _planned(self, service: str, action: Action, method: Method) -> list[tuple[str, ...]]:
        if method == "systemd":
            verb = "reload-or-restart" if action == "reload" and service == "postfix" else action
            verb = "restart" if action == "reload" and service != "postfix" else verb
            return [("systemctl", verb, service)]
        if method == "init":
            verb = "restart" if action == "reload" and service != "postfix" else action
            return [(f"/etc/init.d/{service}", verb)]
        if service == "postfix":
            if action == "restart":
                return [("postfix", "stop"), ("postfix", "start")]
            return [("postfix", action)]
        argv = milter_setup(self.root, service).argv()
        if action == "stop":
            return [("kill", "-TERM", "<pid>")]
        if action in ("restart", "reload"):
            return [("kill", "-TERM", "<pid>"), argv]
        return [argv]

    def _report(
        self, service: str, action: str, method: str, commands: Sequence[tuple[str, ...]]
    ) -> ServiceResult:
        return ServiceResult(
            service,
            action,
            method,
            False,
            tuple(commands),
            None,
            f"alternate root {self.root}: not run",
        )

    def _act(self, service: str, action: Action) -> ServiceResult:
        if service not in SERVICES:
            raise MailconfError(f"{service}: not a service mailconf manages")
        method = self.method(service)
        if not self.root.is_live:
            try:
                planned = self._planned(service, action, method)
            except MailconfError as exc:
                return ServiceResult(service, action, method, False, (), None, str(exc))
            return self._report(service, action, method, planned)
        if method == "direct":
            return self._direct(service, action)
        if action == "start" and method == "init":
            # Debian's init scripts exit 1 on "start" when the daemon already runs.
            pid = self.running_pid(service)
            if pid is not None:
                return ServiceResult(
                    service, action, method, False, (), pid, f"already running (pid {pid})"
                )
        commands = self._planned(service, action, method)
        for argv in commands:
            self._must(service, action, method, argv, commands)
        return self._verify(service, action, method, tuple(commands))

    def _must(
        self,
        service: str,
        action: str,
        method: str,
        argv: tuple[str, ...],
        commands: Sequence[tuple[str, ...]],
    ) -> CommandResult:
        try:
            result = self.runner(argv, timeout=COMMAND_TIMEOUT)
        except MailconfError as exc:
            raise ServiceError(
                ServiceResult(service, action, method, True, tuple(commands), None, str(exc))
            ) from exc
        if not result.ok:
            message = f"{' '.join(argv)} exited {result.returncode}: {result.output}"
            raise ServiceError(
                ServiceResult(service, action, method, True, tuple(commands), None, message)
            )
        return result

    def _verify(
        self, service: str, action: str, method: str, commands: tuple[tuple[str, ...], ...]
    ) -> ServiceResult:
        if action == "stop":
            gone = wait_until(lambda: self.running_pid(service) is None, self.stop_timeout)
            if not gone:
                raise ServiceError(
                    ServiceResult(
                        service, action, method, True, commands, None, "still running after stop"
                    )
                )
            return ServiceResult(service, action, method, True, commands, None, "stopped")
        pid = self._wait_ready(service, method, commands, action)
        return ServiceResult(service, action, method, True, commands, pid, f"running (pid {pid})")

    def _wait_ready(
        self, service: str, method: str, commands: tuple[tuple[str, ...], ...], action: str
    ) -> int:
        pid_path = self._pid_path(service)
        endpoint = milter_setup(self.root, service).endpoint if service in MILTERS else None
        state: dict[str, int | None] = {"pid": None}

        def ready() -> bool:
            pid = self.running_pid(service)
            if pid is None:
                # A pid seen alive that died: the daemon failed after forking; stop waiting.
                return state["pid"] is not None
            state["pid"] = pid
            return endpoint is None or endpoint.accepts(self.root)

        wait_until(ready, self.ready_timeout)
        pid = state["pid"]
        if pid is not None and pid_alive(pid) and (endpoint is None or endpoint.accepts(self.root)):
            return pid
        if pid is not None and pid_alive(pid):
            why = f"pid {pid} runs but {endpoint} accepts no connection"
        elif pid is not None:
            why = f"pid {pid} exited right after starting"
        else:
            why = f"no live process in {pid_path} after {self.ready_timeout:g} s"
        why += self._diagnose(service)
        raise ServiceError(ServiceResult(service, action, method, True, commands, pid, why))

    def _diagnose(self, service: str) -> str:
        """The configuration checker's verdict, since the daemon's own log may be lost."""
        if service not in MILTERS:
            return ""
        conf = milter_setup(self.root, service).conf
        check = milter_check(service, self.root, conf, runner=self.runner)
        if check.skipped:  # not installed
            return ""
        if not check.ok:
            return f"; {service} -n says: {check.message}"
        return "; the configuration checks out (-n): see the mail log (socket in use? key file?)"

    # -- the direct method ------------------------------------------------------------------

    def _direct(self, service: str, action: Action) -> ServiceResult:
        if service == "postfix":
            return self._direct_postfix(action)
        setup = milter_setup(self.root, service)
        commands: list[tuple[str, ...]] = []
        pid_path = self.root.resolve(setup.pid_file)
        program = self._program(service)
        if action in ("stop", "restart", "reload"):
            pid = daemon_pid(pid_path, program)
            if pid is not None:
                commands.append(("kill", "-TERM", str(pid)))
                if not stop_pid(pid, timeout=self.stop_timeout):
                    raise ServiceError(
                        ServiceResult(
                            service, action, "direct", True, tuple(commands), pid, "would not exit"
                        )
                    )
            self._wait_endpoint_free(setup)
            if action == "stop":
                return ServiceResult(
                    service, action, "direct", True, tuple(commands), None, "stopped"
                )
        elif (pid := daemon_pid(pid_path, program)) is not None:
            return ServiceResult(service, action, "direct", True, (), pid, "already running")
        if setup.endpoint is not None and setup.endpoint.accepts(self.root):
            # Someone else answers there (another instance, another program): the new daemon
            # would fork, exit 0, fail to bind, and the old listener would fool the ready check.
            raise ServiceError(
                ServiceResult(
                    service,
                    action,
                    "direct",
                    False,
                    tuple(commands),
                    None,
                    f"{setup.endpoint} is already in use",
                )
            )
        self._ensure_run_dirs(setup)
        argv = setup.argv()
        commands.append(argv)
        self._must(service, action, "direct", argv, commands)
        return self._verify(service, action, "direct", tuple(commands))

    def _wait_endpoint_free(self, setup: MilterSetup) -> None:
        """After the old process exited: drop a stale unix socket, wait for a TCP port."""
        endpoint = setup.endpoint
        if endpoint is None:
            return
        if endpoint.kind == "local":
            with contextlib.suppress(OSError), self.root.open(endpoint.path, follow=False) as place:
                info = place.lstat()
                if info and stat.S_ISSOCK(info.st_mode) and not endpoint.accepts(self.root):
                    place.unlink()  # the socket walked to, even if a directory is swapped
            return
        wait_until(lambda: not endpoint.accepts(self.root), self.stop_timeout)

    def _ensure_run_dirs(self, setup: MilterSetup) -> None:
        """Create missing /run directories for the pid file and socket, owned by the daemon user."""
        wanted = {os.path.dirname(setup.pid_file)}
        if setup.endpoint is not None and setup.endpoint.kind == "local":
            wanted.add(os.path.dirname(setup.endpoint.path))
        for directory in sorted(wanted):
            if not directory.startswith(("/run/", "/var/run/")):
                continue  # e.g. /var/spool/postfix/opendkim: the plan creates it explicitly
            if self.root.resolve(directory).is_dir():
                continue
            owner = setup.user
            group = None
            if owner is not None:
                owner = owner.split(":", 1)[0]
                user = accounts.get_user(self.root, owner)
                group = user.gid
            accounts.ensure_directory(self.root, directory, mode=0o755, owner=owner, group=group)

    def _direct_postfix(self, action: Action) -> ServiceResult:
        commands: list[tuple[str, ...]] = []
        running = self.runner(["postfix", "status"], timeout=COMMAND_TIMEOUT).ok
        if action == "reload":
            if not running:
                action = "start"
            else:
                commands.append(("postfix", "reload"))
                self._must("postfix", action, "direct", commands[-1], commands)
                return self._verify("postfix", action, "direct", tuple(commands))
        if action in ("stop", "restart") and running:
            pid = self.running_pid("postfix")
            commands.append(("postfix", "stop"))
            self._must("postfix", action, "direct", commands[-1], commands)
            if pid is not None and not wait_until(lambda: not pid_alive(pid), self.stop_timeout):
                raise ServiceError(
                    ServiceResult(
                        "postfix",
                        action,
                        "direct",
                        True,
                        tuple(commands),
                        pid,
                        "master would not exit",
                    )
                )
        if action == "stop":
            return ServiceResult(
                "postfix", action, "direct", True, tuple(commands), None, "stopped"
            )
        if action == "start" and running:
            return ServiceResult(
                "postfix",
                action,
                "direct",
                True,
                (),
                self.running_pid("postfix"),
                "already running",
            )
        commands.append(("postfix", "start"))
        self._must("postfix", action, "direct", commands[-1], commands)
        return self._verify("postfix", action, "direct", tuple(commands))
