"""Milter sockets, read in one place: what a milter's ``Socket`` (or ``/etc/default``'s ``SOCKET``)
and a Postfix milter address name, and which of a daemon's two settings it listens on.

Two dialects name the same sockets (formats.md, main.cf item 10):

* the milters (libmilter's ``smfi_setconn``): ``local:/path`` or ``unix:/path`` (the type is
  read case-insensitively; a spec without a type is a path too), ``inet:PORT``,
  ``inet:PORT@HOST``, ``inet:PORT@[ADDRESS]``, and ``inet6:`` the same way.  Without a host the
  daemon listens on every address;
* Postfix (``smtpd_milters``): ``unix:PATH`` or ``local:PATH`` (looked up inside the queue
  directory, where smtpd is chrooted) and ``inet:HOST:PORT`` or ``inet:[ADDRESS]:PORT``.  A milter
  list item may also be a ``{ SOCKET, option=value }`` group: its braces belong to Postfix's list
  syntax and are removed by :func:`mailconf.postfix.values.milter_socket` before the socket gets
  here.

Refused here, although libmilter or Postfix would read them: a port given as a service name
(``/etc/services`` differs between the machine and a ``--root`` tree) and a path without a type
that is not absolute (a bare word is a mistake far more often than a socket in the daemon's
working directory).

Which setting wins follows Debian's packaging (measured in ``/etc/init.d/opendkim`` and
``/lib/opendkim/opendkim.service.generate``; formats.md is corrected in the project's notes): the
init script passes ``-p $SOCKET`` only when the conf file has no ``Socket``, so the conf's comes
first; under systemd ``SOCKET`` wins only once the generator has written an override.  The
service layer starts the daemon by that rule and the doctor reports two different sockets as a
conflict, so both read :func:`socket_settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from mailconf.errors import MailconfError

if TYPE_CHECKING:
    from mailconf.milter.conf import MilterConf
    from mailconf.milter.shellvars import ShellVars

__all__ = [
    "MilterSocket",
    "SocketError",
    "SocketSetting",
    "daemon_socket",
    "is_daemon_socket",
    "parse_socket",
    "socket_settings",
]

_UNIX_TYPES = ("", "local", "unix")
_INET_TYPES = ("inet", "inet6")


class SocketError(MailconfError):
    """A socket spec that neither the milters nor Postfix read as a socket (the message says
    why)."""


@attrs.frozen
class MilterSocket:
    """A socket spec taken apart.  ``scheme`` is the type as written, in lower case (``""`` for
    a bare path); ``host`` is as written without brackets, ``""`` when none is named."""

    scheme: str
    path: str = ""
    host: str = ""
    port: int = 0
    #: Written host first, ``inet:HOST:PORT``: Postfix's dialect (the milters write PORT@HOST).
    postfix_form: bool = False

    @property
    def is_unix(self) -> bool:
        return self.scheme in _UNIX_TYPES


def parse_socket(spec: str) -> MilterSocket:
    """``spec`` in either dialect; :class:`SocketError` for anything else."""
    scheme, colon, rest = spec.partition(":")
    if not colon:
        scheme, rest = "", spec
    scheme = scheme.lower()
    if scheme in _UNIX_TYPES:
        if not rest or (not scheme and not rest.startswith("/")):
            raise SocketError(f"{spec}: not a socket (a path needs local: or unix:, or a /)")
        return MilterSocket(scheme, path=rest)
    if scheme not in _INET_TYPES:
        raise SocketError(f"{spec}: unknown socket type {scheme!r}")
    port, at, host = rest.partition("@")
    postfix_form = not at and not port.isdigit()
    if postfix_form:  # HOST:PORT, the host maybe [bracketed]
        host, _, port = rest.rpartition(":")
        if not host:
            raise SocketError(f"{spec}: no port (inet:PORT@HOST, or Postfix's inet:HOST:PORT)")
    elif at and not host:
        raise SocketError(f"{spec}: no host after '@'")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SocketError(f"{spec}: {port!r} is not a port number")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return MilterSocket(scheme, host=host, port=int(port), postfix_form=postfix_form)


def daemon_socket(spec: str) -> MilterSocket:
    """``spec`` as a milter's ``Socket``: the milters' dialect, and a unix socket at an absolute
    path.  Postfix's ``inet:HOST:PORT`` is refused: libmilter would read its host as the port."""
    socket = parse_socket(spec)
    if socket.postfix_form:
        raise SocketError(f"{spec}: Postfix's form; the milters write inet:PORT@HOST")
    if socket.is_unix and not socket.path.startswith("/"):
        raise SocketError(f"{spec}: a milter's socket path must be absolute")
    return socket


def is_daemon_socket(spec: str) -> bool:
    """Whether the milters read ``spec`` as the socket it looks like (see :func:`daemon_socket`)."""
    try:
        daemon_socket(spec)
    except SocketError:
        return False
    return True


@attrs.frozen
class SocketSetting:
    """One place that sets a daemon's socket: the value (``$VAR`` expanded as the init script
    expands it), the setting's name (``Socket`` or ``SOCKET``), the file's system path, its line."""

    spec: str
    name: str
    file: str
    line: int | None


def socket_settings(
    daemon: str, conf: MilterConf | None, defaults: ShellVars | None
) -> list[SocketSetting]:
    """Each place that sets ``daemon``'s socket, the one the daemon listens on first: the conf
    file's ``Socket``, then ``/etc/default/DAEMON``'s ``SOCKET`` (see the module's docstring).
    Two different sockets mean "it depends on the service manager"."""
    found: list[SocketSetting] = []
    socket = conf.get("Socket") if conf is not None else None
    if conf is not None and socket:
        found.append(
            SocketSetting(socket, "Socket", f"/etc/{daemon}.conf", conf._last_line("Socket"))
        )
    if defaults is not None:
        from mailconf.milter.shellvars import init_script_environment  # the model, when needed

        value = defaults.get("SOCKET", expand=True, environment=init_script_environment(daemon))
        if value:
            line = defaults.line_of(defaults._assignments("SOCKET")[-1])
            found.append(SocketSetting(value, "SOCKET", f"/etc/default/{daemon}", line))
    return found
