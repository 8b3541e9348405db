"""The DMARC policy a domain publishes at ``_dmarc.DOMAIN`` (RFC 7489, with DMARCbis's changes).

Read as receivers read it: only a TXT record starting ``v=DMARC1`` counts, two of them mean no
policy at all, and report destinations outside the domain's organisation receive reports only when
they publish an authorisation record (RFC 7489 7.1).

Codes: ``dmarc.missing``, ``dmarc.invalid``, ``dmarc.tag-order``, ``dmarc.obsolete-tag``,
``dmarc.unknown-tag``, ``dmarc.report-unauthorised``.
"""

from __future__ import annotations

import re
import urllib.parse

from mailconf.dns.lookup import Lookup, LookupSource, as_lookup, skipped_when_unavailable
from mailconf.dns.txt import lookup_failed, parse_tag_list, size_findings
from mailconf.findings import Finding, Severity
from mailconf.names import validate_domain

__all__ = ["check_dmarc"]

_KNOWN = {"v", "p", "sp", "np", "adkim", "aspf", "rua", "ruf", "fo", "t", "psd"}
_OBSOLETE = {"pct", "rf", "ri"}


def _invalid(name: str, why: str, severity: Severity = Severity.ERROR) -> Finding:
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


def report_authorisation(domain: str, destination: str) -> str | None:
    """The name where ``destination`` must publish ``v=DMARC1`` to accept ``domain``'s reports
    (RFC 7489 7.1: ``DOMAIN._report._dmarc.DESTINATION``), or None when it is the same
    organisation (see :func:`_same_or_related`)."""
    destination = destination.lower().rstrip(".")
    if _same_or_related(destination, domain):
        return None
    return f"{domain}._report._dmarc.{destination}"


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
    if not records:
        return [_missing(lookup, domain, name, texts)]
    findings = size_findings(name, answer)
    if len(records) > 1:
        findings.append(_invalid(name, f"{len(records)} records; receivers then apply no policy"))
        return findings
    try:
        pairs = parse_tag_list(records[0])
    except ValueError as exc:
        return [*findings, _invalid(name, str(exc))]
    tags: dict[str, str] = {}
    for tag, value in pairs:
        tag = tag.lower()
        if tag in tags:
            return [*findings, _invalid(name, f"tag {tag}= appears twice")]
        tags[tag] = value
    findings += _policy_findings(name, pairs, tags)
    findings += _tag_name_findings(name, tags)
    for tag in ("rua", "ruf"):
        if tag in tags:
            findings.extend(_check_report_uris(lookup, domain, name, tag, tags[tag]))
    return findings


def _missing(lookup: Lookup, domain: str, name: str, texts: list[str]) -> Finding:
    """``dmarc.missing``, saying where a misplaced or misspelt record sits."""
    where = ""
    if any("v=dmarc1" in t.lower() for t in lookup.txt(domain).texts()):
        where = f" (a DMARC record sits at {domain} itself, where receivers never look)"
    elif any("dmarc1" in t.lower() for t in texts):
        where = " (a record mentions DMARC1 but does not start with v=DMARC1, so it is ignored)"
    return Finding(
        Severity.ERROR,
        "dmarc.missing",
        f"no DMARC record at {name}{where}",
        fix=f"publish the DMARC record mailconf prints at {name}",
    )


def _policy_findings(
    name: str, pairs: list[tuple[str, str]], tags: dict[str, str]
) -> list[Finding]:
    """The version, the policy and its place, and each known tag's value."""
    findings = []
    if pairs[0][1] != "DMARC1" or pairs[0][0] != "v":
        findings.append(_invalid(name, "v= must be written exactly v=DMARC1"))
    if "p" not in tags:
        findings.append(_invalid(name, "there is no p= tag; RFC 7489 receivers ignore the record"))
    elif pairs[1][0].lower() != "p":
        findings.append(
            Finding(
                Severity.WARNING,
                "dmarc.tag-order",
                f"DMARC record at {name}: p= is not right after v=; RFC 7489 requires it there",
                fix="write v=DMARC1; p=... first",
            )
        )
    for tag in ("p", "sp", "np"):
        if tag in tags and tags[tag].lower() not in ("none", "quarantine", "reject"):
            findings.append(_invalid(name, f"{tag}={tags[tag]} is not none/quarantine/reject"))
    for tag in ("adkim", "aspf"):
        if tag in tags and tags[tag].lower() not in ("r", "s"):
            findings.append(_invalid(name, f"{tag}={tags[tag]} is not r or s"))
    if "fo" in tags and any(o.strip() not in ("0", "1", "d", "s") for o in tags["fo"].split(":")):
        findings.append(_invalid(name, f"fo={tags['fo']} is not a list of 0, 1, d, s"))
    for tag in ("t", "psd"):
        allowed = ("y", "n") if tag == "t" else ("y", "n", "u")
        if tag in tags and tags[tag].lower() not in allowed:
            findings.append(_invalid(name, f"{tag}={tags[tag]} is not one of {allowed}"))
    return findings


def _tag_name_findings(name: str, tags: dict[str, str]) -> list[Finding]:
    """Tags DMARCbis removed, and tags no version defines (receivers ignore both)."""
    findings = []
    for tag in tags:
        if tag in _OBSOLETE:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "dmarc.obsolete-tag",
                    f"DMARC record at {name} has {tag}=, removed by RFC 9989 (DMARCbis)",
                    fix=f"drop {tag}="
                    + (" (t=y replaces pct for testing)" if tag == "pct" else ""),
                )
            )
        elif tag not in _KNOWN:
            findings.append(
                Finding(
                    Severity.INFO,
                    "dmarc.unknown-tag",
                    f"DMARC record at {name} has unknown tag {tag}=, which receivers ignore",
                    fix=f"check the spelling of {tag}=",
                )
            )
    return findings


def _check_report_uris(
    lookup: Lookup, domain: str, name: str, tag: str, value: str
) -> list[Finding]:
    findings: list[Finding] = []
    for uri in (u.strip() for u in value.split(",")):
        if not uri.lower().startswith("mailto:"):
            findings.append(
                _invalid(name, f"{tag} URI {uri!r} is not mailto:", severity=Severity.WARNING)
            )
            continue
        address = urllib.parse.unquote(uri[len("mailto:") :].split("!", 1)[0])
        local, at, destination = address.rpartition("@")
        if not at or not local or not destination:
            findings.append(_invalid(name, f"{tag} URI {uri!r} has no valid address"))
            continue
        destination = destination.lower().rstrip(".")
        authorisation = report_authorisation(domain, destination)
        if authorisation is None:
            continue
        answer = lookup.txt(authorisation)
        if answer.failed:
            findings.append(lookup_failed(answer))
            continue
        if not any(re.match(r"\s*v\s*=\s*DMARC1", t, re.IGNORECASE) for t in answer.texts()):
            findings.append(
                Finding(
                    Severity.WARNING,
                    "dmarc.report-unauthorised",
                    f"{tag} sends reports to {destination}, which does not publish "
                    f"{authorisation}; receivers will not send those reports",
                    fix=f'ask {destination} to publish TXT "v=DMARC1" at {authorisation}',
                )
            )
    return findings
