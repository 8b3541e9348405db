"""DNS record builders, their three renderings, and the name validation they rely on."""

from __future__ import annotations

import json

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailconf.dns.records import (
    Record,
    dkim_record,
    dmarc_record,
    render_json,
    render_one_line,
    render_zone,
    spf_record,
    split_character_strings,
)
from mailconf.errors import ValidationError
from mailconf.keys import DkimKey, generate_key
from mailconf.names import validate_domain, validate_email, validate_selector


@pytest.fixture(scope="module")
def rsa_key() -> DkimKey:
    return generate_key()[0]


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("example.com", "example.com"),
        ("Mail.Example.COM", "mail.example.com"),
        ("a-b.example.test", "a-b.example.test"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("1and1.com", "1and1.com"),
    ],
)
def test_valid_domains(name: str, expected: str) -> None:
    assert validate_domain(name) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("example.com.", "trailing dot"),
        ("../../etc", "empty label"),
        ("a;b.com", "';'"),
        ("a/b.com", "'/'"),
        ("a b.com", "' '"),
        ("$(id).com", "'\\$'"),
        ("`id`.com", "'`'"),
        ("-a.com", "start or end with '-'"),
        ("a-.com", "start or end with '-'"),
        ("a..com", "empty label"),
        ("", "empty"),
        ("localhost", "single label"),
        ("192.0.2.1", "IP address"),
        ("x" * 64 + ".com", "at most 63"),
        (".".join(["a" * 60] * 5), "at most 253"),
        ("under_score.com", "'_'"),
        ("xn--zz.example", "not a valid IDN A-label"),
    ],
)
def test_invalid_domains(name: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_domain(name)


def test_unicode_domain_suggests_the_a_label() -> None:
    with pytest.raises(ValidationError, match=r"xn--bcher-kva\.example"):
        validate_domain("bücher.example")


def test_single_label_and_underscore_when_allowed() -> None:
    assert validate_domain("localhost", allow_single_label=True) == "localhost"
    assert validate_domain("_spf.Example.com", allow_underscore=True) == "_spf.example.com"
    with pytest.raises(ValidationError, match="'/'"):
        validate_domain("_spf/x.example.com", allow_underscore=True)


@pytest.mark.parametrize("selector", ["default", "s2024", "mail.2024", "a-b"])
def test_valid_selectors(selector: str) -> None:
    assert validate_selector(selector) == selector


@pytest.mark.parametrize(
    "selector", ["../x", "a/b", "a;b", "a b", "a#b", "a:b", "", "sel.", "-x", "ä", "*"]
)
def test_invalid_selectors(selector: str) -> None:
    with pytest.raises(ValidationError):
        validate_selector(selector)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("dmarc@example.com", "dmarc@example.com"),
        ("dmarc-reports+agg@Example.COM", "dmarc-reports+agg@example.com"),
        ("first.last@example.com", "first.last@example.com"),
    ],
)
def test_valid_emails(address: str, expected: str) -> None:
    assert validate_email(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "noat.example.com",
        "a@b@example.com",
        "@example.com",
        "a b@example.com",
        "a;b@example.com",
        "a!b@example.com",
        "a,b@example.com",
        "a$(id)@example.com",
        ".a@example.com",
        "a..b@example.com",
        "a@example.com.",
        "a@../etc",
        "mailto:a@example.com",
        '"quoted"@example.com',
    ],
)
def test_invalid_emails(address: str) -> None:
    with pytest.raises(ValidationError):
        validate_email(address)


# --- splitting --------------------------------------------------------------------------------


def test_split_on_255_bytes() -> None:
    assert split_character_strings("a" * 600) == ("a" * 255, "a" * 255, "a" * 90)
    assert split_character_strings("") == ("",)
    assert split_character_strings("abc") == ("abc",)


def test_split_never_breaks_utf8() -> None:
    pieces = split_character_strings("a" + "é" * 200)
    assert all(len(p.encode()) <= 255 for p in pieces)
    assert "".join(pieces) == "a" + "é" * 200
    assert len(pieces[0].encode()) == 255  # 'a' + 127 two-byte characters


@given(st.text(max_size=1200))
def test_split_property(text: str) -> None:
    pieces = split_character_strings(text)
    assert "".join(pieces) == text
    assert all(len(p.encode("utf-8", "surrogatepass")) <= 255 for p in pieces)


# --- SPF --------------------------------------------------------------------------------------


def test_spf_basic() -> None:
    record, findings = spf_record("example.com", ["203.0.113.5", "2001:db8::25"])
    assert record.name == "example.com"
    assert record.type == "TXT"
    # 2001:db8::/32 is documentation space, hence the warning for it only.
    assert record.value == "v=spf1 ip4:203.0.113.5 ip6:2001:db8::25 ~all"
    assert "+" not in record.value
    assert record.strings == (record.value,)
    assert {f.code for f in findings} <= {"spf.private-address"}


def test_spf_networks_hard_fail_mx_include() -> None:
    record, _ = spf_record(
        "example.com",
        ["198.51.100.0/24", "2001:db8:1::/48", "198.51.100.0/24"],
        hard_fail=True,
        mx=True,
        include=["_spf.provider.example"],
    )
    assert record.value == (
        "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:1::/48 mx include:_spf.provider.example -all"
    )


def test_spf_warns_about_private_addresses() -> None:
    _, findings = spf_record("example.com", ["10.0.0.1"])
    assert [f.code for f in findings] == ["spf.private-address"]
    _, findings = spf_record("example.com", ["8.8.8.8"])
    assert findings == []


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        (["300.1.1.1"], "not an IP address"),
        (["192.0.2.1/24"], "did you mean 192.0.2.0/24"),
        (["example.com"], "not an IP address"),
        ([], "at least one"),
        ("192.0.2.1", "list"),
        (["1.2.3.4 ~all"], "not an IP address"),
    ],
)
def test_spf_refuses_bad_input(addresses: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spf_record("example.com", addresses)


# --- DKIM -------------------------------------------------------------------------------------


def test_dkim_rsa_record(rsa_key: DkimKey) -> None:
    record, findings = dkim_record("default", "Example.com", rsa_key)
    assert findings == []
    assert record.name == "default._domainkey.example.com"
    assert record.value == f"v=DKIM1; h=sha256; k=rsa; p={rsa_key.public_value()}"
    assert len(record.strings) == 2
    assert all(len(s.encode()) <= 255 for s in record.strings)
    assert "".join(record.strings) == record.value


def test_dkim_ed25519_and_testing_records() -> None:
    key, _ = generate_key("ed25519")
    record, _ = dkim_record("ed", "example.com", key, testing=True)
    assert record.value == f"v=DKIM1; k=ed25519; t=y; p={key.public_value()}"
    assert len(record.strings) == 1


def test_dkim_short_key_warns() -> None:
    key, _ = generate_key("rsa", 1024)
    _, findings = dkim_record("old", "example.com", key)
    assert [f.code for f in findings] == ["dkim.key-short"]


def test_dkim_refuses_bad_selector(rsa_key: DkimKey) -> None:
    with pytest.raises(ValidationError):
        dkim_record("../x", "example.com", rsa_key)


# --- DMARC ------------------------------------------------------------------------------------


def test_dmarc_minimal() -> None:
    record, findings = dmarc_record("example.com")
    assert record.name == "_dmarc.example.com"
    assert record.value == "v=DMARC1; p=none"
    assert findings == []


def test_dmarc_full_order() -> None:
    record, findings = dmarc_record(
        "example.com",
        "reject",
        rua=["dmarc@example.com", "mailto:agg@reports.example"],
        ruf=["forensic@example.com"],
        fo="1:d",
        adkim="s",
        aspf="r",
        sp="quarantine",
    )
    assert record.value == (
        "v=DMARC1; p=reject; rua=mailto:dmarc@example.com,mailto:agg@reports.example; "
        "ruf=mailto:forensic@example.com; fo=1:d; adkim=s; aspf=r; sp=quarantine"
    )
    assert findings == []


def test_dmarc_obsolete_tags_warn() -> None:
    record, findings = dmarc_record("example.com", "quarantine", pct=50, rf="afrf", ri=86400)
    assert record.value == "v=DMARC1; p=quarantine; pct=50; rf=afrf; ri=86400"
    assert [f.code for f in findings] == ["dmarc.obsolete-tag"] * 3
    assert all(f.severity.value == "warning" for f in findings)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"policy": "block"},
        {"sp": "nothing"},
        {"rua": ["not an address"]},
        {"rua": ["a;p=reject@example.com"]},
        {"ruf": ["a,b@example.com"]},
        {"fo": "2"},
        {"adkim": "x"},
        {"pct": 101},
        {"ri": 0},
    ],
)
def test_dmarc_refuses_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        dmarc_record("example.com", **kwargs)  # type: ignore[arg-type]


def test_no_adsp_anywhere(rsa_key: DkimKey) -> None:
    records = [
        spf_record("example.com", ["192.0.2.1"])[0],
        dkim_record("default", "example.com", rsa_key)[0],
        dmarc_record("example.com")[0],
    ]
    assert not any("adsp" in r.name or "dkim=" in r.value for r in records)


# --- rendering --------------------------------------------------------------------------------


def test_zone_rendering_parses_back(rsa_key: DkimKey) -> None:
    records = [
        spf_record("example.com", ["192.0.2.1"])[0],
        dkim_record("default", "example.com", rsa_key)[0],
        dmarc_record("example.com", rua=["d@example.com"])[0],
    ]
    text = render_zone(records)
    lines = text.splitlines()
    assert lines[0] == 'example.com. 3600 IN TXT "v=spf1 ip4:192.0.2.1 ~all"'
    assert lines[1].startswith('default._domainkey.example.com. 3600 IN TXT ( "v=DKIM1; ')
    assert lines[1].endswith('" )')
    # dnspython reads it back to the same character-strings.
    zone_text = "$ORIGIN example.com.\n@ 3600 IN SOA ns hostmaster 1 2 3 4 5\n@ 3600 IN NS ns\n"
    zone = dns.zone.from_text(zone_text + text, origin="example.com.", relativize=False)
    for record in records:
        rdataset = zone.find_rdataset(record.name + ".", dns.rdatatype.TXT)
        (rdata,) = list(rdataset)
        assert tuple(s.decode() for s in rdata.strings) == record.strings


def test_zone_rendering_escapes_quotes_and_backslashes() -> None:
    record = Record("x.example.com", 'a "b" \\ c')
    assert render_zone([record], ttl=60) == 'x.example.com. 60 IN TXT "a \\"b\\" \\\\ c"\n'
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, '"a \\"b\\" \\\\ c"')
    assert getattr(rdata, "strings", None) == (b'a "b" \\ c',)


def test_one_line_rendering(rsa_key: DkimKey) -> None:
    record = dkim_record("default", "example.com", rsa_key)[0]
    text = render_one_line([record])
    assert text == f"default._domainkey.example.com\tTXT\t{record.value}\n"
    assert '"' not in text


def test_json_rendering() -> None:
    record = dmarc_record("example.com", "none")[0]
    data = json.loads(render_json([record]))
    assert data == [
        {
            "name": "_dmarc.example.com",
            "type": "TXT",
            "value": "v=DMARC1; p=none",
            "strings": ["v=DMARC1; p=none"],
        }
    ]
