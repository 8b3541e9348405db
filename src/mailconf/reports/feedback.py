"""One DMARC aggregate report (RFC 7489 appendix C, DMARCbis ``dmarc-2.0``), parsed as it streams.

The XML comes from anyone on the internet who mails the ``rua=`` address, so the parser must not
expand entities nor read anything the document points at.  The standard library's expat is used,
in two parts, instead of adding ``defusedxml``:

* a *sentinel* ``pyexpat`` parser reads the prolog (everything before the root element) and
  refuses a document type declaration.  Entities can only be declared in one, and an aggregate
  report never has one, so refusing it removes entity expansion (the "billion laughs") and
  external entities (XXE: ``SYSTEM "file:///etc/shadow"``) at their root, in any encoding expat
  reads.  Once the root element starts, a ``<!DOCTYPE`` is not well-formed XML and a reference to
  an undeclared entity is an error, so the sentinel is no longer needed;
* ``xml.etree.ElementTree.XMLPullParser`` (expat with ElementTree's C tree builder) reads the
  document, fed the bytes the sentinel has already seen.  defusedxml's ``iterparse`` would run
  the pure-Python tree builder, a Python call per element: several times slower on the benchmark's
  gigabyte (docs/performance.md), for the same protection.

Each ``<record>`` is handed over as soon as it ends and then dropped from the tree, so memory does
not grow with the size of a report.  Element names are compared without their namespace: Google
and Yahoo send none, the DMARCbis schema has ``urn:ietf:params:xml:ns:dmarc-2.0``, some reporters
use ``http://dmarc.org/dmarc-xml/0.1``; unknown elements (``<extension>``, ``<generator>``,
``<envelope_to>``, ``<human_result>``) are ignored, as the schema asks.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ElementTree
import xml.parsers.expat
from collections.abc import Iterable, Iterator
from typing import Final, cast

import attrs

__all__ = ["AuthResult", "Feedback", "Record", "ReportError", "parse_feedback"]

#: ``policy_evaluated/disposition`` values; DMARCbis adds ``pass`` (no policy applied: none).
DISPOSITIONS: Final = {
    "none": "none",
    "pass": "none",
    "quarantine": "quarantine",
    "reject": "reject",
}

#: At most this many characters of an element's text are kept (a report's values are short).
_TEXT_LIMIT: Final = 1024
#: At most this many DKIM or SPF results per row (DMARCbis: a row SHOULD carry at most 100).
_RESULT_LIMIT: Final = 100


class ReportError(Exception):
    """What makes one report unusable; the reader skips it with a warning naming the file."""


@attrs.frozen
class AuthResult:
    """One ``auth_results/dkim`` or ``auth_results/spf``: the domain and the raw result."""

    domain: str
    result: str


@attrs.frozen
class Record:
    """One ``<record>``: ``count`` messages from ``source_ip`` with these results."""

    source_ip: str
    count: int
    disposition: str
    header_from: str
    dkim: tuple[AuthResult, ...]
    spf: tuple[AuthResult, ...]
    #: ``policy_evaluated/reason/type`` values (``forwarded``, ``mailing_list``, ...).
    reasons: tuple[str, ...] = ()


@attrs.define
class Feedback:
    """The report's metadata and published policy, filled in as the parser reaches them."""

    org_name: str = ""
    report_id: str = ""
    begin: int | None = None
    end: int | None = None
    domain: str = ""
    adkim: str = "r"
    aspf: str = "r"
    policy: str = ""
    pct: int | None = None
    #: Whether ``policy_published`` has been read (records need its adkim/aspf).
    has_policy: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a report: two copies of it (a resend) count once."""
        return (self.org_name, self.report_id)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(element: ElementTree.Element | None) -> str:
    if element is None or element.text is None:
        return ""
    return element.text.strip()[:_TEXT_LIMIT]


def _children(element: ElementTree.Element) -> dict[str, ElementTree.Element]:
    """The first child of each local name (later ones are ignored, as a receiver would)."""
    found: dict[str, ElementTree.Element] = {}
    for child in element:
        found.setdefault(_local(child.tag), child)
    return found


def _domain(text: str) -> str:
    return text.strip().rstrip(".").lower()


def _integer(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ReportError(f"{what} {text[:40]!r} is not a whole number")
    return int(text)


class _RootReached(Exception):
    """The sentinel's signal that the prolog is over."""


class _Prolog:
    """The sentinel: a pyexpat parser over the bytes before the root element, refusing a DOCTYPE."""

    def __init__(self) -> None:
        self.done = False
        self._parser = xml.parsers.expat.ParserCreate()
        self._parser.StartDoctypeDeclHandler = self._refuse
        self._parser.EntityDeclHandler = self._refuse
        self._parser.StartElementHandler = self._root

    @staticmethod
    def _refuse(*_: object) -> None:
        raise ReportError("the XML has a document type declaration (DTD), which a report never has")

    def _root(self, *_: object) -> None:
        self.done = True
        raise _RootReached  # the sentinel stops here: the rest is the main parser's

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.Parse(chunk, False)
        except _RootReached:
            pass
        except xml.parsers.expat.ExpatError as error:
            raise ReportError(f"not well-formed XML: {error}") from None


def _events(
    parser: ElementTree.XMLPullParser[ElementTree.Element],
) -> Iterator[tuple[str, ElementTree.Element]]:
    """The parser's events: only ``start`` and ``end`` are asked for, each with an element."""
    for pair in parser.read_events():
        yield cast("tuple[str, ElementTree.Element]", pair)


def parse_feedback(chunks: Iterable[bytes], feedback: Feedback) -> Iterator[Record]:
    """Fill ``feedback`` and yield each record of the report read from ``chunks``.

    ``feedback`` is filled as the parser reaches ``report_metadata`` and ``policy_published``
    (both precede the records in every schema); a record before the policy is refused, since its
    alignment depends on the policy.  Raises :class:`ReportError` for anything unusable.
    """
    prolog = _Prolog()
    parser: ElementTree.XMLPullParser[ElementTree.Element] = ElementTree.XMLPullParser(
        events=("start", "end")
    )
    root: ElementTree.Element | None = None
    depth = 0
    for chunk in chunks:
        if not prolog.done:
            prolog.feed(chunk)
        try:
            parser.feed(chunk)
        except ElementTree.ParseError as error:
            raise ReportError(f"not well-formed XML: {error}") from None
        for event, element in _events(parser):
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                    if _local(element.tag) != "feedback":
                        raise ReportError(
                            f"the root element is <{_local(element.tag)}>, not <feedback>: "
                            "not a DMARC aggregate report"
                        )
                continue
            depth -= 1
            if depth != 1:
                continue
            name = _local(element.tag)
            if name == "record":
                if not feedback.has_policy:
                    raise ReportError("a <record> comes before <policy_published>")
                yield _record(element)
            elif name == "report_metadata":
                _metadata(element, feedback)
            elif name == "policy_published":
                _policy(element, feedback)
            assert root is not None
            root.clear()  # what has been read is dropped: memory stays flat
    try:
        parser.close()
    except ElementTree.ParseError as error:
        raise ReportError(f"not well-formed XML: {error}") from None
    if root is None:
        raise ReportError("no XML element at all")
    if not feedback.has_policy:
        raise ReportError("no <policy_published>")


def _metadata(element: ElementTree.Element, feedback: Feedback) -> None:
    parts = _children(element)
    feedback.org_name = _text(parts.get("org_name"))
    feedback.report_id = _text(parts.get("report_id"))
    if not feedback.org_name or not feedback.report_id:
        raise ReportError("report_metadata lacks org_name or report_id")
    dates = parts.get("date_range")
    if dates is None:
        raise ReportError("report_metadata lacks date_range")
    bounds = _children(dates)
    feedback.begin = _integer(_text(bounds.get("begin")), "date_range begin")
    feedback.end = _integer(_text(bounds.get("end")), "date_range end")


def _policy(element: ElementTree.Element, feedback: Feedback) -> None:
    parts = _children(element)
    feedback.domain = _domain(_text(parts.get("domain")))
    if not feedback.domain:
        raise ReportError("policy_published lacks domain")
    feedback.policy = _text(parts.get("p")).lower()
    for tag in ("adkim", "aspf"):
        mode = _text(parts.get(tag)).lower() or "r"
        if mode not in ("r", "s"):
            raise ReportError(f"policy_published {tag} {mode!r} is not r or s")
        setattr(feedback, tag, mode)
    pct = _text(parts.get("pct"))
    feedback.pct = _integer(pct, "pct") if pct else None
    feedback.has_policy = True


def _record(element: ElementTree.Element) -> Record:
    parts = _children(element)
    row = _children(parts["row"]) if "row" in parts else {}
    text = _text(row.get("source_ip"))
    try:
        source_ip = str(ipaddress.ip_address(text))
    except ValueError:
        raise ReportError(f"record source_ip {text[:60]!r} is not an IP address") from None
    count = _integer(_text(row.get("count")), "record count")
    evaluated = _children(row["policy_evaluated"]) if "policy_evaluated" in row else {}
    raw = _text(evaluated.get("disposition")).lower()
    if raw not in DISPOSITIONS:
        raise ReportError(f"record disposition {raw[:40]!r} is not none/quarantine/reject")
    reasons = tuple(
        _text(_children(reason).get("type")).lower()
        for reason in row.get("policy_evaluated", ())
        if _local(reason.tag) == "reason"
    )
    identifiers = _children(parts["identifiers"]) if "identifiers" in parts else {}
    header_from = _domain(_text(identifiers.get("header_from")))
    if not header_from:
        raise ReportError("a record has no identifiers/header_from")
    dkim: list[AuthResult] = []
    spf: list[AuthResult] = []
    for result in parts.get("auth_results", ()):
        kind = _local(result.tag)
        target = dkim if kind == "dkim" else spf if kind == "spf" else None
        if target is None or len(target) >= _RESULT_LIMIT:
            continue
        fields = _children(result)
        target.append(
            AuthResult(_domain(_text(fields.get("domain"))), _text(fields.get("result")).lower())
        )
    return Record(
        source_ip, count, DISPOSITIONS[raw], header_from, tuple(dkim), tuple(spf), reasons
    )
