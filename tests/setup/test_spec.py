"""The Setup spec: TOML, flags, Python; hostile input refused before anything is planned."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from example_tree import EXAMPLE_TOML
from mailconf.errors import ValidationError
from mailconf.setup import Domain, Setup


def test_example_toml() -> None:
    setup = Setup.from_toml(EXAMPLE_TOML)
    assert setup.domains == (Domain("hogehoge.com", "default"),)
    assert setup.ips == (ipaddress.ip_address("192.0.2.10"), ipaddress.ip_address("2001:db8::10"))
    assert setup.hostname == "mail.hogehoge.com"
    assert setup.dmarc_report == "dmarc-reports@hogehoge.com"
    assert (setup.rsa_bits, setup.ed25519, setup.socket_style) == (2048, False, "unix")
    assert [k.key_name for k in setup.keys] == ["default._domainkey.hogehoge.com"]


def test_flags_match_toml() -> None:
    flags = Setup.from_flags(
        domain="hogehoge.com",
        ip=["192.0.2.10", "2001:db8::10"],
        hostname="mail.hogehoge.com",
        dmarc_report="dmarc-reports@hogehoge.com",
    )
    assert flags == Setup.from_toml(EXAMPLE_TOML)


def test_several_domains_own_selectors_and_ed25519() -> None:
    setup = Setup(
        domains=[Domain("a.example", "s1"), Domain("b.example", "s2", ed25519_selector="ed")],
        ed25519=True,
    )
    assert [(k.key_name, k.algorithm) for k in setup.keys] == [
        ("s1._domainkey.a.example", "rsa"),
        ("s1-ed25519._domainkey.a.example", "ed25519"),
        ("s2._domainkey.b.example", "rsa"),
        ("ed._domainkey.b.example", "ed25519"),
    ]
    assert setup.multiple_signatures


def test_multi_domain_toml() -> None:
    setup = Setup.from_toml_text(
        'ips = ["198.51.100.7"]\n[[domain]]\nname = "a.example"\n'
        '[[domain]]\nname = "b.example"\nselector = "mail2024"\n'
        '[sockets]\nstyle = "inet"\nopendkim_port = 12301\n'
        '[opendkim]\nresolver_configuration = "/etc/unbound/opendkim.conf"\n'
    )
    assert [d.selector for d in setup.domains] == ["default", "mail2024"]
    assert (setup.socket_style, setup.opendkim_port, setup.opendmarc_port) == ("inet", 12301, 8893)
    assert setup.resolver_configuration == "/etc/unbound/opendkim.conf"


def test_key_sizes() -> None:
    assert Setup(domains=["a.example"], rsa_bits=1024).findings()[0].code == "dkim.key-short"
    assert Setup(domains=["a.example"]).findings() == []
    with pytest.raises(ValidationError, match="too small"):
        Setup(domains=["a.example"], rsa_bits=512)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"domain": "../../etc"}, "empty label"),
        ({"domain": "hogehoge.com."}, "ends with a dot"),
        ({"domain": "ほげほげ.com"}, "xn--"),
        ({"domain": "a b.com"}, "not a host name label"),
        ({"domain": "hogehoge.com", "selector": "a;b"}, "selector 'a;b'"),
        ({"domain": "hogehoge.com", "selector": "../x"}, "selector"),
        ({"domain": "hogehoge.com", "ip": ["300.1.1.1"]}, "not an IPv4 or IPv6"),
        ({"domain": "hogehoge.com", "dmarc_policy": "block"}, "DMARC policy"),
        ({"domain": "hogehoge.com", "dmarc_report": "a,b@x.com"}, "local part"),
        ({"domain": "hogehoge.com", "hostname": "vm"}, "single label"),
        ({"domain": "hogehoge.com", "resolver_configuration": "/etc/x#y"}, "'#'"),
        ({"domain": "hogehoge.com", "resolver_configuration": "/etc/../x"}, "'..'"),
        ({"domain": "hogehoge.com", "socket_style": "tcp"}, "socket style"),
    ],
)
def test_hostile_input_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Setup.from_flags(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[domain]]\nname = 'a.example'\ncolour = 'red'\n", "unknown key"),
        ("domains = []\n", "unknown key"),
        ("ips = []\n", "at least one"),
        ("[[domain]]\nname = 'a.example'\n[dkim]\nrsa_bits = '2048'\n", "integer"),
        ("[[domain]]\nname = 'a.example'\n[[domain]]\nname = 'A.example'\n", "twice"),
        ("[[domain]\n", "not valid TOML"),
        (
            "[[domain]]\nname = 'a.example'\n[sockets]\nstyle='inet'\nopendmarc_port=8891\n",
            "same port",
        ),
    ],
)
def test_bad_toml(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Setup.from_toml_text(text)


def test_toml_error_names_file(tmp_path: Path) -> None:
    path = tmp_path / "mailconf.toml"
    path.write_text("[[domain]]\nname = 'x..y'\n")
    with pytest.raises(ValidationError, match=str(path)):
        Setup.from_toml(path)


def test_spf_table_and_ips_required() -> None:
    base = "[[domain]]\nname = 'a.example'\n"
    setup = Setup.from_toml_text(
        "ips = ['192.0.2.1']\n" + base + "[spf]\ninclude = ['_spf.example.net']\nall = '-all'\n"
    )
    assert (setup.spf_include, setup.spf_all) == (("_spf.example.net",), "-all")
    assert Setup.from_toml_text("ips = ['192.0.2.1']\n" + base).spf_all == "~all"
    with pytest.raises(ValidationError, match="ips is required"):
        Setup.from_toml_text(base)
    with pytest.raises(ValidationError, match="ips is required"):
        Setup.from_toml_text("ips = []\n" + base)
    for bad, message in (("all = '+all'", "whole Internet"), ("colour = 1", "unknown key")):
        with pytest.raises(ValidationError, match=message):
            Setup.from_toml_text("ips = ['192.0.2.1']\n" + base + "[spf]\n" + bad + "\n")
