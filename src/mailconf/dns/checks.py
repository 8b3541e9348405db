"""Checks of what DNS publishes for a mail domain: DKIM key, SPF policy, DMARC policy, leftovers.

Each check takes a lookup source (see :mod:`mailconf.dns.lookup`) and returns a list of
:class:`~mailconf.findings.Finding`; an empty list means the check passed.  The checks live in
one module per record (:mod:`~mailconf.dns.dkim`, :mod:`~mailconf.dns.spf`,
:mod:`~mailconf.dns.dmarc`; what they share in :mod:`~mailconf.dns.txt`); this module is the
door the doctor uses, and names them all.  Codes are stable and listed in each module; any TXT
answer can also give ``dns.record-too-large`` and any query ``dns.lookup-failed`` (SERVFAIL or
another failure for that one name, never reported as a missing record).

When the resolver cannot be asked at all, or the time budget runs out, each check returns the one
``dns.unreachable``/``dns.budget-exhausted`` finding of its :class:`~mailconf.dns.lookup.Lookup`
instead of its own (see :func:`~mailconf.dns.lookup.skipped_when_unavailable`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mailconf.dns.dkim import check_adsp, check_dkim
from mailconf.dns.dmarc import check_dmarc
from mailconf.dns.lookup import LookupSource, as_lookup
from mailconf.dns.spf import check_spf
from mailconf.dns.spf_host import SpfResult, spf_check_host
from mailconf.findings import Finding
from mailconf.keys import DkimPublicKey

__all__ = [
    "SpfResult",
    "check_adsp",
    "check_all",
    "check_dkim",
    "check_dmarc",
    "check_spf",
    "spf_check_host",
]


def check_all(
    source: LookupSource,
    domain: str,
    *,
    selector: str | None = None,
    key: DkimPublicKey | None = None,
    server_ips: Sequence[str] = (),
) -> list[Finding]:
    """Every DNS check for ``domain`` with one shared (cached) lookup; when the resolver cannot be
    asked, its one finding is listed once, not once per check."""
    lookup = as_lookup(source)
    findings = check_spf(lookup, domain, server_ips)
    if selector is not None:
        findings += check_dkim(lookup, domain, selector, key)
    findings += check_adsp(lookup, domain)
    findings += check_dmarc(lookup, domain)
    return list(dict.fromkeys(findings))
