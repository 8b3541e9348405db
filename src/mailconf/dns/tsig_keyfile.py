"""Reading the TSIG key that signs a dynamic update, from a BIND key file.

The file is read as ``nsupdate -k`` reads BIND's ``key`` statements (what ``tsig-keygen`` and
``ddns-confgen -q`` print), through :mod:`mailconf.walk` like every file mailconf reads as root: a
symlink owned by another user is refused, and so is a key file others may write.  A key every user
may read is used, with a ``dns.tsig-key-readable`` warning.

Kept apart from :mod:`mailconf.dns.update` because reading and checking a secret from disk is a
concern of its own (file safety, BIND's syntax), independent of how the update is planned and sent.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from collections.abc import Iterator
from typing import Final

import attrs
import dns.exception
import dns.name
import dns.tsig

from mailconf.errors import ParseError, ReadError, ValidationError
from mailconf.fileio import decode
from mailconf.findings import Finding, Severity
from mailconf.walk import walk

__all__ = ["MAX_KEY_FILE", "TsigKey", "parse_tsig_keys", "read_tsig_key"]

#: A key file is a few lines; anything larger is not one.
MAX_KEY_FILE: Final = 64 * 1024


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
