"""Lint for host lists (OpenDKIM's InternalHosts, ExternalIgnoreList, ...; OpenDMARC's
IgnoreHosts): entries that never match what was meant (``*.example.com``, ``locahost``, host bits
in a CIDR, an IPv6 address not in the form the daemons compare).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailconf.findings import Finding, Severity
from mailconf.milter.table_lint import line_finder, long_lines

if TYPE_CHECKING:
    from mailconf.milter.tables import HostList

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")


def host_entry_problem(entry: str, *, regex: bool = False) -> tuple[str, str, str] | None:
    """``(code, message, fix)`` when a host-list entry cannot match what was meant."""
    item = entry[1:] if entry.startswith("!") else entry
    if not item:
        return "milter.host-invalid", f"{entry!r} is not a host, address or network", ""
    if "*" in item and not regex:
        suggestion = "." + item.lstrip("*.") if item.startswith("*.") else ""
        fix = f"write {suggestion!r} to match every subdomain" if suggestion else "remove the '*'"
        return (
            "milter.host-glob",
            f"{entry!r} is a literal in a plain host list and never matches "
            "(there are no wildcards)",
            fix,
        )
    bare = item
    prefix = None
    if "/" in bare:
        bare, _, prefix = bare.partition("/")
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        address = None
    if address is not None:
        if prefix is not None:
            if not prefix.isdigit() or int(prefix) > address.max_prefixlen:
                return "milter.host-invalid", f"{entry!r}: bad prefix length", ""
            network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
            if network.network_address != address:
                return (
                    "milter.cidr-host-bits",
                    f"{entry!r} has host bits set and never matches",
                    f"write {network.network_address}/{prefix}",
                )
        if address.version == 6 and bare != bare.lower():
            return (
                "milter.host-case",
                f"{entry!r}: OpenDKIM compares IPv6 addresses in lower case",
                "",
            )
        if (
            address.version == 6
            and str(address) != bare.lower()
            and not bare.lower().startswith("::ffff:")
        ):
            return (
                "milter.ipv6-form",
                f"{entry!r} is not in the compressed form OpenDKIM compares ({address})",
                f"write {address}",
            )
        return None
    if prefix is not None:
        return "milter.host-invalid", f"{entry!r}: a prefix length needs an IP address", ""
    name = bare[1:] if bare.startswith(".") else bare
    labels = name.rstrip(".").split(".")
    if not name or not all(_LABEL.match(label) for label in labels):
        return "milter.host-invalid", f"{entry!r} is not a valid host name, address or network", ""
    if len(labels) == 1 and not bare.startswith(".") and name.lower() != "localhost":
        close = difflib.get_close_matches(name.lower(), ["localhost"], n=1, cutoff=0.7)
        fix = "did you mean 'localhost'?" if close else "use a fully qualified name or an address"
        return (
            "milter.host-unresolvable",
            f"{entry!r} is a single-label name that will not resolve",
            fix,
        )
    return None


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
            findings.append(Finding(Severity.WARNING, code, message, fix, doc.path, line))
    return findings


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
