"""A small authoritative DNS server for tests, built on dnspython (UDP and TCP on one port).

It answers from plain dicts that a test fills in, and may change while the server runs:

* ``txt``:  name -> list of TXT records, each a tuple of character-strings (str or bytes);
* ``a`` / ``aaaa``: name -> list of addresses;
* ``mx``:   name -> list of ``(preference, exchange)``;
* ``ptr``:  IP address or reverse name -> list of target names;
* ``servfail``: names answered with SERVFAIL (to provoke temporary errors);
* ``refused``: names answered with REFUSED (what a resolver says to clients it does not serve);
* ``delay``: seconds to wait before each UDP answer (a slow resolver).

:func:`silent_server` (a port that never answers) and :func:`closed_port` (one nothing listens
on) stand for the resolvers that cannot be asked at all.

Names are case-insensitive and written without the final dot.  A name that holds no data but has
descendants answers NODATA, anything else NXDOMAIN, both with the SOA of ``zone`` in the authority
section so caching resolvers (libunbound in OpenDKIM) are happy.  Over UDP an answer larger than
512 bytes (or the client's EDNS size) is truncated with TC set, so clients retry over TCP exactly as
with a real server.  Every question is logged in ``queries`` as ``(name, type)``.

Usage::

    with DnsServer(txt={"example.test": [("v=spf1 -all",)]}) as server:
        resolver = mailconf.dns.lookup.make_resolver(server.address)
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

TTL = 300


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


def _txt_rdata_text(strings: Sequence[str | bytes]) -> str:
    parts = []
    for s in strings:
        raw = s.encode("utf-8") if isinstance(s, str) else s
        escaped = "".join(
            f"\\{b:03d}" if b < 0x20 or b > 0x7E or b in (0x22, 0x5C) else chr(b) for b in raw
        )
        parts.append(f'"{escaped}"')
    return " ".join(parts) if parts else '""'


class DnsServer:
    """An authoritative test server on ``host`` and ``port`` (default: an ephemeral port, UDP and
    TCP on the same number); see the module docstring."""

    def __init__(
        self,
        txt: Mapping[str, Iterable[Sequence[str | bytes]]] | None = None,
        *,
        a: Mapping[str, Iterable[str]] | None = None,
        aaaa: Mapping[str, Iterable[str]] | None = None,
        mx: Mapping[str, Iterable[tuple[int, str]]] | None = None,
        ptr: Mapping[str, Iterable[str]] | None = None,
        zone: str = "test",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.txt: dict[str, list[tuple[str | bytes, ...]]] = {}
        self.a: dict[str, list[str]] = {}
        self.aaaa: dict[str, list[str]] = {}
        self.mx: dict[str, list[tuple[int, str]]] = {}
        self.ptr: dict[str, list[str]] = {}
        self.servfail: set[str] = set()
        self.refused: set[str] = set()
        self.delay = 0.0
        self.zone = _norm(zone)
        self.host = host
        self.port = port  # 0: an ephemeral port, chosen when started
        self.queries: list[tuple[str, str]] = []
        for name, records in (txt or {}).items():
            self.txt[_norm(name)] = [tuple(r) for r in records]
        for target, source in ((self.a, a), (self.aaaa, aaaa), (self.ptr, ptr)):
            for name, values in (source or {}).items():
                target[_norm(name)] = list(values)
        for name, exchanges in (mx or {}).items():
            self.mx[_norm(name)] = list(exchanges)
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- data ------------------------------------------------------------------------------------

    def add_txt(self, name: str, *strings: str | bytes) -> None:
        """Add one TXT record made of ``strings`` at ``name``."""
        self.txt.setdefault(_norm(name), []).append(tuple(strings))

    def set_txt(self, name: str, *records: Sequence[str | bytes]) -> None:
        """Replace the TXT records at ``name`` (no records: remove the name)."""
        if records:
            self.txt[_norm(name)] = [tuple(r) for r in records]
        else:
            self.txt.pop(_norm(name), None)

    def _ptr_table(self) -> dict[str, list[str]]:
        table = {}
        for key, values in self.ptr.items():
            try:
                reverse = dns.reversename.from_address(key).to_text(omit_final_dot=True)
            except (dns.exception.SyntaxError, ValueError):
                reverse = key
            table[_norm(reverse)] = values
        return table

    def _rdatas(self, name: str, rdtype: int) -> list[str] | None:
        if rdtype == dns.rdatatype.TXT and name in self.txt:
            return [_txt_rdata_text(r) for r in self.txt[name]]
        if rdtype == dns.rdatatype.A and name in self.a:
            return [str(ipaddress.IPv4Address(v)) for v in self.a[name]]
        if rdtype == dns.rdatatype.AAAA and name in self.aaaa:
            return [str(ipaddress.IPv6Address(v)) for v in self.aaaa[name]]
        if rdtype == dns.rdatatype.MX and name in self.mx:
            return [f"{pref} {_norm(host)}." for pref, host in self.mx[name]]
        if rdtype == dns.rdatatype.PTR:
            table = self._ptr_table()
            if name in table:
                return [f"{_norm(t)}." for t in table[name]]
        if rdtype == dns.rdatatype.SOA and name == self.zone:
            return [self._soa_text()]
        if rdtype == dns.rdatatype.NS and name == self.zone:
            return [f"ns.{self.zone}."]
        return None

    def _soa_text(self) -> str:
        return f"ns.{self.zone}. hostmaster.{self.zone}. 1 3600 600 86400 {TTL}"

    def _exists(self, name: str) -> bool:
        names: set[str] = set()
        for table in (self.txt, self.a, self.aaaa, self.mx, self._ptr_table()):
            names.update(table)
        names.add(self.zone)
        return any(n == name or n.endswith("." + name) for n in names)

    # -- protocol --------------------------------------------------------------------------------

    def respond(self, wire: bytes, *, max_size: int | None) -> bytes | None:
        """The reply to one query message (None for garbage, which real servers drop too)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        qname = question.name.to_text(omit_final_dot=True)
        name = _norm(qname)
        with self._lock:
            self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
            for names, rcode in (
                (self.servfail, dns.rcode.SERVFAIL),
                (self.refused, dns.rcode.REFUSED),
            ):
                if name in names:
                    response.set_rcode(rcode)
                    return response.to_wire()
            texts = self._rdatas(name, question.rdtype)
            exists = self._exists(name)
        if texts:
            try:
                rrset = dns.rrset.from_text_list(
                    question.name, TTL, dns.rdataclass.IN, question.rdtype, texts
                )
            except dns.exception.DNSException:
                # Data a real zone could not hold (a TXT string over 255 bytes): fail loudly.
                response.set_rcode(dns.rcode.SERVFAIL)
                return response.to_wire()
            response.answer.append(rrset)
        else:
            if not exists:
                response.set_rcode(dns.rcode.NXDOMAIN)
            if name == self.zone or name.endswith("." + self.zone):
                response.authority.append(
                    dns.rrset.from_text(
                        f"{self.zone}.", TTL, dns.rdataclass.IN, dns.rdatatype.SOA, self._soa_text()
                    )
                )
        if max_size is None:
            return response.to_wire()
        limit = max(512, query.payload) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.AA | dns.flags.TC
            truncated.flags &= ~dns.flags.RA
            return truncated.to_wire()

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``HOST:PORT``, the form ``mailconf.dns.lookup.make_resolver`` takes."""
        return f"{self.host}:{self.port}"

    def start(self) -> DnsServer:
        owner = self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                time.sleep(owner.delay)
                reply = owner.respond(data, max_size=512)
                if reply is not None:
                    with contextlib.suppress(OSError):  # stopped while this reply was delayed
                        sock.sendto(reply, self.client_address)

        class TCPHandler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    head = self.rfile.read(2)
                    if len(head) < 2:
                        return
                    (length,) = struct.unpack("!H", head)
                    data = self.rfile.read(length)
                    if len(data) < length:
                        return
                    reply = owner.respond(data, max_size=None)
                    if reply is None:
                        return
                    self.wfile.write(struct.pack("!H", len(reply)) + reply)

        class UDPServer(socketserver.ThreadingUDPServer):
            daemon_threads = True

        class TCPServer(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        UDPServer.address_family = family
        TCPServer.address_family = family
        last_error: OSError | None = None
        for _ in range(20 if self.port == 0 else 1):
            udp = UDPServer((self.host, self.port), UDPHandler)
            port = udp.server_address[1]
            try:
                tcp = TCPServer((self.host, port), TCPHandler)
            except OSError as exc:
                udp.server_close()
                last_error = exc
                continue
            self.port = port
            self._servers = [udp, tcp]
            break
        else:
            raise RuntimeError(f"no free port for both UDP and TCP: {last_error}")
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        with contextlib.suppress(OSError):
            self.stop()


@contextlib.contextmanager
def silent_server(host: str = "127.0.0.1") -> Iterator[str]:
    """A UDP port on ``host`` that reads every query and answers none (a resolver behind a
    firewall that drops): yields its ``HOST:PORT``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.settimeout(0.05)
        stop = threading.Event()

        def drop() -> None:
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    sock.recv(4096)

        thread = threading.Thread(target=drop, daemon=True)
        thread.start()
        try:
            yield f"{host}:{sock.getsockname()[1]}"
        finally:
            stop.set()
            thread.join(timeout=5)


def closed_port(host: str = "127.0.0.1") -> str:
    """``HOST:PORT`` of a UDP port nothing listens on (bound, then released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"{host}:{port}"
