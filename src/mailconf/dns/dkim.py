"""The DKIM side of what DNS publishes: the key record at ``SELECTOR._domainkey.DOMAIN`` and ADSP
leftovers.

A published key is judged as a verifier would read it (RFC 6376 3.6.1, RFC 8301, RFC 8463): the
tag syntax, then the flags that make verifiers ignore the record for mail, then the key itself,
and only then whether it is the local key.  Each of those steps is a function of its own because
each can end the check: a record verifiers reject has no key worth comparing.

Codes: ``dkim.key-missing``, ``dkim.key-mismatch``, ``dkim.record-invalid``, ``dkim.key-revoked``,
``dkim.key-short``, ``dkim.testing``, ``dkim.adsp-present``.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailconf.dns.lookup import LookupSource, as_lookup, skipped_when_unavailable
from mailconf.dns.txt import lookup_failed, parse_tag_list, size_findings
from mailconf.findings import Finding, Severity
from mailconf.keys import DkimPublicKey
from mailconf.names import validate_domain, validate_selector

__all__ = ["check_adsp", "check_dkim"]


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
                Severity.ERROR,
                "dkim.key-missing",
                f"no DKIM key is published at {name}; receivers cannot verify signatures",
                fix=f"publish the TXT record from {selector}.txt at {name}",
            )
        ]
    findings = size_findings(name, answer)
    texts = answer.texts()
    if len(texts) > 1:
        findings.append(
            Finding(
                Severity.ERROR,
                "dkim.record-invalid",
                f"{name} has {len(texts)} TXT records; verifiers pick one at random",
                fix="keep only the DKIM key record at this name",
            )
        )
    for text in texts:
        findings.extend(_check_record(name, text, key))
    return findings


def _invalid(name: str, why: str) -> Finding:
    return Finding(
        Severity.ERROR,
        "dkim.record-invalid",
        f"DKIM record at {name} is invalid: {why}",
        fix="republish the record exactly as mailconf prints it",
    )


def _check_record(name: str, text: str, key: DkimPublicKey | None) -> list[Finding]:
    """One TXT record at the key's name: syntax, flags, the key, and the match with ``key``."""
    try:
        tags = _tags_for_mail(text)
    except ValueError as exc:
        return [_invalid(name, str(exc))]
    findings: list[Finding] = []
    if "y" in [f.strip() for f in tags.get("t", "").split(":")]:
        findings.append(
            Finding(
                Severity.WARNING,
                "dkim.testing",
                f"{name} has t=y: receivers treat signatures as unsigned mail",
                fix="remove t=y once signing works",
            )
        )
    if re.sub(r"\s+", "", tags["p"]) == "":
        findings.append(
            Finding(
                Severity.ERROR,
                "dkim.key-revoked",
                f"{name} has an empty p=: the key is revoked",
                fix="publish the current public key, or sign with another selector",
            )
        )
        return findings
    algorithm = tags.get("k", "rsa")
    try:
        published = _published_key(name, algorithm, tags["p"], findings)
    except ValueError as exc:
        return [*findings, _invalid(name, str(exc))]
    if key is not None:
        findings.extend(_compare(name, algorithm, published, key))
    return findings


def _tags_for_mail(text: str) -> dict[str, str]:
    """The record's tags, once it is a key record verifiers use for mail signed with SHA-256;
    ValueError saying why it is not (bad syntax, a tag twice, no key, a hash or service that
    excludes mail)."""
    pairs = parse_tag_list(text)
    tags: dict[str, str] = {}
    for tag, value in pairs:
        if tag in tags:
            raise ValueError(f"tag {tag}= appears twice")
        tags[tag] = value
    if "v" in tags and (pairs[0][0] != "v" or tags["v"] != "DKIM1"):
        raise ValueError("v= must come first and be DKIM1")
    if "p" not in tags:
        raise ValueError("there is no p= (public key) tag")
    algorithm = tags.get("k", "rsa")
    if algorithm not in ("rsa", "ed25519"):
        raise ValueError(f"unknown key type k={algorithm}")
    if "h" in tags and "sha256" not in [h.strip() for h in tags["h"].split(":")]:
        raise ValueError(f"h={tags['h']} does not allow sha256")
    services = [s.strip() for s in tags.get("s", "*").split(":")]
    if "*" not in services and "email" not in services:
        raise ValueError(f"s={tags['s']} does not allow email")
    return tags


def _published_key(name: str, algorithm: str, p: str, findings: list[Finding]) -> bytes:
    """The decoded ``p=`` (its SubjectPublicKeyInfo for RSA, the raw key for ed25519); a key
    verifiers reject as too short, or may soon, is added to ``findings``; ValueError saying why
    ``p=`` is no key of type ``algorithm``."""
    try:
        published = base64.b64decode(re.sub(r"\s+", "", p), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("p= is not base64") from None
    if algorithm == "ed25519":
        if len(published) != 32:
            raise ValueError("an ed25519 p= must be 32 bytes (RFC 8463)")
        return published
    try:
        public = serialization.load_der_public_key(published)
    except (ValueError, TypeError):
        raise ValueError("p= is not an RSA SubjectPublicKeyInfo") from None
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("k=rsa but p= is not an RSA key")
    if public.key_size < 2048:
        short = public.key_size < 1024
        findings.append(
            Finding(
                Severity.ERROR if short else Severity.WARNING,
                "dkim.key-short",
                f"{name}: {public.key_size}-bit RSA key; "
                + ("RFC 8301 verifiers reject it" if short else "2048 bits are recommended"),
                fix="generate a 2048-bit key under a new selector",
            )
        )
    return published


def _compare(name: str, algorithm: str, published: bytes, key: DkimPublicKey) -> list[Finding]:
    """``dkim.key-mismatch`` when the published key is not the local private key's public key."""
    if algorithm != key.algorithm:
        return [
            Finding(
                Severity.ERROR,
                "dkim.key-mismatch",
                f"{name} publishes a k={algorithm} key but the local key is {key.algorithm}",
                fix=f"publish the record generated from the local {key.algorithm} key",
            )
        ]
    if published != key.public_key_bytes():
        return [
            Finding(
                Severity.ERROR,
                "dkim.key-mismatch",
                f"the key published at {name} is not the local private key's public key; "
                "every signature will fail",
                fix="publish the p= value printed by mailconf for the local key",
            )
        ]
    return []


@skipped_when_unavailable
def check_adsp(source: LookupSource, domain: str) -> list[Finding]:
    """Warn about an ADSP record (``_adsp._domainkey.DOMAIN``): RFC 5617 is Historic since 2013."""
    domain = validate_domain(domain)
    name = f"_adsp._domainkey.{domain}"
    answer = as_lookup(source).txt(name)
    if answer.failed:  # a leftover might be there: as uncertain as the warning it would be
        return [lookup_failed(answer, Severity.WARNING)]
    if answer.status == "ok" and answer.txt:
        return [
            Finding(
                Severity.WARNING,
                "dkim.adsp-present",
                f"{name} publishes ADSP, which is Historic since 2013 and ignored by receivers",
                fix=f"delete the TXT record at {name}",
            )
        ]
    return []
