"""The system root mailconf works on: ``/`` (the live system) or ``--root DIR``.

Every file mailconf touches is named by its *system* path (``/etc/postfix/main.cf``), as in the
daemons' own configuration, and mapped here to the *host* path it really reads or writes. An
alternate root lets a user (and every test) rehearse an apply on a copy of ``/etc`` without
touching the machine, so the mapping must never lead out of that copy: ``..`` components are
refused outright and a symlink inside the root that resolves outside it is refused rather than
followed (an absolute symlink such as ``etc/opendkim -> /etc/opendkim`` in a copied tree would
otherwise make a rehearsal edit the real system).

A symlink is followed only when root or the user running mailconf owns it. Daemon accounts own
directories mailconf works in (``/etc/opendkim`` and its ``keys`` after the walkthrough's
``chown -R opendkim``): a link planted there (``default.private -> /etc/shadow``) would otherwise
make a root apply chown, chmod, print or overwrite the file it names. The check is made on the
live root too, and it is made where the file is used: :meth:`SystemRoot.open` walks the path with
directory descriptors (:mod:`mailconf.walk`), so an account cannot swap a checked component for a
link before the write, chown, chmod or read happens. :meth:`SystemRoot.resolve` only names the
host path (for messages, and for programs that are handed a path).

We do not emulate chroot semantics (re-rooting absolute link targets): a path would then name a
different file for mailconf than for ``cat`` or an editor, which is worse than a clear refusal.
The mapping itself is :mod:`mailconf.rootpath` (base layer), which the milters' lint uses too.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import attrs

from mailconf.errors import MailconfError
from mailconf.rootpath import resolve_under, walk_under
from mailconf.walk import Place


def _absolute_root(value: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(os.fspath(value)))


@attrs.frozen
class SystemRoot:
    """Maps system paths to host paths under ``path`` (already resolved, absolute)."""

    path: Path = attrs.field(converter=_absolute_root)

    @classmethod
    def live(cls) -> SystemRoot:
        """The running system, ``/``."""
        return cls(Path("/"))

    @property
    def is_live(self) -> bool:
        """True when this is ``/``: commands may run and daemons may be restarted."""
        return self.path == Path("/")

    def __str__(self) -> str:
        return str(self.path)

    def open(
        self,
        system_path: str | os.PathLike[str],
        *,
        follow: bool = True,
        create_parents: int | None = None,
    ) -> Place:
        """Walk ``system_path`` under the root (see :func:`mailconf.walk.walk`); a context manager.

        Every operation on a file mailconf changes or reads as root goes through this: the
        symlink checks and the use are one walk.
        """
        return walk_under(str(self.path), system_path, follow=follow, create_parents=create_parents)

    def resolve(self, system_path: str | os.PathLike[str]) -> Path:
        """Host path of ``system_path``; refuses paths that leave the root.

        Symlinks are checked through to the last existing component (a file that does not exist
        yet is fine). On the live root the path is returned as given. The answer only *names*
        the file: to change or read it, use :meth:`open`, :meth:`read_bytes` or :meth:`write`.
        """
        return Path(resolve_under(str(self.path), system_path))

    def read_bytes(self, system_path: str | os.PathLike[str]) -> bytes:
        """The content of a regular file (``FileNotFoundError`` when it does not exist)."""
        with self.open(system_path) as place:
            return place.read_bytes()

    def read_if_present(self, system_path: str | os.PathLike[str]) -> bytes | None:
        """The content of a regular file, or None when it is not there (nor a directory on the
        way to it): what a plan compares with, and what an apply finds before writing."""
        try:
            return self.read_bytes(system_path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise MailconfError(f"{system_path}: is a directory, a file was expected") from None

    def write(
        self,
        system_path: str | os.PathLike[str],
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        create_parents: int | None = None,
    ) -> None:
        """Replace a file atomically, as :func:`mailconf.fileio.atomic_write` does."""
        with self.open(system_path, create_parents=create_parents) as place:
            place.write(data, mode=mode, uid=uid, gid=gid)

    def system_path(self, host_path: str | os.PathLike[str]) -> PurePosixPath:
        """Inverse of :meth:`resolve`: the system path a host path under the root stands for."""
        host = Path(os.path.abspath(os.fspath(host_path)))
        if self.is_live:
            return PurePosixPath(host)
        try:
            relative = host.relative_to(self.path)
        except ValueError:
            raise MailconfError(f"{host} is not under the root {self.path}") from None
        return PurePosixPath("/") / PurePosixPath(relative.as_posix())

    def exists(self, system_path: str | os.PathLike[str]) -> bool:
        """Whether the system path exists under this root (False for a path that leaves it)."""
        try:
            with self.open(system_path) as place:
                return place.lstat() is not None
        except (MailconfError, OSError):
            return False
