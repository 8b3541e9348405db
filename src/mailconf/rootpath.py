"""System paths under a root: the one mapping from a path as the daemons' files name it
(``/etc/opendkim/key.table``) to the file mailconf reads or writes, under ``/`` or ``--root DIR``.

The rules (the reasons are in :mod:`mailconf.system.root` and :mod:`mailconf.walk`): a system
path is absolute and has no NUL and no ``..``; it is walked one component at a time below the
root, so a symlink that leads out of the root, or that is owned by anyone but root or the user
running mailconf, is refused rather than followed.

:class:`~mailconf.system.root.SystemRoot` maps every path of a plan, an apply and the doctor with
these functions; the milters' lint, which runs in the model layer below ``system``, maps the
files a configuration names with :func:`under`, so a ``--root`` lint never reads a file outside
the tree or through a link planted by a daemon account.
"""

from __future__ import annotations

import os
import posixpath

from mailconf.errors import MailconfError
from mailconf.walk import Place, walk

__all__ = ["check_system_path", "host_path", "resolve_under", "under", "walk_under"]


def check_system_path(system_path: str | os.PathLike[str]) -> str:
    """``system_path`` as text; MailconfError when it is not absolute or holds a NUL or ``..``."""
    raw = os.fspath(system_path)
    if "\0" in raw:
        raise MailconfError(f"{raw!r}: NUL byte in path")
    if not raw.startswith("/"):
        raise MailconfError(f"{raw}: system paths must be absolute")
    if ".." in raw.split("/"):
        raise MailconfError(f"{raw}: '..' is not allowed in a system path")
    return raw


def host_path(root: str, system_path: str) -> str:
    """The host path naming the (checked) ``system_path`` under ``root`` (resolved, absolute)."""
    return system_path if root == "/" else root + system_path


def walk_under(
    root: str,
    system_path: str | os.PathLike[str],
    *,
    follow: bool = True,
    create_parents: int | None = None,
) -> Place:
    """Walk ``system_path`` below ``root`` (see :func:`mailconf.walk.walk`); a context manager."""
    raw = check_system_path(system_path)
    return walk(
        host_path(root, raw),
        shown=posixpath.normpath(raw),
        within=root,
        follow=follow,
        create_parents=create_parents,
    )


def resolve_under(root: str, system_path: str | os.PathLike[str]) -> str:
    """The host path of ``system_path`` once its walk is allowed (MailconfError otherwise); a
    file that does not exist yet is fine.  It only names the file: to read or change it, use the
    :class:`~mailconf.walk.Place` of :func:`walk_under`."""
    raw = check_system_path(system_path)
    with walk_under(root, raw):
        pass
    return host_path(root, raw)


def under(root: str, path: str) -> str:
    """``path``, a path from a configuration file, as a reader under ``root`` opens it.

    A relative path is kept (the daemon opens it relative to its working directory, and so does
    the reader).  An absolute one is mapped by :func:`resolve_under`; when the mapping refuses it
    the answer is ``""``, which every file operation reports as missing (``ENOENT``), so a lint
    reads nothing outside the root and never raises.
    """
    if not path.startswith("/"):
        return path
    try:
        return resolve_under(os.path.realpath(root) if root not in ("", "/") else "/", path)
    except (MailconfError, OSError):
        return ""
