"""The milters main.cf names, as a person names them: ``opendkim`` and ``opendmarc`` stand for the
socket that daemon listens on, written the way Postfix must name it; and milters compared by the
endpoint Postfix connects to, however they are spelled.

One function serves both doors, ``MainCf.add_milter("opendkim", root=...)`` and ``mailconf edit
--add-milter opendkim``, so the two cannot disagree; the doctor reads the same two settings when
it compares smtpd_milters with the milters' sockets.

Which services connect (``smtpd`` for ``smtpd_milters``, ``cleanup`` for ``non_smtpd_milters``)
and whether they run chrooted is read from the master.cf beside main.cf, service by service
(:func:`chrooted_services`): a socket outside the queue directory is reachable exactly when none
of them is chrooted.
"""

from __future__ import annotations

import functools
import os
import posixpath
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

import attrs

from mailconf import fileio
from mailconf.errors import EditError, ReadError
from mailconf.postfix.values import (
    list_tokens,
    milter_kind,
    milter_socket,
    milter_socket_for_postfix,
    pure_reference,
)
from mailconf.rootpath import host_path, walk_under
from mailconf.syntax.document import Document

if TYPE_CHECKING:
    from mailconf.postfix.master import MasterCf

DocT = TypeVar("DocT", bound=Document)


class MainCf(Protocol):
    """What the milter edits use of :class:`mailconf.postfix.main.MainCf` (which calls them: a
    protocol, so this module does not import its caller back)."""

    path: str | None

    @property
    def parameters(self) -> dict[str, str]: ...
    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> bool: ...
    def list_items(self, name: str) -> list[str]: ...
    def list_append(self, name: str, item: str) -> bool: ...
    def list_insert(self, name: str, item: str, *, before: str | None = None) -> bool: ...
    def list_remove(self, name: str, item: str) -> bool: ...


#: The milters known by name.
DAEMONS = ("opendkim", "opendmarc")


def resolve_milter(
    spec: str, root: str, queue_directory: str, chrooted_by: Sequence[str] = ("smtpd",)
) -> str:
    """``spec`` itself, unless it names a daemon (``opendkim``, ``opendmarc``): then the socket
    that daemon listens on under ``root``, as Postfix with ``queue_directory`` must name it
    (EditError when the daemon has no socket, or one the services ``chrooted_by`` cannot reach:
    see :func:`mailconf.postfix.values.milter_socket_for_postfix`)."""
    if spec not in DAEMONS:
        return spec
    socket = daemon_socket(spec, root)
    if socket is None:
        raise EditError(
            f"no Socket for {spec} under {root} (/etc/{spec}.conf, /etc/default/{spec}); "
            "give the milter as a socket spec instead"
        )
    return milter_socket_for_postfix(socket, queue_directory, chrooted_by=chrooted_by)


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


# ------------------------------------------------------------------------------ endpoints
#: Host names that always mean this machine's loopback interface, for the "the same daemon?"
#: warning (not for equality: ``localhost`` is looked up in /etc/hosts and may say otherwise).
_LOOPBACK = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "127.0.0.1", "::1"})


@attrs.frozen
class Endpoint:
    """What Postfix connects to for a milter: a unix socket by the path the host names it (the
    queue directory's chroot and working directory applied), or a TCP host and port."""

    family: str  #: ``"unix"`` or ``"inet"``
    address: str  #: the host path, or the host as written (lower case, no brackets)
    port: int = 0

    def __str__(self) -> str:
        if self.family == "unix":
            return f"unix socket {self.address}"
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def milter_endpoint(
    item: str, *, queue_directory: str = "/var/spool/postfix", chrooted: bool = True
) -> Endpoint | None:
    """The endpoint a milter list item (``unix:PATH``, ``local:PATH``, ``inet:HOST:PORT``, or a
    ``{ socket, option=value }`` group) connects to; None for what Postfix would not connect to.

    Postfix's milter client (``milter8.c``) knows the transports ``inet``, ``unix`` and ``local``,
    the last two the same connect on Unix systems.  Every daemon's working directory is the queue
    directory, so a relative path is below it; an absolute one is below it too when the service
    runs chrooted there (``chrooted``), and is the host's path otherwise.
    """
    spec = milter_socket(item)
    transport, colon, rest = spec.partition(":")
    if not colon or not rest:
        return None
    if transport in ("unix", "local"):
        queue = posixpath.normpath(queue_directory)
        if rest.startswith("/") and not chrooted:
            return Endpoint("unix", posixpath.normpath(rest))
        return Endpoint("unix", posixpath.normpath(posixpath.join(queue, rest.lstrip("/"))))
    if transport != "inet":
        return None
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return Endpoint("inet", host.lower(), int(port))


def same_milter(
    first: str, second: str, *, queue_directory: str = "/var/spool/postfix", chrooted: bool = True
) -> bool:
    """Whether two milter list items connect to the same socket, however each is spelled
    (``unix:`` or ``local:``, relative or chroot-absolute path, with or without a ``{ }`` group).
    Items Postfix could not connect to are the same only when written the same."""
    ends = [
        milter_endpoint(item, queue_directory=queue_directory, chrooted=chrooted)
        for item in (first, second)
    ]
    if ends[0] is None or ends[1] is None:
        return milter_socket(first) == milter_socket(second)
    return ends[0] == ends[1]


def maybe_same_daemon(first: Endpoint, second: Endpoint) -> bool:
    """Two different TCP endpoints on one port that both name this machine's loopback
    (``localhost:8891`` and ``127.0.0.1:8891``): probably one daemon named twice."""
    return (
        first != second
        and first.family == second.family == "inet"
        and first.port == second.port
        and first.address in _LOOPBACK
        and second.address in _LOOPBACK
    )


# ------------------------------------------------------------------------------- chroot
#: The master.cf command that connects to each milter list's milters.
MILTER_SERVICES = {"smtpd_milters": "smtpd", "non_smtpd_milters": "cleanup"}


def chrooted_services(master: MasterCf | None, command: str, root: str = "/") -> list[str]:
    """The ``name/type`` of each master.cf service running ``command`` chrooted (column 5 ``y``,
    or ``-`` where the compiled default is ``y``: before Postfix 3.0).  Without a master.cf,
    ``["(no master.cf)"]``: nothing shows the service may reach a path outside the queue
    directory, so the careful answer is "chrooted"."""
    if master is None:
        return ["(no master.cf)"]
    default = _chroot_default(root)
    return [
        service.key
        for service in master.services
        if service.command == command
        and (service.chroot == "y" or (service.chroot == "-" and default == "y"))
    ]


def _chroot_default(root: str) -> str:
    """master.cf's chroot column default: ``n`` since Postfix 3.0, ``y`` before."""
    from mailconf.postfix.params import parameter_table

    version = parameter_table(root).version
    major = version.split(".", 1)[0]
    return "y" if major.isdigit() and int(major) < 3 else "n"


# ------------------------------------------------------------------------------- edits
class _Place:
    """What a milter edit needs beside main.cf: the queue directory, and which services of the
    master.cf beside it (else under ``root``) run chrooted.  master.cf is read only when an
    answer depends on it (a daemon's socket to place, an absolute path to compare): a relative
    path or a TCP socket reads the same chrooted or not."""

    def __init__(self, main: MainCf, root: str) -> None:
        self.main = main
        self.root = root
        self.queue_directory = main.get("queue_directory") or "/var/spool/postfix"
        self._chrooted: dict[str, list[str]] = {}

    @functools.cached_property
    def master(self) -> MasterCf | None:
        from mailconf.postfix.master import MasterCf

        if self.main.path:
            sibling = os.path.join(os.path.dirname(self.main.path), "master.cf")
            return MasterCf.load(sibling) if os.path.exists(sibling) else None
        return _load_under(self.root, "/etc/postfix/master.cf", MasterCf)

    def chrooted_by(self, param: str) -> list[str]:
        if param not in self._chrooted:
            command = MILTER_SERVICES.get(param, "smtpd")
            self._chrooted[param] = chrooted_services(self.master, command, self.root)
        return self._chrooted[param]

    def resolve(self, spec: str, param: str) -> str:
        """:func:`resolve_milter` for the services that use ``param``."""
        if spec not in DAEMONS:
            return spec
        return resolve_milter(spec, self.root, self.queue_directory, self.chrooted_by(param))

    def endpoint(self, item: str, param: str) -> Endpoint | None:
        chrooted = _absolute_path(item) and bool(self.chrooted_by(param))
        return milter_endpoint(item, queue_directory=self.queue_directory, chrooted=chrooted)

    def endpoints(self, item: str) -> set[Endpoint]:
        """``item``'s endpoint chrooted or not: a removal matches either reading."""
        found = (
            milter_endpoint(item, queue_directory=self.queue_directory, chrooted=chrooted)
            for chrooted in (True, False)
        )
        return {end for end in found if end is not None}


def _absolute_path(item: str) -> bool:
    """A unix socket at an absolute path: the one reading that depends on the chroot."""
    transport, _, rest = milter_socket(item).partition(":")
    return transport in ("unix", "local") and rest.startswith("/")


def add_milter(main: MainCf, spec: str, *, param: str, root: str) -> bool:
    """:meth:`MainCf.add_milter`: ``spec`` (resolved by :func:`resolve_milter` for the services
    that use ``param``) added to ``param`` unless a milter with the same endpoint is there
    already, also through ``$name`` references.  Adding to ``smtpd_milters`` also gives the milter
    to ``non_smtpd_milters`` (mail from sendmail and pickup), as MILTER_README has it: an absent
    one becomes ``$smtpd_milters``, a list of its own gets the milter too, an explicitly empty one
    is the admin's choice and stays."""
    place = _Place(main, root)
    item = place.resolve(spec, param)
    changed = _add_one(main, param, item, place)
    if param != "smtpd_milters":
        return changed
    other = "non_smtpd_milters"
    value = main.get(other)
    if value is not None and not value.strip():
        return changed
    if value is None and place.endpoint(item, param) == place.endpoint(item, other):
        return main.set(other, "$smtpd_milters") or changed
    cleanup_item = place.resolve(spec, other)
    return _add_one(main, other, cleanup_item, place) or changed


def _add_one(main: MainCf, param: str, item: str, place: _Place) -> bool:
    wanted = place.endpoint(item, param)
    if param in _lists_holding(main, param, lambda text: _same(place, text, item, wanted, param)):
        return False
    if milter_kind(item) == "dkim":  # OpenDMARC reads OpenDKIM's Authentication-Results
        for existing in main.list_items(param):
            if milter_kind(existing) == "dmarc":
                return main.list_insert(param, item, before=existing)
    return main.list_append(param, item)


def _same(place: _Place, text: str, item: str, wanted: Endpoint | None, param: str) -> bool:
    if wanted is None:
        return milter_socket(text) == milter_socket(item)
    return place.endpoint(text, param) == wanted


def remove_milter(main: MainCf, spec: str, *, param: str, root: str) -> bool:
    """:meth:`MainCf.remove_milter`: every milter of ``param`` (and, for ``smtpd_milters``, of
    ``non_smtpd_milters``) that connects to ``spec``'s endpoint, read chrooted or not.  Never
    refused for where the socket is: a broken milter must be removable.  ``opendkim`` and
    ``opendmarc`` name the daemon's socket; a daemon without one, the milters that look like it
    (:func:`mailconf.postfix.values.milter_kind`).  EditError when ``param`` only gets the milter
    through a reference such as ``$smtpd_milters``, naming where it comes from."""
    place = _Place(main, root)
    matches = _removal_matcher(spec, root, place)
    changed = False
    lists = [param, "non_smtpd_milters"] if param == "smtpd_milters" else [param]
    for name in lists:
        for text in dict.fromkeys(main.list_items(name)):
            if matches(text):
                changed |= main.list_remove(name, text)
    if not changed:
        holding = _lists_holding(main, param, matches)
        for text in main.list_items(param):
            ref = pure_reference(text)
            if ref and ref in holding:
                raise EditError(f"{param} gets {spec} through ${ref}; remove it from {ref} instead")
    return changed


def _removal_matcher(spec: str, root: str, place: _Place) -> Callable[[str], bool]:
    if spec in DAEMONS:
        socket = daemon_socket(spec, root)
        kind = "dkim" if spec == "opendkim" else "dmarc"
        if socket is None:
            return lambda text: milter_kind(text) == kind
        return _daemon_matcher(socket, place)
    targets = place.endpoints(spec)
    if not targets:
        return lambda text: milter_socket(text) == milter_socket(spec)
    return lambda text: bool(place.endpoints(text) & targets)


def _daemon_matcher(socket: str, place: _Place) -> Callable[[str], bool]:
    """Milters that connect to the daemon's ``Socket`` (the milters' dialect): its path, or its
    port (on a loopback name when the daemon listens on every address)."""
    from mailconf.milter.sockets import SocketError, parse_socket

    try:
        parsed = parse_socket(socket)
    except SocketError:
        return lambda text: milter_socket(text) == socket
    if parsed.is_unix:
        path = Endpoint("unix", posixpath.normpath(parsed.path))
        return lambda text: path in place.endpoints(text)
    host = parsed.host.lower()

    def listens(text: str) -> bool:
        return any(
            end.family == "inet"
            and end.port == parsed.port
            and (end.address == host or (not host and end.address in _LOOPBACK))
            for end in place.endpoints(text)
        )

    return listens


def _lists_holding(main: MainCf, name: str, matches: Callable[[str], bool]) -> set[str]:
    """The lists reachable from ``name`` through whole-item ``$name`` references (file value,
    else default) that give a milter ``matches`` accepts, directly or through their own
    references.  Each list is read once, however the references repeat or loop."""
    from mailconf.postfix.params import parameter_table

    values = main.parameters
    defaults = parameter_table("/").parameters
    graph: dict[str, tuple[list[str], list[str]]] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in graph:
            continue
        value = (values[current] if current in values else defaults.get(current)) or ""
        items: list[str] = []
        refs: list[str] = []
        for item in list_tokens(value):
            ref = pure_reference(item.text)
            (refs if ref else items).append(ref or item.text)
        graph[current] = (items, refs)
        pending.extend(refs)
    holding = {list_name for list_name, (items, _) in graph.items() if any(map(matches, items))}
    referrers: dict[str, list[str]] = {}
    for list_name, (_, refs) in graph.items():
        for ref in refs:
            referrers.setdefault(ref, []).append(list_name)
    pending = list(holding)
    while pending:
        for referrer in referrers.get(pending.pop(), ()):
            if referrer not in holding:
                holding.add(referrer)
                pending.append(referrer)
    return holding


# -------------------------------------------------------------- both dialects (doctor, planner)
def _dialect_endpoint(spec: str, queue_directory: str) -> tuple[str, ...] | None:
    """What ``spec`` connects to, comparable across both dialects (a milter's ``Socket`` or a
    Postfix milter list item, ``{ }`` options dropped): ``("unix", PATH)`` with PATH relative to
    the queue directory (smtpd is chrooted there), ``("inet", HOST, PORT)`` with every loopback
    name, and no host (every address), as ``"loopback"``.  None when it is no socket at all."""
    from mailconf.milter.sockets import SocketError, parse_socket

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
    return ("inet", "loopback" if host in _LOOPBACK | {""} else host, str(socket.port))


def same_milter_endpoint(a: str, b: str, queue_directory: str = "/var/spool/postfix") -> bool:
    """Whether two socket specs reach the same milter (``inet:8891@localhost`` and Postfix's
    ``inet:127.0.0.1:8891``; ``local:/var/spool/postfix/x.sock`` and ``unix:x.sock``): a
    milter's ``Socket`` against a list item, where :func:`milter_endpoint` compares two items."""
    endpoint = _dialect_endpoint(a, queue_directory)
    return endpoint is not None and endpoint == _dialect_endpoint(b, queue_directory)
