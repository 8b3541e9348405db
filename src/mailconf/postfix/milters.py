"""The milters main.cf names, as a person names them: ``opendkim`` and ``opendmarc`` stand for the
socket that daemon listens on, written the way Postfix must name it.

One function serves both doors, ``MainCf.add_milter("opendkim", root=...)`` and ``mailconf edit
--add-milter opendkim``, so the two cannot disagree; the doctor reads the same two settings when
it compares smtpd_milters with the milters' sockets.
"""

from __future__ import annotations

import os
from typing import TypeVar

from mailconf import fileio
from mailconf.errors import EditError, ReadError
from mailconf.postfix.values import milter_socket_for_postfix
from mailconf.rootpath import host_path, walk_under
from mailconf.syntax.document import Document

DocT = TypeVar("DocT", bound=Document)

#: The milters known by name.
DAEMONS = ("opendkim", "opendmarc")


def resolve_milter(spec: str, root: str, queue_directory: str) -> str:
    """``spec`` itself, unless it names a daemon (``opendkim``, ``opendmarc``): then the socket
    that daemon listens on under ``root``, as Postfix with ``queue_directory`` must name it
    (EditError when the daemon has no socket, or one Postfix cannot reach)."""
    if spec not in DAEMONS:
        return spec
    socket = daemon_socket(spec, root)
    if socket is None:
        raise EditError(
            f"no Socket for {spec} under {root} (/etc/{spec}.conf, /etc/default/{spec}); "
            "give the milter as a socket spec instead"
        )
    return milter_socket_for_postfix(socket, queue_directory)


def daemon_socket(daemon: str, root: str) -> str | None:
    """The socket ``daemon`` listens on under ``root``, by the one rule of
    :func:`mailconf.milter.sockets.socket_settings` (its conf file's ``Socket``, else
    ``/etc/default/DAEMON``'s ``SOCKET`` as Debian's init script expands it).  None when neither
    sets one."""
    # The milters' models are imported here: a main.cf edit naming a socket does not need them.
    from mailconf.milter.conf import OpenDkimConf, OpenDmarcConf
    from mailconf.milter.shellvars import ShellVars
    from mailconf.milter.sockets import socket_settings

    conf_type = OpenDkimConf if daemon == "opendkim" else OpenDmarcConf
    conf = _load_under(root, f"/etc/{daemon}.conf", conf_type)
    defaults = _load_under(root, f"/etc/default/{daemon}", ShellVars)
    found = socket_settings(daemon, conf, defaults)
    return found[0].spec if found else None


def _load_under(root: str, system_path: str, doc_type: type[DocT]) -> DocT | None:
    """The file ``system_path`` under ``root`` parsed as ``doc_type``; None when it does not
    exist.  The path is walked below the root (:func:`mailconf.rootpath.walk_under`): a symlink
    leading out of it, or owned by a daemon account, is refused rather than followed."""
    real_root = os.path.realpath(root)
    host = host_path(real_root, system_path)
    try:
        with walk_under(real_root, system_path) as place:
            data = place.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ReadError.from_os_error(host, error) from None
    return doc_type.parse(fileio.decode(data), host)


#: Host names that mean "this machine" to a milter socket: a daemon listening on every address
#: (no host) serves them all.
_LOOPBACK = ("", "localhost", "127.0.0.1", "::1")


def milter_endpoint(
    spec: str, queue_directory: str = "/var/spool/postfix"
) -> tuple[str, ...] | None:
    """What ``spec`` connects to, comparable across both dialects (a milter's ``Socket`` or a
    Postfix milter list item, ``{ }`` options dropped): ``("unix", PATH)`` with PATH relative to
    the queue directory (smtpd is chrooted there), ``("inet", HOST, PORT)`` with every loopback
    name as ``"loopback"``.  None when it is no socket at all."""
    from mailconf.milter.sockets import SocketError, parse_socket
    from mailconf.postfix.values import milter_socket

    try:
        socket = parse_socket(milter_socket(spec.strip()))
    except SocketError:
        return None
    if socket.is_unix:
        path = os.path.normpath(socket.path)
        queue = os.path.normpath(queue_directory)
        if path.startswith(queue + "/"):
            path = path[len(queue) + 1 :]
        return ("unix", path)
    host = socket.host.lower()
    return ("inet", "loopback" if host in _LOOPBACK else host, str(socket.port))


def same_milter_endpoint(a: str, b: str, queue_directory: str = "/var/spool/postfix") -> bool:
    """Whether two socket specs reach the same milter (``inet:8891@localhost`` and Postfix's
    ``inet:127.0.0.1:8891``; ``local:/var/spool/postfix/x.sock`` and ``unix:x.sock``)."""
    endpoint = milter_endpoint(a, queue_directory)
    return endpoint is not None and endpoint == milter_endpoint(b, queue_directory)
