"""DNS queries for the checks, behind one small interface that tests can replace.

The checks need to tell apart four outcomes that a resolver library mixes up in exceptions: data,
a name that does not exist (NXDOMAIN), a name with no record of that type (NODATA) and a failure
(SERVFAIL, timeout).  SPF in particular counts the first two as "void lookups" and must turn the
last into ``temperror`` rather than ``fail``.  :class:`Answer` carries that distinction explicitly.

A lookup source is any of:

* a callable ``(name, rdtype) -> Answer`` (tests, or a cache someone else keeps),
* a ``dns.resolver.Resolver`` (for example :func:`make_resolver` pointed at ``127.0.0.1:5353``),
* ``None``: the system resolver from ``/etc/resolv.conf``.

:class:`Lookup` wraps it and caches answers for the duration of one check run, so that SPF's
recursive evaluation of several addresses does not repeat queries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Literal

import attrs
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from mailconf.errors import ValidationError

__all__ = [
    "Answer",
    "Lookup",
    "LookupFunc",
    "LookupSource",
    "Status",
    "as_lookup",
    "make_resolver",
    "parse_nameserver",
]

Status = Literal["ok", "nxdomain", "nodata", "error"]
RdType = Literal["TXT", "A", "AAAA", "MX", "PTR"]


@attrs.frozen
class Answer:
    """The outcome of one query.

    ``txt`` holds, per TXT record, its character-strings as bytes (the split matters for the
    255-byte check; the joined text is what SPF, DKIM and DMARC read).  ``values`` holds
    addresses for A/AAAA, exchanges ordered by preference for MX, target names for PTR (all
    without the trailing dot).
    """

    name: str
    rdtype: str
    status: Status
    txt: tuple[tuple[bytes, ...], ...] = ()
    values: tuple[str, ...] = ()
    error: str = ""

    @property
    def void(self) -> bool:
        """NXDOMAIN or NODATA: what RFC 7208 4.6.4 calls a void lookup."""
        return self.status in ("nxdomain", "nodata")

    def texts(self) -> list[str]:
        """Each TXT record's strings joined without separators (RFC 7208 3.3, RFC 6376 3.6.2.2)."""
        return [b"".join(strings).decode("utf-8", "replace") for strings in self.txt]


LookupFunc = Callable[[str, str], Answer]


def parse_nameserver(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5353"``, ``"[::1]:53"``, ``"::1"`` or ``"192.0.2.1"`` to ``(address, port)``."""
    host, port = text, 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValidationError(f"nameserver {text!r}: use [ADDRESS]:PORT for IPv6")
        if rest:
            port = _port(text, rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(text, port_text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValidationError(f"nameserver {text!r}: {host!r} is not an IP address") from None
    return str(address), port


def _port(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValidationError(f"nameserver {text!r}: bad port {port_text!r}")
    return int(port_text)


def make_resolver(
    nameserver: str | None = None, *, timeout: float = 3.0, lifetime: float = 10.0
) -> dns.resolver.Resolver:
    """A resolver that asks ``nameserver`` (``HOST[:PORT]``) or, if None, the system's servers.

    TCP fallback on truncation is dnspython's default, so records over 512 bytes still resolve.
    """
    if nameserver is None:
        resolver = dns.resolver.Resolver()
    else:
        host, port = parse_nameserver(nameserver)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = lifetime
    return resolver


def _query_resolver(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> Answer:
    qname = dns.name.from_text(name)
    try:
        answer = resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return Answer(name, rdtype, "nxdomain")
    except (dns.exception.DNSException, OSError) as exc:
        return Answer(name, rdtype, "error", error=f"{type(exc).__name__}: {exc}")
    if answer.rrset is None:
        return Answer(name, rdtype, "nodata")
    txt: list[tuple[bytes, ...]] = []
    values: list[str] = []
    kind = dns.rdatatype.from_text(rdtype)
    rdatas = list(answer.rrset)
    if kind == dns.rdatatype.MX:
        rdatas.sort(key=lambda rd: rd.preference)
    for rd in rdatas:
        if kind == dns.rdatatype.TXT:
            txt.append(tuple(rd.strings))
        elif kind in (dns.rdatatype.A, dns.rdatatype.AAAA):
            values.append(str(rd.address))
        elif kind == dns.rdatatype.MX:
            values.append(rd.exchange.to_text(omit_final_dot=True))
        elif kind == dns.rdatatype.PTR:
            values.append(rd.target.to_text(omit_final_dot=True))
    return Answer(name, rdtype, "ok", txt=tuple(txt), values=tuple(values))


class Lookup:
    """Cached queries against one source; see the module docstring for the sources."""

    def __init__(self, source: LookupFunc | dns.resolver.Resolver | None = None) -> None:
        if source is None:
            source = make_resolver()
        self._source = source
        self._cache: dict[tuple[str, str], Answer] = {}
        self.queries = 0

    def query(self, name: str, rdtype: RdType | str) -> Answer:
        """Ask once per (name, type); names are compared without case and final dot."""
        key = (name.rstrip(".").lower(), rdtype.upper())
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        self.queries += 1
        if isinstance(self._source, dns.resolver.Resolver):
            answer = _query_resolver(self._source, key[0] + ".", key[1])
            answer = attrs.evolve(answer, name=key[0])
        else:
            answer = self._source(key[0], key[1])
        self._cache[key] = answer
        return answer

    def txt(self, name: str) -> Answer:
        return self.query(name, "TXT")


LookupSource = Lookup | LookupFunc | dns.resolver.Resolver | None


def as_lookup(source: LookupSource) -> Lookup:
    """Wrap any accepted source in a :class:`Lookup` (a Lookup is returned as it is)."""
    if isinstance(source, Lookup):
        return source
    return Lookup(source)
