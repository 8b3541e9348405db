"""Talking to the zone's primary server: TSIG-signed queries and updates over TCP.

Every exchange goes over TCP (a DKIM record makes an update larger than plain UDP carries; and a
closed port is a refused connection at once, not a timeout) and is signed with the key, so a wrong
key is found before anything is sent.  Every failure is an :class:`UpdateError` whose message says
which server and what to do, the same way the doctor's ``dns.unreachable`` names the server.
"""

from __future__ import annotations

import errno
import socket
import struct
import time

import attrs
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.tsig

from mailconf.dns.lookup import _server_text, parse_nameserver
from mailconf.dns.tsig_keyfile import TsigKey
from mailconf.dns.update_plan import Strings
from mailconf.errors import MailconfError

__all__ = ["Server", "UpdateError", "server_at"]


class UpdateError(MailconfError):
    """The update could not be made: the server cannot be reached, refused it, or a
    prerequisite failed.  Exit status 1, like a failed apply."""


@attrs.frozen
class Server:
    """The server at ``address``:``port``, asked with ``key``, each exchange within ``timeout``."""

    address: str
    port: int
    key: TsigKey
    timeout: float

    @property
    def shown(self) -> str:
        return _server_text(self.address, self.port)

    def _send(self, request: dns.message.Message) -> bytes:
        """The wire form of the answer to ``request`` over TCP (RFC 1035 4.2.2 framing)."""
        wire = request.to_wire()
        deadline = time.monotonic() + self.timeout
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sent = False
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect((self.address, self.port))
                sock.sendall(struct.pack("!H", len(wire)) + wire)
                sent = True
                (length,) = struct.unpack("!H", _receive(sock, 2, deadline))
                return _receive(sock, length, deadline)
        except OSError as exc:
            if isinstance(exc, TimeoutError):
                why = f"no answer from {self.shown} within {self.timeout:g} s"
            elif isinstance(exc, ConnectionRefusedError):
                why = f"{self.shown} refused the connection: nothing listens there"
            else:
                why = f"{self.shown}: {exc.strerror or exc}"
            outcome = "nothing was changed"
            if sent and request.opcode() == dns.opcode.UPDATE:
                outcome = "the update was sent, and may have been applied: run again to see"
            raise UpdateError(f"the DNS server cannot be asked ({why}); {outcome}") from None

    def exchange(self, request: dns.message.Message) -> dns.message.Message:
        """Send ``request`` (signed) and return the verified answer, or an unsigned answer
        that reports an error; every other outcome is an :class:`UpdateError`."""
        wire = self._send(request)
        key = f"the server {self.shown} refused the TSIG key '{self.key.name}'"
        try:
            return dns.message.from_wire(wire, keyring=request.keyring, request_mac=request.mac)
        except dns.tsig.PeerBadKey:
            raise UpdateError(
                f"{key} (BADKEY: it has no key of that name and algorithm, or does not let it "
                "update this zone)"
            ) from None
        except dns.tsig.PeerBadSignature:
            raise UpdateError(f"{key} (BADSIG: the secret is not the server's)") from None
        except dns.tsig.PeerBadTime:
            raise UpdateError(
                f"{key} (BADTIME: this machine's clock and the server's differ too much)"
            ) from None
        except dns.tsig.PeerError as exc:
            raise UpdateError(f"{key} ({exc or type(exc).__name__})") from None
        except (dns.tsig.BadSignature, dns.tsig.BadKey, dns.tsig.BadTime) as exc:
            raise UpdateError(
                f"the answer of {self.shown} does not verify with the TSIG key "
                f"'{self.key.name}' ({type(exc).__name__}): is something in between?"
            ) from None
        except dns.exception.DNSException:
            pass
        # Not verified: an answer without a TSIG record (servers do not sign some errors), or
        # one that does not parse at all.
        try:
            plain = dns.message.from_wire(wire, keyring=False)
        except dns.exception.DNSException as exc:
            raise UpdateError(
                f"the answer of {self.shown} is malformed ({exc or type(exc).__name__})"
            ) from None
        rcode = plain.rcode()
        if rcode == dns.rcode.NOTAUTH:  # RFC 8945 5.2: what a server says to a key it lacks
            raise UpdateError(
                f"{key} (NOTAUTH, unsigned: it has no key of that name, or does not let it "
                "update this zone)"
            )
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise UpdateError(
                f"the answer of {self.shown} is not signed with the TSIG key "
                f"'{self.key.name}', so it cannot be trusted"
            )
        return plain

    def query(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        """The signed, authoritative answer about ``name``: NOERROR or NXDOMAIN with AA set."""
        request = dns.message.make_query(dns.name.from_text(name), rdtype)
        request.use_tsig(self.key.dns_key())
        response = self.exchange(request)
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise UpdateError(
                f"{self.shown} answered {dns.rcode.to_text(rcode)} about {name}: it is not an "
                "authoritative server of that zone (give the zone's primary server)"
            )
        if not response.flags & dns.flags.AA:
            raise UpdateError(
                f"{self.shown} is not authoritative for {name} (its answer lacks the AA flag): "
                "give the zone's primary server"
            )
        return response

    def zone_of(self, name: str) -> str:
        """The zone holding ``name``: the SOA the server gives for it (answer or authority)."""
        response = self.query(name, dns.rdatatype.SOA)
        qname = dns.name.from_text(name)
        for rrset in (*response.answer, *response.authority):
            if rrset.rdtype == dns.rdatatype.SOA and qname.is_subdomain(rrset.name):
                return str(rrset.name.to_text(omit_final_dot=True))
        raise UpdateError(
            f"{self.shown} gave no SOA record for {name}, so its zone is unknown (give --zone)"
        )

    def txt(self, name: str) -> tuple[int | None, tuple[Strings, ...]]:
        """The TTL and records of the TXT RRset at ``name`` (``None`` and none when absent)."""
        response = self.query(name, dns.rdatatype.TXT)
        qname = dns.name.from_text(name)
        for rrset in response.answer:
            if rrset.name == qname and rrset.rdtype == dns.rdatatype.TXT:
                return rrset.ttl, tuple(tuple(rd.strings) for rd in rrset)
        return None, ()


def _receive(sock: socket.socket, count: int, deadline: float) -> bytes:
    data = b""
    while len(data) < count:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError(errno.ECONNRESET, "the server closed the connection")
        data += chunk
    return data


def server_at(server: str, key: TsigKey, timeout: float) -> Server:
    """The :class:`Server` that ``server`` (``HOST`` or ``[HOST]:PORT``) names."""
    address, port = parse_nameserver(server)
    return Server(address, port, key, timeout)
