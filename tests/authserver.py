"""A real authoritative DNS server for tests: Debian's Knot DNS (``knotd``), with TSIG.

``tests/dnsserver.py`` is a fake that answers from dicts; it cannot show that an RFC 2136
dynamic update is accepted, applied and signed the way a real server does it.  This module runs
``knotd`` in the foreground as the current user, on 127.0.0.1 and a free port, with its
configuration, zone files and journal in a temporary directory of its own (short, so the control
socket's path fits), and stops it at the end::

    with AuthServer({"example.test": 'example.test. 3600 IN TXT "site-verification=1"'}) as server:
        server.key_file(path)                  # the TSIG key, as tsig-keygen writes it
        server.txt("example.test")             # ['site-verification=1']

Every zone accepts updates signed with :attr:`AuthServer.key_name` and nothing else.  Knot was
chosen over BIND because it starts in tens of milliseconds, needs no systemd and no root, and its
configuration is one small file; it is in both Debian 12 and 13 (``.ci/install-daemons``).
Tests call :func:`require_knotd` to skip, with the reason, where the binary is missing.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

KNOTD = "/usr/sbin/knotd"
#: Seconds knotd may take to answer its first query before the start counts as failed.
START_TIMEOUT = 15.0


def require_knotd() -> None:
    """Skip the calling test, saying why, when Knot DNS is not installed."""
    import pytest

    if not os.access(KNOTD, os.X_OK):
        pytest.skip(f"{KNOTD} is missing: install Debian's knot package (.ci/install-daemons)")


def _free_port(host: str) -> int:
    """A port free for both UDP and TCP right now (knotd binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


class AuthServer:
    """``knotd`` serving ``zones`` (apex -> extra zone-file lines, absolute names) on ``host``
    and ``port`` (default: 127.0.0.1 and a free port).

    Each zone gets an SOA and an NS record besides its lines.  :attr:`secret` is the TSIG
    secret of :attr:`key_name` (``hmac-sha256``), random per server.  Its directory is made in
    ``parent`` (default: the temporary directory).
    """

    def __init__(
        self,
        zones: Mapping[str, str],
        *,
        key_name: str = "mailconf-test",
        host: str = "127.0.0.1",
        port: int = 0,
        parent: Path | None = None,
    ) -> None:
        self.zones = {apex.rstrip(".").lower(): lines for apex, lines in zones.items()}
        self.key_name = key_name
        self.secret = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        self.host = host
        self.port = port
        self._fixed_port = port != 0  # 53 in the e2e namespace, say; 0: a free one
        self.parent = parent
        self.directory: Path | None = None
        self.started_in = 0.0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``HOST:PORT``, the form ``mailconf dns --update`` and ``make_resolver`` take."""
        return f"{self.host}:{self.port}"

    def key_file(self, path: Path, *, secret: str | None = None, name: str | None = None) -> Path:
        """Write the TSIG key to ``path`` (0600) as ``tsig-keygen`` prints it; ``secret`` and
        ``name`` replace the real ones (a wrong key)."""
        path.write_text(
            f'key "{name or self.key_name}" {{\n'
            "\talgorithm hmac-sha256;\n"
            f'\tsecret "{secret or self.secret}";\n'
            "};\n"
        )
        path.chmod(0o600)
        return path

    # -- queries -------------------------------------------------------------------------------

    def query(self, name: str, rdtype: str) -> dns.message.Message:
        """The server's answer to ``name``/``rdtype`` over TCP, unsigned."""
        request = dns.message.make_query(dns.name.from_text(name), rdtype)
        return dns.query.tcp(request, self.host, port=self.port, timeout=5)

    def rdatas(self, name: str, rdtype: str) -> list[Any]:
        """The records of ``rdtype`` at ``name`` (empty for NODATA and NXDOMAIN)."""
        response = self.query(name, rdtype)
        if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise AssertionError(f"{name} {rdtype}: {dns.rcode.to_text(response.rcode())}")
        qname = dns.name.from_text(name)
        kind = dns.rdatatype.from_text(rdtype)
        return [
            rd
            for rrset in response.answer
            if rrset.name == qname
            for rd in rrset
            if rrset.rdtype == kind
        ]

    def txt(self, name: str) -> list[str]:
        """The TXT records at ``name``, each with its strings joined, sorted."""
        return sorted(b"".join(rd.strings).decode() for rd in self.rdatas(name, "TXT"))

    def txt_strings(self, name: str) -> list[tuple[bytes, ...]]:
        """The TXT records at ``name`` as their character-strings, sorted."""
        return sorted(tuple(rd.strings) for rd in self.rdatas(name, "TXT"))

    def serial(self, zone: str) -> int:
        """The zone's SOA serial (each applied update raises it)."""
        (soa,) = self.rdatas(zone, "SOA")
        return int(soa.serial)

    # -- lifecycle -----------------------------------------------------------------------------

    def _configuration(self, directory: Path) -> str:
        zones = "".join(f"  - domain: {apex}\n    acl: update\n" for apex in self.zones)
        return (
            "server:\n"
            f"    rundir: {directory}\n"
            f"    listen: {self.host}@{self.port}\n"
            "    udp-workers: 1\n"
            "    tcp-workers: 1\n"
            "    background-workers: 1\n"
            "log:\n"
            "  - target: stderr\n"
            "    any: warning\n"
            "database:\n"
            f"    storage: {directory}\n"
            "key:\n"
            f"  - id: {self.key_name}\n"
            "    algorithm: hmac-sha256\n"
            f"    secret: {self.secret}\n"
            "acl:\n"
            "  - id: update\n"
            f"    key: {self.key_name}\n"
            "    action: update\n"
            "template:\n"
            "  - id: default\n"
            f"    storage: {directory}\n"
            '    file: "%s.zone"\n'
            "    zonefile-sync: -1\n"
            "zone:\n" + zones
        )

    def _zone_file(self, apex: str, lines: str) -> str:
        return (
            f"{apex}. 3600 IN SOA ns.{apex}. hostmaster.{apex}. 1 3600 900 604800 300\n"
            f"{apex}. 3600 IN NS ns.{apex}.\n"
            f"ns.{apex}. 3600 IN A 127.0.0.1\n" + lines + ("\n" if lines else "")
        )

    def start(self) -> AuthServer:
        self.directory = Path(tempfile.mkdtemp(prefix="knot-", dir=self.parent))
        for apex, lines in self.zones.items():
            (self.directory / f"{apex}.zone").write_text(self._zone_file(apex, lines))
        errors = ""
        for _ in range(1 if self._fixed_port else 5):
            # Another process may take a free port between the probe and knotd: try again.
            if not self._fixed_port:
                self.port = _free_port(self.host)
            conf = self.directory / "knot.conf"
            conf.write_text(self._configuration(self.directory))
            began = time.monotonic()
            self._process = subprocess.Popen(
                [KNOTD, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=(self.directory / "knotd.log").open("wb"),
            )
            if self._wait_ready():
                self.started_in = time.monotonic() - began
                return self
            self._kill()
            errors = (self.directory / "knotd.log").read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"knotd did not start:\n{errors}")

    def _wait_ready(self) -> bool:
        """True once every zone answers its SOA; False when knotd died or never answered."""
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(self.zones)
        while pending and time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                response = self.query(pending[0], "SOA")
            except (OSError, dns.exception.DNSException):
                time.sleep(0.01)
                continue
            if response.rcode() == dns.rcode.NOERROR and response.answer:
                pending.pop(0)
            else:
                time.sleep(0.01)  # running, the zone not loaded yet
        return not pending

    def _kill(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def stop(self) -> None:
        self._kill()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> AuthServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        with contextlib.suppress(OSError):
            self.stop()
