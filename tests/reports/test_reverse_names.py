"""Reverse names of the sources, from DNS, with the doctor's rules when DNS cannot be asked."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from dmarc_samples import Row, report_xml
from dnsserver import DnsServer, closed_port
from mailconf.cli import main

OWN = Row("192.0.2.10", 50, dkim=[("example.com", "pass")], spf=[("example.com", "pass")])
#: A service sending without any authentication for the domain yet: only its PTR names it.
SERVICE = Row("167.89.1.1", 9, spf=[("example.com", "fail")])


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_reverse_names_come_from_the_nameserver(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    report.write_bytes(report_xml("google", "g-1", 0, [OWN, SERVICE]))
    ptr = {"192.0.2.10": ["mail.example.com"], "167.89.1.1": ["o1.ptr4711.sendgrid.net"]}
    with DnsServer(ptr=ptr, zone="arpa") as server:
        status, out, err = _run(
            "dmarc", "report", "--json", "--nameserver", server.address, str(report)
        )
        assert (status, err) == (0, "")
        names = {s["ip"]: s["reverse_name"] for s in json.loads(out)["sources"]}
        assert names == {"192.0.2.10": "mail.example.com", "167.89.1.1": "o1.ptr4711.sendgrid.net"}
        argv = ("dmarc", "advise", "--domain", "example.com", "--min-days", "1", "--json")
        status, out, _ = _run(*argv, "--nameserver", server.address, str(report))
    (source,) = json.loads(out)["unaligned_sources"]
    assert (source["class"], status) == ("third-party", 1)
    assert "SendGrid" in source["fix"]


def test_unreachable_dns_is_one_warning_and_no_names(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    report.write_bytes(report_xml("google", "g-1", 0, [OWN, SERVICE]))
    status, out, err = _run("dmarc", "report", "--json", "--nameserver", closed_port(), str(report))
    assert status == 0
    assert [s["reverse_name"] for s in json.loads(out)["sources"]] == [None, None]
    assert err.count("[dns.unreachable]") == 1
