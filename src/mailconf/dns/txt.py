"""What every check of a published TXT record shares: tag lists, sizes, failed lookups.

DKIM and DMARC records are both ``tag=value`` lists (RFC 6376 3.2, RFC 7489 6.4), so they are
split by one function, which :mod:`mailconf.keys` uses too for ``SELECTOR.txt`` stubs.  Any TXT
answer can be too large for DNS (a character-string over 255 bytes, an answer over plain UDP's
512 bytes), and any query can fail for one name: those findings read the same whichever record
was asked for.  Nothing here imports :mod:`mailconf.keys`, so ``keys`` may import the tag-list
parser while the DKIM check imports ``keys`` (no import cycle).
"""

from __future__ import annotations

import re

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from mailconf.dns.lookup import Answer
from mailconf.findings import Finding, Severity

__all__ = [
    "MAX_STRING",
    "MAX_UDP_ANSWER",
    "lookup_failed",
    "parse_tag_list",
    "response_size",
    "size_findings",
]

MAX_STRING = 255  # bytes of one TXT character-string (RFC 1035 3.3.14)
MAX_UDP_ANSWER = 512  # bytes of a DNS message over plain UDP (RFC 1035 4.2.1)


def parse_tag_list(text: str) -> list[tuple[str, str]]:
    """Split a DKIM/DMARC tag list (``tag=value; ...``) into pairs, keeping order and duplicates.

    Whitespace around tags, ``=`` and ``;`` is dropped (RFC 6376 3.2); a trailing ``;`` is fine.
    Raises ValueError for a part without ``=`` or with a bad tag name.
    """
    pairs = []
    for part in text.split(";"):
        if part.strip() == "":
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"{part.strip()!r} is not tag=value")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not a tag name")
        pairs.append((name, value.strip()))
    return pairs


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


def size_findings(name: str, answer: Answer) -> list[Finding]:
    """``dns.record-too-large``: a character-string DNS cannot carry, an answer needing TCP."""
    findings = []
    for strings in answer.txt:
        for s in strings:
            if len(s) > MAX_STRING:
                findings.append(
                    Finding(
                        Severity.ERROR,
                        "dns.record-too-large",
                        f"{name}: a TXT character-string is {len(s)} bytes; DNS allows 255",
                        fix="split the value into several quoted strings of at most 255 bytes",
                    )
                )
    size = response_size(name, answer)
    if size > MAX_UDP_ANSWER:
        findings.append(
            Finding(
                Severity.WARNING,
                "dns.record-too-large",
                f"{name}: the TXT answer is {size} bytes, over the {MAX_UDP_ANSWER} bytes of "
                "plain UDP; resolvers must retry over TCP or EDNS, and some firewalls block that",
                fix="remove unrelated TXT records at this name, or use a shorter key",
            )
        )
    return findings


def lookup_failed(answer: Answer, severity: Severity = Severity.ERROR) -> Finding:
    """The finding for a query that failed for this one name (SERVFAIL, mostly): whether the
    record exists is unknown, so the check that needed it could not be done."""
    return Finding(
        severity,
        "dns.lookup-failed",
        f"{answer.rdtype} lookup for {answer.name} failed ({answer.error or answer.status}); "
        "the check could not be done",
        fix="check that the domain's name servers answer for this name",
    )
