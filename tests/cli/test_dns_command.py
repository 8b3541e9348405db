"""`mailconf dns`: the records to publish, from the spec and the keys an apply wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from example_tree import EXAMPLE_TOML, copy_example, mailconf_cli, require_root_to_apply
from mailconf.keys import load_private_key


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_root_to_apply()
    root = copy_example(tmp_path_factory.mktemp("dns") / "root")
    done = mailconf_cli(
        "apply", "--yes", "--root", root, "--config", EXAMPLE_TOML, "-q", timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def dns(root: Path, *extra: str) -> str:
    result = mailconf_cli("dns", "--root", root, "--config", EXAMPLE_TOML, *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_json_records_match_the_local_key(applied: Path) -> None:
    records = json.loads(dns(applied, "--format", "json"))
    by_name = {r["name"]: r for r in records}
    assert set(by_name) == {
        "hogehoge.com",
        "default._domainkey.hogehoge.com",
        "_dmarc.hogehoge.com",
    }
    assert by_name["hogehoge.com"]["value"].startswith("v=spf1 ip4:192.0.2.10")
    assert "+" not in by_name["hogehoge.com"]["value"]
    dmarc = by_name["_dmarc.hogehoge.com"]["value"]
    assert dmarc.startswith("v=DMARC1; p=")
    dkim = by_name["default._domainkey.hogehoge.com"]
    key = load_private_key(applied / "etc/opendkim/keys/hogehoge.com/default.private")
    assert dkim["value"] == f"v=DKIM1; h=sha256; k=rsa; p={key.public_value()}"
    assert "".join(dkim["strings"]) == dkim["value"]
    assert all(len(s.encode()) <= 255 for r in records for s in r["strings"])
    assert not any("_adsp" in r["name"] for r in records)


def test_zone_and_line_forms(applied: Path) -> None:
    zone = dns(applied)
    assert 'default._domainkey.hogehoge.com. 3600 IN TXT ( "v=DKIM1;' in zone
    line = dns(applied, "--format", "line")
    assert len(line.strip().splitlines()) == 3
    assert "_adsp" not in zone + line


def test_hard_fail_on_request(applied: Path) -> None:
    assert "-all" in dns(applied, "--format", "line", "--hard-fail")


def test_json_flag_spf_include_and_the_report_authorisation(applied: Path, tmp_path: Path) -> None:
    spec = tmp_path / "mailconf.toml"
    spec.write_text(
        EXAMPLE_TOML.read_text().replace("dmarc-reports@hogehoge.com", "reports@dmarc.example.net")
        + '\n[spf]\ninclude = ["_spf.example.net"]\nall = "-all"\n'
    )
    result = mailconf_cli("dns", "--root", applied, "--config", spec, "--json")
    assert result.returncode == 0, result.stderr
    by_name = {r["name"]: r["value"] for r in json.loads(result.stdout)}  # --json = --format json
    assert by_name["hogehoge.com"] == (
        "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 include:_spf.example.net -all"
    )
    assert "rua=mailto:reports@dmarc.example.net" in by_name["_dmarc.hogehoge.com"]
    assert "[dmarc.report-authorisation]" in result.stderr
    assert 'hogehoge.com._report._dmarc.dmarc.example.net. IN TXT "v=DMARC1"' in result.stderr
