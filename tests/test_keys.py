"""DKIM keys: generation, opendkim-genkey's file layout, loading, public values, safe writing."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailconf.errors import ReadError, ValidationError
from mailconf.keys import (
    DkimKey,
    ensure_key_pair,
    generate_key,
    key_file_paths,
    load_private_key,
    load_private_key_bytes,
    load_public_key,
    public_key_from_txt,
    txt_stub,
)

GENKEY = shutil.which("opendkim-genkey") or "/usr/sbin/opendkim-genkey"

MESSAGE = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: hello\r\n"
    b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
    b"Message-ID: <1@example.test>\r\n"
    b"\r\n"
    b"Hello, Bob.\r\n"
)


@pytest.fixture(scope="module")
def rsa_key() -> DkimKey:
    key, findings = generate_key()
    assert findings == []
    return key


def test_rsa_default_is_2048_bits(rsa_key: DkimKey) -> None:
    assert rsa_key.algorithm == "rsa"
    assert rsa_key.bits == 2048


def test_rsa_1024_is_allowed_with_a_warning() -> None:
    key, findings = generate_key("rsa", 1024)
    assert key.bits == 1024
    assert [f.code for f in findings] == ["dkim.key-short"]
    assert findings[0].severity.value == "warning"
    assert [f.code for f in key.findings()] == ["dkim.key-short"]


@pytest.mark.parametrize("bits", [512, 768, 1023, 8192, 2047])
def test_rsa_bad_sizes_are_refused(bits: int) -> None:
    with pytest.raises(ValidationError):
        generate_key("rsa", bits)


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValidationError, match="ed25519"):
        generate_key("dsa", 2048)  # type: ignore[arg-type]


def test_private_pem_is_pkcs8_like_openssl3(rsa_key: DkimKey) -> None:
    pem = rsa_key.private_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert pem.endswith(b"-----END PRIVATE KEY-----\n")


def test_rsa_public_value_is_der_spki(rsa_key: DkimKey) -> None:
    der = base64.b64decode(rsa_key.public_value())
    public = serialization.load_der_public_key(der)
    assert isinstance(public, rsa.RSAPublicKey)
    assert isinstance(rsa_key.private_key, rsa.RSAPrivateKey)
    assert public.public_numbers() == rsa_key.private_key.public_key().public_numbers()
    # SubjectPublicKeyInfo of a 2048-bit key: the well-known MIIBIjAN... prefix.
    assert rsa_key.public_value().startswith("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")


def test_ed25519_public_value_is_raw_32_bytes() -> None:
    key, findings = generate_key("ed25519")
    assert findings == []
    assert key.algorithm == "ed25519"
    raw = base64.b64decode(key.public_value())
    assert len(raw) == 32
    assert isinstance(key.private_key, ed25519.Ed25519PrivateKey)
    assert raw == key.private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_load_round_trip_and_pkcs1(rsa_key: DkimKey, tmp_path: Path) -> None:
    path = tmp_path / "k.private"
    path.write_bytes(rsa_key.private_pem())
    assert load_private_key(path).public_value() == rsa_key.public_value()
    # Older opendkim-genkey (OpenSSL 1.1) wrote "BEGIN RSA PRIVATE KEY" (PKCS#1).
    pkcs1 = rsa_key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert load_private_key_bytes(pkcs1).public_value() == rsa_key.public_value()
    der = rsa_key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert load_private_key_bytes(der).public_value() == rsa_key.public_value()


def test_load_refuses_encrypted_and_garbage(rsa_key: DkimKey, tmp_path: Path) -> None:
    encrypted = rsa_key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(ValidationError, match="encrypted"):
        load_private_key_bytes(encrypted)
    with pytest.raises(ValidationError, match="not a readable private key"):
        load_private_key_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ReadError, match="cannot read the private key: No such file"):
        load_private_key(tmp_path / "missing.private")


@pytest.fixture
def genkey(tmp_path: Path) -> Path:
    """The directory where the real opendkim-genkey made sel.private and sel.txt (2048 bits)."""
    if not Path(GENKEY).exists():
        pytest.skip("opendkim-genkey (opendkim-tools) missing")
    subprocess.run(
        [GENKEY, "-b", "2048", "-d", "example.test", "-s", "sel", "-D", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    return tmp_path


def test_txt_stub_matches_opendkim_genkey_byte_for_byte(genkey: Path) -> None:
    # Let the real tool make a key, then rebuild its .txt from that key: the bytes must agree.
    theirs = (genkey / "sel.txt").read_text()
    key = load_private_key(genkey / "sel.private")
    assert txt_stub("sel", "example.test", key) == theirs
    # Our PEM serialisation of their key is their file, byte for byte.
    assert key.private_pem() == (genkey / "sel.private").read_bytes()


def test_txt_stub_layout(rsa_key: DkimKey) -> None:
    stub = txt_stub("default", "example.test", rsa_key)
    lines = stub.split("\n")
    assert lines[0] == 'default._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; "'
    assert lines[1].startswith('\t  "p=') and len(lines[1]) == len('\t  "p=') + 250 + 1
    assert lines[2].endswith('" )  ; ----- DKIM key default for example.test')
    assert lines[3] == ""
    joined = "".join(part for part in stub.split('"')[1::2])
    assert joined == f"v=DKIM1; h=sha256; k=rsa; p={rsa_key.public_value()}"


def test_txt_stub_ed25519() -> None:
    key, _ = generate_key("ed25519")
    stub = txt_stub("ed", "example.test", key)
    assert stub == (
        'ed._domainkey\tIN\tTXT\t( "v=DKIM1; k=ed25519; "\n'
        f'\t  "p={key.public_value()}" )  ; ----- DKIM key ed for example.test\n'
    )


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_public_half_read_back_from_the_txt_stub(algorithm: str) -> None:
    key, _ = generate_key(algorithm)  # type: ignore[arg-type]
    public = public_key_from_txt(txt_stub("sel", "example.test", key))
    assert (public.algorithm, public.bits) == (key.algorithm, key.bits)
    assert public.public_key_bytes() == key.public_key_bytes()
    assert public.findings() == key.findings()


def test_public_half_of_opendkim_genkey_output(genkey: Path) -> None:
    public = public_key_from_txt((genkey / "sel.txt").read_text())
    assert public.public_value() == load_private_key(genkey / "sel.private").public_value()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no public key"),
        ('x IN TXT ( "v=DKIM1; k=rsa; p=" )', "no public key"),
        ('x IN TXT ( "v=DKIM1; k=rsa; p=AAAA" )', "not a rsa public key"),
        ('x IN TXT ( "v=DKIM1; k=ed25519; p=AAAA" )', "not a ed25519 public key"),
        ('x IN TXT ( "v=DKIM1; k=rsa; p=!!" )', "not a DKIM key record"),
        ('x IN TXT ( "v=DKIM1; k=rsa; p=AAAA )', "not a DKIM key record"),
        ('x IN TXT ( "v=DKIM1; k=dsa; p=AAAA" )', "not a dsa public key"),
    ],
)
def test_public_half_refuses_what_is_not_a_key(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        public_key_from_txt(text, source="sel.txt")


def test_txt_strings_follow_zone_file_quoting(rsa_key: DkimKey) -> None:
    # A ';' comment may hold quotes, and a string may escape characters (\X and \DDD).
    value = rsa_key.public_value()
    text = f'; "comment"\nx IN TXT ( "v=DKIM1\\059 k=rsa; p={value[:10]}" "{value[10:]}" ) ; "x"'
    assert public_key_from_txt(text).public_value() == value


def test_load_public_key_prefers_the_private_key(rsa_key: DkimKey, tmp_path: Path) -> None:
    (tmp_path / "sel.private").write_bytes(rsa_key.private_pem())
    (tmp_path / "sel.txt").write_text("not even a record")  # never read: the key is readable
    assert isinstance(load_public_key(tmp_path / "sel.private"), DkimKey)
    (tmp_path / "sel.private").unlink()
    with pytest.raises(FileNotFoundError):
        load_public_key(tmp_path / "sel.private")  # a .txt alone is no key


@pytest.mark.parametrize("selector", ["../../etc", "a;b", "a/b", "a b", "$(id)", "", "a..b"])
def test_key_paths_refuse_unsafe_selectors(selector: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        key_file_paths(tmp_path, selector)


def test_ensure_key_pair_creates_0600_and_never_overwrites(tmp_path: Path) -> None:
    first = ensure_key_pair(tmp_path, "default", "example.test", uid=os.getuid(), gid=os.getgid())
    assert first.created
    assert first.private_path == tmp_path / "default.private"
    assert stat.S_IMODE(first.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.txt_path.stat().st_mode) == 0o644
    assert first.txt_path.read_text() == txt_stub("default", "example.test", first.key)
    original = first.private_path.read_bytes()

    second = ensure_key_pair(tmp_path, "default", "example.test", algorithm="ed25519")
    assert not second.created
    assert second.key.public_value() == first.key.public_value()
    assert first.private_path.read_bytes() == original
    # No staging files are left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default.private", "default.txt"]


def test_ensure_key_pair_rewrites_only_a_missing_txt(tmp_path: Path) -> None:
    made = ensure_key_pair(tmp_path, "s1", "example.test")
    made.txt_path.unlink()
    again = ensure_key_pair(tmp_path, "s1", "example.test")
    assert not again.created
    assert again.txt_path.read_text() == txt_stub("s1", "example.test", made.key)


def test_ensure_key_pair_reports_short_existing_key(tmp_path: Path) -> None:
    key, _ = generate_key("rsa", 1024)
    (tmp_path / "old.private").write_bytes(key.private_pem())
    result = ensure_key_pair(tmp_path, "old", "example.test")
    assert not result.created
    assert [f.code for f in result.findings] == ["dkim.key-short"]


def test_ensure_key_pair_needs_the_directory(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        ensure_key_pair(tmp_path / "nope", "default", "example.test")


def _dkim_dns(record: str):  # type: ignore[no-untyped-def]
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"sel._domainkey.example.test."
        return record.encode()

    return lookup


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_dkimpy_signs_and_verifies_with_our_key(algorithm: str, tmp_path: Path) -> None:
    from mailconf.dns.records import dkim_record

    files = ensure_key_pair(tmp_path, "sel", "example.test", algorithm=algorithm)  # type: ignore[arg-type]
    pem = files.private_path.read_bytes()
    if algorithm == "ed25519":
        pytest.importorskip("nacl", reason="dkimpy needs pynacl for ed25519 signing")
        # dkimpy takes the raw 32-byte ed25519 seed, base64-encoded.
        assert isinstance(files.key.private_key, ed25519.Ed25519PrivateKey)
        raw = files.key.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        signing_key = base64.b64encode(raw)
        signature = dkim.sign(
            MESSAGE, b"sel", b"example.test", signing_key, signature_algorithm=b"ed25519-sha256"
        )
    else:
        signature = dkim.sign(MESSAGE, b"sel", b"example.test", pem)
    record, _ = dkim_record("sel", "example.test", files.key)
    assert dkim.verify(signature + MESSAGE, dnsfunc=_dkim_dns(record.value))
    assert not dkim.verify(
        signature + MESSAGE.replace(b"Bob.", b"Eve."), dnsfunc=_dkim_dns(record.value)
    )


def test_openssl_reads_our_key(rsa_key: DkimKey, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    path = tmp_path / "k.private"
    path.write_bytes(rsa_key.private_pem())
    out = subprocess.run(
        [openssl, "pkey", "-in", str(path), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    assert base64.b64encode(out).decode() == rsa_key.public_value()


def test_ed25519_signature_verifies_with_the_published_value() -> None:
    key, _ = generate_key("ed25519")
    assert isinstance(key.private_key, ed25519.Ed25519PrivateKey)
    signature = key.private_key.sign(b"data")
    published = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_value()))
    published.verify(signature, b"data")  # raises InvalidSignature on mismatch


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")
def test_key_under_1024_bits_read_from_disk_is_an_error(tmp_path: Path) -> None:
    """cryptography cannot generate such a key, but an old one on disk can be this short."""
    path = tmp_path / "old.private"
    subprocess.run(["openssl", "genrsa", "-out", str(path), "512"], check=True, capture_output=True)
    key = load_private_key(path)
    assert key.bits == 512
    findings = key.findings()
    assert [(f.code, f.severity.value) for f in findings] == [("dkim.key-short", "error")]
