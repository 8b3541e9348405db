"""Helpers for the end-to-end mail test: the private namespace and what lives inside it.

Used on both sides of the namespace boundary:

* outside (``test_mail_flow.py``): :func:`unavailable` (why the test must skip),
  :func:`tree_digest` (hash of ``/etc`` before and after);
* inside (``mail_flow_driver.py``, started under ``unshare --mount --net --pid --uts --fork``):
  :func:`overlay` (overlayfs over a system directory with its upper directory on a tmpfs),
  :func:`network`, :class:`SyslogListener` (no syslogd here: the daemons log to ``/dev/log``,
  which the test binds itself).  The test DNS server is ``tests/dnsserver.py`` bound to
  127.0.0.1:53, where ``/etc/resolv.conf`` can point; ``knotd`` (``tests/authserver.py``) serves
  the mail domains' zones behind it.
* both: :func:`load_by_path` (the Ansible tests' helpers, whose directory name is no package).

Every blocking call here has a timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

COMMAND_TIMEOUT = 30.0

#: Programs the test drives; the Debian packages that hold them (``.ci/run`` installs them).
PROGRAMS = {
    "postfix": "postfix",
    "postconf": "postfix",
    "opendkim": "opendkim",
    "opendkim-genkey": "opendkim-tools",
    "opendmarc": "opendmarc",
    "policyd-spf": "postfix-policyd-spf-python",
    "unshare": "util-linux",
    "mount": "mount",
    "ip": "iproute2",
    "useradd": "passwd",
    "hostname": "hostname",
    "knotd": "knot",
}


def which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return None


def unavailable() -> str | None:
    """Why the end-to-end test cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (mount/network namespaces, overlayfs, the daemons' own users)"
    missing = [f"{name} ({package})" for name, package in PROGRAMS.items() if not which(name)]
    if missing:
        return "not installed (.ci/run installs them with apt-get): " + ", ".join(missing)
    if importlib.util.find_spec("dkim") is None:
        return "dkimpy is not installed (pip install -e '.[test]')"
    probe = subprocess.run(
        ["unshare", "--mount", "--net", "--pid", "--uts", "--fork", "true"],
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare refused here: {probe.stderr.decode(errors='replace').strip()}"
    return None


def load_by_path(name: str, path: Path) -> Any:
    """The module in ``path``, imported as ``name`` (works under any --import-mode; no top-level
    name like ``namespace`` or ``ansible`` is taken)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# Outside: the machine's /etc, hashed.


def tree_digest(top: str, *, skip: Iterable[str] = ()) -> dict[str, str]:
    """``relative path -> digest`` of every entry under ``top`` (content, mode, owner, link).

    Sockets, fifos and devices count by their metadata only; unreadable entries by their error.
    """
    skipped = set(skip)
    result: dict[str, str] = {}
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, top)
            if rel in skipped:
                continue
            try:
                info = os.lstat(path)
            except OSError as exc:
                result[rel] = f"error {exc.errno}"
                continue
            mode = f"{stat.S_IFMT(info.st_mode):o} {stat.S_IMODE(info.st_mode):o}"
            head = f"{mode} {info.st_uid}:{info.st_gid}"
            if stat.S_ISLNK(info.st_mode):
                result[rel] = f"{head} -> {os.readlink(path)}"
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256()
                try:
                    with open(path, "rb") as handle:
                        for block in iter(lambda h=handle: h.read(1 << 16), b""):
                            digest.update(block)
                    result[rel] = f"{head} {digest.hexdigest()}"
                except OSError as exc:
                    result[rel] = f"{head} error {exc.errno}"
            else:
                result[rel] = head
    return result


def digest_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Human-readable differences between two :func:`tree_digest` results."""
    changes = []
    for rel in sorted(set(before) | set(after)):
        if rel not in after:
            changes.append(f"removed {rel}")
        elif rel not in before:
            changes.append(f"added {rel}")
        elif before[rel] != after[rel]:
            changes.append(f"changed {rel}: {before[rel]} -> {after[rel]}")
    return changes


# --------------------------------------------------------------------------------------------
# Inside the namespace.


def sh(*argv: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run ``argv`` (no shell); raise with its output when it fails."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}: {proc.stdout}{proc.stderr}".strip()
        )
    return proc.stdout


def private_mounts(scratch: Path) -> None:
    """Make every mount private, mount this pid namespace's /proc, and a tmpfs at ``scratch``."""
    sh("mount", "--make-rprivate", "/")
    sh("mount", "-t", "proc", "proc", "/proc")
    scratch.mkdir(parents=True, exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", str(scratch))


def overlay(scratch: Path, target: str) -> None:
    """Overlay ``target`` with an upper directory on the tmpfs ``scratch``.

    The upper directory takes the target's owner and mode: the overlay's root shows the upper
    directory's, and a 0700 /etc would lock every daemon out.
    """
    name = target.strip("/").replace("/", "_") or "root"
    upper, work = scratch / name / "upper", scratch / name / "work"
    upper.mkdir(parents=True)
    work.mkdir(parents=True)
    info = os.stat(target)
    os.chown(upper, info.st_uid, info.st_gid)
    os.chmod(upper, stat.S_IMODE(info.st_mode))
    options = f"lowerdir={target},upperdir={upper},workdir={work}"
    sh("mount", "-t", "overlay", "overlay", "-o", options, target)


def network(local_address: str, extra_addresses: Iterable[str] = ()) -> str:
    """``lo`` up; a dummy interface (a veth pair where the kernel has no dummy) holding the
    non-loopback test addresses. Returns the interface kind used."""
    sh("ip", "link", "set", "lo", "up")
    kind = "dummy"
    try:
        sh("ip", "link", "add", "e2e0", "type", "dummy")
    except RuntimeError:
        kind = "veth"
        sh("ip", "link", "add", "e2e0", "type", "veth", "peer", "name", "e2e1")
        sh("ip", "link", "set", "e2e1", "up")
    sh("ip", "link", "set", "e2e0", "up")
    for address in (local_address, *extra_addresses):
        sh("ip", "addr", "add", f"{address}/32", "dev", "e2e0")
    return kind


class SyslogListener:
    """Datagram sockets at ``paths`` (``/dev/log`` ...) appending every line to ``log_file``."""

    def __init__(self, paths: Iterable[str], log_file: Path) -> None:
        self.paths = list(paths)
        self.log_file = log_file
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> SyslogListener:
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            os.chmod(path, 0o666)
            sock.settimeout(0.2)
            self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            line = data.decode("utf-8", "replace").rstrip("\n\0")
            with self._lock, open(self.log_file, "a", encoding="utf-8") as out:
                out.write(line + "\n")

    def text(self) -> str:
        with self._lock:
            try:
                return self.log_file.read_text(encoding="utf-8")
            except FileNotFoundError:
                return ""

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.text()):
                return True
            time.sleep(0.1)
        return predicate(self.text())

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        for sock in self._sockets:
            sock.close()


def unbound_conf(forward_to: str = "127.0.0.1") -> str:
    """An unbound.conf for OpenDKIM's ``ResolverConfiguration``: ask the test server."""
    return (
        "server:\n"
        "    do-not-query-localhost: no\n"
        '    domain-insecure: "test."\n'
        '    local-zone: "test." nodefault\n'
        '    local-zone: "in-addr.arpa." nodefault\n'
        '    domain-insecure: "in-addr.arpa."\n'
        "forward-zone:\n"
        '    name: "."\n'
        f"    forward-addr: {forward_to}\n"
    )


def read_mbox(path: Path) -> list[bytes]:
    """The messages of an mbox file (``From `` separator lines removed), raw bytes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    messages: list[bytes] = []
    current: list[bytes] = []
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From ") and (not current or current[-1].strip() == b""):
            if current:
                messages.append(b"".join(current))
            current = []
            continue
        current.append(line)
    if current:
        messages.append(b"".join(current))
    return messages
