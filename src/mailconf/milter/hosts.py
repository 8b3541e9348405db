"""One host-list entry judged as OpenDKIM and OpenDMARC read it: by the lint of a host list
(:mod:`mailconf.milter.host_lint`) and by :meth:`HostList.add_host
<mailconf.milter.tables.HostList.add_host>`, so ``lint`` and ``edit --add-host`` cannot disagree.
"""

from __future__ import annotations

import difflib
import ipaddress
import re

#: The codes of an entry that can never match anything: errors (``edit --add-host`` refuses
#: them); the others match, just not what was meant, or may: warnings.
NEVER_MATCHES = frozenset({"milter.host-glob", "milter.host-invalid"})

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
    if all(label.isdigit() for label in labels):  # 999.1.1.1: no address, and no name either
        return (
            "milter.host-invalid",
            f"{entry!r} is not a valid host name, address or network (digits and dots only, "
            "but not an IP address)",
            "",
        )
    if len(labels) == 1 and not bare.startswith(".") and name.lower() != "localhost":
        close = difflib.get_close_matches(name.lower(), ["localhost"], n=1, cutoff=0.7)
        fix = "did you mean 'localhost'?" if close else "use a fully qualified name or an address"
        return (
            "milter.host-unresolvable",
            f"{entry!r} is a single-label name that will not resolve",
            fix,
        )
    return None
