"""How OpenDKIM and OpenDMARC are started without an init system, and how we know they are up.

Debian's init scripts decide the daemon's pid file, socket and user from its conf file and
``/etc/default/NAME`` (the conf wins; otherwise ``-P``, ``-p`` and ``-u`` come from the defaults
file); the direct method of :mod:`mailconf.system.services` starts the daemon the same way, and
the service layer waits for that pid file and for a connection to that socket
(:class:`Endpoint`) whichever method started it.
"""

from __future__ import annotations

import os
import socket
import stat
from typing import Literal

import attrs

from mailconf.errors import MailconfError
from mailconf.milter.conf import MilterConf
from mailconf.milter.shellvars import ShellVars, init_script_environment
from mailconf.milter.sockets import daemon_socket, socket_settings
from mailconf.syntax.kinds import load_file
from mailconf.system.root import SystemRoot
from mailconf.system.validate import CONF_FLAGS

__all__ = ["MILTERS", "Endpoint", "MilterSetup", "milter_setup"]

MILTERS = ("opendkim", "opendmarc")


@attrs.frozen
class Endpoint:
    """Where to connect to reach a milter: a unix socket path, or a TCP host and port."""

    kind: Literal["local", "inet"]
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"local:{self.path}" if self.kind == "local" else f"inet:{self.port}@{self.host}"

    @classmethod
    def parse(cls, spec: str) -> Endpoint:
        """The endpoint of a milter listening on ``spec`` (its ``Socket``, read by
        :func:`mailconf.milter.sockets.daemon_socket`): a daemon listening on every address, or
        on none named, is reached on loopback."""
        listening = daemon_socket(spec)
        if listening.is_unix:
            return cls("local", path=listening.path)
        loopback = "::1" if listening.scheme == "inet6" else "127.0.0.1"
        host = loopback if listening.host in ("", "0.0.0.0", "::", "*") else listening.host
        return cls("inet", host=host, port=listening.port)

    def accepts(self, root: SystemRoot) -> bool:
        """Whether something is listening (a connect succeeds)."""
        if self.kind == "local":
            path = root.resolve(self.path)
            try:
                if not stat.S_ISSOCK(os.stat(path).st_mode):
                    return False
            except OSError:
                return False
            family, address = socket.AF_UNIX, str(path)
            target: str | tuple[str, int] = address
        else:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            target = (self.host, self.port)
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(target)
            except OSError:
                return False
        return True


@attrs.frozen
class MilterSetup:
    """How a milter is started directly and how we know it is up."""

    name: str
    conf: str
    pid_file: str
    endpoint: Endpoint | None
    user: str | None
    extra_args: tuple[str, ...]

    def argv(self) -> tuple[str, ...]:
        """The daemon command line (the daemon backgrounds itself)."""
        return (self.name, CONF_FLAGS[self.name], self.conf, *self.extra_args)


def milter_setup(root: SystemRoot, name: str) -> MilterSetup:
    """Pid file, socket and user of a milter, from its conf and ``/etc/default/NAME``.

    Mirrors the Debian init scripts: the conf's ``PidFile``/``Socket`` win; otherwise ``-P``
    and ``-p`` come from ``/etc/default/NAME`` (RUNDIR, PIDFILE, SOCKET) or Debian's defaults.
    The socket is chosen by :func:`mailconf.milter.sockets.socket_settings`, as the doctor's is.
    """
    if name not in MILTERS:
        raise MailconfError(f"{name}: not a milter mailconf knows")
    conf = f"/etc/{name}.conf"
    conf_path = root.resolve(conf)
    if not conf_path.is_file():
        raise MailconfError(f"{conf} is missing: cannot start {name}")
    milter_conf = load_file(conf_path, kind=name)  # the daemons' names are their conf kinds
    assert isinstance(milter_conf, MilterConf)
    initial = init_script_environment(name)
    default_path = root.resolve(f"/etc/default/{name}")
    shell = ShellVars.load(default_path) if default_path.is_file() else None

    def default(variable: str) -> str | None:
        if shell is None:
            return initial.get(variable)
        return shell.get(variable, expand=True, environment=initial) or initial.get(variable)

    rundir = default("RUNDIR") or f"/run/{name}"
    extra: list[str] = []
    pid_file = milter_conf.get("PidFile")
    if not pid_file:
        pid_file = default("PIDFILE") or f"{rundir}/{name}.pid"
        extra += ["-P", pid_file]
    sockets = socket_settings(name, milter_conf, shell)
    spec = sockets[0].spec if sockets else None
    if sockets and sockets[0].name == "SOCKET":  # the init script passes it with -p
        extra += ["-p", sockets[0].spec]
    user = milter_conf.get("UserID") or None
    if user is None and default("USER"):
        user = default("USER")
        extra += ["-u", str(user)]
    endpoint = Endpoint.parse(spec) if spec else None
    return MilterSetup(name, conf, pid_file, endpoint, user, tuple(extra))
