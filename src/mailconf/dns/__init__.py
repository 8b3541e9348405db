"""The DNS side of SPF, DKIM and DMARC: the records to publish and checks of what is published.

``records`` builds the TXT records (pure, no network); ``lookup`` wraps a resolver so the checks can
run against any server, or a plain function in tests; ``checks`` compares what DNS answers with what
the local configuration needs, through one module per record (``dkim``, ``spf`` with ``spf_terms``
and ``spf_host``, ``dmarc``) and what they share (``txt``).
"""

from __future__ import annotations

from mailconf.dns.records import (
    Record,
    dkim_record,
    dmarc_record,
    render_json,
    render_one_line,
    render_zone,
    spf_record,
    split_character_strings,
)

__all__ = [
    "Record",
    "dkim_record",
    "dmarc_record",
    "render_json",
    "render_one_line",
    "render_zone",
    "spf_record",
    "split_character_strings",
]
