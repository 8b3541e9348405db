"""The TXT records a mail domain publishes for SPF, DKIM and DMARC, and three ways to print them.

Everything here is pure: inputs are validated (``mailconf.names``, ``ipaddress``), records are
built, nothing touches the network.  Each builder returns ``(Record, findings)`` so a caller can
show the record and the warnings about it together (a 1024-bit key, an obsolete DMARC tag).

Choices, and why:

* SPF is ``v=spf1 ip4:... ip6:... ~all``: no ``+`` qualifier (it is the default and only adds
  noise), ``~all`` by default because a soft fail is what DMARC needs and a hard ``-all`` makes some
  receivers reject before DMARC gets a say; ``-all`` on request.
* DKIM is ``v=DKIM1; h=sha256; k=rsa; p=...`` as opendkim-genkey writes it (``h=sha256`` tells
  verifiers not to accept rsa-sha1); ed25519 is ``v=DKIM1; k=ed25519; p=...`` as in RFC 8463 4.2.
* DMARC is ``v=DMARC1; p=...`` with ``v`` first and ``p`` second (RFC 7489 requires that order,
  RFC 9989 no longer does, older receivers still want it).  ``pct``, ``rf`` and ``ri`` were removed
  by RFC 9989 (DMARCbis): they are still written when asked for, with a ``dmarc.obsolete-tag``
  warning.
* ADSP (``_adsp._domainkey``, RFC 5617) is Historic since 2013 and is never produced.

A TXT record's text is split into character-strings of at most 255 bytes (RFC 1035 3.3.14);
receivers concatenate them without separators, so the split points do not matter to them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from typing import Literal

import attrs

from mailconf.errors import ValidationError
from mailconf.findings import Finding, Severity
from mailconf.keys import DkimPublicKey
from mailconf.names import validate_domain, validate_email, validate_selector

__all__ = [
    "DEFAULT_TTL",
    "MAX_STRING_BYTES",
    "Record",
    "dkim_record",
    "dkim_record_name",
    "dmarc_record",
    "dmarc_record_name",
    "render_json",
    "render_one_line",
    "render_zone",
    "spf_record",
    "split_character_strings",
]

MAX_STRING_BYTES = 255
DEFAULT_TTL = 3600

DmarcPolicy = Literal["none", "quarantine", "reject"]
_POLICIES = ("none", "quarantine", "reject")
_FO_OPTIONS = ("0", "1", "d", "s")


def split_character_strings(value: str, limit: int = MAX_STRING_BYTES) -> tuple[str, ...]:
    """Cut ``value`` into pieces of at most ``limit`` UTF-8 bytes, never inside a character."""
    if limit < 4:
        raise ValueError("limit must leave room for a 4-byte UTF-8 character")
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for ch in value:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += width
    if current or not pieces:
        pieces.append("".join(current))
    return tuple(pieces)


@attrs.frozen
class Record:
    """One TXT record: absolute owner ``name`` (no final dot), whole ``value``, its ``strings``."""

    name: str
    value: str
    strings: tuple[str, ...] = attrs.field()
    type: str = "TXT"

    @strings.default
    def _split(self) -> tuple[str, ...]:
        return split_character_strings(self.value)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "value": self.value,
            "strings": list(self.strings),
        }


def _zone_quote(text: str) -> str:
    # RFC 1035 5.1: inside quotes, '"' and '\' need a backslash; bytes outside printable ASCII
    # are written as \DDD so the zone file stays ASCII.
    out = []
    for byte in text.encode("utf-8"):
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def render_zone(records: Iterable[Record], ttl: int = DEFAULT_TTL) -> str:
    """Zone-file lines: ``NAME. TTL IN TXT "..."``, with ``( "..." "..." )`` for several strings."""
    lines = []
    for record in records:
        quoted = [_zone_quote(s) for s in record.strings]
        rdata = quoted[0] if len(quoted) == 1 else "( " + " ".join(quoted) + " )"
        lines.append(f"{record.name}. {ttl} IN {record.type} {rdata}")
    return "".join(line + "\n" for line in lines)


def render_one_line(records: Iterable[Record]) -> str:
    """``NAME<TAB>TXT<TAB>VALUE`` per record: the whole value on one line, for registrars' forms.

    The value is unquoted and unsplit: web forms quote and split it themselves (pasting quotes
    into them is a classic way to publish a broken record).
    """
    return "".join(f"{r.name}\t{r.type}\t{r.value}\n" for r in records)


def render_json(records: Iterable[Record]) -> str:
    """A JSON list of ``{"name", "type", "value", "strings"}`` objects."""
    return json.dumps([r.to_json() for r in records], indent=2) + "\n"


# --- SPF --------------------------------------------------------------------------------------


def _spf_network(text: str) -> tuple[str, list[Finding]]:
    try:
        network = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValidationError(f"{text!r} is not an IP address or network ({exc})") from None
        raise ValidationError(
            f"{text!r} has host bits set; did you mean {loose.with_prefixlen}?"
        ) from None
    findings = []
    if not network.is_global:
        findings.append(
            Finding(
                Severity.WARNING,
                "spf.private-address",
                f"{network} is not a public address; receivers on the Internet never see it",
                fix="list the server's public address",
            )
        )
    single = network.num_addresses == 1
    mechanism = "ip4" if network.version == 4 else "ip6"
    shown = str(network.network_address) if single else network.with_prefixlen
    return f"{mechanism}:{shown}", findings


def spf_record(
    domain: str,
    addresses: Sequence[str],
    *,
    hard_fail: bool = False,
    include: Sequence[str] = (),
    mx: bool = False,
) -> tuple[Record, list[Finding]]:
    """The SPF record at ``domain`` authorising ``addresses`` (IPs or networks), then ``~all``.

    ``include`` adds ``include:DOMAIN`` terms (a mail provider's policy), ``mx`` an ``mx`` term;
    each costs DNS lookups that count towards SPF's limit of ten.
    """
    domain = validate_domain(domain)
    if isinstance(addresses, str):
        raise ValidationError("addresses must be a list of IP addresses, not one string")
    terms: list[str] = []
    findings: list[Finding] = []
    seen: set[str] = set()
    for address in addresses:
        term, warnings = _spf_network(address)
        if term not in seen:
            seen.add(term)
            terms.append(term)
            findings.extend(warnings)
    if mx:
        terms.append("mx")
    for target in include:
        terms.append(f"include:{validate_domain(target, allow_underscore=True)}")
    if not terms:
        raise ValidationError("an SPF record needs at least one address, network or include")
    terms.append("-all" if hard_fail else "~all")
    return Record(domain, "v=spf1 " + " ".join(terms)), findings


# --- DKIM -------------------------------------------------------------------------------------


def dkim_record_name(selector: str, domain: str) -> str:
    """``SELECTOR._domainkey.DOMAIN``."""
    return f"{validate_selector(selector)}._domainkey.{validate_domain(domain)}"


def dkim_record(
    selector: str, domain: str, key: DkimPublicKey, *, testing: bool = False
) -> tuple[Record, list[Finding]]:
    """The DKIM key record; ``testing`` adds ``t=y`` (receivers treat failures as unsigned)."""
    name = dkim_record_name(selector, domain)
    if len(name) > 253:
        raise ValidationError(f"{name!r} is longer than the 253 bytes a DNS name may have")
    flags = "t=y; " if testing else ""
    if key.algorithm == "ed25519":
        value = f"v=DKIM1; k=ed25519; {flags}p={key.public_value()}"
    else:
        value = f"v=DKIM1; h=sha256; k=rsa; {flags}p={key.public_value()}"
    return Record(name, value), key.findings()


# --- DMARC ------------------------------------------------------------------------------------


def dmarc_record_name(domain: str) -> str:
    """``_dmarc.DOMAIN``."""
    return f"_dmarc.{validate_domain(domain)}"


def _policy(tag: str, value: str) -> str:
    if value not in _POLICIES:
        raise ValidationError(f"DMARC {tag}={value!r} is not one of {', '.join(_POLICIES)}")
    return value


def _uris(tag: str, addresses: Sequence[str]) -> str:
    if isinstance(addresses, str):
        addresses = [addresses]
    out = []
    for address in addresses:
        bare = address[len("mailto:") :] if address.lower().startswith("mailto:") else address
        try:
            out.append("mailto:" + validate_email(bare))
        except ValidationError as exc:
            raise ValidationError(f"DMARC {tag}: {exc}") from None
    return ",".join(out)


def _obsolete(tag: str) -> Finding:
    return Finding(
        Severity.WARNING,
        "dmarc.obsolete-tag",
        f"DMARC tag {tag}= was removed by RFC 9989 (DMARCbis); current receivers ignore it",
        fix=f"drop {tag}=" + (" (use t=y for a test phase)" if tag == "pct" else ""),
    )


def dmarc_record(
    domain: str,
    policy: DmarcPolicy = "none",
    *,
    rua: Sequence[str] = (),
    ruf: Sequence[str] = (),
    fo: str | None = None,
    adkim: Literal["r", "s"] | None = None,
    aspf: Literal["r", "s"] | None = None,
    sp: DmarcPolicy | None = None,
    np: DmarcPolicy | None = None,
    pct: int | None = None,
    rf: str | None = None,
    ri: int | None = None,
) -> tuple[Record, list[Finding]]:
    """The DMARC record at ``_dmarc.DOMAIN``: ``v=DMARC1; p=POLICY`` then the optional tags.

    ``rua``/``ruf`` take bare addresses (or ``mailto:`` URIs); reports to another domain only
    arrive if that domain publishes ``DOMAIN._report._dmarc.DEST`` (checked by ``checks``).
    ``pct``, ``rf`` and ``ri`` are emitted, each with a ``dmarc.obsolete-tag`` warning.
    """
    name = dmarc_record_name(domain)
    tags = [("v", "DMARC1"), ("p", _policy("p", policy))]
    findings: list[Finding] = []
    if rua:
        tags.append(("rua", _uris("rua", rua)))
    if ruf:
        tags.append(("ruf", _uris("ruf", ruf)))
    if fo is not None:
        options = fo.split(":")
        if not options or any(o not in _FO_OPTIONS for o in options):
            raise ValidationError(
                f"DMARC fo={fo!r}: use one or more of 0, 1, d, s separated by ':'"
            )
        tags.append(("fo", fo))
        if not ruf:
            findings.append(
                Finding(
                    Severity.INFO,
                    "dmarc.fo-without-ruf",
                    "fo= only matters for failure reports, and no ruf= is given",
                    fix="add ruf= or drop fo=",
                )
            )
    for tag, mode in (("adkim", adkim), ("aspf", aspf)):
        if mode is not None:
            if mode not in ("r", "s"):
                raise ValidationError(f"DMARC {tag}={mode!r}: use 'r' (relaxed) or 's' (strict)")
            tags.append((tag, mode))
    if sp is not None:
        tags.append(("sp", _policy("sp", sp)))
    if np is not None:
        tags.append(("np", _policy("np", np)))
    if pct is not None:
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise ValidationError(f"DMARC pct={pct!r}: must be an integer from 0 to 100")
        tags.append(("pct", str(pct)))
        findings.append(_obsolete("pct"))
    if rf is not None:
        if rf not in ("afrf", "iodef"):
            raise ValidationError(f"DMARC rf={rf!r}: must be 'afrf'")
        tags.append(("rf", rf))
        findings.append(_obsolete("rf"))
    if ri is not None:
        if isinstance(ri, bool) or not isinstance(ri, int) or not 0 < ri < 2**32:
            raise ValidationError(f"DMARC ri={ri!r}: must be a positive number of seconds")
        tags.append(("ri", str(ri)))
        findings.append(_obsolete("ri"))
    return Record(name, "; ".join(f"{t}={v}" for t, v in tags)), findings
