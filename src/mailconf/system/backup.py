"""Backups of the files an apply changes, and byte-exact restore (content, mode, owner).

Layout: ``ROOT/var/backups/mailconf/<UTC timestamp>-<pid>/`` holding ``files/<system path>`` and a
``manifest.json``. One directory per apply, rather than ``FILE.mailconf-bak`` beside each file,
because:

* a rollback is "restore this whole set", and a set needs one place and one manifest;
* a second apply must not overwrite the first backup of the original file;
* stray files in ``/etc/opendkim`` or ``/etc/postfix`` are read by humans and globbing scripts,
  and private keys must not be copied next to themselves with a looser mode.

The directory is 0700 and every copy 0600 (they include private keys); the original mode and owner
live in the manifest and are put back on restore. A file that did not exist before the apply is
recorded as absent, and restore removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path

import attrs

from mailconf.errors import MailconfError
from mailconf.fileio import atomic_write
from mailconf.system.root import SystemRoot

BACKUPS_SYSTEM_PATH = "/var/backups/mailconf"
MANIFEST = "manifest.json"


@attrs.frozen
class BackupEntry:
    """One backed-up system path. ``existed`` False means restore deletes the file."""

    system_path: str
    existed: bool
    mode: int = 0
    uid: int = -1
    gid: int = -1
    size: int = 0

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict (the manifest format)."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BackupEntry:
        """Inverse of :meth:`to_json`."""
        return cls(
            system_path=str(data["system_path"]),
            existed=bool(data["existed"]),
            mode=int(str(data.get("mode", 0))),
            uid=int(str(data.get("uid", -1))),
            gid=int(str(data.get("gid", -1))),
            size=int(str(data.get("size", 0))),
        )


class RestoreError(MailconfError):
    """Some files of a backup set could not be put back; ``restored`` were."""

    def __init__(self, restored: list[str], failed: list[tuple[str, str]]) -> None:
        self.restored = restored
        self.failed = failed
        message = "could not restore " + "; ".join(f"{path} ({why})" for path, why in failed)
        if restored:
            message += f"; restored {', '.join(restored)}"
        super().__init__(message)


class BackupSet:
    """The backups of one apply. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, root: SystemRoot, directory: Path, entries: Iterable[BackupEntry] = ()):
        self.root = root
        self.directory = directory
        self._entries: dict[str, BackupEntry] = {e.system_path: e for e in entries}

    @classmethod
    def create(cls, root: SystemRoot) -> BackupSet:
        """A new, empty backup directory under ``ROOT/var/backups/mailconf``."""
        with root.open(BACKUPS_SYSTEM_PATH, create_parents=0o755) as base:
            if base.lstat() is None:
                base.mkdir(0o700)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for attempt in range(100):
            suffix = f"-{os.getpid()}" + (f".{attempt}" if attempt else "")
            system_path = f"{BACKUPS_SYSTEM_PATH}/{stamp}{suffix}"
            with root.open(system_path) as place:
                try:
                    place.mkdir(0o700)
                except FileExistsError:
                    continue
            backup = cls(root, root.resolve(system_path))
            backup._save()
            return backup
        raise MailconfError(f"{BACKUPS_SYSTEM_PATH}: cannot create a backup directory")

    @classmethod
    def open(cls, root: SystemRoot, directory: str | os.PathLike[str]) -> BackupSet:
        """An existing backup set (e.g. for ``mailconf rollback``)."""
        path = Path(directory)
        try:
            data = json.loads((path / MANIFEST).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise MailconfError(f"{path}: not a mailconf backup: {exc}") from exc
        return cls(root, path, (BackupEntry.from_json(e) for e in data["entries"]))

    @property
    def entries(self) -> tuple[BackupEntry, ...]:
        """What is in the set, in backup order."""
        return tuple(self._entries.values())

    def _copy_path(self, system_path: str) -> Path:
        return self.directory / "files" / system_path.lstrip("/")

    def _save(self) -> None:
        manifest = {"root": str(self.root.path), "entries": [e.to_json() for e in self.entries]}
        data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
        atomic_write(self.directory / MANIFEST, data, mode=0o600)

    def backup(self, system_path: str) -> BackupEntry:
        """Record the current state of ``system_path`` (once per set: the first state counts).

        Symlinks are followed, like :func:`atomic_write` writes through them: the content and
        metadata of the file the daemon reads are what gets saved.
        """
        if system_path in self._entries:
            return self._entries[system_path]
        with self.root.open(system_path) as place:
            try:
                # O_NONBLOCK: a FIFO in the way must not hang the apply; it is refused below.
                fd = place.open(os.O_RDONLY | os.O_NONBLOCK)
            except FileNotFoundError:
                fd = -1
        if fd < 0:
            entry = BackupEntry(system_path, existed=False)
        else:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                raise MailconfError(f"{system_path}: not a regular file, cannot back it up")
            with os.fdopen(fd, "rb") as handle:
                data = handle.read()
            atomic_write(self._copy_path(system_path), data, mode=0o600, create_parents=0o700)
            entry = BackupEntry(
                system_path,
                existed=True,
                mode=stat.S_IMODE(st.st_mode),
                uid=st.st_uid,
                gid=st.st_gid,
                size=len(data),
            )
        self._entries[system_path] = entry
        self._save()
        return entry

    def restore(self, system_path: str | None = None) -> list[str]:
        """Put files back as they were; all of them, or one. Returns the system paths restored.

        A file that cannot be restored does not stop the others: every one is tried, then
        :class:`RestoreError` names those that failed (and lists those restored).
        """
        targets = self.entries if system_path is None else (self._entry(system_path),)
        done: list[str] = []
        failed: list[tuple[str, str]] = []
        for entry in reversed(targets):
            try:
                self._restore_one(entry)
            except (MailconfError, OSError) as exc:
                failed.append((entry.system_path, str(exc)))
                continue
            done.append(entry.system_path)
        if failed:
            raise RestoreError(done, failed)
        return done

    def _restore_one(self, entry: BackupEntry) -> None:
        if entry.existed:
            data = self._copy_path(entry.system_path).read_bytes()
            if len(data) != entry.size:
                raise MailconfError(f"{entry.system_path}: backup copy is damaged (size)")
            self.root.write(entry.system_path, data, mode=entry.mode, uid=entry.uid, gid=entry.gid)
        else:
            with self.root.open(entry.system_path) as place, contextlib.suppress(FileNotFoundError):
                place.unlink()
                place.fsync_directory()

    def _entry(self, system_path: str) -> BackupEntry:
        try:
            return self._entries[system_path]
        except KeyError:
            raise MailconfError(f"{system_path}: not in backup {self.directory}") from None


def list_backups(root: SystemRoot) -> list[Path]:
    """Backup directories under the root, oldest first (names sort by time)."""
    base = root.resolve(BACKUPS_SYSTEM_PATH)
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / MANIFEST).is_file())
