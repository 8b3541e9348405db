"""DNS queries for the checks, behind one small interface that tests can replace.

A resolver library reports most outcomes as exceptions; the checks need each one by name, because
each means something different to them:

* ``ok``: data;
* ``nxdomain``: the name does not exist; ``nodata``: it exists but has no record of that type
  (together what RFC 7208 4.6.4 calls a void lookup: the record is really missing);
* ``servfail`` (or ``error``: another bad rcode, a malformed answer, a name DNS cannot carry):
  this one name could not be resolved, so nothing is known about its records;
* ``timeout`` (no answer), ``refused`` (a REFUSED answer) and ``unreachable`` (the query could
  not be sent or received: a refused connection, nothing listens there; no route; no server
  configured): the resolver itself may not be usable.

:class:`Answer` carries that class.  :class:`Lookup` turns the last group into one stop when it
is about the resolver: an ``unreachable``, or a timeout or REFUSED before the resolver answered
anything.  After it has answered, a timeout or REFUSED is about that one name (a resolver that
gives up on a dead zone, an authoritative server asked for a name out of its zones), unless the
time budget is what cut the query short.  The stop, or the end of the time budget, makes every
later query raise :class:`DnsUnavailable` carrying the one finding that says why
(``dns.unreachable`` or ``dns.budget-exhausted``), and the checks report that finding instead of
guessing from answers that never came (:func:`skipped_when_unavailable`).

A lookup source is any of:

* a callable ``(name, rdtype) -> Answer`` (tests, or a cache someone else keeps),
* a ``dns.resolver.Resolver`` (for example :func:`make_resolver` pointed at ``127.0.0.1:5353``),
* ``None``: the system resolver from ``/etc/resolv.conf``.

:class:`Lookup` wraps it and caches answers for the duration of one check run, so that SPF's
recursive evaluation of several addresses does not repeat queries.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, ParamSpec

import attrs
import dns.exception
import dns.inet
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rdatatype
import dns.resolver

from mailconf.errors import ValidationError
from mailconf.findings import Finding, Severity

__all__ = [
    "DEFAULT_BUDGET",
    "Answer",
    "DnsUnavailable",
    "Lookup",
    "LookupFunc",
    "LookupSource",
    "Status",
    "as_lookup",
    "make_resolver",
    "parse_nameserver",
    "skipped_when_unavailable",
]

Status = Literal[
    "ok", "nxdomain", "nodata", "servfail", "error", "timeout", "refused", "unreachable"
]
RdType = Literal["TXT", "A", "AAAA", "MX", "PTR"]

#: The statuses that may say nothing about the name, only that the resolver cannot be asked.
RESOLVER_FAILURES: Final = ("timeout", "refused", "unreachable")

#: Seconds all the DNS queries of one ``mailconf check`` may take together.
DEFAULT_BUDGET: Final = 10.0


@attrs.frozen
class Answer:
    """The outcome of one query.

    ``txt`` holds, per TXT record, its character-strings as bytes (the split matters for the
    255-byte check; the joined text is what SPF, DKIM and DMARC read).  ``values`` holds
    addresses for A/AAAA, exchanges ordered by preference for MX, target names for PTR (all
    without the trailing dot).  ``error`` says, for a failure, what went wrong and at which
    server (``127.0.0.1:5399 answered SERVFAIL``).
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

    @property
    def failed(self) -> bool:
        """No answer about the name at all: whether it has records is unknown."""
        return self.status not in ("ok", "nxdomain", "nodata")

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


def _server_text(address: str, port: int) -> str:
    """The ``HOST:PORT`` form ``--nameserver`` takes (``[::1]:53`` for IPv6)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class _ConnectedDo53(dns.nameserver.Do53Nameserver):
    """A plain DNS server asked over a *connected* UDP socket.

    dnspython sends from an unconnected socket, on which the kernel drops the ICMP "port
    unreachable" that a host sends back when nothing listens on the port; the query then waits
    for its whole timeout.  On a connected socket the same ICMP arrives as ECONNREFUSED at once,
    so a resolver that is not running (the common case on a server: unbound or systemd-resolved
    stopped) is reported in milliseconds.  TCP (after a truncated answer) is dnspython's own.
    """

    def __str__(self) -> str:
        return _server_text(self.address, self.port)

    def query(
        self,
        request: dns.message.QueryMessage,
        timeout: float,
        source: str | None,
        source_port: int,
        max_size: bool,
        one_rr_per_rrset: bool = False,
        ignore_trailing: bool = False,
    ) -> dns.message.Message:
        if max_size or source is not None or source_port:
            return super().query(
                request, timeout, source, source_port, max_size, one_rr_per_rrset, ignore_trailing
            )
        with socket.socket(dns.inet.af_for_address(self.address), socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect((self.address, self.port))
            return dns.query.udp(
                request,
                self.address,
                timeout=timeout,
                port=self.port,
                raise_on_truncation=True,
                one_rr_per_rrset=one_rr_per_rrset,
                ignore_trailing=ignore_trailing,
                ignore_errors=True,
                ignore_unexpected=True,
                sock=sock,
            )


def make_resolver(
    nameserver: str | None = None, *, timeout: float = 3.0, lifetime: float = 10.0
) -> dns.resolver.Resolver:
    """A resolver that asks ``nameserver`` (``HOST[:PORT]``) or, if None, the system's servers.

    ``timeout`` bounds one try, ``lifetime`` one query with its retries.  TCP fallback on
    truncation is dnspython's default, so records over 512 bytes still resolve.  Without any
    configured server (no ``/etc/resolv.conf``) the resolver has none, and every query says so.
    """
    servers: list[tuple[str, int]] = []
    if nameserver is None:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            resolver = dns.resolver.Resolver(configure=False)
        for server in resolver.nameservers:
            if isinstance(server, str) and dns.inet.is_address(server):
                servers.append((server, resolver.nameserver_ports.get(server, resolver.port)))
    else:
        servers.append(parse_nameserver(nameserver))
        resolver = dns.resolver.Resolver(configure=False)
    if servers:
        resolver.nameservers = [_ConnectedDo53(host, port) for host, port in servers]
    resolver.timeout = timeout
    resolver.lifetime = lifetime
    return resolver


def _servers(resolver: dns.resolver.Resolver) -> str:
    names = []
    for server in resolver.nameservers:
        if isinstance(server, dns.nameserver.AddressAndPortNameserver):
            names.append(_server_text(server.address, server.port))
        else:
            names.append(str(server))
    return ", ".join(names)


_RCODE_STATUS: Final[dict[str, Status]] = {"SERVFAIL": "servfail", "REFUSED": "refused"}
# When servers fail differently, what the name's answer is: a server that answered about the name
# outranks one that could not be asked.
_FAILURE_ORDER: Final[tuple[Status, ...]] = (
    "servfail",
    "error",
    "refused",
    "unreachable",
    "timeout",
)
_DNSPYTHON_SERVER = re.compile(r"(?:[A-Za-z0-9]+:)?(.+)@(\d+)\Z")


def _failure(errors: Sequence[tuple[Any, ...]], waited: float) -> tuple[Status, str]:
    """Class and description of dnspython's per-server errors (``(server, tcp, port, error,
    response)``, the error being an exception or an rcode's name).

    A SERVFAIL from any server is about the name: a server answered, and could not resolve it.
    Only when every server timed out, refused or was unreachable is the resolver unusable.
    """
    found: dict[str, Status] = {}
    for server, _tcp, _port, problem, _response in errors:
        where = str(server)
        match = _DNSPYTHON_SERVER.match(where)
        if match is not None:
            where = _server_text(match.group(1), int(match.group(2)))
        status: Status
        if isinstance(problem, str):
            status = _RCODE_STATUS.get(problem, "error")
            text = f"{where} answered {problem}"
        elif isinstance(problem, dns.exception.Timeout):
            status, text = "timeout", f"no answer from {where} within {waited:.3g} s"
        elif isinstance(problem, ConnectionRefusedError):
            status, text = "unreachable", f"{where} refused the connection: nothing listens there"
        elif isinstance(problem, OSError):
            status, text = "unreachable", f"{where}: {problem.strerror or problem}"
        else:
            status, text = "error", f"{where}: {problem}"
        found.setdefault(text, status)
    worst: Status = min(found.values(), key=_FAILURE_ORDER.index, default="timeout")
    return worst, "; ".join(found)


def _query_resolver(
    resolver: dns.resolver.Resolver, name: str, rdtype: str, lifetime: float
) -> Answer:
    if not resolver.nameservers:
        return Answer(name, rdtype, "unreachable", error="no name server is configured")
    try:
        qname = dns.name.from_text(name)
        answer = resolver.resolve(
            qname, rdtype, search=False, raise_on_no_answer=False, lifetime=lifetime
        )
    except dns.resolver.NXDOMAIN:
        return Answer(name, rdtype, "nxdomain")
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        status, text = _failure(exc.kwargs.get("errors") or [], lifetime)
        if not text:
            text = f"no answer from {_servers(resolver)} within {lifetime:.3g} s"
        return Answer(name, rdtype, status, error=text)
    except dns.exception.DNSException as exc:
        return Answer(name, rdtype, "error", error=str(exc) or type(exc).__name__)
    except OSError as exc:
        return Answer(name, rdtype, "unreachable", error=f"{_servers(resolver)}: {exc}")
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


class DnsUnavailable(Exception):
    """The resolver cannot be asked, or the time budget is spent; ``finding`` says which."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


class Lookup:
    """Cached queries against one source; see the module docstring for the sources.

    ``budget`` (seconds, None for no limit) bounds all the queries together, counted from the
    first one: a query is given at most what is left, and once nothing is left every later
    query raises :class:`DnsUnavailable`.  So does every query after the resolver turned out to
    be unreachable: one timeout is enough to know, waiting again for each name is not.
    ``answered`` counts the queries the resolver answered (SERVFAIL included).
    """

    def __init__(
        self,
        source: LookupFunc | dns.resolver.Resolver | None = None,
        *,
        budget: float | None = None,
    ) -> None:
        if source is None:
            source = make_resolver()
        self._source = source
        self._cache: dict[tuple[str, str], Answer] = {}
        self._budget = budget
        self._deadline: float | None = None
        self.queries = 0
        self.answered = 0
        self.stopped: Finding | None = None

    def _remaining(self) -> float | None:
        if self._budget is None:
            return None
        if self._deadline is None:
            self._deadline = time.monotonic() + self._budget
        return self._deadline - time.monotonic()

    def _stop(self, finding: Finding) -> DnsUnavailable:
        self.stopped = finding
        return DnsUnavailable(finding)

    def _budget_spent(self) -> DnsUnavailable:
        return self._stop(
            Finding(
                Severity.ERROR,
                "dns.budget-exhausted",
                f"the DNS checks ran out of their {self._budget:g} s; the ones not finished "
                "were skipped",
                fix="ask a faster resolver (--nameserver) or allow more time (--dns-timeout)",
            )
        )

    def query(self, name: str, rdtype: RdType | str) -> Answer:
        """Ask once per (name, type); names are compared without case and final dot.

        Raises :class:`DnsUnavailable` when the resolver cannot be asked or time is up.
        """
        if self.stopped is not None:
            raise DnsUnavailable(self.stopped)
        key = (name.rstrip(".").lower(), rdtype.upper())
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            raise self._budget_spent()
        self.queries += 1
        if isinstance(self._source, dns.resolver.Resolver):
            lifetime = self._source.lifetime
            if remaining is not None:
                lifetime = min(lifetime, remaining)
            answer = _query_resolver(self._source, key[0] + ".", key[1], lifetime)
            answer = attrs.evolve(answer, name=key[0])
        else:
            answer = self._source(key[0], key[1])
        if answer.status in RESOLVER_FAILURES:
            self._judge_resolver(answer)
        else:
            self.answered += 1
        self._cache[key] = answer
        return answer

    def _judge_resolver(self, answer: Answer) -> None:
        """Raise :class:`DnsUnavailable` when ``answer`` says the resolver cannot be asked, or
        that the budget cut the query short; return when it is about the name alone."""
        if self.answered and answer.status != "unreachable":
            remaining = self._remaining()
            if answer.status == "timeout" and remaining is not None and remaining <= 0:
                raise self._budget_spent()
            return
        raise self._stop(
            Finding(
                Severity.ERROR,
                "dns.unreachable",
                f"the DNS resolver cannot be asked ({answer.error or answer.status}); "
                "the DNS checks were skipped",
                fix="start the resolver, or name one that answers with --nameserver "
                "(--no-dns skips the DNS checks)",
            )
        )

    def txt(self, name: str) -> Answer:
        return self.query(name, "TXT")


LookupSource = Lookup | LookupFunc | dns.resolver.Resolver | None


def as_lookup(source: LookupSource, *, budget: float | None = None) -> Lookup:
    """Wrap any accepted source in a :class:`Lookup` (a Lookup is returned as it is, with its own
    budget)."""
    if isinstance(source, Lookup):
        return source
    return Lookup(source, budget=budget)


_P = ParamSpec("_P")


def skipped_when_unavailable(check: Callable[_P, list[Finding]]) -> Callable[_P, list[Finding]]:
    """Make a DNS check return the one ``dns.unreachable``/``dns.budget-exhausted`` finding when
    its lookup stops, instead of findings built on answers that never came.  Checks sharing a
    :class:`Lookup` then all return the same finding, which their caller keeps once."""

    @functools.wraps(check)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> list[Finding]:
        try:
            return check(*args, **kwargs)
        except DnsUnavailable as stop:
            return [stop.finding]

    return run
