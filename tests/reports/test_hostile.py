"""Hostile reports: an XML bomb, external entities and decompression bombs are refused at once,
without expanding, reading or decompressing what they ask for.

"At once" is checked without a clock: the parser is fed from a counting generator, and a DTD must
stop it at the first chunk; "within memory" with tracemalloc's peak, against bombs that would
take a gigabyte if the caps did not hold.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmarc_samples import report_xml
from mailconf.cli import main
from mailconf.findings import Finding
from mailconf.reports.feedback import Feedback, ReportError, parse_feedback
from mailconf.reports.inputs import MIB, Limits
from mailconf.reports.summary import summarise

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata></feedback>
"""

SECRET = "TOP-SECRET-0c9f1e"


def _xxe(secret: Path, parameter: bool) -> bytes:
    """A report whose org_name is an external entity naming ``secret`` (or, with ``parameter``,
    a parameter entity pulling in an external DTD)."""
    if parameter:
        doctype = f'<!DOCTYPE feedback [<!ENTITY % ext SYSTEM "file://{secret}"> %ext;]>'
        org = "x"
    else:
        doctype = f'<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        org = "&xxe;"
    good = report_xml("google", "x-1", 0, [])
    return good.replace(b"<feedback>", doctype.encode() + b"\n<feedback>").replace(
        b"<org_name>google.com</org_name>", f"<org_name>{org}</org_name>".encode()
    )


def _counting(chunks: list[bytes], pulled: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        pulled.append(len(chunk))
        yield chunk


def _refused(chunks: list[bytes], match: str) -> tuple[list[int], int]:
    """The report of ``chunks`` refused with ``match``: the sizes of the chunks read before the
    refusal, and tracemalloc's peak while reading."""
    pulled: list[int] = []
    tracemalloc.start()
    try:
        with pytest.raises(ReportError, match=match):
            list(parse_feedback(_counting(chunks, pulled), Feedback()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return pulled, peak


def test_billion_laughs_is_refused_at_the_first_chunk_without_expanding() -> None:
    chunks = [LAUGHS] + [b"<!-- more -->"] * 1000
    pulled, peak = _refused(chunks, "document type declaration")
    assert pulled == [len(LAUGHS)]
    assert peak < 1 * MIB  # lol9 expanded is 3 GB


@pytest.mark.parametrize("made_up", [b"<made-up-%07d/>", b'<x made-up-%07d="1"/>'])
def test_thousands_of_made_up_names_are_refused_in_bounded_memory(made_up: bytes) -> None:
    """expat keeps every distinct element or attribute name for the whole document (8 MiB per
    100,000): a report of made-up names is refused at the thousand-and-first, not read to the
    size cap."""
    head, tail = report_xml("google", "r-1", 0, []).split(b"</policy_published>")
    blocks = [b"".join(made_up % (block * 1000 + n) for n in range(1000)) for block in range(100)]
    chunks = [head + b"</policy_published><record>", *blocks, b"</record>" + tail]
    pulled, peak = _refused(chunks, "more than 1,000 different element or attribute")
    assert len(pulled) <= 3
    assert peak < 2 * MIB


@pytest.mark.parametrize("parameter", [False, True], ids=["entity", "parameter entity"])
def test_external_entities_are_never_read(tmp_path: Path, parameter: bool) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    report = tmp_path / "xxe.xml"
    report.write_bytes(_xxe(secret, parameter))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["dmarc", "report", "--json", "--no-dns", str(report)])
    assert status == 2
    assert "document type declaration" in err.getvalue()
    assert SECRET not in out.getvalue() + err.getvalue()


def test_a_dtd_in_utf16_is_refused_too(tmp_path: Path) -> None:
    """The sentinel reads the prolog as expat does, in any encoding expat knows."""
    text = LAUGHS.decode().replace(
        '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>'
    )
    with pytest.raises(ReportError, match="document type declaration"):
        list(parse_feedback([text.encode("utf-16")], Feedback()))


def _skipped(path: Path, limits: Limits | None = None) -> tuple[list[Finding], int]:
    """Summarise ``path``; the warnings and tracemalloc's peak while doing it."""
    warnings: list[Finding] = []
    tracemalloc.start()
    try:
        summary = summarise([str(path)], warn=warnings.append, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.reports == 0
    return warnings, peak


def test_gzip_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    """1 GiB of XML in a 1 MB gzip (a gzip stream may be many members: one member of 1 MiB of
    blanks, repeated), refused at a 4 MiB cap with a few MiB in memory."""
    blanks = gzip.compress(b" " * MIB)
    bomb = tmp_path / "bomb.xml.gz"
    bomb.write_bytes(gzip.compress(b"<feedback>") + blanks * 1024)
    warnings, peak = _skipped(bomb, Limits(report_bytes=4 * MIB))
    assert [w.message for w in warnings] == [
        "the decompressed XML is larger than 4 MiB (a decompression bomb?); skipped"
    ]
    assert peak < 8 * MIB


def test_gzip_bomb_with_the_default_cap(tmp_path: Path) -> None:
    blanks = gzip.compress(b" " * MIB)
    bomb = tmp_path / "bomb.xml.gz"
    bomb.write_bytes(gzip.compress(b"<feedback>") + blanks * 1024)
    warnings, peak = _skipped(bomb)
    assert "larger than 64 MiB" in warnings[0].message
    assert peak < 80 * MIB  # the cap and a little: the gigabyte never is


def _zip_claiming(path: Path, size: int) -> None:
    """A zip whose one member inflates to ``size`` bytes of zeros (written as one raw deflate
    stream: compressing that many zeros once, in 1 MiB steps)."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("report.xml", "w", force_zip64=False) as member,
    ):
        for _ in range(size // MIB):
            member.write(b"\0" * MIB)


def test_zip_bomb_is_refused_from_its_directory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    _zip_claiming(bomb, 256 * MIB)
    assert bomb.stat().st_size < 1 * MIB
    warnings, peak = _skipped(bomb)
    assert len(warnings) == 1
    assert "claims 268435456 bytes; at most 64 MiB are read" in warnings[0].message
    assert peak < 1 * MIB


def test_zip_with_too_many_members_is_refused_before_zipfile_reads_them(tmp_path: Path) -> None:
    """The member count comes from the end record: the central directory is never parsed."""
    bomb = tmp_path / "many.zip"
    with zipfile.ZipFile(bomb, "w") as archive:
        for n in range(5000):
            archive.writestr(f"{n}.xml", b"")
    warnings, peak = _skipped(bomb)
    assert "5000 members; at most 16" in warnings[0].message
    assert peak < 1 * MIB
