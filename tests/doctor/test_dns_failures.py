"""`mailconf check` with a resolver that cannot be asked: one finding, the DNS checks skipped, and
the run bounded by --dns-timeout (issue 10: nothing listening on the --nameserver port took 54 s
and reported "203.0.113.5 has no reverse DNS (PTR) record").

The tree is the example one, not applied: only the DNS findings matter here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dnsserver import DnsServer, closed_port, silent_server
from example_tree import check_cli, copy_example

DNS_CODES = ("spf.", "dkim.key-missing", "dmarc.", "sender.ptr-", "dns.")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example(tmp_path_factory.mktemp("check-dns") / "root")


def check(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``mailconf check``: how long a lookup may wait is tested in tests/dns (the lifetime each
    query is sent with); here the messages say which path was taken (refused at once, or no
    answer within the budget)."""
    return check_cli(
        root, "--ip", "203.0.113.5", "--hostname", "mail.example.test", "--json", *extra
    )


def dns_findings(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.stdout, result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return [f for f in findings if f["code"].startswith(DNS_CODES)]


def test_nothing_listening_is_one_finding_at_once(root: Path) -> None:
    address = closed_port()
    result = check(root, "--nameserver", address)
    assert result.returncode == 1
    (finding,) = dns_findings(result)
    assert finding["code"] == "dns.unreachable"
    assert f"{address} refused the connection" in finding["message"]


def test_a_server_that_never_answers_is_bounded_by_the_budget(root: Path) -> None:
    with silent_server() as address:
        result = check(root, "--nameserver", address, "--dns-timeout", "0.5")
    (finding,) = dns_findings(result)
    assert finding["code"] == "dns.unreachable"
    assert f"no answer from {address} within 0.5 s" in finding["message"]


def test_a_slow_server_runs_out_of_the_budget(root: Path) -> None:
    with DnsServer(zone="test") as server:
        server.delay = 0.5
        result = check(root, "--nameserver", server.address, "--dns-timeout", "2")
    found = [f["code"] for f in dns_findings(result)]
    assert found.count("dns.budget-exhausted") == 1
    assert "dns.unreachable" not in found


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf", "nan"])
def test_dns_timeout_must_be_a_positive_number(root: Path, value: str) -> None:
    result = check(root, "--no-dns", "--dns-timeout", value)
    assert result.returncode == 2
    assert "--dns-timeout" in result.stderr and "positive number of seconds" in result.stderr
