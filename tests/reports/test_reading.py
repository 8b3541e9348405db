"""Aggregate reports read from every container a report arrives in, with exact counts."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from dmarc_samples import DAY, START, Row, gz, mail, maildir, mbox, report_xml, zipped
from mailconf.cli import main
from mailconf.findings import Finding
from mailconf.reports import summary as summary_module
from mailconf.reports.alignment import aligned, organizational_domain
from mailconf.reports.summary import Summary, summarise

OWN = Row("192.0.2.10", 0, dkim=[("example.com", "pass")], spf=[("example.com", "pass")])
FORWARDER = Row(
    "203.0.113.5", 7, dkim=[("example.com", "pass")], spf=[("forwarder.example.net", "pass")]
)
SENDGRID = Row(
    "167.89.1.1", 25, dkim=[("sendgrid.net", "pass")], spf=[("bounces.sendgrid.net", "pass")]
)
SPOOFER = Row("198.51.100.7", 3, spf=[("spoof.example", "fail")])

G1 = report_xml("google", "g-1", 0, [OWN._replace(count=120), SPOOFER])
M1 = report_xml("microsoft", "m-1", 0, [OWN._replace(count=40), FORWARDER])
Y1 = report_xml("yahoo", "1764547200.1", 1, [SENDGRID, OWN._replace(count=10)])
B1 = report_xml(
    "dmarcbis",
    "b-1",
    2,
    [
        OWN._replace(ip="2001:DB8:0::10", count=4),
        OWN._replace(count=6, header_from="news.example.com"),
    ],
)
G2 = report_xml("google", "g-2", 1, [OWN._replace(count=30)])


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """Every container: a zip and an .xml.gz on disk, a gzip in an .eml, an mbox (with a second
    copy of M1, a resend), a Maildir with a gzip and a plain XML attachment."""
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "google.com!example.com!1764547200!1764633599.zip").write_bytes(
        zipped("google.com!example.com!1764547200!1764633599.xml", G1)
    )
    (folder / "enterprise.protection.outlook.com!example.com!1!2.xml.gz").write_bytes(gz(M1))
    (folder / "yahoo.eml").write_bytes(
        mail("yahoo.com", "yahoo.com!example.com!1!2.xml.gz", gz(Y1), "application/gzip")
    )
    google_mail = mail("google.com", "google.zip", zipped("g2.xml", G2), "application/zip")
    resend = mail("outlook.com", "m1.xml.gz", gz(M1), "application/gzip")
    (folder / "reports.mbox").write_bytes(mbox([google_mail, resend]))
    maildir(
        tmp_path / "Maildir",
        [mail("reporter.example", "b1.xml", B1, "text/xml")],
    )
    return tmp_path


def _summary(*paths: Path, **options: object) -> tuple[Summary, list[Finding]]:
    warnings: list[Finding] = []
    summary = summarise([str(p) for p in paths], warn=warnings.append, **options)  # type: ignore[arg-type]
    return summary, warnings


def _rows(summary: Summary) -> list[tuple[str, str, int, int, int, int]]:
    return [
        (s.ip, s.header_from, s.count, s.spf_aligned, s.dkim_aligned, s.dmarc_pass)
        for s in summary.ordered()
    ]


def test_every_container_counted_once_with_exact_figures(reports: Path) -> None:
    summary, warnings = _summary(reports / "reports", reports / "Maildir")
    assert warnings == []
    assert (summary.reports, summary.duplicates, summary.messages) == (5, 1, 245)
    assert _rows(summary) == [
        ("192.0.2.10", "example.com", 200, 200, 200, 200),
        ("167.89.1.1", "example.com", 25, 0, 0, 0),
        ("203.0.113.5", "example.com", 7, 0, 7, 7),
        ("192.0.2.10", "news.example.com", 6, 6, 6, 6),
        ("2001:db8::10", "example.com", 4, 4, 4, 4),
        ("198.51.100.7", "example.com", 3, 0, 0, 0),
    ]
    own = summary.ordered()[0]
    assert own.reporters == {"google.com", "Enterprise Outlook", "Yahoo"}
    assert own.disposition == {"none": 200, "quarantine": 0, "reject": 0}
    assert summary.ordered()[3].disposition["none"] == 6  # DMARCbis "pass": no policy applied


def test_json_has_exactly_the_issue_shape(reports: Path) -> None:
    out = io.StringIO()
    argv = [
        "dmarc",
        "report",
        "--json",
        "--no-dns",
        str(reports / "reports"),
        str(reports / "Maildir"),
    ]
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    data = json.loads(out.getvalue())
    assert list(data) == ["reports", "messages", "domains", "period", "sources"]
    assert (data["reports"], data["messages"], data["domains"]) == (5, 245, ["example.com"])
    assert data["period"] == {"begin": "2025-12-01T00:00:00Z", "end": "2025-12-03T23:59:59Z"}
    first = data["sources"][0]
    assert first == {
        "ip": "192.0.2.10",
        "count": 200,
        "spf_aligned": 200,
        "dkim_aligned": 200,
        "dmarc_pass": 200,
        "disposition": {"none": 200, "quarantine": 0, "reject": 0},
        "header_from": "example.com",
        "reporters": ["Enterprise Outlook", "Yahoo", "google.com"],
        "reverse_name": None,
    }
    assert [s["count"] for s in data["sources"]] == [200, 25, 7, 6, 4, 3]


def test_domain_and_since_filters(reports: Path) -> None:
    paths = (reports / "reports", reports / "Maildir")
    news, _ = _summary(*paths, domain="news.example.com")
    assert (news.reports, news.messages, _rows(news)) == (
        1,
        6,
        [("192.0.2.10", "news.example.com", 6, 6, 6, 6)],
    )
    later, _ = _summary(*paths, since=START + DAY)  # the first day's reports end before it
    assert (later.reports, later.messages) == (3, 75)


def test_strict_alignment_and_organisational_domains(tmp_path: Path) -> None:
    assert aligned("mail.example.com", "example.com", "r")
    assert not aligned("mail.example.com", "example.com", "s")
    assert aligned("EXAMPLE.com.", "example.com", "s")
    assert not aligned("example.net", "example.com", "r")
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert not aligned("a.example.co.uk", "b.other.co.uk", "r")
    assert organizational_domain("example.com") == "example.com"
    strict = report_xml(
        "google",
        "s-1",
        0,
        [Row("192.0.2.10", 9, dkim=[("mail.example.com", "pass")], spf=[("example.com", "pass")])],
        adkim="s",
        aspf="s",
    )
    (tmp_path / "strict.xml").write_bytes(strict)
    summary = summarise([str(tmp_path / "strict.xml")])
    assert _rows(summary) == [("192.0.2.10", "example.com", 9, 9, 0, 9)]


def test_bad_inputs_are_skipped_by_name_and_the_rest_counted(tmp_path: Path) -> None:
    import zipfile

    good = tmp_path / "good.xml"
    good.write_bytes(G2)
    (tmp_path / "truncated.xml.gz").write_bytes(gz(G1)[:60])
    (tmp_path / "notes.txt").write_bytes(b"Subject: hello\n\njust a note\n")
    (tmp_path / "page.xml").write_bytes(b"<html><body>no</body></html>")
    (tmp_path / "broken.xml").write_bytes(G1[:300])
    (tmp_path / "bad-count.xml").write_bytes(G1.replace(b"<count>120<", b"<count>12x<"))
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as archive:
        for n in range(17):
            archive.writestr(f"{n}.xml", G2)
    summary, warnings = _summary(tmp_path)
    assert (summary.reports, summary.messages) == (1, 30)
    why = {Path(f.path or "").name: f.message for f in warnings}
    assert all(f.code == "dmarc.report-skipped" for f in warnings)
    assert set(why) == {
        "truncated.xml.gz",
        "notes.txt",
        "page.xml",
        "broken.xml",
        "bad-count.xml",
        "many.zip",
    }
    assert "corrupt" in why["truncated.xml.gz"]
    assert "no report attachment" in why["notes.txt"]
    assert "not <feedback>" in why["page.xml"]
    assert "not well-formed" in why["broken.xml"]
    assert "'12x' is not a whole number" in why["bad-count.xml"]
    assert "17 members; at most 16" in why["many.zip"]


def test_nothing_readable_is_exit_2_and_a_missing_path_too(tmp_path: Path) -> None:
    (tmp_path / "page.xml").write_bytes(b"<html/>")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(["dmarc", "report", "--no-dns", str(tmp_path / "page.xml")]) == 2
        assert main(["dmarc", "report", "--no-dns", str(tmp_path / "nope.xml")]) == 2
    assert err.getvalue().startswith(
        f"mailconf: no report could be read: {tmp_path}/page.xml: the root element is <html>"
    )
    assert "No such file" in err.getvalue()


def test_a_fifo_is_never_opened_for_reading(tmp_path: Path) -> None:
    """A FIFO would block the reader forever: named on the command line it is refused (2), in a
    directory it is skipped."""
    import os

    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "good.xml").write_bytes(G2)
    os.mkfifo(folder / "pipe.xml")
    summary, warnings = _summary(folder)
    assert (summary.reports, warnings) == (1, [])  # not a regular file: not even looked at
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(["dmarc", "report", "--no-dns", str(folder / "pipe.xml")]) == 2
    assert "pipe.xml: not a regular file" in err.getvalue()


def test_mbox_messages_are_split_at_from_lines_only_after_a_blank(tmp_path: Path) -> None:
    first = mail("google.com", "g1.zip", zipped("g1.xml", G1), "application/zip")
    second = mail("google.com", "g2.zip", zipped("g2.xml", G2), "application/zip")
    box = tmp_path / "box"
    box.write_bytes(mbox([first, b"Subject: x\n\nFrom here on, no report\n", second]))
    summary, warnings = _summary(box)
    assert (summary.reports, summary.messages) == (2, 153)
    assert [(Path(w.path or "").name, w.message) for w in warnings] == [
        ("box[2]", "no report attachment (gzip, zip or XML) in this message; skipped")
    ]


def _many_reports(folder: Path, count: int) -> None:
    folder.mkdir()
    for n in range(count):
        rows = [OWN._replace(count=n + 1), SPOOFER._replace(ip=f"198.51.100.{n % 7}")]
        (folder / f"r{n:03d}.xml.gz").write_bytes(gz(report_xml("yahoo", f"y-{n}", n % 5, rows)))


@pytest.mark.parametrize("resend", [False, True], ids=["distinct", "a resend in another batch"])
def test_reading_in_processes_gives_the_same_summary(
    tmp_path: Path, resend: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes, two batches of 13 and 12 files: the same summary as one process; a report in
    both batches (its resend) is caught at the merge and everything is read again here."""
    folder = tmp_path / "many"
    _many_reports(folder, 24)
    if resend:
        (folder / "r023.xml.gz").write_bytes((folder / "r000.xml.gz").read_bytes())
    (folder / "r010.xml").write_bytes(b"<html/>")
    alone, alone_warnings = _summary(folder)
    merged: list[bool] = []
    in_processes = summary_module._in_processes

    def spy(*args: Any) -> Any:
        result = in_processes(*args)
        merged.append(result[0] is not None)
        return result

    monkeypatch.setattr(summary_module, "_in_processes", spy)
    both, both_warnings = _summary(folder, jobs=2)
    assert merged == [not resend]  # the processes ran; with the resend, their merge was refused
    assert (both.reports, both.duplicates) == ((23, 1) if resend else (24, 0))
    assert _rows(both) == _rows(alone)
    assert both.to_json() == alone.to_json()
    assert (
        [w.path for w in both_warnings]
        == [w.path for w in alone_warnings]
        == [str(folder / "r010.xml")]
    )
