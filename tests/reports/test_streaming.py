"""What the reader's speed rests on must not change what it reads: texts cut anywhere by the
chunking, texts too long to keep, and alignment judged once per combination of results."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dmarc_samples import Row, gz, report_xml
from mailconf.reports import summary as summary_module
from mailconf.reports.feedback import Feedback, Record, ReportError, parse_feedback
from mailconf.reports.inputs import MIB
from mailconf.reports.summary import summarise, verdict

OWN = Row("192.0.2.10", 12345, dkim=[("example.com", "pass")], spf=[("example.com", "pass")])
FORWARDER = Row(
    "2001:db8::5", 7, dkim=[("example.com", "pass")], spf=[("forwarder.example.net", "pass")]
)


def _read(chunks: list[bytes]) -> tuple[list[Record], Feedback]:
    feedback = Feedback()
    return list(parse_feedback(chunks, feedback)), feedback


@pytest.mark.parametrize("style", ["google", "dmarcbis"])
def test_a_text_split_between_two_chunks_is_read_whole(style: str) -> None:
    """pyexpat hands a text over in two pieces when a chunk ends inside it: a split anywhere,
    inside a name, a count, an address or a tag, reads the same report (it once read ``12``
    for a count of 12345 cut after its second digit)."""
    report = report_xml(style, "r-1", 0, [OWN, FORWARDER])
    whole, feedback = _read([report])
    assert [(r.source_ip, r.messages) for r in whole] == [("192.0.2.10", 12345), ("2001:db8::5", 7)]
    for at in range(1, len(report)):
        records, split = _read([report[:at], report[at:]])
        assert (records, split) == (whole, feedback), at


def _long_org_name(size: int, chunk: int) -> Iterator[bytes]:
    """A report whose org_name has ``size`` bytes of text, blanks then letters, in ``chunk``s."""
    head, tail = report_xml("google", "r-1", 0, [OWN]).split(b"google.com</org_name>")
    yield head
    piece = b" " * (chunk // 2) + b"y" * (chunk // 2)
    for _ in range(size // chunk):
        yield piece
    yield b"google.com</org_name>" + tail


@pytest.mark.parametrize(
    ("size", "chunk"), [(4096, 1024), (200 * 1024, 256 * 1024)], ids=["4 pieces", "200 KiB"]
)
def test_a_long_text_is_read_from_its_beginning_and_cut(size: int, chunk: int) -> None:
    """A text in a few pieces, or a long one in large chunks, reads whole: its first 1,024
    characters after the leading blanks."""
    feedback = Feedback()
    records = list(parse_feedback(_long_org_name(size, chunk), feedback))
    assert [r.messages for r in records] == [12345]
    text = ((b" " * (chunk // 2) + b"y" * (chunk // 2)) * (size // chunk)).decode()
    assert feedback.org_name == (text + "google.com").strip()[:1024]


def test_a_huge_text_is_refused_in_bounded_memory() -> None:
    """32 MiB of text in one element (in 1 MiB chunks) is refused without being held."""
    tracemalloc.start()
    try:
        with pytest.raises(ReportError, match="text of <org_name> is far too long"):
            list(parse_feedback(_long_org_name(32 * MIB, MIB), Feedback()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB


def _records_with_huge_texts(count: int, size: int) -> Iterator[bytes]:
    """A report of ``count`` records whose From domain and DKIM domain are each ``size``
    characters of blanks then a name of their own, yielded a record at a time."""
    head, rest = report_xml("google", "r-1", 0, [OWN]).split(b"<record>", 1)
    record, tail = (b"<record>" + rest).split(b"</record>", 1)
    yield head
    for n in range(count):
        padding = b" " * size
        yield (
            record.replace(b"<header_from>", b"<header_from>" + padding + b"from%d." % n).replace(
                b"<domain>", b"<domain>" + padding + b"signer%d." % n
            )
            + b"</record>"
        )
    yield tail


def test_distinct_huge_texts_are_read_without_being_kept() -> None:
    """The reader's caches are keyed by a leaf's text as written: texts far longer than any value
    are read, never kept (20 records with half a megabyte each would otherwise stay cached)."""
    tracemalloc.start()
    try:
        records = list(parse_feedback(_records_with_huge_texts(20, 400 * 1024), Feedback()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.header_from for r in records] == [f"from{n}.example.com" for n in range(20)]
    assert [r.dkim[0].domain for r in records] == [f"signer{n}.example.com" for n in range(20)]
    assert peak < 6 * MIB


def test_alignment_is_judged_once_per_combination_of_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports repeat a handful of combinations (own mail, a forwarder) over thousands of rows:
    their Organizational Domains are computed once per combination, not once per row."""
    calls: list[tuple[str, str, str]] = []
    aligned = summary_module.aligned

    def counting(*args: Any) -> bool:
        calls.append(args)
        return aligned(*args)

    monkeypatch.setattr(summary_module, "aligned", counting)
    per_combination = []
    for reports in (1, 10):
        folder = tmp_path / str(reports)
        folder.mkdir()
        for n in range(reports):
            rows = [OWN, FORWARDER] * 20
            (folder / f"{n}.xml.gz").write_bytes(gz(report_xml("google", f"g-{n}", 0, rows)))
        verdict.cache_clear()
        calls.clear()
        summary = summarise([str(folder)])
        assert summary.messages == reports * 20 * (12345 + 7)
        assert verdict.cache_info().misses == 2
        per_combination.append(len(calls))
    assert per_combination[0] == per_combination[1] > 0
