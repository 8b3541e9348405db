"""Publishing the records by RFC 2136 dynamic update, signed with a TSIG key (RFC 8945).

``mailconf dns --update SERVER --tsig-key FILE`` sends what ``mailconf dns`` prints to the zone's
primary server, as ``nsupdate -k FILE`` would, without ever touching what mailconf does not own:

* **Ownership is by kind, per name.**  At a domain mailconf owns the TXT records that start with
  ``v=spf1``; at ``SELECTOR._domainkey.DOMAIN`` the DKIM key records; at ``_dmarc.DOMAIN`` the
  ``v=DMARC1`` records.  A ``google-site-verification`` TXT at the apex, or anything of another
  type, is neither deleted nor rewritten.
* **Only the difference is sent**, one update message per zone: owned records that are not wanted
  any more are deleted one by one (RFC 2136 2.5.4), wanted ones that are missing are added.  Values
  are compared as receivers read them (strings joined), so a record published split elsewhere is
  not churned.  A zone with nothing to change gets no message at all: a second run changes nothing.
* **Nothing read is overwritten blindly.**  Each changed name's whole TXT RRset, as read just
  before, is a prerequisite (RFC 2136 2.4.2, "RRset exists, value dependent"; "RRset does not
  exist" where there was none), so if someone changed those records in between, the server applies
  nothing and the user is told to run again.
* **The RRset's TTL is kept** when the name already has TXT records (one RRset has one TTL, and
  the admin chose it); new names get :data:`~mailconf.dns.records.DEFAULT_TTL`.

The zone of a name is found by asking the same server for its SOA (the answer, or the SOA in the
authority section of a negative answer), unless the caller names it.  Every query and the update
itself go over TCP (a DKIM record makes the update larger than plain UDP carries; and a closed port
is a refused connection at once, not a timeout) and are signed with the key, so a wrong key is
found before anything is sent.  Every failure is a :class:`UpdateError` whose message says which
server, which zone and what to do, the same way the doctor's ``dns.unreachable`` names the server.

The key file is read as ``nsupdate -k`` reads BIND's ``key`` statements (what ``tsig-keygen`` and
``ddns-confgen -q`` print), through :mod:`mailconf.walk` like every file mailconf reads as root: a
symlink owned by another user is refused, and so is a key file others may write.  A key every user
may read is used, with a ``dns.tsig-key-readable`` warning.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import socket
import stat
import struct
import time
from collections.abc import Iterator, Sequence
from typing import Final, Literal

import attrs
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import dns.tsig
import dns.update

from mailconf.dns.lookup import _server_text, parse_nameserver
from mailconf.dns.records import DEFAULT_TTL, Record
from mailconf.dns.txt import parse_tag_list
from mailconf.errors import MailconfError, ParseError, ReadError, ValidationError
from mailconf.fileio import decode
from mailconf.findings import Finding, Severity
from mailconf.walk import walk

__all__ = [
    "DEFAULT_TIMEOUT",
    "NameChange",
    "Publication",
    "TsigKey",
    "UpdateError",
    "ZoneUpdate",
    "parse_tsig_keys",
    "plan_update",
    "publish",
    "read_tsig_key",
    "send_update",
]

#: Seconds one exchange with the server (a query, or the update) may take.
DEFAULT_TIMEOUT: Final = 5.0
#: A key file is a few lines; anything larger is not one.
MAX_KEY_FILE: Final = 64 * 1024

Strings = tuple[bytes, ...]


class UpdateError(MailconfError):
    """The update could not be made: the server cannot be reached, refused it, or a
    prerequisite failed.  Exit status 1, like a failed apply."""


# --- the TSIG key -------------------------------------------------------------------------------

#: BIND's algorithm names (``key { algorithm ...; }``) and their TSIG names on the wire.
#: hmac-md5 is left out on purpose (RFC 8945 6: not to be used); the truncated forms
#: (``hmac-sha256-128``) are not accepted either, as nsupdate's file syntax does not carry them.
_ALGORITHMS: Final[dict[str, dns.name.Name]] = {
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


@attrs.frozen
class TsigKey:
    """A TSIG key: its ``name`` (no final dot), BIND ``algorithm`` name and ``secret``."""

    name: str
    algorithm: str
    secret: bytes = attrs.field(repr=False)

    def dns_key(self) -> dns.tsig.Key:
        return dns.tsig.Key(dns.name.from_text(self.name), self.secret, _ALGORITHMS[self.algorithm])


_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
      | (?P<string>"(?:[^"\\\n]|\\.)*")
      | (?P<punct>[{};])
      | (?P<word>[^\s{};"#/]+)""",
    re.VERBOSE | re.DOTALL,
)


@attrs.frozen
class _Token:
    text: str
    kind: str
    offset: int


def _tokens(text: str, path: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            what = repr(text[position])
            if text.startswith("/*", position):
                what = "an unterminated comment"
            elif text[position] == '"':
                what = "an unterminated string"
            raise _error(text, position, path, f"{what} (expected a BIND key statement)")
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            value = match.group()
            if kind == "string":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            yield _Token(value, kind, position)
        position = match.end()


def _error(text: str, offset: int, path: str, message: str) -> ParseError:
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return ParseError(
        message,
        path=path,
        line=line,
        column=offset - start + 1,
        source_line=text[start : len(text) if end < 0 else end],
    )


def parse_tsig_keys(text: str, path: str = "<key>") -> list[TsigKey]:
    """Every ``key NAME { algorithm ALG; secret "BASE64"; };`` statement in ``text``.

    Comments are BIND's three kinds (``#``, ``//``, ``/* */``).  Anything else (another
    statement, an unknown or repeated clause, a bad name, algorithm or secret) is a
    :class:`~mailconf.errors.ParseError` at its position: a key file is not guessed at.
    """
    tokens = list(_tokens(text, path))
    keys: list[TsigKey] = []
    index = 0

    def take(expected: str | None = None, what: str = "") -> _Token:
        nonlocal index
        if index >= len(tokens):
            raise _error(text, len(text), path, f"the file ends where {what or expected} belongs")
        token = tokens[index]
        if expected is not None and (token.kind == "string" or token.text != expected):
            raise _error(text, token.offset, path, f"expected {expected!r}, found {token.text!r}")
        index += 1
        return token

    while index < len(tokens):
        start = tokens[index]
        if start.kind == "string" or start.text.lower() != "key":
            raise _error(
                text,
                start.offset,
                path,
                f"{start.text!r}: only BIND 'key' statements may be in a TSIG key file",
            )
        index += 1
        name_token = take(what="the key's name")
        if name_token.kind not in ("string", "word"):
            raise _error(text, name_token.offset, path, "expected the key's name")
        name = _key_name(text, name_token, path)
        if any(key.name.lower() == name.lower() for key in keys):
            raise _error(text, name_token.offset, path, f"key {name} is defined twice")
        take("{")
        clauses: dict[str, _Token] = {}
        while index < len(tokens) and tokens[index].text != "}":
            clause = take(what="a clause")
            keyword = clause.text.lower()
            if clause.kind == "string" or keyword not in ("algorithm", "secret"):
                raise _error(
                    text,
                    clause.offset,
                    path,
                    f"{clause.text!r}: a key statement has only 'algorithm' and 'secret'",
                )
            if keyword in clauses:
                raise _error(text, clause.offset, path, f"{keyword!r} given twice for key {name}")
            clauses[keyword] = take(what=f"the {keyword}")
            take(";")
        close = take("}")
        take(";")
        for keyword in ("algorithm", "secret"):
            if keyword not in clauses:
                raise _error(text, close.offset, path, f"key {name} has no {keyword!r}")
        keys.append(
            TsigKey(
                name,
                _algorithm(text, clauses["algorithm"], path),
                _secret(text, clauses["secret"], path),
            )
        )
    if not keys:
        raise _error(text, len(text), path, "no key statement in the file")
    return keys


def _key_name(text: str, token: _Token, path: str) -> str:
    try:
        name = dns.name.from_text(token.text)
    except dns.exception.DNSException as exc:
        raise _error(text, token.offset, path, f"bad key name {token.text!r}: {exc}") from None
    return name.to_text(omit_final_dot=True)


def _algorithm(text: str, token: _Token, path: str) -> str:
    algorithm = token.text.lower()
    if algorithm not in _ALGORITHMS:
        hint = " (RFC 8945 says not to use it)" if algorithm == "hmac-md5" else ""
        raise _error(
            text,
            token.offset,
            path,
            f"algorithm {token.text!r}{hint}: use one of {', '.join(_ALGORITHMS)} "
            "(tsig-keygen makes hmac-sha256 keys)",
        )
    return algorithm


def _secret(text: str, token: _Token, path: str) -> bytes:
    try:
        secret = base64.b64decode("".join(token.text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _error(text, token.offset, path, "the secret is not base64") from None
    if not secret:
        raise _error(text, token.offset, path, "the secret is empty")
    return secret


def read_tsig_key(
    path: str | os.PathLike[str], *, name: str | None = None
) -> tuple[TsigKey, list[Finding]]:
    """The key ``name`` (or the only key) in the BIND key file ``path``, and warnings about it.

    Refused (exit status 2): a symlink another user owns on the way, a file that is not
    regular, a file group or others may write (they could swap the key mailconf signs with), a
    file with several keys and no ``name``, a ``name`` the file does not hold.  A file every user
    can read gives the ``dns.tsig-key-readable`` warning: the key lets anyone change the zone.
    """
    shown = os.fspath(path)
    with walk(path, shown=shown) as place:
        fd = place.open(os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ReadError(f"{shown}: not a regular file")
            if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise ReadError(
                    f"{shown}: group or other users may write the TSIG key file (mode "
                    f"{stat.S_IMODE(info.st_mode):04o}): refusing to sign with it "
                    f"(fix: chmod 600 {shown})"
                )
            data = handle.read(MAX_KEY_FILE + 1)
    if len(data) > MAX_KEY_FILE:
        raise ReadError(f"{shown}: over {MAX_KEY_FILE} bytes, not a TSIG key file")
    keys = parse_tsig_keys(decode(data), shown)
    findings = []
    if info.st_mode & stat.S_IROTH:
        findings.append(
            Finding(
                Severity.WARNING,
                "dns.tsig-key-readable",
                f"every user can read the TSIG key in {shown}, and with it change the zone",
                fix=f"chmod 600 {shown}",
                path=shown,
            )
        )
    if name is None:
        if len(keys) > 1:
            names = ", ".join(k.name for k in keys)
            raise ValidationError(
                f"{shown} holds {len(keys)} keys ({names}): name the one to use (--tsig-key-name)"
            )
        return keys[0], findings
    wanted = name.rstrip(".").lower()
    for key in keys:
        if key.name.lower() == wanted:
            return key, findings
    names = ", ".join(k.name for k in keys)
    raise ValidationError(f"{shown} holds no key named {name!r} (it has: {names})")


# --- what mailconf owns at a name ---------------------------------------------------------------

Kind = Literal["SPF", "DKIM", "DMARC"]

_SPF = re.compile(r"v=spf1(?: |\Z)", re.IGNORECASE)
_DMARC = re.compile(r"\s*v\s*=\s*DMARC1\s*(?:;|\Z)", re.IGNORECASE)
_DKIM = re.compile(r"\s*v\s*=\s*DKIM1\s*(?:;|\Z)")


def record_kind(name: str) -> Kind:
    """Which record mailconf publishes at ``name``: DMARC at ``_dmarc.D``, DKIM at
    ``S._domainkey.D``, SPF anywhere else (the domain itself)."""
    labels = name.rstrip(".").lower().split(".")
    if labels[0] == "_dmarc":
        return "DMARC"
    if len(labels) > 2 and labels[1] == "_domainkey":
        return "DKIM"
    return "SPF"


def owned(kind: Kind, text: str) -> bool:
    """Whether the TXT value ``text`` is a record of ``kind``, as receivers recognise it.

    A DKIM key record may leave out ``v=`` (RFC 6376 3.6.1), so at a selector any tag list with
    ``p=`` counts too.
    """
    if kind == "SPF":
        return _SPF.match(text) is not None
    if kind == "DMARC":
        return _DMARC.match(text) is not None
    if _DKIM.match(text):
        return True
    try:
        tags = parse_tag_list(text)
    except ValueError:
        return False
    return bool(tags) and tags[0][0] != "v" and any(tag == "p" for tag, _ in tags)


def _joined(strings: Strings) -> str:
    return b"".join(strings).decode("utf-8", "replace")


# --- the plan -----------------------------------------------------------------------------------


@attrs.frozen
class NameChange:
    """What one update does at one name: ``current`` is the whole TXT RRset read (the
    prerequisite), ``remove`` the owned records deleted, ``add`` the records added with ``ttl``."""

    name: str
    ttl: int
    current: tuple[Strings, ...]
    remove: tuple[Strings, ...]
    add: tuple[Strings, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ttl": self.ttl,
            "require": [_joined(s) for s in self.current],
            "delete": [_joined(s) for s in self.remove],
            "add": [_joined(s) for s in self.add],
        }


@attrs.frozen
class ZoneUpdate:
    """The one update message for ``zone``; no ``changes``: the zone is up to date."""

    zone: str
    changes: tuple[NameChange, ...]

    def message(self, key: TsigKey) -> dns.update.UpdateMessage:
        """The RFC 2136 message: the prerequisites, then the deletions, then the additions."""
        update = dns.update.UpdateMessage(self.zone + ".", keyring=key.dns_key())
        for change in self.changes:
            name = dns.name.from_text(change.name)
            if change.current:
                update.present(name, *[_rdata(s) for s in change.current])
            else:
                update.absent(name, dns.rdatatype.TXT)
            for strings in change.remove:
                update.delete(name, _rdata(strings))
            for strings in change.add:
                update.add(name, change.ttl, _rdata(strings))
        return update

    def render(self) -> str:
        """One line per prerequisite, deletion and addition, in zone-file notation."""
        lines = []
        for change in self.changes:
            owner = change.name + "."
            if change.current:
                lines += [f"  require {owner} TXT {_text(s)}" for s in change.current]
            else:
                lines.append(f"  require {owner} TXT absent")
            lines += [f"  delete  {owner} TXT {_text(s)}" for s in change.remove]
            lines += [f"  add     {owner} {change.ttl} TXT {_text(s)}" for s in change.add]
        return "".join(line + "\n" for line in lines)

    def to_json(self) -> dict[str, object]:
        return {"zone": self.zone, "changes": [c.to_json() for c in self.changes]}


def _rdata(strings: Strings) -> dns.rdtypes.ANY.TXT.TXT:
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)


def _text(strings: Strings) -> str:
    return _rdata(strings).to_text()


@attrs.frozen
class Publication:
    """What :func:`publish` did: the ``server``, each zone's update, whether it was ``sent``."""

    server: str
    key: str
    updates: tuple[ZoneUpdate, ...]
    sent: bool

    def render(self) -> str:
        verb = "sent to" if self.sent else "would send to"
        out = []
        for update in self.updates:
            if not update.changes:
                out.append(f"zone {update.zone}: up to date, nothing to send\n")
                continue
            out.append(f"zone {update.zone}: {verb} {self.server} (TSIG key {self.key}):\n")
            out.append(update.render())
        return "".join(out)

    def to_json(self) -> dict[str, object]:
        return {
            "server": self.server,
            "key": self.key,
            "sent": self.sent,
            "zones": [u.to_json() for u in self.updates],
        }


# --- talking to the server ----------------------------------------------------------------------


@attrs.frozen
class _Server:
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


_PREREQUISITE_FAILED: Final = ("YXDOMAIN", "YXRRSET", "NXDOMAIN", "NXRRSET")


def _check_update_answer(server: _Server, zone: str, response: dns.message.Message) -> None:
    rcode = dns.rcode.to_text(response.rcode())
    if rcode == "NOERROR":
        return
    where = f"{server.shown} did not apply the update of zone {zone}"
    if rcode in _PREREQUISITE_FAILED:
        reason = (
            "the TXT records there changed since mailconf read them, so the prerequisite "
            "failed; run the command again"
        )
    elif rcode == "REFUSED":
        reason = (
            f"the key '{server.key.name}' may not update this zone there: allow it in the "
            "server's update policy (BIND update-policy, Knot acl action: update)"
        )
    elif rcode in ("NOTAUTH", "NOTZONE"):
        reason = "the server is not the zone's primary (give the primary server, or --zone)"
    elif rcode == "NOTIMP":
        reason = "the server does not accept dynamic updates"
    else:
        reason = "see the server's log"
    raise UpdateError(f"{where} ({rcode}): {reason}; nothing was changed in that zone")


def _receive(sock: socket.socket, count: int, deadline: float) -> bytes:
    data = b""
    while len(data) < count:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError(errno.ECONNRESET, "the server closed the connection")
        data += chunk
    return data


def _server(server: str, key: TsigKey, timeout: float) -> _Server:
    address, port = parse_nameserver(server)
    return _Server(address, port, key, timeout)


def plan_update(
    server: str,
    key: TsigKey,
    records: Sequence[Record] = (),
    *,
    delete: Sequence[str] = (),
    zone: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[ZoneUpdate]:
    """The updates that make ``server`` publish ``records`` and no other record of their kinds
    at their names, and none at the names in ``delete`` (a retired selector, say).

    Reads the zones (SOA) and the names' TXT records from the server; sends nothing.  Every
    record must be one mailconf recognises as its own at its name (a DKIM key at a selector...),
    or a second run could not find it again.
    """
    wanted: dict[str, list[Strings]] = {}
    for record in records:
        name = record.name.rstrip(".").lower()
        if record.type != "TXT" or not owned(record_kind(name), record.value):
            raise ValidationError(
                f"{record.name}: {record.value[:40]!r} is not a {record_kind(name)} record"
            )
        wanted.setdefault(name, []).append(tuple(s.encode("utf-8") for s in record.strings))
    for name in delete:
        name = name.rstrip(".").lower()
        if name in wanted:
            raise ValidationError(f"{name}: both published and deleted")
        wanted[name] = []
    talk = _server(server, key, timeout)
    if zone is not None:
        zone = zone.rstrip(".").lower()
        apex = dns.name.from_text(zone)
        for name in wanted:
            if not dns.name.from_text(name).is_subdomain(apex):
                raise ValidationError(f"{name} is not in the zone {zone}")
    zones: dict[str, list[NameChange]] = {}
    for name, records_wanted in wanted.items():
        found = zone if zone is not None else talk.zone_of(name)
        changes = zones.setdefault(found, [])
        change = _change(talk, name, records_wanted)
        if change is not None:
            changes.append(change)
    return [ZoneUpdate(z, tuple(c)) for z, c in zones.items()]


def _change(talk: _Server, name: str, wanted: list[Strings]) -> NameChange | None:
    ttl, current = talk.txt(name)
    kind = record_kind(name)
    mine = [s for s in current if owned(kind, _joined(s))]
    wanted_texts = {_joined(s) for s in wanted}
    mine_texts = {_joined(s) for s in mine}
    remove = tuple(s for s in mine if _joined(s) not in wanted_texts)
    add, seen = [], set(mine_texts)
    for strings in wanted:
        if _joined(strings) not in seen:
            seen.add(_joined(strings))
            add.append(strings)
    if not remove and not add:
        return None
    return NameChange(name, DEFAULT_TTL if ttl is None else ttl, current, remove, tuple(add))


def send_update(
    server: str, key: TsigKey, updates: Sequence[ZoneUpdate], *, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Send each zone's update that changes something, in order; stop at the first failure
    (the error says which zones were updated before it)."""
    talk = _server(server, key, timeout)
    done: list[str] = []
    for update in updates:
        if not update.changes:
            continue
        try:
            _check_update_answer(talk, update.zone, talk.exchange(update.message(key)))
        except UpdateError as exc:
            if done:
                raise UpdateError(f"{exc} (zones updated before: {', '.join(done)})") from None
            raise
        done.append(update.zone)


def publish(
    server: str,
    key: TsigKey,
    records: Sequence[Record] = (),
    *,
    delete: Sequence[str] = (),
    zone: str | None = None,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Publication:
    """Make ``server`` publish ``records`` (and remove the names in ``delete``): read, plan,
    and unless ``dry_run`` send one update per zone.  See :func:`plan_update`."""
    updates = plan_update(server, key, records, delete=delete, zone=zone, timeout=timeout)
    if not dry_run:
        send_update(server, key, updates, timeout=timeout)
    talk = _server(server, key, timeout)
    return Publication(talk.shown, key.name, tuple(updates), not dry_run)
