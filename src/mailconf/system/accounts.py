"""Users, groups, ownership and directories, resolved through the root's own passwd/group.

Why not :mod:`pwd`/:mod:`grp`: under ``--root DIR`` the names must mean what they mean in
``DIR/etc/passwd`` (an image being prepared may give ``opendkim`` another uid than this host). On
the live root the same files are read; NSS sources beyond the files (LDAP, systemd-userdb) are not
consulted, which is fine for the system accounts Debian packages create.

Group membership is what makes milters reachable: Postfix needs to be in the ``opendkim`` and
``opendmarc`` groups to open their sockets (``gpasswd -a postfix opendkim`` in the walkthrough). On
the live root we call ``gpasswd`` itself, so nscd/sssd caches and audit logging behave as the admin
expects; under an alternate root we edit ``etc/group`` and ``etc/gshadow`` ourselves, changing only
the member field of the one line and keeping every other byte, under the same ``.pwd.lock`` lock
the shadow tools take.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import attrs

from mailconf.errors import MailconfError
from mailconf.fileio import decode
from mailconf.system.root import SystemRoot
from mailconf.system.run import Runner, run

GPASSWD_TIMEOUT = 30.0

EntryT = TypeVar("EntryT")


@attrs.frozen
class User:
    """One ``passwd`` entry (the fields mailconf needs)."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str


@attrs.frozen
class Group:
    """One ``group`` entry; ``members`` are the explicit (supplementary) members."""

    name: str
    gid: int
    members: tuple[str, ...]


def _lines(root: SystemRoot, system_path: str) -> list[str]:
    try:
        return decode(root.read_bytes(system_path)).splitlines()
    except FileNotFoundError:
        raise MailconfError(f"{root.resolve(system_path)}: not found") from None


def _entries(
    root: SystemRoot, system_path: str, fields: int, make: Callable[[list[str]], EntryT]
) -> dict[str, EntryT]:
    """Name -> ``make(fields)`` for each local entry of a colon-separated account database
    (``passwd``, ``group``) with at least ``fields`` fields; the first entry of a name wins, as
    in glibc.  NIS compat lines (``+``, ``-name``), blank and comment lines, short lines and
    entries whose ids are not numbers are skipped."""
    entries: dict[str, EntryT] = {}
    for line in _lines(root, system_path):
        parts = line.split(":")
        if not line or line[0] in "#+-" or len(parts) < fields:
            continue
        try:
            entry = make(parts)
        except ValueError:
            continue
        entries.setdefault(parts[0], entry)
    return entries


def read_users(root: SystemRoot) -> dict[str, User]:
    """Users from ``ROOT/etc/passwd``."""
    return _entries(root, "/etc/passwd", 7, lambda f: User(f[0], int(f[2]), int(f[3]), f[5], f[6]))


def _split_members(field: str) -> tuple[str, ...]:
    return tuple(m for m in field.strip().split(",") if m)


def read_groups(root: SystemRoot) -> dict[str, Group]:
    """Groups from ``ROOT/etc/group``."""
    return _entries(root, "/etc/group", 4, lambda f: Group(f[0], int(f[2]), _split_members(f[3])))


def get_user(root: SystemRoot, name: str) -> User:
    """The user ``name`` or a :class:`MailconfError` naming the passwd file."""
    try:
        return read_users(root)[name]
    except KeyError:
        raise MailconfError(
            f"user {name!r} does not exist in {root.resolve('/etc/passwd')}"
            " (is the package that creates it installed?)"
        ) from None


def get_group(root: SystemRoot, name: str) -> Group:
    """The group ``name`` or a :class:`MailconfError` naming the group file."""
    try:
        return read_groups(root)[name]
    except KeyError:
        raise MailconfError(
            f"group {name!r} does not exist in {root.resolve('/etc/group')}"
            " (is the package that creates it installed?)"
        ) from None


def is_group_member(root: SystemRoot, group: str, user: str) -> bool:
    """Whether processes of ``user`` get ``group``: listed as a member, or it is the primary group.

    Both count because ``initgroups(3)``, which daemons call when they drop privileges, gives a
    process its primary group and every group listing it.
    """
    grp_entry = get_group(root, group)
    usr_entry = get_user(root, user)
    return user in grp_entry.members or usr_entry.gid == grp_entry.gid


def gshadow_behind(root: SystemRoot, group: str, user: str) -> bool:
    """Under an alternate root: ``user`` is listed in ``etc/group``'s ``group`` but not in
    ``etc/gshadow``'s, which an edit stopped between the two files leaves (``gpasswd`` keeps
    them together on the live system)."""
    if root.is_live or not root.exists("/etc/gshadow"):
        return False
    if user not in get_group(root, group).members:
        return False
    for line in _lines(root, "/etc/gshadow"):
        parts = line.split(":")
        if parts[0] == group and len(parts) >= 4:
            return user not in _split_members(parts[3])
    return False


@contextlib.contextmanager
def _passwd_lock(root: SystemRoot) -> Iterator[None]:
    """The lock ``lckpwdf(3)`` takes (an fcntl write lock on etc/.pwd.lock), bounded by retries."""
    with root.open("/etc/.pwd.lock") as place:
        fd = place.open(os.O_WRONLY | os.O_CREAT, 0o600)
        lock_path = place.path
    try:
        for _ in range(150):
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise MailconfError(f"{lock_path}: held by another program for 15 s (useradd?)")
        yield
    finally:
        os.close(fd)


def _add_member_to_file(
    root: SystemRoot, system_path: str, group: str, user: str, member_field: int
) -> bool:
    """Append ``user`` to the member list of ``group``'s first line; only that field changes."""
    data = root.read_bytes(system_path)
    lines = data.split(b"\n")
    name = group.encode()
    for index, raw in enumerate(lines):
        body, cr = (raw[:-1], b"\r") if raw.endswith(b"\r") else (raw, b"")
        fields = body.split(b":")
        if fields[0] != name or len(fields) <= member_field:
            continue
        members = [m for m in fields[member_field].split(b",") if m]
        if user.encode() in members:
            return False
        old = fields[member_field]
        # Keep the existing field verbatim (odd spacing included) and append ",user".
        stripped = old.rstrip(b", ")
        fields[member_field] = stripped + (b"," if stripped else b"") + user.encode()
        lines[index] = b":".join(fields) + cr
        root.write(system_path, b"\n".join(lines))
        return True
    raise MailconfError(f"group {group!r} not found in {root.resolve(system_path)}")


def ensure_group_member(
    root: SystemRoot,
    group: str,
    user: str,
    *,
    runner: Runner = run,
) -> bool:
    """Make ``user`` a member of ``group``; returns True when something changed.

    Idempotent. Live root: ``gpasswd -a USER GROUP``. Alternate root: ``etc/group`` (and
    ``etc/gshadow`` when it exists and lists the group) rewritten atomically, mode and owner kept.
    Remember that running daemons keep their old groups until restarted.
    """
    if is_group_member(root, group, user) and not gshadow_behind(root, group, user):
        return False
    if root.is_live:
        result = runner(["gpasswd", "-a", user, group], timeout=GPASSWD_TIMEOUT)
        if not result.ok:
            raise MailconfError(f"gpasswd -a {user} {group} failed: {result.output}")
        return True
    with _passwd_lock(root):
        changed = _add_member_to_file(root, "/etc/group", group, user, 3)
        if root.exists("/etc/gshadow"):
            with contextlib.suppress(MailconfError):
                # A group missing from gshadow is legal (gpasswd then only edits group).
                changed = _add_member_to_file(root, "/etc/gshadow", group, user, 3) or changed
    return changed


def resolve_owner(
    root: SystemRoot, owner: str | int | None = None, group: str | int | None = None
) -> tuple[int, int]:
    """Numeric (uid, gid) for names looked up in the root's files; -1 means "leave unchanged"."""
    uid = -1 if owner is None else owner if isinstance(owner, int) else get_user(root, owner).uid
    gid = -1 if group is None else group if isinstance(group, int) else get_group(root, group).gid
    return uid, gid


def chown(
    root: SystemRoot,
    system_path: str,
    owner: str | int | None = None,
    group: str | int | None = None,
) -> bool:
    """Set the owner and/or group of a path; True when something changed.

    Like ``chown`` without ``-h``: a symlink's target is changed when root or we own the link and
    the target stays inside the root (:meth:`SystemRoot.open`).
    """
    uid, gid = resolve_owner(root, owner, group)
    with root.open(system_path) as place:
        return _changed(lambda: place.chown(uid, gid), system_path, "owner")


def chmod(root: SystemRoot, system_path: str, mode: int) -> bool:
    """Set the permission bits of a path; returns True when they changed."""
    with root.open(system_path) as place:
        return _changed(lambda: place.chmod(mode), system_path, "mode")


def _changed(change: Callable[[], bool], system_path: str, what: str) -> bool:
    try:
        return change()
    except PermissionError as exc:
        raise MailconfError(f"{system_path}: cannot change {what}: {exc.strerror}") from exc


def ensure_directory(
    root: SystemRoot,
    system_path: str,
    *,
    mode: int = 0o755,
    owner: str | int | None = None,
    group: str | int | None = None,
) -> bool:
    """``mkdir -p`` then set mode and owner of the last component; True when anything changed.

    Missing parents are created 0755 and owned by the caller (as ``mkdir -p`` and ``install -d``
    do); only the named directory gets ``mode``/``owner``/``group``. The mode is set explicitly, so
    the process umask does not matter. A non-directory in the way is an error, and so is a
    dangling symlink (as for ``mkdir -p``).
    """
    uid, gid = resolve_owner(root, owner, group)  # fail on unknown names before creating anything
    with root.open(system_path, create_parents=0o755) as place:
        info = place.lstat()
        changed = info is None
        if info is None and not place.via_link:
            place.mkdir(0o700)  # nobody else gets in before owner and mode are set
        elif info is None or not stat.S_ISDIR(info.st_mode):
            raise MailconfError(f"{system_path}: exists and is not a directory")
        changed = _changed(lambda: place.chown(uid, gid), system_path, "owner") or changed
        return _changed(lambda: place.chmod(mode), system_path, "mode") or changed
