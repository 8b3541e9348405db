"""Paths walked one component at a time, so what was checked is what gets written or read.

mailconf runs as root in directories that daemon accounts own (``/etc/opendkim`` and its
``keys`` after the walkthrough's ``chown -R opendkim``). Checking a path's symlinks with
``lstat`` and then using the path by name leaves a window: in between, the account can rename a
checked directory away and put a symlink to ``/etc`` in its place, and the root-owned write,
chown or chmod lands on whatever the link names. So a path is resolved here as the kernel
would, but holding a descriptor at every step:

* each component is opened relative to its parent's descriptor with ``O_NOFOLLOW`` (as
  ``O_PATH``: only search permission is needed, as for a plain lookup) and ``fstat``-ed;
* a symlink is followed only when root or the user running mailconf owns that link (the owner
  and the target are read from one descriptor of the link, so they belong together). A daemon
  account could otherwise plant ``default.private -> /etc/shadow`` in a directory it owns; the
  kernel's ``protected_symlinks`` only covers sticky world-writable directories;
* every operation then happens relative to the descriptor of the directory that holds the last
  name (``openat``, ``renameat``, ``mkdirat``, ``unlinkat``, ``fchown``/``fchmod`` of the opened
  file, which is itself opened ``O_NOFOLLOW``): a component swapped after its check no longer
  changes where the operation happens;
* before each change the chain of directories is compared with the names once more (device and
  inode), so a swap is refused with an error instead of going silently into the directory that
  was moved away.

``within`` keeps the walk of an alternate root (``--root DIR``) inside DIR: a path whose
resolution leaves it is refused as soon as it does (absolute targets are not re-rooted; see
:mod:`mailconf.system.root`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import deque
from types import TracebackType

from mailconf.errors import MailconfError

MAX_LINKS = 40  # as the kernel's MAXSYMLINKS
TEMP_SUFFIX = ".mailconf-tmp"
_LOOKUP = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def component_checked(path: str) -> None:
    """Called with the host path of each directory and link once the walk has checked it.

    It does nothing: it is the seam where tests swap a checked directory for a symlink, the
    worst moment for a walk by name, and show that nothing escapes."""


def _trusted(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _text(names: list[str]) -> str:
    return "/" + "/".join(names)


def walk(
    path: str | os.PathLike[str],
    *,
    shown: str | None = None,
    within: str = "/",
    follow: bool = True,
    create_parents: int | None = None,
) -> Place:
    """Open the directory holding ``path``'s last component; use the result as a context manager.

    ``follow``: a trusted symlink as the last component is followed (the file it names is the
    one used, as ``cat`` or ``chown`` without ``-h`` would); otherwise the link itself is the
    place, and opening it fails. ``create_parents``: missing directories on the way are created
    with this mode (``mkdir -p``); by default the walk stops at the first missing one and every
    operation but :meth:`Place.lstat` then fails with ``ENOENT``. ``shown`` names the path in
    errors (a system path, or the path as the user gave it).
    """
    raw = os.fspath(path)
    shown = raw if shown is None else shown
    if "\0" in raw:
        raise MailconfError(f"{shown!r}: NUL byte in path")
    absolute = raw if raw.startswith("/") else os.path.join(os.getcwd(), raw)
    place = Place(shown, [part for part in within.split("/") if part])
    try:
        place._walk(absolute.split("/"), follow, create_parents)
    except OSError as exc:
        place.close()
        # The path the caller asked for, not the component that failed (often a temporary name).
        raise OSError(exc.errno, exc.strerror, shown) from None
    except BaseException:
        place.close()
        raise
    return place


class Place:
    """An open directory and a name in it: where an operation on a walked path really happens.

    ``name`` exists or not (:meth:`lstat`); it is ``"."`` when the path names a directory
    through a trailing ``..`` or is ``/`` itself. ``path`` is the resolved host path.
    """

    def __init__(self, shown: str, within: list[str]) -> None:
        self.shown = shown
        self._within = within
        self._fds = [os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)]
        self._names: list[str] = []
        self.name = "."
        #: Set when the walk could not go on: a component before the last is missing (ENOENT)
        #: or not a directory (ENOTDIR), or a directory may not be searched (EACCES).
        self._blocked: int | None = None
        #: The last component was a symlink, followed: :attr:`name` is from its target.
        self.via_link = False

    # -- walking ----------------------------------------------------------------------------

    def _walk(self, parts: list[str], follow: bool, create_parents: int | None) -> None:
        pending = deque(parts)
        links = 0
        while True:
            while pending and pending[0] in ("", "."):
                pending.popleft()
            if not pending:
                self.name = "."
                self._check_within(final=True)
                return
            part = pending.popleft()
            if part == "..":
                if self._names:
                    os.close(self._fds.pop())
                    self._names.pop()
                continue
            last = all(rest in ("", ".") for rest in pending)
            try:
                fd = os.open(part, _LOOKUP, dir_fd=self._fds[-1])
            except FileNotFoundError:
                if last or create_parents is None:
                    self._stop(part, None if last else errno.ENOENT)
                    return
                fd = self._make_directory(part, create_parents)
            except PermissionError:  # a directory we may not search: naming it is still fine
                self._stop(part, errno.EACCES)
                return
            info = os.fstat(fd)
            if stat.S_ISLNK(info.st_mode) and (follow or not last):
                try:
                    target = self._link_target(fd, info, part)
                finally:
                    os.close(fd)
                links += 1
                self.via_link = self.via_link or last
                if links > MAX_LINKS:
                    raise MailconfError(f"{self.shown}: too many levels of symbolic links")
                if target.startswith("/"):
                    while len(self._fds) > 1:
                        os.close(self._fds.pop())
                    self._names.clear()
                pending.extendleft(reversed(target.split("/")))
                continue
            if last:
                os.close(fd)
                self._stop(part, None)
                return
            if not stat.S_ISDIR(info.st_mode):
                os.close(fd)
                self._stop(part, errno.ENOTDIR)
                return
            self._fds.append(fd)
            self._names.append(part)
            self._check_within(final=False)
            component_checked(_text(self._names))

    def _stop(self, name: str, blocked: int | None) -> None:
        self.name = name
        self._blocked = blocked
        self._check_within(final=True)

    def _make_directory(self, name: str, mode: int) -> int:
        try:
            os.mkdir(name, 0o700, dir_fd=self._fds[-1])
        except FileExistsError:
            return os.open(name, _LOOKUP, dir_fd=self._fds[-1])  # made meanwhile: checked as any
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=self._fds[-1])  # fmt: skip
        os.fchmod(fd, mode)  # explicit: the umask does not decide
        return fd

    def _link_target(self, fd: int, info: os.stat_result, name: str) -> str:
        link = _text([*self._names, name])
        if not _trusted(info.st_uid):
            raise MailconfError(
                f"{self.shown}: {link} is a symlink owned by uid {info.st_uid}, not by root: "
                "refusing to follow it (replace it with the file, or a link owned by root)"
            )
        component_checked(link)
        return os.readlink("", dir_fd=fd)  # the link checked above, whatever the name holds now

    def _check_within(self, *, final: bool) -> None:
        """Refuse as soon as the resolved path leaves ``within``; on the way it may pass through
        the parents of ``within`` (``../root/etc`` does), but it must end inside."""
        names = self._names if self.name == "." else [*self._names, self.name]
        common = min(len(names), len(self._within))
        if names[:common] != self._within[:common] or (final and len(names) < len(self._within)):
            raise MailconfError(
                f"{self.shown}: resolves to {_text(names)}, outside the root "
                f"{_text(self._within)} (a symlink leads out)"
            )

    # -- what the walk found ----------------------------------------------------------------

    @property
    def directory(self) -> int:
        """Descriptor (``O_PATH``) of the directory that holds :attr:`name`."""
        return self._fds[-1]

    @property
    def path(self) -> str:
        """The resolved host path."""
        return _text(self._names if self.name == "." else [*self._names, self.name])

    def _usable(self) -> None:
        if self._blocked is not None:
            raise OSError(self._blocked, os.strerror(self._blocked), self.shown)

    def lstat(self) -> os.stat_result | None:
        """The last component's metadata (not following a link), None when it does not exist."""
        if self._blocked in (errno.ENOENT, errno.ENOTDIR):
            return None
        self._usable()
        try:
            return os.stat(self.name, dir_fd=self.directory, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def verify(self) -> None:
        """Refuse when a directory of the chain no longer is what its name holds (swapped)."""
        for index, name in enumerate(self._names):
            held = os.fstat(self._fds[index + 1])
            try:
                now = os.stat(name, dir_fd=self._fds[index], follow_symlinks=False)
            except OSError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
                raise MailconfError(
                    f"{self.shown}: {_text(self._names[: index + 1])} was replaced while "
                    "mailconf was working in it (a symlink swapped in?): refusing"
                )

    # -- operations -------------------------------------------------------------------------

    def open(self, flags: int, mode: int = 0o644) -> int:
        """``openat`` of the last name, never through a symlink (``O_NOFOLLOW``)."""
        self._usable()
        try:
            return os.open(
                self.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=self.directory
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise MailconfError(
                    f"{self.shown}: {self.path} is a symbolic link: refusing to open it"
                ) from None
            raise OSError(exc.errno, exc.strerror, self.shown) from None

    def read_bytes(self) -> bytes:
        """The content of the regular file at the last name."""
        fd = self.open(os.O_RDONLY | os.O_NONBLOCK)  # a FIFO in the way must not hang us
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), self.shown)
            raise MailconfError(f"{self.shown}: not a regular file")
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def write(
        self,
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        """Replace the last name with ``data`` atomically (:func:`mailconf.fileio.atomic_write`)."""
        self._usable()
        current = self.lstat()
        if mode is None:
            mode = stat.S_IMODE(current.st_mode) if current is not None else 0o644
        if uid is None and current is not None:
            uid = current.st_uid
        if gid is None and current is not None:
            gid = current.st_gid
        temporary = ""
        try:
            temporary, fd = self._temporary()
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if uid is not None or gid is not None:
                    os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
                os.fchmod(fd, mode)  # after fchown, which may clear set-id bits
                os.fsync(fd)
            self.verify()
            os.rename(temporary, self.name, src_dir_fd=self.directory, dst_dir_fd=self.directory)
            temporary = ""
            self.fsync_directory()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, self.shown) from None
        finally:
            if temporary:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=self.directory)

    def _temporary(self) -> tuple[str, int]:
        """A new file beside the target, 0600 (a secret is never readable through it)."""
        for _ in range(100):
            name = f".{self.name}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                return name, os.open(name, flags, 0o600, dir_fd=self.directory)
            except FileExistsError:
                continue
        raise FileExistsError(errno.EEXIST, "no free temporary name", self.shown)

    def _change(self) -> int:
        """The last name opened for fchown/fchmod: a regular file or a directory, checked."""
        fd = self.open(os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind not in (stat.S_IFREG, stat.S_IFDIR):
            os.close(fd)
            raise MailconfError(f"{self.shown}: not a regular file or a directory")
        return fd

    def chown(self, uid: int, gid: int) -> bool:
        """Set owner and/or group (-1: unchanged); True when something changed."""
        fd = self._change()
        try:
            info = os.fstat(fd)
            if uid in (-1, info.st_uid) and gid in (-1, info.st_gid):
                return False
            self.verify()
            os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
        return True

    def chmod(self, mode: int) -> bool:
        """Set the permission bits; True when they changed."""
        fd = self._change()
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) == mode:
                return False
            self.verify()
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return True

    def mkdir(self, mode: int) -> None:
        """Create the last name as a directory with exactly ``mode``."""
        self._usable()
        self.verify()
        os.mkdir(self.name, 0o700, dir_fd=self.directory)
        fd = self.open(os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def unlink(self) -> None:
        """Remove the last name (a link itself when the walk did not follow it)."""
        self._usable()
        self.verify()
        os.unlink(self.name, dir_fd=self.directory)

    def fsync_directory(self) -> None:
        """Make a rename or unlink in the directory durable."""
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.directory)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close every descriptor the walk holds."""
        while self._fds:
            os.close(self._fds.pop())

    def __enter__(self) -> Place:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
