"""An SPF record taken apart (RFC 7208 sections 4.6, 5, 6 and 7): terms, qualifiers, domain-specs,
macros and prefix lengths.

Kept apart from the two readers of a record, the evaluation for one address
(:mod:`mailconf.dns.spf_host`) and the static count of the whole policy tree
(:mod:`mailconf.dns.spf`), so both refuse exactly the same records: a syntax error is a
``permerror`` for every receiver, whichever address is asking.
"""

from __future__ import annotations

import ipaddress
import re

import attrs

from mailconf.dns.lookup import Answer

__all__ = [
    "MACRO",
    "QUALIFIER_RESULT",
    "SPF_LOOKUP_LIMIT",
    "SPF_VOID_LIMIT",
    "SpfPermError",
    "Term",
    "parse_record",
    "spf_texts",
]

SPF_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4: terms that cause DNS queries
SPF_VOID_LIMIT = 2  # RFC 7208 4.6.4: queries answering NXDOMAIN or nothing

_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
MACRO = re.compile(r"%(?:\{([slodiphcrtvSLODIPHCRTV])(\d*)(r?)([.\-+,/_=]*)\}|(.))")
QUALIFIER_RESULT = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


class SpfPermError(Exception):
    """What makes a receiver's ``check_host()`` return ``permerror`` (the message says why)."""


@attrs.frozen
class Term:
    """One mechanism or modifier of a record."""

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
        match = MACRO.match(spec, index)
        if match is None or (match.group(5) is not None and match.group(5) not in "%_-"):
            raise SpfPermError(f"bad macro in {term!r}")
        position = match.end()


def _check_domain_spec(spec: str, term: str) -> str:
    if spec == "":
        raise SpfPermError(f"{term!r} needs a domain")
    _check_macro_string(spec, term)
    if "%" not in spec:
        labels = spec.rstrip(".").split(".")
        if len(labels) < 2 or any(
            not re.fullmatch(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?", label)
            for label in labels
        ):
            raise SpfPermError(f"{term!r}: {spec!r} is not a domain name")
        if labels[-1].isdigit():
            raise SpfPermError(f"{term!r}: {spec!r} is an address, not a domain (use ip4:)")
    return spec


def _split_cidr(rest: str, term: str, *, dual: bool) -> tuple[str, int, int]:
    cidr4, cidr6 = 32, 128
    match = re.search(r"(/(\d+))?(//(\d+))?\Z", rest) if dual else re.search(r"(/(\d+))?\Z", rest)
    assert match is not None
    body = rest[: match.start()]
    if match.group(2) is not None:
        cidr4 = int(match.group(2))
        if cidr4 > 32 or (match.group(2).startswith("0") and match.group(2) != "0"):
            raise SpfPermError(f"bad prefix length in {term!r}")
    if dual and match.group(4) is not None:
        cidr6 = int(match.group(4))
        if cidr6 > 128 or (match.group(4).startswith("0") and match.group(4) != "0"):
            raise SpfPermError(f"bad prefix length in {term!r}")
    return body, cidr4, cidr6


def _parse_network(lname: str, qualifier: str, arg: str, word: str) -> Term:
    """``ip4:NETWORK`` / ``ip6:NETWORK``."""
    try:
        network = ipaddress.ip_network(arg, strict=False)
    except ValueError:
        raise SpfPermError(f"{word!r}: {arg!r} is not an IP network") from None
    if (lname == "ip4") != (network.version == 4) or arg.startswith("/"):
        raise SpfPermError(f"{word!r}: wrong address family")
    if "/" in arg:
        _, _, length = arg.rpartition("/")
        if length.startswith("0") and length != "0":
            raise SpfPermError(f"bad prefix length in {word!r}")
    return Term(lname, qualifier, network=network, text=word)


def _parse_term(word: str) -> Term:
    modifier = re.match(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)\Z", word)
    if modifier:
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            return Term(name, domain_spec=_check_domain_spec(value, word), text=word)
        _check_macro_string(value, word)
        return Term("modifier", text=word)
    qualifier = "+"
    body = word
    if body[:1] in QUALIFIER_RESULT:
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
        raise SpfPermError(f"unknown mechanism {word!r}")
    if lname == "all":
        if sep or arg_with_cidr:
            raise SpfPermError(f"'all' takes no argument: {word!r}")
        return Term("all", qualifier, text=word)
    if lname in ("ip4", "ip6"):
        if not sep or arg_with_cidr:
            raise SpfPermError(f"{word!r} needs an address")
        return _parse_network(lname, qualifier, arg, word)
    if lname in ("a", "mx"):
        if sep:
            spec, cidr4, cidr6 = _split_cidr(arg, word, dual=True)
            return Term(lname, qualifier, _check_domain_spec(spec, word), None, cidr4, cidr6, word)
        _, cidr4, cidr6 = _split_cidr(arg_with_cidr, word, dual=True)
        return Term(lname, qualifier, None, None, cidr4, cidr6, word)
    if arg_with_cidr:
        raise SpfPermError(f"{word!r} takes no prefix length")
    if lname == "ptr":
        return Term("ptr", qualifier, _check_domain_spec(arg, word) if sep else None, text=word)
    if not sep:
        raise SpfPermError(f"{word!r} needs a domain")
    return Term(lname, qualifier, _check_domain_spec(arg, word), text=word)


def parse_record(text: str) -> list[Term]:
    """The terms of ``v=spf1 ...`` in order; SpfPermError for what receivers refuse."""
    words = text.split(" ")
    if words[0].lower() != "v=spf1":
        raise SpfPermError("the record does not start with v=spf1")
    terms = []
    seen: set[str] = set()
    for word in words[1:]:
        if word == "":
            continue
        if not word.isascii() or not word.isprintable():
            raise SpfPermError(f"{word!r} contains characters SPF does not allow")
        term = _parse_term(word)
        if term.kind in ("redirect", "exp"):
            if term.kind in seen:
                raise SpfPermError(f"{term.kind}= appears twice")
            seen.add(term.kind)
        terms.append(term)
    return terms


def spf_texts(answer: Answer) -> list[str]:
    """The SPF records among a name's TXT records (``v=spf1`` alone or followed by a space)."""
    return [t for t in answer.texts() if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
