"""Validation of the names mailconf writes into files, paths and DNS records.

These checks are a security boundary, not cosmetics: a domain or selector ends up in a file path
(``/etc/opendkim/keys/DOMAIN/SELECTOR.private``), in OpenDKIM's KeyTable and SigningTable (where
``#`` cuts a line and ``:`` splits fields) and in zone files.  A value such as ``../../etc``,
``a;b`` or ``x y`` must never get that far, so everything here is a whitelist (LDH labels), and the
error says exactly what was wrong so the user can fix the input instead of guessing.

Unicode names are refused rather than converted silently: the A-label (``xn--``) is what DNS,
Postfix and OpenDKIM see, and the user should publish records under the same spelling mailconf
writes.  The error message carries the A-label computed with Python's ``idna`` codec (IDNA 2003) as
a suggestion.
"""

from __future__ import annotations

import re

from mailconf.errors import ValidationError

__all__ = [
    "is_ldh_label",
    "validate_domain",
    "validate_email",
    "validate_selector",
]

_LDH_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
# DNS names that are not host names (``_spf.example.com``, ``_dmarc``) may hold underscores.
_SERVICE_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
# Conservative local part: RFC 5322 allows much more (``!#$%&'*+/=?^`{|}~``) but those characters
# are shell, URI and DMARC metacharacters (``!`` starts a size limit, ``,`` separates URIs).
_LOCAL_PART = re.compile(r"[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*\Z")

MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
MAX_LOCAL_PART_LENGTH = 64


def is_ldh_label(label: str) -> bool:
    """True for a letters-digits-hyphen label of 1..63 bytes not starting or ending with ``-``."""
    return bool(_LDH_LABEL.match(label))


def _describe_bad_characters(value: str, allowed: str) -> str:
    bad = sorted({ch for ch in value if not (ch.isascii() and (ch.isalnum() or ch in allowed))})
    shown = ", ".join(repr(ch) for ch in bad)
    return f"it contains {shown}" if bad else "it is malformed"


def _suggest_a_label(name: str) -> str:
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def _check_labels(value: str, what: str, *, underscore: bool = False) -> list[str]:
    """Split ``value`` into LDH labels or raise a ValidationError naming the first bad one."""
    if value == "":
        raise ValidationError(f"{what} is empty")
    labels = value.split(".")
    for label in labels:
        if label == "":
            raise ValidationError(
                f"{what} {value!r} has an empty label (two dots in a row, or a leading dot)"
            )
        if len(label) > MAX_LABEL_LENGTH:
            raise ValidationError(
                f"{what} {value!r}: label {label!r} is {len(label)} bytes long; "
                f"DNS allows at most {MAX_LABEL_LENGTH}"
            )
        pattern = _SERVICE_LABEL if underscore else _LDH_LABEL
        if not pattern.match(label):
            allowed = "-_" if underscore else "-"
            if label.startswith("-") or label.endswith("-"):
                reason = "a label may not start or end with '-'"
            else:
                reason = _describe_bad_characters(label, allowed)
            kinds = "letters, digits, '-' and '_'" if underscore else "letters, digits and '-'"
            raise ValidationError(
                f"{what} {value!r}: label {label!r} is not a host name label ({reason}); "
                f"only {kinds} are allowed"
            )
        if label[2:4] == "--" and label[:4].lower() == "xn--":
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError as exc:
                raise ValidationError(
                    f"{what} {value!r}: label {label!r} is not a valid IDN A-label ({exc})"
                ) from None
    return labels


def validate_domain(
    name: str, *, allow_single_label: bool = False, allow_underscore: bool = False
) -> str:
    """Return ``name`` in lower case if it is a usable mail domain, else raise ValidationError.

    Accepted: LDH labels of 1..63 bytes, 253 bytes in all, at least two labels unless
    ``allow_single_label`` (a bare ``localhost`` is not a domain anyone publishes DNS records for).
    ``allow_underscore`` admits ``_`` for DNS names that are not host names (``_spf.example.com``
    in an SPF ``include:``).
    Refused with a specific message: a trailing dot (mailconf writes absolute names itself, and
    Postfix and OpenDKIM do not want the dot), Unicode (the message suggests the A-label), an IP
    address, and anything with characters outside letters, digits, ``-`` and ``.``.
    """
    if not isinstance(name, str):
        raise ValidationError(f"domain must be text, not {type(name).__name__}")
    if not name.isascii():
        suggestion = _suggest_a_label(name.rstrip("."))
        hint = f"; use the A-label form {suggestion!r}" if suggestion else ""
        raise ValidationError(f"domain {name!r} is not ASCII{hint}")
    if name.endswith(".") and name != ".":
        raise ValidationError(
            f"domain {name!r} ends with a dot; give it without the trailing dot "
            f"({name.rstrip('.')!r})"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"domain {name[:40]!r}... is {len(name)} bytes long; DNS allows at most "
            f"{MAX_NAME_LENGTH}"
        )
    labels = _check_labels(name, "domain", underscore=allow_underscore)
    if labels[-1].isdigit():
        raise ValidationError(
            f"domain {name!r} looks like an IP address or ends in a numeric label; "
            "a domain name is needed here"
        )
    if len(labels) < 2 and not allow_single_label:
        raise ValidationError(
            f"domain {name!r} has a single label; give the full domain (for example "
            f"{name + '.example'!r} is two labels)"
        )
    return name.lower()


def validate_selector(selector: str) -> str:
    """Return ``selector`` if it is one or more LDH labels joined by dots, else raise.

    The selector becomes a file name (``SELECTOR.private``) and a DNS label, so ``/``, ``..``,
    spaces and shell or KeyTable metacharacters are refused.  Case is kept: the file name on disk
    is whatever the user chose, and DNS does not care.
    """
    if not isinstance(selector, str):
        raise ValidationError(f"selector must be text, not {type(selector).__name__}")
    if not selector.isascii():
        suggestion = _suggest_a_label(selector)
        hint = f"; use the A-label form {suggestion!r}" if suggestion else ""
        raise ValidationError(f"selector {selector!r} is not ASCII{hint}")
    if selector.endswith("."):
        raise ValidationError(f"selector {selector!r} ends with a dot")
    _check_labels(selector, "selector")
    if len(selector) > MAX_NAME_LENGTH - len("._domainkey.") - 2:
        raise ValidationError(f"selector {selector!r} is too long to fit in a DNS name")
    return selector


def validate_email(address: str) -> str:
    """Return ``address`` (domain lower-cased) if it is a safe ``local@domain`` address, else raise.

    Used for DMARC ``rua``/``ruf`` destinations.  The local part is restricted to letters, digits
    and ``. _ + = -`` (dot-separated, no leading, trailing or doubled dots): quoted local parts and
    the rarer RFC 5322 characters are refused because they are metacharacters in the DMARC URI
    list (``!`` and ``,``), in shells and in zone files.
    """
    if not isinstance(address, str):
        raise ValidationError(f"email address must be text, not {type(address).__name__}")
    if address.lower().startswith("mailto:"):
        raise ValidationError(
            f"email address {address!r} starts with 'mailto:'; give the bare address"
        )
    if address.count("@") != 1:
        raise ValidationError(f"email address {address!r} must contain exactly one '@'")
    local, domain = address.split("@")
    if local == "":
        raise ValidationError(f"email address {address!r} has an empty local part")
    if len(local.encode()) > MAX_LOCAL_PART_LENGTH:
        raise ValidationError(
            f"email address {address!r}: the local part is longer than "
            f"{MAX_LOCAL_PART_LENGTH} bytes"
        )
    if not _LOCAL_PART.match(local):
        if ".." in local or local.startswith(".") or local.endswith("."):
            reason = "dots may not lead, trail or repeat"
        else:
            reason = _describe_bad_characters(local, "._+=-")
        raise ValidationError(
            f"email address {address!r}: local part {local!r} is refused ({reason}); "
            "use letters, digits and . _ + = -"
        )
    try:
        domain = validate_domain(domain)
    except ValidationError as exc:
        raise ValidationError(f"email address {address!r}: {exc}") from None
    return f"{local}@{domain}"
