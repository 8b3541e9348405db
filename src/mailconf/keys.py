"""DKIM signing keys, generated and read in Python with ``cryptography``.

Why not run ``opendkim-genkey``: it is a Perl script around ``openssl genrsa`` that writes into the
current directory with the process umask, only knows RSA, and mailconf would have to parse its
output anyway.  We write the same two files it writes, in the same shape, so an administrator who
knows the Debian layout finds what they expect:

* ``SELECTOR.private``: the key as PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``), which is what
  ``openssl genrsa`` from OpenSSL 3 (Debian 12) writes and what opendkim-genkey therefore leaves;
  mode 0600, owned by whoever the caller says (normally ``opendkim``).
* ``SELECTOR.txt``: the zone-file stub, byte for byte the layout of opendkim-genkey 2.11::

    default._domainkey<TAB>IN<TAB>TXT<TAB>( "v=DKIM1; h=sha256; k=rsa; "
    <TAB>  "p=<250 characters>"
    <TAB>  "<the rest>" )  ; ----- DKIM key default for example.com

Key sizes: RFC 8301 forbids signing with keys under 1024 bits and asks for at least 2048, so 2048 is
the default, 1024 is allowed with a ``dkim.key-short`` warning (some DNS panels cannot hold a longer
record) and anything shorter is refused.  Above 4096 bits verifiers are not required to cope.

Ed25519 (RFC 8463) keys are supported too; their public value is the raw 32-byte key, not a
SubjectPublicKeyInfo.  Receivers that do not know ed25519 ignore such a signature, so it is meant to
sit beside an RSA key, never to replace it.

What DNS needs (the record to publish, the comparison with the published one) is only the public
half, :class:`DkimPublicKey`.  :func:`load_public_key` reads it from the private key when the
process may, and otherwise from ``SELECTOR.txt`` beside it, so that ``mailconf dns`` and ``check``
work for a user who may read the 0644 stub but not the 0600 key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Literal

import attrs
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailconf import fileio
from mailconf.errors import ReadError, ValidationError
from mailconf.findings import Finding, Severity
from mailconf.names import validate_domain, validate_selector

__all__ = [
    "DEFAULT_RSA_BITS",
    "DkimKey",
    "DkimPublicKey",
    "KeyAlgorithm",
    "KeyFiles",
    "PrivateKey",
    "check_rsa_bits",
    "ensure_key_pair",
    "generate_key",
    "key_file_paths",
    "load_private_key",
    "load_private_key_bytes",
    "load_public_key",
    "public_key_from_txt",
    "txt_stub",
]

KeyAlgorithm = Literal["rsa", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

DEFAULT_RSA_BITS = 2048
MIN_RSA_BITS = 1024
MAX_RSA_BITS = 4096
# opendkim-genkey cuts p= into pieces of 250 characters (the first string is then "p=" + 250).
_GENKEY_CHUNK = 250


@attrs.frozen
class DkimPublicKey:
    """The public half of a DKIM key: everything DNS needs to know about it."""

    public_key: PublicKey = attrs.field(repr=False)

    @property
    def algorithm(self) -> KeyAlgorithm:
        """The DKIM ``k=`` value: ``rsa`` or ``ed25519``."""
        return "ed25519" if isinstance(self.public_key, ed25519.Ed25519PublicKey) else "rsa"

    @property
    def bits(self) -> int:
        """Key size in bits (256 for ed25519), as ``dkim=pass (2048-bit key)`` reports it."""
        if isinstance(self.public_key, rsa.RSAPublicKey):
            return self.public_key.key_size
        return 256

    def public_key_bytes(self) -> bytes:
        """What ``p=`` encodes: DER SubjectPublicKeyInfo for RSA, the raw 32 bytes for ed25519."""
        if isinstance(self.public_key, ed25519.Ed25519PublicKey):
            return self.public_key.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        return self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_value(self) -> str:
        """The base64 text of the DKIM record's ``p=`` tag."""
        return base64.b64encode(self.public_key_bytes()).decode("ascii")

    def findings(self) -> list[Finding]:
        """Findings about the key itself: ``dkim.key-short``, an error under 1024 bits and a
        warning under 2048."""
        if self.algorithm == "rsa":
            return _rsa_bits_findings(self.bits)
        return []


@attrs.frozen(init=False)
class DkimKey(DkimPublicKey):
    """A DKIM private key (and, as a :class:`DkimPublicKey`, its public half)."""

    private_key: PrivateKey = attrs.field(repr=False)

    def __init__(self, private_key: PrivateKey) -> None:
        self.__attrs_init__(private_key.public_key(), private_key)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM, the format of ``SELECTOR.private``."""
        return self.private_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.NoEncryption(),
        )


@attrs.frozen
class KeyFiles:
    """The outcome of :func:`ensure_key_pair`.

    ``created`` is False when a private key already existed: it was loaded and kept, never replaced,
    because replacing a published key breaks every signature until DNS catches up.
    """

    private_path: Path
    txt_path: Path
    key: DkimKey
    created: bool
    findings: tuple[Finding, ...] = ()


def _rsa_bits_findings(bits: int) -> list[Finding]:
    if bits < MIN_RSA_BITS:
        # Only reachable for a key read from disk: generate_key refuses these sizes.
        return [
            Finding(
                Severity.ERROR,
                "dkim.key-short",
                f"{bits}-bit RSA key: RFC 8301 verifiers reject signatures from keys under "
                f"{MIN_RSA_BITS} bits",
                fix=f"generate a {DEFAULT_RSA_BITS}-bit key under a new selector and publish it",
            )
        ]
    if bits < DEFAULT_RSA_BITS:
        return [
            Finding(
                Severity.WARNING,
                "dkim.key-short",
                f"{bits}-bit RSA key: RFC 8301 asks for at least {DEFAULT_RSA_BITS} bits, and "
                "some receivers treat shorter keys as weak",
                fix=f"generate a {DEFAULT_RSA_BITS}-bit key under a new selector and publish it",
            )
        ]
    return []


def check_rsa_bits(bits: int) -> list[Finding]:
    """Refuse an unusable RSA size; return a ``dkim.key-short`` warning for 1024..2047 bits."""
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise ValidationError(f"RSA key size must be an integer, not {bits!r}")
    if bits < MIN_RSA_BITS:
        raise ValidationError(
            f"RSA key size {bits} is too small: RFC 8301 forbids DKIM keys under {MIN_RSA_BITS} "
            f"bits (use {DEFAULT_RSA_BITS})"
        )
    if bits > MAX_RSA_BITS:
        raise ValidationError(
            f"RSA key size {bits} is too large: verifiers are only required to handle up to "
            f"{MAX_RSA_BITS} bits (RFC 8301)"
        )
    if bits % 8:
        raise ValidationError(f"RSA key size {bits} is not a multiple of 8")
    return _rsa_bits_findings(bits)


def generate_key(
    algorithm: KeyAlgorithm = "rsa", bits: int = DEFAULT_RSA_BITS
) -> tuple[DkimKey, list[Finding]]:
    """Generate a new DKIM key; ``bits`` is ignored for ed25519.

    Returns the key and warnings (``dkim.key-short`` for a 1024-bit RSA key); raises
    ValidationError for an unknown algorithm or an RSA size outside 1024..4096.
    """
    if algorithm == "ed25519":
        return DkimKey(ed25519.Ed25519PrivateKey.generate()), []
    if algorithm != "rsa":
        raise ValidationError(f"unknown DKIM key algorithm {algorithm!r}; use 'rsa' or 'ed25519'")
    findings = check_rsa_bits(bits)
    return DkimKey(rsa.generate_private_key(public_exponent=65537, key_size=bits)), findings


def load_private_key_bytes(data: bytes, *, source: str = "<bytes>") -> DkimKey:
    """Read a DKIM private key in any form OpenDKIM reads (PEM PKCS#8 or PKCS#1, or DER).

    An encrypted key is refused: OpenDKIM has no way to get a passphrase and would fail to sign.
    """
    try:
        if data.lstrip().startswith(b"-----"):
            loaded = serialization.load_pem_private_key(data, password=None)
        else:
            loaded = serialization.load_der_private_key(data, password=None)
    except TypeError:
        raise ValidationError(
            f"{source}: the private key is encrypted; OpenDKIM needs an unencrypted key"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{source}: not a readable private key ({exc})") from None
    if isinstance(loaded, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        return DkimKey(loaded)
    raise ValidationError(
        f"{source}: a {type(loaded).__name__} key cannot sign DKIM; use RSA or ed25519"
    )


def load_private_key(path: str | os.PathLike[str]) -> DkimKey:
    """Read a ``SELECTOR.private`` file; see :func:`load_private_key_bytes`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReadError.from_os_error(path, exc, "read the private key") from None
    return load_private_key_bytes(data, source=os.fspath(path))


def load_public_key(private_path: str | os.PathLike[str]) -> DkimPublicKey:
    """The public half of the key at ``private_path``, for DNS.

    From the private key when this process may read it (a :class:`DkimKey` then), else from the
    ``SELECTOR.txt`` stub beside it, which opendkim-genkey and mailconf write with mode 0644 while
    the key itself is 0600.  Raises FileNotFoundError when there is no private key (a ``.txt``
    alone is no key: OpenDKIM could not sign with it), :class:`ReadError` naming both files and
    the permission in the way when neither can be read, and :class:`ValidationError` for a file
    that is not a key.
    """
    path = Path(private_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except PermissionError as denied:
        txt = path.with_suffix(".txt")
        try:
            text = txt.read_text(encoding="ascii", errors="replace")
        except OSError as error:
            why = access_problem(path)
            if not isinstance(error, PermissionError):
                txt_why = f"{txt}: {error.strerror}"
            elif access_problem(txt) == why:
                txt_why = f"{txt}, for the same reason"
            else:
                txt_why = f"{txt}: {error.strerror} ({access_problem(txt)})"
            raise ReadError(
                f"{path}: cannot read the private key: {denied.strerror} ({why}), nor its public "
                f"half {txt_why}; run this as root or as the key's owner"
            ) from None
        return public_key_from_txt(text, source=os.fspath(txt))
    except OSError as error:
        raise ReadError.from_os_error(path, error, "read the private key") from None
    return load_private_key_bytes(data, source=os.fspath(path))


def access_problem(path: Path) -> str:
    """Why this process may not read ``path``: the first directory it may not enter, or the
    file's own mode (as much as can be seen without the permission)."""
    uid = os.geteuid()
    for directory in reversed(path.parents):
        if not os.access(directory, os.X_OK):
            return f"{_describe(directory)}, which uid {uid} may not enter"
    return f"{_describe(path)}, which uid {uid} may not read"


def _describe(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path}"
    return f"{path} is mode {stat.S_IMODE(st.st_mode):04o} owned by uid {st.st_uid}"


def public_key_from_txt(text: str, *, source: str = "<text>") -> DkimPublicKey:
    """The public key in a ``SELECTOR.txt`` zone-file stub (opendkim-genkey's or ours).

    The record is the concatenation of the quoted strings (``;`` outside quotes starts a comment);
    its ``k=`` and ``p=`` tags give the key.
    """
    from mailconf.dns.tags import parse_tag_list  # the DKIM tag-list syntax, defined once

    try:
        tags = dict(parse_tag_list("".join(_zone_strings(text))))
        algorithm = tags.get("k", "rsa")
        published = base64.b64decode("".join(tags.get("p", "").split()), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValidationError(f"{source}: not a DKIM key record ({exc})") from None
    if not published:
        raise ValidationError(f"{source}: the record has no public key (p=)")
    try:
        if algorithm == "ed25519":
            return DkimPublicKey(ed25519.Ed25519PublicKey.from_public_bytes(published))
        if algorithm == "rsa":
            loaded = serialization.load_der_public_key(published)
            if isinstance(loaded, rsa.RSAPublicKey):
                return DkimPublicKey(loaded)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{source}: p= is not a {algorithm} public key ({exc})") from None
    raise ValidationError(f"{source}: p= is not a {algorithm} public key")


def _zone_strings(text: str) -> list[str]:
    """The quoted strings of zone-file text, unescaped (``\\X`` is X, ``\\DDD`` a byte)."""
    strings: list[str] = []
    current: list[str] | None = None
    index = 0
    while index < len(text):
        char = text[index]
        if current is None:
            if char == '"':
                current = []
            elif char == ";":
                newline = text.find("\n", index)
                index = len(text) if newline < 0 else newline
        elif char == '"':
            strings.append("".join(current))
            current = None
        elif char == "\\" and len(digits := text[index + 1 : index + 4]) == 3 and digits.isdigit():
            current.append(chr(int(digits)))
            index += 3
        elif char == "\\" and index + 1 < len(text):
            current.append(text[index + 1])
            index += 1
        else:
            current.append(char)
        index += 1
    if current is not None:
        raise ValueError("a quoted string is not closed")
    return strings


def _record_head(key: DkimKey) -> str:
    # The tags before p=, as opendkim-genkey writes them (with the trailing space it keeps).
    if key.algorithm == "ed25519":
        # RFC 8463 section 4.2's example has no h=: ed25519-sha256 is the only ed25519 algorithm.
        return "v=DKIM1; k=ed25519; "
    return "v=DKIM1; h=sha256; k=rsa; "


def txt_stub(selector: str, domain: str, key: DkimKey) -> str:
    """The ``SELECTOR.txt`` zone-file stub, in opendkim-genkey's exact layout."""
    selector = validate_selector(selector)
    domain = validate_domain(domain)
    value = key.public_value()
    chunks = [value[i : i + _GENKEY_CHUNK] for i in range(0, len(value), _GENKEY_CHUNK)] or [""]
    body = '"\n\t  "'.join(chunks)
    return (
        f'{selector}._domainkey\tIN\tTXT\t( "{_record_head(key)}"\n\t  "p={body}" )  '
        f"; ----- DKIM key {selector} for {domain}\n"
    )


def key_file_paths(directory: str | os.PathLike[str], selector: str) -> tuple[Path, Path]:
    """``(DIRECTORY/SELECTOR.private, DIRECTORY/SELECTOR.txt)``; the selector is validated first."""
    selector = validate_selector(selector)
    base = Path(directory)
    return base / f"{selector}.private", base / f"{selector}.txt"


def _write_new(path: Path, data: bytes, *, mode: int, uid: int | None, gid: int | None) -> bool:
    """Create ``path`` with ``data`` unless it exists; True if this call created it.

    The data is first written (fsynced, mode and owner set) under a temporary name by
    :func:`fileio.atomic_write`, then hard-linked into place: ``link`` fails if the name exists,
    so even a concurrent writer can never be overwritten, and the file never appears half-written
    or with a wide mode.
    """
    staging = path.with_name(f".{path.name}.{secrets.token_hex(8)}.mailconf-new")
    fileio.atomic_write(staging, data, mode=mode, uid=uid, gid=gid)
    try:
        os.link(staging, path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
    fileio.fsync_directory(path.parent)
    return True


def ensure_key_pair(
    directory: str | os.PathLike[str],
    selector: str,
    domain: str,
    *,
    algorithm: KeyAlgorithm = "rsa",
    bits: int = DEFAULT_RSA_BITS,
    uid: int | None = None,
    gid: int | None = None,
) -> KeyFiles:
    """Make sure ``DIRECTORY/SELECTOR.private`` and ``SELECTOR.txt`` exist; never replace a key.

    If the private key exists it is loaded and returned (``created=False``) whatever ``algorithm``
    and ``bits`` say, and only a missing ``.txt`` is (re)written from it.  Otherwise a new key is
    generated and written with mode 0600 (the ``.txt`` with 0644), owned by ``uid``/``gid`` when
    given.  The directory must exist: creating it with the right owner and mode is the caller's
    decision (OpenDKIM refuses keys below group- or world-writable directories).
    """
    private_path, txt_path = key_file_paths(directory, selector)
    domain = validate_domain(domain)
    if not private_path.parent.is_dir():
        raise ValidationError(f"{private_path.parent}: key directory does not exist")

    created = False
    findings: list[Finding]
    if private_path.exists():
        key = load_private_key(private_path)
        findings = key.findings()
    else:
        key, findings = generate_key(algorithm, bits)
        created = _write_new(private_path, key.private_pem(), mode=0o600, uid=uid, gid=gid)
        if not created:
            # Somebody else created it between our check and our link: theirs wins.
            key = load_private_key(private_path)
            findings = key.findings()
    if created or not txt_path.exists():
        stub = txt_stub(selector, domain, key).encode("ascii")
        fileio.atomic_write(txt_path, stub, mode=0o644, uid=uid, gid=gid)
    return KeyFiles(private_path, txt_path, key, created, tuple(findings))
