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
make a root apply chown, chmod, print or overwrite the file it names. The kernel's
``protected_symlinks`` only covers sticky world-writable directories, so the check is ours; it is
made on the live root too.

We do not emulate chroot semantics (re-rooting absolute link targets): a path would then name a
different file for mailconf than for ``cat`` or an editor, which is worse than a clear refusal.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

import attrs

from mailconf.errors import MailconfError


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

    @staticmethod
    def _check_system_path(system_path: str | os.PathLike[str]) -> PurePosixPath:
        raw = os.fspath(system_path)
        if "\0" in raw:
            raise MailconfError(f"{raw!r}: NUL byte in path")
        pure = PurePosixPath(raw)
        if not pure.is_absolute():
            raise MailconfError(f"{raw}: system paths must be absolute")
        if ".." in pure.parts:
            raise MailconfError(f"{raw}: '..' is not allowed in a system path")
        return pure

    def resolve(self, system_path: str | os.PathLike[str]) -> Path:
        """Host path of ``system_path``; refuses paths that leave the root.

        Symlinks are checked through to the last existing component (a file that does not exist
        yet is fine). On the live root the path is returned as given.
        """
        pure = self._check_system_path(system_path)
        _check_link_owners(self.path, pure.parts[1:], pure)
        if self.is_live:
            return Path(pure)
        host = self.path.joinpath(*pure.parts[1:])
        real = Path(os.path.realpath(host))
        if real != self.path and self.path not in real.parents:
            raise MailconfError(
                f"{pure}: resolves to {real}, outside the root {self.path} (a symlink leads out)"
            )
        return host

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
            return self.resolve(system_path).exists()
        except MailconfError:
            return False


MAX_LINKS = 40  # as the kernel's MAXSYMLINKS


def _check_link_owners(start: Path, parts: tuple[str, ...], shown: PurePosixPath) -> None:
    """Refuse a path that goes through a symlink owned by someone other than root or us.

    Walks the components below ``start`` (the root, itself a real path) as the kernel would,
    following each link's target (a chain included) until a component does not exist.
    """
    trusted = {0, os.geteuid()}
    pending = list(parts)
    current = start
    links = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        try:
            st = os.lstat(candidate)
        except OSError:
            return  # missing (or not a directory): nothing further is followed
        if not stat.S_ISLNK(st.st_mode):
            current = candidate
            continue
        if st.st_uid not in trusted:
            raise MailconfError(
                f"{shown}: {candidate} is a symlink owned by uid {st.st_uid}, not by root: "
                "refusing to follow it (replace it with the file, or a link owned by root)"
            )
        links += 1
        if links > MAX_LINKS:
            raise MailconfError(f"{shown}: too many levels of symbolic links")
        target = os.readlink(candidate)
        if target.startswith("/"):
            current = Path("/")
        pending[0:0] = target.split("/")
