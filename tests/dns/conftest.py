"""Fixtures for DNS tests: a live authoritative test server on 127.0.0.1 and a resolver for it.

The server (``tests/dnsserver.py``) answers from dicts the test fills in, so each test builds the
zone it needs; the resolver fixture is a plain ``dns.resolver.Resolver`` without a cache, so a
change to the server's data is seen by the next query.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest

# tests/ holds the shared, importable test server; pytest puts it on sys.path through the top
# conftest, this keeps the fixture usable when this directory is run on its own.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from dnsserver import DnsServer  # noqa: E402
from mailconf.dns.lookup import make_resolver  # noqa: E402


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """An empty authoritative server for the zone ``test.``, UDP and TCP on an ephemeral port."""
    with DnsServer(zone="test") as server:
        yield server


@pytest.fixture
def resolver(dns_server: DnsServer) -> dns.resolver.Resolver:
    """A resolver that asks only ``dns_server``, with short timeouts."""
    return make_resolver(dns_server.address, timeout=2.0, lifetime=4.0)
