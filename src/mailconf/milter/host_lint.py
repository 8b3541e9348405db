"""Lint for host lists (OpenDKIM's InternalHosts, ExternalIgnoreList, ...; OpenDMARC's
IgnoreHosts): entries that never match what was meant (``*.example.com``, ``locahost``, host bits
in a CIDR, an IPv6 address not in the form the daemons compare).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailconf.findings import Finding, Severity
from mailconf.milter.hosts import NEVER_MATCHES, host_entry_problem
from mailconf.milter.table_lint import line_finder, long_lines

if TYPE_CHECKING:
    from mailconf.milter.tables import HostList


def lint_hostlist(
    doc: HostList,
    root: str = "/",
    *,
    opendmarc: bool = False,
    resolver: Callable[[str], bool] | None = None,
) -> list[Finding]:
    """Entries that never match what was meant (``*.example.com``, ``locahost``, host bits in a
    CIDR, ...); ``opendmarc`` adds OpenDMARC's IgnoreHosts rules; ``resolver`` (name ->
    resolves?) adds a DNS check of host names.  ``root`` is not needed (no file is named)."""
    findings = long_lines(doc)
    entry_line = line_finder(doc)
    for row in doc.rows:
        line = entry_line(row)
        if opendmarc and row.text[:1] in " \t\v\f\r":
            findings.append(
                Finding(
                    Severity.WARNING,
                    "milter.indented-ignorehost",
                    f"indented line {row.key!r}: OpenDMARC never matches an indented "
                    "IgnoreHosts line",
                    "remove the indentation",
                    doc.path,
                    line,
                )
            )
            continue
        problem = host_entry_problem(row.key)
        if problem is None and resolver is not None:
            bare = row.key.lstrip("!")
            if (
                not bare.startswith((".", "["))
                and "/" not in bare
                and not _is_ip(bare)
                and not resolver(bare)
            ):
                problem = ("milter.host-unresolvable", f"{row.key!r} does not resolve", "")
        if problem is not None:
            code, message, fix = problem
            severity = Severity.ERROR if code in NEVER_MATCHES else Severity.WARNING
            findings.append(Finding(severity, code, message, fix, doc.path, line))
    return findings


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
