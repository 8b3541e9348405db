"""Cross-file checks of the milter wiring: what Postfix connects to is what the milters listen on.

These are the mistakes no single file shows and no validator catches: ``postfix check`` and
``opendkim -n`` pass while every message gets 451 or Postfix gets EACCES on the socket.
"""

from __future__ import annotations

import os
import stat

from mailconf.doctor.system_view import SystemView
from mailconf.errors import EditError, MailconfError
from mailconf.findings import Finding, Severity
from mailconf.milter.conf import MilterConf
from mailconf.milter.sockets import SocketError, SocketSetting, parse_socket
from mailconf.postfix.main import (
    MainCf,
    known_parameters,
    legacy_parameters,
    milter_socket_for_postfix,
)
from mailconf.postfix.master import MasterCf
from mailconf.postfix.milters import same_milter_endpoint
from mailconf.postfix.values import milter_kind, milter_socket
from mailconf.system import accounts

MILTER_LISTS = ("smtpd_milters", "non_smtpd_milters")
DAEMONS = ("opendkim", "opendmarc")
MAIN_CF = "/etc/postfix/main.cf"
TIME_LIMIT = "_time_limit"
TIME_LIMIT_COMMANDS = {"spawn", "pipe"}


def check_milters(view: SystemView) -> list[Finding]:
    main = view.document("main", MainCf)
    if main is None:
        return []
    findings: list[Finding] = []
    smtpd = [milter_socket(item) for item in _milter_items(main, "smtpd_milters")]
    milters_line = view.main_line("smtpd_milters")
    positions: dict[str, int] = {}
    for daemon in DAEMONS:
        if view.document(daemon, MilterConf) is None:
            continue
        settings = view.milter_socket_settings(daemon)
        if not settings:
            findings.append(
                _error(
                    "milter.no-socket",
                    f"{daemon} has no Socket",
                    f"set Socket in /etc/{daemon}.conf",
                    f"/etc/{daemon}.conf",
                )
            )
            continue
        socket, socket_file, socket_line = settings[0].spec, settings[0].file, settings[0].line
        findings += _socket_conflict(daemon, settings)
        try:
            expected = milter_socket_for_postfix(socket, view.queue_directory)
        except EditError as error:
            findings.append(
                _error(
                    "milter.socket-unreachable",
                    str(error),
                    "put the socket under Postfix's queue directory, e.g. local:/var/spool/postfix/"
                    + daemon
                    + "/"
                    + daemon
                    + ".sock",
                    socket_file,
                    socket_line,
                )
            )
            continue
        index = next(
            (i for i, item in enumerate(smtpd) if same_milter_endpoint(item, expected)), None
        )
        if index is None:
            findings.append(
                _error(
                    "milter.socket-mismatch",
                    f"{daemon} listens on {socket} ({socket_file}"
                    + (f":{socket_line}" if socket_line else "")
                    + f") but smtpd_milters does not contain {expected}",
                    f"mailconf edit {MAIN_CF} --add-milter {daemon}",
                    MAIN_CF,
                    milters_line,
                )
            )
        else:
            positions[daemon] = index
        findings += _socket_directory(view, daemon, socket)
    findings += _unserved(view, main)
    if (
        "opendkim" in positions
        and "opendmarc" in positions
        and positions["opendkim"] > positions["opendmarc"]
    ):
        findings.append(
            _error(
                "milter.order",
                "OpenDMARC runs before OpenDKIM in smtpd_milters, so it cannot see DKIM results",
                "list the OpenDKIM socket first",
                MAIN_CF,
                milters_line,
            )
        )
    return findings


def _unserved(view: SystemView, main: MainCf) -> list[Finding]:
    """``milter.unserved``: a milter entry that names OpenDKIM or OpenDMARC (by its socket's
    name or conventional port) where that daemon does not listen, typically the old entry left
    behind when the daemon's socket moved.  Postfix then applies ``milter_default_action`` to
    every message: ``tempfail`` (the default) defers them all, ``accept`` passes them unsigned."""
    daemons = {"dkim": "opendkim", "dmarc": "opendmarc"}
    action = main.get("milter_default_action") or known_parameters().get(
        "milter_default_action", "tempfail"
    )
    findings: list[Finding] = []
    seen: set[str] = set()
    for param in MILTER_LISTS:
        for item in _milter_items(main, param):
            kind = milter_kind(item)
            if kind is None or item in seen:
                continue
            daemon = daemons[kind]
            settings = view.milter_socket_settings(daemon)
            if view.document(daemon, MilterConf) is None or not settings:
                continue  # not configured here: who serves it cannot be told
            sockets = [setting.spec for setting in settings]
            if any(same_milter_endpoint(item, s, view.queue_directory) for s in sockets):
                continue
            seen.add(item)
            effect = (
                "defers every message"
                if action.strip() == "tempfail"
                else f"applies milter_default_action = {action} to every message"
            )
            findings.append(
                _error(
                    "milter.unserved",
                    f"{param} lists {milter_socket(item)}, which looks like {daemon}'s, but "
                    f"{daemon} listens on {sockets[0]}: nothing serves it and Postfix {effect}",
                    f"mailconf edit {MAIN_CF} --remove-milter {milter_socket(item)}",
                    MAIN_CF,
                    view.main_line(param),
                )
            )
    return findings


def check_time_limits(view: SystemView) -> list[Finding]:
    """``X_time_limit`` in main.cf only works when master.cf has a spawn (or pipe) service X;
    otherwise Postfix ignores it (``postconf`` calls it unused) and the policy server runs with
    the default limit."""
    main, master = view.document("main", MainCf), view.document("master", MasterCf)
    if main is None or master is None:
        return []
    known = set(known_parameters(str(view.root))) | legacy_parameters(str(view.root))
    findings: list[Finding] = []
    for name in main.parameters:
        if not name.endswith(TIME_LIMIT) or name in known:
            continue
        service = name[: -len(TIME_LIMIT)]
        commands = {s.command for s in master.services if s.name == service}
        if commands & TIME_LIMIT_COMMANDS:
            continue
        what = (
            f"master.cf's {service} service runs {', '.join(sorted(commands))}, not spawn"
            if commands
            else f"master.cf has no {service} service"
        )
        findings.append(
            Finding(
                Severity.WARNING,
                "postfix.time-limit-service",
                f"{name} is ignored: {what}",
                fix=f"add the {service} spawn service to master.cf, or remove {name}",
                path=MAIN_CF,
                line=view.main_line(name),
            )
        )
    return findings


def _socket_conflict(daemon: str, settings: list[SocketSetting]) -> list[Finding]:
    """The conf file and /etc/default naming different sockets: the init script listens on the
    first, systemd (after opendkim.service.generate) on the second, so Postfix can only be
    right for one of them."""
    if len(settings) < 2 or settings[0].spec == settings[1].spec:
        return []
    conf, default = settings[:2]
    return [
        Finding(
            Severity.ERROR,
            "milter.socket-conflict",
            f"{default.file} sets SOCKET={default.spec} but {conf.file} says Socket "
            f"{conf.spec}: the init script uses the second, systemd (after "
            f"{daemon}.service.generate) the first",
            fix="set the same socket in both (mailconf apply does)",
            path=default.file,
            line=default.line,
        )
    ]


def _milter_items(main: object, name: str, seen: frozenset[str] = frozenset()) -> list[str]:
    """The milters of ``name``, with ``$smtpd_milters``-style references followed; a reference
    back to a list already being read (``smtpd_milters = $non_smtpd_milters`` and the reverse)
    adds nothing instead of recursing forever."""
    items: list[str] = main.list_items(name)  # type: ignore[attr-defined]
    expanded: list[str] = []
    for item in items:
        ref = item.strip("${}()")
        if item.startswith("$") and ref in MILTER_LISTS:
            if ref not in seen and ref != name:
                expanded += _milter_items(main, ref, seen | {name})
        else:
            expanded.append(item)
    return expanded


def _socket_directory(view: SystemView, daemon: str, socket: str) -> list[Finding]:
    """A local socket's directory must exist, be writable by the daemon and searchable by Postfix,
    and Postfix must be in the daemon's group to open the socket the daemon creates."""
    try:
        listening = parse_socket(socket)
    except SocketError:
        return []
    if not listening.is_unix or "/" not in listening.path:
        return []
    directory = listening.path.rsplit("/", 1)[0] or "/"
    host = view.root.resolve(directory)
    if not host.is_dir():
        return [
            _error(
                "milter.socket-dir-missing",
                f"{directory} (for {daemon}'s socket) does not exist",
                f"mkdir {directory}; chown {daemon}:postfix {directory}",
                directory,
            )
        ]
    info = host.stat()
    findings: list[Finding] = []
    if not _may(view, info, daemon, stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH):
        findings.append(
            _error(
                "milter.socket-dir-owner",
                f"{daemon} cannot create its socket in {directory} ({_describe(view, info)})",
                f"chown {daemon} {directory}",
                directory,
            )
        )
    if not _may(view, info, "postfix", stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
        findings.append(
            _error(
                "milter.socket-dir-access",
                f"Postfix cannot reach {directory} ({_describe(view, info)})",
                f"chgrp postfix {directory}; chmod g+x {directory}",
                directory,
            )
        )
    if not _is_member(view, daemon, "postfix"):
        findings.append(
            _error(
                "milter.postfix-not-in-group",
                f"postfix is not in the {daemon} group, so it cannot open {daemon}'s socket",
                f"gpasswd -a postfix {daemon}, then restart Postfix",
                "/etc/group",
            )
        )
    return findings


def _may(
    view: SystemView,
    info: os.stat_result,
    user: str,
    owner_bit: int,
    group_bit: int,
    other_bit: int,
) -> bool:
    """Whether ``user`` has a permission on a file, the way the kernel decides (no ACLs)."""
    users = accounts.read_users(view.root)
    if user not in users:
        return False
    if users[user].uid == 0:
        return True
    if users[user].uid == info.st_uid:
        return bool(info.st_mode & owner_bit)
    group_name = next(
        (g.name for g in accounts.read_groups(view.root).values() if g.gid == info.st_gid), None
    )
    if group_name is not None and _is_member(view, group_name, user):
        return bool(info.st_mode & group_bit)
    return bool(info.st_mode & other_bit)


def _describe(view: SystemView, info: os.stat_result) -> str:
    users = {u.uid: u.name for u in accounts.read_users(view.root).values()}
    groups = {g.gid: g.name for g in accounts.read_groups(view.root).values()}
    owner = users.get(info.st_uid, str(info.st_uid))
    group = groups.get(info.st_gid, str(info.st_gid))
    return f"{owner}:{group} {stat.S_IMODE(info.st_mode):o}"


def _is_member(view: SystemView, group: str, user: str) -> bool:
    try:
        return accounts.is_group_member(view.root, group, user)
    except MailconfError:  # a group or user that does not exist is not a membership
        return False


def _error(code: str, message: str, fix: str, path: str | None, line: int | None = None) -> Finding:
    return Finding(Severity.ERROR, code, message, fix=fix, path=path, line=line)
