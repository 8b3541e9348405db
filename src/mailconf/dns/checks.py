"""Checks of what DNS publishes for a mail domain: DKIM key, SPF policy, DMARC policy, leftovers.

Each check takes a lookup source (see :mod:`mailconf.dns.lookup`) and returns a list of
:class:`~mailconf.findings.Finding`; an empty list means the check passed.  Codes are stable:

* DKIM: ``dkim.key-missing``, ``dkim.key-mismatch``, ``dkim.record-invalid``, ``dkim.key-revoked``,
  ``dkim.key-short``, ``dkim.testing``, ``dkim.adsp-present``;
* SPF: ``spf.missing``, ``spf.multiple``, ``spf.invalid``, ``spf.too-many-lookups``,
  ``spf.void-lookups``, ``spf.ip-not-covered``, ``spf.pass-all``, ``spf.no-all``, ``spf.ptr-used``;
* DMARC: ``dmarc.missing``, ``dmarc.invalid``, ``dmarc.tag-order``, ``dmarc.obsolete-tag``,
  ``dmarc.unknown-tag``, ``dmarc.report-unauthorised``;
* any TXT answer: ``dns.record-too-large``; any query: ``dns.lookup-failed`` (SERVFAIL or another
  failure for that one name, never reported as a missing record).

When the resolver cannot be asked at all, or the time budget runs out, each check returns the one
``dns.unreachable``/``dns.budget-exhausted`` finding of its :class:`~mailconf.dns.lookup.Lookup`
instead of its own (see :func:`~mailconf.dns.lookup.skipped_when_unavailable`).

SPF coverage is decided by evaluating RFC 7208 ``check_host()`` for each of the server's addresses
(ip4, ip6, a, mx, ptr, exists, include, redirect and macros), because a textual search for the
address misses ``a``/``mx``/``include`` and would miss a record that permerrors before reaching it.
The lookup limits are counted statically over the whole tree (every include and redirect
followed), which is what matters for senders that do *not* match early: a record that needs 11
lookups gives them ``permerror`` instead of ``fail``.  Void lookups are counted per address family,
since an ``a`` term asks for A records for an IPv4 client and AAAA for an IPv6 one.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import urllib.parse
from collections.abc import Sequence

import attrs
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailconf.dns.lookup import (
    Answer,
    DnsUnavailable,
    Lookup,
    LookupSource,
    as_lookup,
    skipped_when_unavailable,
)
from mailconf.dns.tags import parse_tag_list
from mailconf.findings import Finding, Severity
from mailconf.keys import DkimPublicKey
from mailconf.names import validate_domain, validate_selector

__all__ = [
    "MAX_UDP_ANSWER",
    "SpfResult",
    "check_adsp",
    "check_all",
    "check_dkim",
    "check_dmarc",
    "check_spf",
    "lookup_failed",
    "parse_tag_list",
    "response_size",
    "spf_check_host",
]

MAX_STRING = 255
MAX_UDP_ANSWER = 512
SPF_LOOKUP_LIMIT = 10
SPF_VOID_LIMIT = 2

_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO


# --- shared helpers ---------------------------------------------------------------------------


def response_size(name: str, answer: Answer) -> int:
    """Bytes of a DNS response carrying exactly ``answer``'s TXT records (no EDNS, compressed)."""
    qname = dns.name.from_text(name)
    query = dns.message.make_query(qname, dns.rdatatype.TXT, use_edns=False)
    response = dns.message.make_response(query)
    if answer.txt:
        rdatas = [
            dns.rdata.from_wire(
                dns.rdataclass.IN,
                dns.rdatatype.TXT,
                b"".join(bytes([len(s[:MAX_STRING])]) + s[:MAX_STRING] for s in strings),
                0,
                sum(1 + len(s[:MAX_STRING]) for s in strings),
            )
            for strings in answer.txt
        ]
        response.answer.append(dns.rrset.from_rdata_list(qname, 3600, rdatas))
    return len(response.to_wire())


def _size_findings(name: str, answer: Answer) -> list[Finding]:
    findings = []
    for strings in answer.txt:
        for s in strings:
            if len(s) > MAX_STRING:
                findings.append(
                    Finding(
                        _E,
                        "dns.record-too-large",
                        f"{name}: a TXT character-string is {len(s)} bytes; DNS allows 255",
                        fix="split the value into several quoted strings of at most 255 bytes",
                    )
                )
    size = response_size(name, answer)
    if size > MAX_UDP_ANSWER:
        findings.append(
            Finding(
                _W,
                "dns.record-too-large",
                f"{name}: the TXT answer is {size} bytes, over the {MAX_UDP_ANSWER} bytes of "
                "plain UDP; resolvers must retry over TCP or EDNS, and some firewalls block that",
                fix="remove unrelated TXT records at this name, or use a shorter key",
            )
        )
    return findings


def lookup_failed(answer: Answer, severity: Severity = _E) -> Finding:
    """The finding for a query that failed for this one name (SERVFAIL, mostly): whether the
    record exists is unknown, so the check that needed it could not be done."""
    return Finding(
        severity,
        "dns.lookup-failed",
        f"{answer.rdtype} lookup for {answer.name} failed ({answer.error or answer.status}); "
        "the check could not be done",
        fix="check that the domain's name servers answer for this name",
    )


# --- DKIM -------------------------------------------------------------------------------------


def _decode_p(value: str) -> bytes:
    compact = re.sub(r"\s+", "", value)
    return base64.b64decode(compact, validate=True)


@skipped_when_unavailable
def check_dkim(
    source: LookupSource, domain: str, selector: str, key: DkimPublicKey | None = None
) -> list[Finding]:
    """Check the key record at ``SELECTOR._domainkey.DOMAIN`` and that it matches ``key``.

    Without ``key`` only the record's own validity is checked.  ``p=`` is compared after removing
    whitespace and base64-decoding (a registrar may have inserted spaces where it split the value).
    """
    domain = validate_domain(domain)
    selector = validate_selector(selector)
    lookup = as_lookup(source)
    name = f"{selector}._domainkey.{domain}"
    answer = lookup.txt(name)
    if answer.failed:
        return [lookup_failed(answer)]
    if answer.void or not answer.txt:
        return [
            Finding(
                _E,
                "dkim.key-missing",
                f"no DKIM key is published at {name}; receivers cannot verify signatures",
                fix=f"publish the TXT record from {selector}.txt at {name}",
            )
        ]
    findings = _size_findings(name, answer)
    texts = answer.texts()
    if len(texts) > 1:
        findings.append(
            Finding(
                _E,
                "dkim.record-invalid",
                f"{name} has {len(texts)} TXT records; verifiers pick one at random",
                fix="keep only the DKIM key record at this name",
            )
        )
    for text in texts:
        findings.extend(_check_dkim_text(name, text, key))
    return findings


def _invalid_dkim(name: str, why: str) -> Finding:
    return Finding(
        _E,
        "dkim.record-invalid",
        f"DKIM record at {name} is invalid: {why}",
        fix="republish the record exactly as mailconf prints it",
    )


def _check_dkim_text(name: str, text: str, key: DkimPublicKey | None) -> list[Finding]:
    try:
        pairs = parse_tag_list(text)
    except ValueError as exc:
        return [_invalid_dkim(name, str(exc))]
    tags: dict[str, str] = {}
    for tag, value in pairs:
        if tag in tags:
            return [_invalid_dkim(name, f"tag {tag}= appears twice")]
        tags[tag] = value
    if "v" in tags and (pairs[0][0] != "v" or tags["v"] != "DKIM1"):
        return [_invalid_dkim(name, "v= must come first and be DKIM1")]
    if "p" not in tags:
        return [_invalid_dkim(name, "there is no p= (public key) tag")]
    findings: list[Finding] = []
    algorithm = tags.get("k", "rsa")
    if algorithm not in ("rsa", "ed25519"):
        return [_invalid_dkim(name, f"unknown key type k={algorithm}")]
    if "h" in tags:
        hashes = [h.strip() for h in tags["h"].split(":")]
        if "sha256" not in hashes:
            return [_invalid_dkim(name, f"h={tags['h']} does not allow sha256")]
    if "s" in tags:
        services = [s.strip() for s in tags["s"].split(":")]
        if "*" not in services and "email" not in services:
            return [_invalid_dkim(name, f"s={tags['s']} does not allow email")]
    flags = [f.strip() for f in tags.get("t", "").split(":")]
    if "y" in flags:
        findings.append(
            Finding(
                _W,
                "dkim.testing",
                f"{name} has t=y: receivers treat signatures as unsigned mail",
                fix="remove t=y once signing works",
            )
        )
    if re.sub(r"\s+", "", tags["p"]) == "":
        findings.append(
            Finding(
                _E,
                "dkim.key-revoked",
                f"{name} has an empty p=: the key is revoked",
                fix="publish the current public key, or sign with another selector",
            )
        )
        return findings
    try:
        published = _decode_p(tags["p"])
    except (binascii.Error, ValueError):
        return [*findings, _invalid_dkim(name, "p= is not base64")]
    if algorithm == "rsa":
        try:
            public = serialization.load_der_public_key(published)
        except (ValueError, TypeError):
            return [*findings, _invalid_dkim(name, "p= is not an RSA SubjectPublicKeyInfo")]
        if not isinstance(public, rsa.RSAPublicKey):
            return [*findings, _invalid_dkim(name, "k=rsa but p= is not an RSA key")]
        if public.key_size < 1024:
            findings.append(
                Finding(
                    _E,
                    "dkim.key-short",
                    f"{name}: {public.key_size}-bit RSA key; RFC 8301 verifiers reject it",
                    fix="generate a 2048-bit key under a new selector",
                )
            )
        elif public.key_size < 2048:
            findings.append(
                Finding(
                    _W,
                    "dkim.key-short",
                    f"{name}: {public.key_size}-bit RSA key; 2048 bits are recommended",
                    fix="generate a 2048-bit key under a new selector",
                )
            )
    elif len(published) != 32:
        return [*findings, _invalid_dkim(name, "an ed25519 p= must be 32 bytes (RFC 8463)")]
    if key is not None:
        if algorithm != key.algorithm:
            findings.append(
                Finding(
                    _E,
                    "dkim.key-mismatch",
                    f"{name} publishes a k={algorithm} key but the local key is {key.algorithm}",
                    fix=f"publish the record generated from the local {key.algorithm} key",
                )
            )
        elif published != key.public_key_bytes():
            findings.append(
                Finding(
                    _E,
                    "dkim.key-mismatch",
                    f"the key published at {name} is not the local private key's public key; "
                    "every signature will fail",
                    fix="publish the p= value printed by mailconf for the local key",
                )
            )
    return findings


@skipped_when_unavailable
def check_adsp(source: LookupSource, domain: str) -> list[Finding]:
    """Warn about an ADSP record (``_adsp._domainkey.DOMAIN``): RFC 5617 is Historic since 2013."""
    domain = validate_domain(domain)
    name = f"_adsp._domainkey.{domain}"
    answer = as_lookup(source).txt(name)
    if answer.failed:  # a leftover might be there: as uncertain as the warning it would be
        return [lookup_failed(answer, _W)]
    if answer.status == "ok" and answer.txt:
        return [
            Finding(
                _W,
                "dkim.adsp-present",
                f"{name} publishes ADSP, which is Historic since 2013 and ignored by receivers",
                fix=f"delete the TXT record at {name}",
            )
        ]
    return []


# --- SPF --------------------------------------------------------------------------------------

_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_MODIFIER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")
_MACRO = re.compile(r"%(?:\{([slodiphcrtvSLODIPHCRTV])(\d*)(r?)([.\-+,/_=]*)\}|(.))")
_QUALIFIER_RESULT = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
SpfResult = str  # "pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"


class _SpfPermError(Exception):
    pass


class _SpfTempError(Exception):
    pass


@attrs.frozen
class _Term:
    kind: str  # a mechanism name, or "redirect"/"exp"/"modifier"
    qualifier: str = "+"
    domain_spec: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    cidr4: int = 32
    cidr6: int = 128
    text: str = ""


def _check_macro_string(spec: str, term: str) -> None:
    position = 0
    while True:
        index = spec.find("%", position)
        if index < 0:
            return
        match = _MACRO.match(spec, index)
        if match is None or (match.group(5) is not None and match.group(5) not in "%_-"):
            raise _SpfPermError(f"bad macro in {term!r}")
        position = match.end()


def _check_domain_spec(spec: str, term: str) -> str:
    if spec == "":
        raise _SpfPermError(f"{term!r} needs a domain")
    _check_macro_string(spec, term)
    if "%" not in spec:
        labels = spec.rstrip(".").split(".")
        if len(labels) < 2 or any(
            not re.fullmatch(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?", label)
            for label in labels
        ):
            raise _SpfPermError(f"{term!r}: {spec!r} is not a domain name")
        if labels[-1].isdigit():
            raise _SpfPermError(f"{term!r}: {spec!r} is an address, not a domain (use ip4:)")
    return spec


def _split_cidr(rest: str, term: str, *, dual: bool) -> tuple[str, int, int]:
    cidr4, cidr6 = 32, 128
    match = re.search(r"(/(\d+))?(//(\d+))?\Z", rest) if dual else re.search(r"(/(\d+))?\Z", rest)
    assert match is not None
    body = rest[: match.start()]
    if match.group(2) is not None:
        cidr4 = int(match.group(2))
        if cidr4 > 32 or (match.group(2).startswith("0") and match.group(2) != "0"):
            raise _SpfPermError(f"bad prefix length in {term!r}")
    if dual and match.group(4) is not None:
        cidr6 = int(match.group(4))
        if cidr6 > 128 or (match.group(4).startswith("0") and match.group(4) != "0"):
            raise _SpfPermError(f"bad prefix length in {term!r}")
    return body, cidr4, cidr6


def _parse_term(word: str) -> _Term:
    modifier = re.match(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)\Z", word)
    if modifier:
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            return _Term(name, domain_spec=_check_domain_spec(value, word), text=word)
        _check_macro_string(value, word)
        return _Term("modifier", text=word)
    qualifier = "+"
    body = word
    if body[:1] in _QUALIFIER_RESULT:
        qualifier, body = body[0], body[1:]
    name, sep, arg = body.partition(":")
    lname = name.lower()
    if "/" in name:
        lname, slash, cidr = name.partition("/")
        lname = lname.lower()
        arg_with_cidr = slash + cidr
    else:
        arg_with_cidr = ""
    if lname not in _MECHANISMS:
        raise _SpfPermError(f"unknown mechanism {word!r}")
    if lname == "all":
        if sep or arg_with_cidr:
            raise _SpfPermError(f"'all' takes no argument: {word!r}")
        return _Term("all", qualifier, text=word)
    if lname in ("ip4", "ip6"):
        if not sep or arg_with_cidr:
            raise _SpfPermError(f"{word!r} needs an address")
        try:
            network = ipaddress.ip_network(arg, strict=False)
        except ValueError:
            raise _SpfPermError(f"{word!r}: {arg!r} is not an IP network") from None
        if (lname == "ip4") != (network.version == 4) or arg.startswith("/"):
            raise _SpfPermError(f"{word!r}: wrong address family")
        if "/" in arg:
            _, _, length = arg.rpartition("/")
            if length.startswith("0") and length != "0":
                raise _SpfPermError(f"bad prefix length in {word!r}")
        return _Term(lname, qualifier, network=network, text=word)
    if lname in ("a", "mx"):
        if sep:
            spec, cidr4, cidr6 = _split_cidr(arg, word, dual=True)
            return _Term(lname, qualifier, _check_domain_spec(spec, word), None, cidr4, cidr6, word)
        _, cidr4, cidr6 = _split_cidr(arg_with_cidr, word, dual=True)
        return _Term(lname, qualifier, None, None, cidr4, cidr6, word)
    if arg_with_cidr:
        raise _SpfPermError(f"{word!r} takes no prefix length")
    if lname == "ptr":
        return _Term("ptr", qualifier, _check_domain_spec(arg, word) if sep else None, text=word)
    if not sep:
        raise _SpfPermError(f"{word!r} needs a domain")
    return _Term(lname, qualifier, _check_domain_spec(arg, word), text=word)


def _parse_spf(text: str) -> list[_Term]:
    words = text.split(" ")
    if words[0].lower() != "v=spf1":
        raise _SpfPermError("the record does not start with v=spf1")
    terms = []
    seen: set[str] = set()
    for word in words[1:]:
        if word == "":
            continue
        if not word.isascii() or not word.isprintable():
            raise _SpfPermError(f"{word!r} contains characters SPF does not allow")
        term = _parse_term(word)
        if term.kind in ("redirect", "exp"):
            if term.kind in seen:
                raise _SpfPermError(f"{term.kind}= appears twice")
            seen.add(term.kind)
        terms.append(term)
    return terms


def _is_spf(text: str) -> bool:
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def _spf_texts(answer: Answer) -> list[str]:
    return [t for t in answer.texts() if _is_spf(t)]


@attrs.define
class _SpfEval:
    """One ``check_host()`` evaluation.

    Every query answering NXDOMAIN or no record of the type asked is a void lookup (an ``a``
    name with only AAAA records is one for an IPv4 client), each MX exchange's address query
    included: see :class:`_SpfCounter` for why each query counts.
    """

    lookup: Lookup
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    lookups: int = 0
    voids: int = 0

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > SPF_LOOKUP_LIMIT:
            raise _SpfPermError("more than 10 DNS lookups")

    def query(self, name: str, rdtype: str) -> Answer:
        answer = self.lookup.query(name, rdtype)
        if answer.failed:
            raise _SpfTempError(answer.error or answer.status)
        if answer.void:
            self.voids += 1
            if self.voids > SPF_VOID_LIMIT:
                raise _SpfPermError("more than 2 void lookups")
        return answer

    def expand(self, spec: str, domain: str) -> str:
        local, _, sender_domain = self.sender.rpartition("@")

        def letter_value(letter: str) -> str:
            if letter == "s":
                return self.sender
            if letter == "l":
                return local or "postmaster"
            if letter == "o":
                return sender_domain
            if letter == "d":
                return domain
            if letter in "ic":
                if self.ip.version == 4:
                    return str(self.ip)
                return ".".join(self.ip.exploded.replace(":", ""))
            if letter == "v":
                return "in-addr" if self.ip.version == 4 else "ip6"
            if letter == "h":
                return self.helo
            return "unknown"  # p (we do not validate PTRs for macros), r, t

        def replace(match: re.Match[str]) -> str:
            if match.group(5) is not None:
                return {"%": "%", "_": " ", "-": "%20"}[match.group(5)]
            letter, digits, reverse, delimiters = match.groups()[:4]
            value = letter_value(letter.lower())
            parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
            if reverse:
                parts.reverse()
            if digits:
                if int(digits) == 0:
                    raise _SpfPermError("macro with zero digits")
                parts = parts[-int(digits) :]
            result = ".".join(parts)
            if letter.isupper():
                result = urllib.parse.quote(result, safe="")
            return result

        expanded = _MACRO.sub(replace, spec)
        while len(expanded) > 253 and "." in expanded:
            expanded = expanded.split(".", 1)[1]
        return expanded.rstrip(".")

    def target(self, term: _Term, domain: str) -> str:
        return self.expand(term.domain_spec, domain) if term.domain_spec else domain

    def addresses(self, name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        rdtype = "A" if self.ip.version == 4 else "AAAA"
        return [ipaddress.ip_address(v) for v in self.query(name, rdtype).values]

    def in_net(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, term: _Term) -> bool:
        length = term.cidr4 if address.version == 4 else term.cidr6
        return self.ip in ipaddress.ip_network(f"{address}/{length}", strict=False)

    def check_host(self, domain: str, depth: int = 0) -> SpfResult:
        if depth > SPF_LOOKUP_LIMIT + 1:
            raise _SpfPermError("include/redirect loop")
        answer = self.lookup.txt(domain)
        if answer.failed:
            raise _SpfTempError(answer.error or answer.status)
        records = _spf_texts(answer)
        if not records:
            return "none"
        if len(records) > 1:
            raise _SpfPermError(f"{domain} has {len(records)} SPF records")
        terms = _parse_spf(records[0])
        for term in terms:
            if term.kind in ("redirect", "exp", "modifier"):
                continue
            if self.matches(term, domain, depth):
                return _QUALIFIER_RESULT[term.qualifier]
        redirect = next((t for t in terms if t.kind == "redirect"), None)
        if redirect is not None:
            self.count()
            result = self.check_host(self.target(redirect, domain), depth + 1)
            if result == "none":
                raise _SpfPermError(f"redirect target of {domain} has no SPF record")
            return result
        return "neutral"

    def matches(self, term: _Term, domain: str, depth: int) -> bool:
        if term.kind == "all":
            return True
        if term.kind in ("ip4", "ip6"):
            assert term.network is not None
            return self.ip.version == term.network.version and self.ip in term.network
        self.count()
        target = self.target(term, domain)
        if term.kind == "include":
            result = self.check_host(target, depth + 1)
            if result == "none":
                raise _SpfPermError(f"include:{target} has no SPF record")
            return result == "pass"
        if term.kind == "a":
            return any(self.in_net(address, term) for address in self.addresses(target))
        if term.kind == "mx":
            exchanges = self.query(target, "MX").values
            if len(exchanges) > SPF_LOOKUP_LIMIT:
                raise _SpfPermError(f"{target} has more than 10 MX records")
            # Every exchange is resolved before any is matched, as pyspf does: the void lookups
            # of the later ones count even when an earlier one matches.
            addresses = [address for name in exchanges for address in self.addresses(name)]
            return any(self.in_net(address, term) for address in addresses)
        if term.kind == "exists":
            return bool(self.query(target, "A").values)
        # ptr
        reverse = ipaddress.ip_address(self.ip).reverse_pointer
        names = self.query(reverse, "PTR").values[:SPF_LOOKUP_LIMIT]
        validated = [name.lower() for name in names if self.ip in self.addresses(name)]
        target = target.lower()
        return any(name == target or name.endswith("." + target) for name in validated)


def spf_check_host(
    source: LookupSource, ip: str, domain: str, *, sender: str | None = None
) -> SpfResult:
    """RFC 7208 ``check_host(ip, domain, sender)``: pass, fail, softfail, neutral, none, ...

    ``sender`` defaults to ``postmaster@DOMAIN`` (what a bounce-less test message would use).
    A resolver that cannot be asked gives ``temperror``, as it would a receiver.
    """
    try:
        return _check_host(as_lookup(source), ip, domain, sender)
    except DnsUnavailable:
        return "temperror"


def _check_host(lookup: Lookup, ip: str, domain: str, sender: str | None) -> SpfResult:
    """:func:`spf_check_host` for :func:`check_spf`, which lets :class:`DnsUnavailable` through so
    that an unreachable resolver skips the check rather than reading as a ``temperror`` policy."""
    address = ipaddress.ip_address(ip)
    state = _SpfEval(lookup, address, sender or f"postmaster@{domain}", domain)
    try:
        return state.check_host(domain)
    except _SpfPermError:
        return "permerror"
    except _SpfTempError:
        return "temperror"


_ADDRESS_TYPES = {4: "A", 6: "AAAA"}


@attrs.define
class _SpfCounter:
    """Static count of the lookups and void lookups of the whole policy tree.

    A void lookup is a query answering NXDOMAIN, or no record of the type asked (RCODE 0, no
    answer).  RFC 7208 4.6.4 limits the "terms" for which queries are void; pyspf (Debian's
    policyd-spf) counts every void query, each MX exchange's address query included, and gives
    permerror on the third.  This counts what pyspf counts, so that no receiver's permerror goes
    unreported (per-query counts are never below per-term ones).  The count depends on the
    client's address family: for an IPv4 client ``a:NAME`` asks for A records, so a name with
    only AAAA records is void for IPv4 senders and not for IPv6 ones.  ``voids`` holds, per
    family (4, 6), the void queries as ``NAME (TYPE)``.
    """

    lookup: Lookup
    lookups: int = 0
    voids: dict[int, list[str]] = attrs.Factory(lambda: {4: [], 6: []})
    failures: list[Answer] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)
    ptr_used: bool = False

    def ask(self, name: str, rdtype: str, families: tuple[int, ...] = (4, 6)) -> Answer | None:
        """The answer, noted as void for ``families`` if it is; None (kept in ``failures``) when
        the query failed for this name."""
        answer = self.lookup.query(name, rdtype)
        if answer.failed:
            self.failures.append(answer)
            return None
        if answer.void:
            for family in families:
                self.voids[family].append(f"{name} ({rdtype})")
        return answer

    def walk(self, domain: str, path: tuple[str, ...]) -> None:
        if domain.lower() in path:
            self.problems.append(f"include/redirect loop through {domain}")
            return
        if self.lookups > SPF_LOOKUP_LIMIT or len(path) > SPF_LOOKUP_LIMIT:
            return
        # The top domain has an SPF record (check_spf saw to that): neither void nor failed.
        answer = self.ask(domain, "TXT")
        if answer is None:
            return
        records = _spf_texts(answer)
        if path and not records:
            self.problems.append(f"{domain} (included from {path[-1]}) has no SPF record")
            return
        if len(records) != 1:
            return
        try:
            terms = _parse_spf(records[0])
        except _SpfPermError as exc:
            if path:
                self.problems.append(f"{domain} (included from {path[-1]}): {exc}")
            return
        has_all = any(t.kind == "all" for t in terms)
        for term in terms:
            macro = term.domain_spec is not None and "%" in term.domain_spec
            target = (term.domain_spec or domain).rstrip(".")
            if term.kind == "include" or (term.kind == "redirect" and not has_all):
                self.lookups += 1
                if not macro:
                    self.walk(target, (*path, domain.lower()))
            elif term.kind in ("a", "mx", "ptr", "exists"):
                self.lookups += 1
                if term.kind == "ptr":
                    self.ptr_used = True
                elif not macro:
                    self.count_voids(term.kind, target)

    def count_voids(self, kind: str, target: str) -> None:
        """Ask what the a, mx or exists term naming ``target`` asks, for either family."""
        if kind == "exists":  # A records, whatever the client's family
            self.ask(target, "A")
            return
        names = [target]
        if kind == "mx":
            mx = self.ask(target, "MX")
            if mx is None or mx.void:
                return
            if len(mx.values) > SPF_LOOKUP_LIMIT:
                self.problems.append(f"{target} has more than 10 MX records")
                return
            names = list(mx.values)
        for family, rdtype in _ADDRESS_TYPES.items():
            for name in names:
                self.ask(name, rdtype, (family,))


def _void_findings(domain: str, voids: dict[int, list[str]]) -> list[Finding]:
    """One finding per address family over the void-lookup limit (one for both when the same)."""
    over = {family: names for family, names in voids.items() if len(names) > SPF_VOID_LIMIT}
    if len(over) == 2 and over[4] == over[6]:
        over = {0: over[4]}
    senders = {0: "every sender", 4: "IPv4 senders", 6: "IPv6 senders"}
    return [
        Finding(
            _E,
            "spf.void-lookups",
            f"SPF policy of {domain} has {len(names)} void lookups for {senders[family]} "
            f"(names that do not exist or have no record of the type asked: "
            f"{', '.join(names)}); the limit is {SPF_VOID_LIMIT} and receivers return permerror",
            fix="remove the terms naming these, or publish their addresses",
        )
        for family, names in over.items()
    ]


@skipped_when_unavailable
def check_spf(source: LookupSource, domain: str, server_ips: Sequence[str] = ()) -> list[Finding]:
    """Check the SPF policy of ``domain`` and that it authorises every address in ``server_ips``."""
    domain = validate_domain(domain)
    lookup = as_lookup(source)
    answer = lookup.txt(domain)
    if answer.failed:
        return [lookup_failed(answer)]
    records = _spf_texts(answer)
    if not records:
        return [
            Finding(
                _E,
                "spf.missing",
                f"{domain} publishes no SPF record (TXT starting with v=spf1)",
                fix=f"publish the SPF record mailconf prints at {domain}",
            )
        ]
    findings = _size_findings(domain, answer)
    if len(records) > 1:
        findings.append(
            Finding(
                _E,
                "spf.multiple",
                f"{domain} publishes {len(records)} SPF records; receivers return permerror",
                fix="merge them into one v=spf1 record",
            )
        )
        return findings
    try:
        terms = _parse_spf(records[0])
    except _SpfPermError as exc:
        findings.append(
            Finding(
                _E,
                "spf.invalid",
                f"SPF record of {domain} is invalid ({exc}); receivers return permerror",
                fix="correct the record (RFC 7208 section 12 has the syntax)",
            )
        )
        return findings
    for term in terms:
        if term.kind == "all" and term.qualifier == "+":
            findings.append(
                Finding(
                    _E,
                    "spf.pass-all",
                    f"SPF record of {domain} ends with {term.text}: every host on the Internet "
                    "may send as this domain",
                    fix="use ~all (or -all)",
                )
            )
    if not any(t.kind in ("all", "redirect") for t in terms):
        findings.append(
            Finding(
                _W,
                "spf.no-all",
                f"SPF record of {domain} has no 'all' term: unlisted hosts get neutral",
                fix="end the record with ~all",
            )
        )
    counter = _SpfCounter(lookup)
    counter.walk(domain, ())
    for failed in dict.fromkeys(counter.failures):
        findings.append(
            Finding(
                _E,
                "dns.lookup-failed",
                f"SPF policy of {domain}: {failed.rdtype} lookup for {failed.name} failed "
                f"({failed.error or failed.status}); receivers that reach it return temperror",
                fix=f"check that the name servers of {failed.name} answer",
            )
        )
    for problem in counter.problems:
        findings.append(
            Finding(
                _E,
                "spf.invalid",
                f"SPF policy of {domain}: {problem}; receivers return permerror",
                fix="fix or remove the include",
            )
        )
    if counter.lookups > SPF_LOOKUP_LIMIT:
        findings.append(
            Finding(
                _E,
                "spf.too-many-lookups",
                f"SPF policy of {domain} needs {counter.lookups} DNS lookups (include, a, mx, "
                f"ptr, exists, redirect, counted through includes); the limit is "
                f"{SPF_LOOKUP_LIMIT} and receivers return permerror",
                fix="replace a/mx/include terms by ip4:/ip6: networks",
            )
        )
    findings += _void_findings(domain, counter.voids)
    if counter.ptr_used:
        findings.append(
            Finding(
                _W,
                "spf.ptr-used",
                f"SPF policy of {domain} uses ptr, which RFC 7208 says not to use",
                fix="replace ptr by ip4:/ip6: networks",
            )
        )
    for ip in server_ips:
        result = _check_host(lookup, ip, domain, None)
        if result != "pass":
            findings.append(
                Finding(
                    _E,
                    "spf.ip-not-covered",
                    f"SPF policy of {domain} gives {result} for this server's address {ip}",
                    fix=f"add ip{ipaddress.ip_address(ip).version}:{ip} before the all term",
                )
            )
    return findings


# --- DMARC ------------------------------------------------------------------------------------

_DMARC_KNOWN = {"v", "p", "sp", "np", "adkim", "aspf", "rua", "ruf", "fo", "t", "psd"}
_DMARC_OBSOLETE = {"pct", "rf", "ri"}


def _invalid_dmarc(name: str, why: str, severity: Severity = _E) -> Finding:
    return Finding(
        severity,
        "dmarc.invalid",
        f"DMARC record at {name} is invalid: {why}",
        fix="republish the record exactly as mailconf prints it",
    )


def _same_or_related(a: str, b: str) -> bool:
    # RFC 7489 7.1 asks for authorisation when the Organizational Domains differ; finding those
    # needs the Public Suffix List, which mailconf does not ship.  Equal names and parent/child
    # names are treated as the same organisation; siblings (a.example vs b.example) are checked,
    # which at worst yields a warning that the report-authorisation record is missing.
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


@skipped_when_unavailable
def check_dmarc(source: LookupSource, domain: str) -> list[Finding]:
    """Check ``_dmarc.DOMAIN``: present, one record, ``v=DMARC1`` first, valid ``p=`` and tags,
    and that external report destinations authorise the reports (RFC 7489 7.1)."""
    domain = validate_domain(domain)
    lookup = as_lookup(source)
    name = f"_dmarc.{domain}"
    answer = lookup.txt(name)
    if answer.failed:
        return [lookup_failed(answer)]
    texts = answer.texts()
    records = [t for t in texts if re.match(r"\s*v\s*=\s*DMARC1\s*(;|\Z)", t, re.IGNORECASE)]
    mentions = [t for t in texts if "dmarc1" in t.lower() and t not in records]
    if not records:
        where = ""
        if any("v=dmarc1" in t.lower() for t in lookup.txt(domain).texts()):
            where = f" (a DMARC record sits at {domain} itself, where receivers never look)"
        elif mentions:
            where = " (a record mentions DMARC1 but does not start with v=DMARC1, so it is ignored)"
        return [
            Finding(
                _E,
                "dmarc.missing",
                f"no DMARC record at {name}{where}",
                fix=f"publish the DMARC record mailconf prints at {name}",
            )
        ]
    findings = _size_findings(name, answer)
    if len(records) > 1:
        findings.append(
            _invalid_dmarc(name, f"{len(records)} records; receivers then apply no policy")
        )
        return findings
    try:
        pairs = parse_tag_list(records[0])
    except ValueError as exc:
        return [*findings, _invalid_dmarc(name, str(exc))]
    tags: dict[str, str] = {}
    for tag, value in pairs:
        tag = tag.lower()
        if tag in tags:
            return [*findings, _invalid_dmarc(name, f"tag {tag}= appears twice")]
        tags[tag] = value
    if pairs[0][1] != "DMARC1" or pairs[0][0] != "v":
        findings.append(_invalid_dmarc(name, "v= must be written exactly v=DMARC1"))
    if "p" not in tags:
        findings.append(
            _invalid_dmarc(name, "there is no p= tag; RFC 7489 receivers ignore the record")
        )
    elif pairs[1][0].lower() != "p":
        findings.append(
            Finding(
                _W,
                "dmarc.tag-order",
                f"DMARC record at {name}: p= is not right after v=; RFC 7489 requires it there",
                fix="write v=DMARC1; p=... first",
            )
        )
    for tag in ("p", "sp", "np"):
        if tag in tags and tags[tag].lower() not in ("none", "quarantine", "reject"):
            findings.append(
                _invalid_dmarc(name, f"{tag}={tags[tag]} is not none/quarantine/reject")
            )
    for tag in ("adkim", "aspf"):
        if tag in tags and tags[tag].lower() not in ("r", "s"):
            findings.append(_invalid_dmarc(name, f"{tag}={tags[tag]} is not r or s"))
    if "fo" in tags and any(o.strip() not in ("0", "1", "d", "s") for o in tags["fo"].split(":")):
        findings.append(_invalid_dmarc(name, f"fo={tags['fo']} is not a list of 0, 1, d, s"))
    for tag in ("t", "psd"):
        allowed = ("y", "n") if tag == "t" else ("y", "n", "u")
        if tag in tags and tags[tag].lower() not in allowed:
            findings.append(_invalid_dmarc(name, f"{tag}={tags[tag]} is not one of {allowed}"))
    for tag in tags:
        if tag in _DMARC_OBSOLETE:
            findings.append(
                Finding(
                    _W,
                    "dmarc.obsolete-tag",
                    f"DMARC record at {name} has {tag}=, removed by RFC 9989 (DMARCbis)",
                    fix=f"drop {tag}="
                    + (" (t=y replaces pct for testing)" if tag == "pct" else ""),
                )
            )
        elif tag not in _DMARC_KNOWN:
            findings.append(
                Finding(
                    _I,
                    "dmarc.unknown-tag",
                    f"DMARC record at {name} has unknown tag {tag}=, which receivers ignore",
                    fix=f"check the spelling of {tag}=",
                )
            )
    for tag in ("rua", "ruf"):
        if tag in tags:
            findings.extend(_check_report_uris(lookup, domain, name, tag, tags[tag]))
    return findings


def _check_report_uris(
    lookup: Lookup, domain: str, name: str, tag: str, value: str
) -> list[Finding]:
    findings: list[Finding] = []
    for uri in (u.strip() for u in value.split(",")):
        if not uri.lower().startswith("mailto:"):
            findings.append(_invalid_dmarc(name, f"{tag} URI {uri!r} is not mailto:", severity=_W))
            continue
        address = urllib.parse.unquote(uri[len("mailto:") :].split("!", 1)[0])
        local, at, destination = address.rpartition("@")
        if not at or not local or not destination:
            findings.append(_invalid_dmarc(name, f"{tag} URI {uri!r} has no valid address"))
            continue
        destination = destination.lower().rstrip(".")
        if _same_or_related(destination, domain):
            continue
        authorisation = f"{domain}._report._dmarc.{destination}"
        answer = lookup.txt(authorisation)
        if answer.failed:
            findings.append(lookup_failed(answer))
            continue
        if not any(re.match(r"\s*v\s*=\s*DMARC1", t, re.IGNORECASE) for t in answer.texts()):
            findings.append(
                Finding(
                    _W,
                    "dmarc.report-unauthorised",
                    f"{tag} sends reports to {destination}, which does not publish "
                    f"{authorisation}; receivers will not send those reports",
                    fix=f'ask {destination} to publish TXT "v=DMARC1" at {authorisation}',
                )
            )
    return findings


def check_all(
    source: LookupSource,
    domain: str,
    *,
    selector: str | None = None,
    key: DkimPublicKey | None = None,
    server_ips: Sequence[str] = (),
) -> list[Finding]:
    """Every DNS check for ``domain`` with one shared (cached) lookup; when the resolver cannot be
    asked, its one finding is listed once, not once per check."""
    lookup = as_lookup(source)
    findings = check_spf(lookup, domain, server_ips)
    if selector is not None:
        findings += check_dkim(lookup, domain, selector, key)
    findings += check_adsp(lookup, domain)
    findings += check_dmarc(lookup, domain)
    return list(dict.fromkeys(findings))
