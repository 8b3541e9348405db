"""The advice for the histories an administrator meets, as an expert would give it.

Each history is four weeks of daily reports from Google and Microsoft for example.com, whose own
server is 192.0.2.10: a clean one (own mail aligned, a little forwarded mail passing on DKIM), one
with a newsletter service (SendGrid) sending as the domain without DKIM for it nor SPF alignment,
and one where the only unaligned mail is spoofing.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from dmarc_samples import Row, gz, report_xml
from mailconf.cli import main
from mailconf.reports.advice import advise, check_reports
from mailconf.reports.summary import summarise

OWN = Row("192.0.2.10", 200, dkim=[("example.com", "pass")], spf=[("example.com", "pass")])
FORWARDED = Row(
    "203.0.113.5", 3, dkim=[("example.com", "pass")], spf=[("lists.example.net", "pass")]
)
SENDGRID = Row(
    "167.89.1.1", 30, dkim=[("sendgrid.net", "pass")], spf=[("bounces.sendgrid.net", "pass")]
)
SPOOFER = Row("198.51.100.7", 80, spf=[("spoof.example", "softfail")])
UNSIGNED_OWN = Row("192.0.2.20", 12, spf=[("example.com", "fail")])

HISTORIES = {
    "clean": [OWN, FORWARDED],
    "third party": [OWN, FORWARDED, SENDGRID],
    "spoofer only": [OWN, FORWARDED, SPOOFER],
}


def _history(
    folder: Path, rows: Sequence[Row], *, days: int = 28, policy: str = "none"
) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for day in range(days):
        style = "google" if day % 2 else "microsoft"
        xml = report_xml(style, f"{style}-{day}", day, rows, policy=policy)
        (folder / f"{style}-{day}.xml.gz").write_bytes(gz(xml))
    return [str(folder)]


def _advise(paths: list[str], *extra: str) -> tuple[int, dict[str, object], str]:
    out = io.StringIO()
    argv = ["dmarc", "advise", "--domain", "example.com", "--no-dns", "--ip", "192.0.2.10"]
    with contextlib.redirect_stdout(out):
        status = main([*argv, *extra, "--json", *paths])
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        main([*argv, *extra, *paths])
    return status, json.loads(out.getvalue()), text.getvalue()


def test_clean_history_moves_to_quarantine(tmp_path: Path) -> None:
    status, data, text = _advise(_history(tmp_path, HISTORIES["clean"]))
    assert status == 0
    assert (data["safe"], data["policy"], data["next_policy"]) == (True, "none", "quarantine")
    assert (data["messages"], data["aligned"], data["aligned_share"]) == (5684, 5684, 100.0)
    assert data["forwarded"] == 84  # SPF broken by the forwarder, DKIM carried it: fine
    assert data["unaligned_sources"] == []
    assert "next step: p=quarantine is safe" in text
    assert '[dmarc] policy = "quarantine" in the spec (--dmarc-policy quarantine' in text


def test_missing_third_party_sender_is_named_with_its_fix(tmp_path: Path) -> None:
    status, data, text = _advise(_history(tmp_path, HISTORIES["third party"]))
    assert status == 1
    assert data["safe"] is False
    assert data["aligned_share"] == round(100 * 5684 / 6524, 2)
    (source,) = data["unaligned_sources"]  # type: ignore[misc]
    assert (source["ip"], source["class"], source["unaligned"], source["blocking"]) == (
        "167.89.1.1",
        "third-party",
        840,
        True,
    )
    assert "SendGrid" in source["fix"] and "include:sendgrid.net" in source["fix"]
    assert "DKIM for example.com" in source["fix"]
    assert "not yet: stay at p=none" in text
    assert " ! 167.89.1.1 (example.com): 840 of 840 unaligned, third-party" in text


def test_spoofing_alone_is_what_reject_is_for(tmp_path: Path) -> None:
    status, data, _ = _advise(_history(tmp_path, HISTORIES["spoofer only"]))
    assert status == 0
    assert (data["safe"], data["next_policy"], data["spoofed"]) == (True, "quarantine", 2240)
    assert data["aligned_share"] == 100.0  # of the mail that is not spoofed
    (source,) = data["unaligned_sources"]  # type: ignore[misc]
    assert (source["class"], source["blocking"]) == ("spoofer", False)
    assert "p=reject is for" in source["fix"]


def test_quarantine_then_reject(tmp_path: Path) -> None:
    status, data, _ = _advise(_history(tmp_path, HISTORIES["clean"], policy="quarantine"))
    assert (status, data["next_policy"]) == (0, "reject")
    status, data, text = _advise(_history(tmp_path / "r", HISTORIES["clean"], policy="reject"))
    assert (status, data["next_policy"], data["safe"]) == (0, None, True)
    assert "p=reject is supported by the evidence" in text


def test_own_server_failing_spf_is_told_to_publish_it(tmp_path: Path) -> None:
    paths = _history(tmp_path, [OWN, UNSIGNED_OWN])
    status, data, _ = _advise(paths, "--ip", "192.0.2.20")
    assert status == 1
    (source,) = data["unaligned_sources"]  # type: ignore[misc]
    assert (source["ip"], source["class"], source["blocking"]) == ("192.0.2.20", "own", True)
    assert "mailconf dns" in source["fix"]


def test_too_few_days_is_not_enough_evidence(tmp_path: Path) -> None:
    status, data, _ = _advise(_history(tmp_path, HISTORIES["clean"], days=5))
    assert (status, data["safe"]) == (1, False)
    assert data["reasons"] == [
        "only 5 day(s) of reports; wait for 14 (a monthly sender must have shown up)"
    ]
    status, data, _ = _advise(
        _history(tmp_path / "b", HISTORIES["clean"], days=5), "--min-days", "5"
    )
    assert status == 0


@pytest.mark.parametrize(
    ("history", "policy", "expected"),
    [
        ("third party", "reject", ["dmarc.policy-ahead-of-evidence"]),
        ("third party", "quarantine", ["dmarc.policy-ahead-of-evidence"]),
        ("third party", "none", []),
        ("spoofer only", "reject", []),
        ("clean", "reject", []),
    ],
)
def test_check_reports_a_policy_ahead_of_the_evidence(
    tmp_path: Path, history: str, policy: str, expected: list[str]
) -> None:
    paths = _history(tmp_path, HISTORIES[history], policy=policy)
    findings = check_reports(paths, ["example.com"], own_ips=["192.0.2.10"])
    assert [f.code for f in findings] == expected
    if expected:
        assert "167.89.1.1 (third-party, 840)" in findings[0].message
        assert f"p={policy}" in findings[0].message


def test_advice_counts_only_the_domain_asked(tmp_path: Path) -> None:
    other = Row("192.0.2.99", 500, spf=[("example.org", "fail")], header_from="example.org")
    paths = _history(tmp_path, [OWN, other])
    summary = summarise(paths)
    advice = advise(summary, "example.com", own_ips=["192.0.2.10"])
    assert (advice.messages, advice.aligned, advice.sources) == (5600, 5600, ())


def test_the_spec_names_the_servers_own_addresses(tmp_path: Path) -> None:
    spec = tmp_path / "mailconf.toml"
    spec.write_text('ips = ["192.0.2.20"]\n\n[[domain]]\nname = "example.com"\n')
    paths = _history(tmp_path / "r", [OWN, UNSIGNED_OWN])
    out = io.StringIO()
    argv = ["dmarc", "advise", "--domain", "example.com", "--no-dns", "--json"]
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--config", str(spec), *paths]) == 1
    (source,) = json.loads(out.getvalue())["unaligned_sources"]
    assert (source["ip"], source["class"]) == ("192.0.2.20", "own")
