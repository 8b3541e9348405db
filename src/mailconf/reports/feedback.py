"""One DMARC aggregate report (RFC 7489 appendix C, DMARCbis ``dmarc-2.0``), parsed as it streams.

The XML comes from anyone on the internet who mails the ``rua=`` address, so the parser must not
expand entities nor read anything the document points at.  The standard library's expat parser
(``pyexpat``) is used with one rule instead of adding ``defusedxml``: a document type declaration
is refused the moment expat reports its start.  Entities can only be declared in one, and an
aggregate report never has one, so the rule removes entity expansion (the "billion laughs") and
external entities (XXE: ``SYSTEM "file:///etc/shadow"``, external DTDs) at their root, in every
encoding expat reads; a reference to an undeclared entity is then an error of expat's own.  That is
the part of defusedxml's protection that applies here, without its dependency, and without its
tree builder: defusedxml parses through ElementTree's pure-Python builder, an object per element;
these handlers keep only the text of the few elements a summary needs (an ElementTree version of
this parser, with the C builder, ran at two thirds of this one's speed).

The handlers keep one record at a time and hand each over as soon as it ends, so memory does not
grow with the size of a report; an element's text is kept up to 1,024 characters, and one so long
that its beginning may have been dropped (hundreds of kB) is refused.  Element names
are compared without their namespace, taken from the root element: Google and Yahoo send none, the
DMARCbis schema has ``urn:ietf:params:xml:ns:dmarc-2.0``, some reporters
``http://dmarc.org/dmarc-xml/0.1``.  Elements of other namespaces (extensions) and unknown
elements (``<generator>``, ``<envelope_to>``, ``<human_result>``) are ignored, as the schema asks.
"""

from __future__ import annotations

import ipaddress
import xml.parsers.expat
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Final, NamedTuple, TypeVar

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
#: expat is given the XML in slices of at most this many bytes, and pyexpat hands character data
#: over in pieces of at most this many characters (at each start tag, when its buffer is full and
#: at the end of each slice), so a piece is never longer.
_SLICE: Final = 64 * 1024
#: The last pieces kept: a kept leaf's text (a few characters, and the blanks after it) is one or
#: two; a text that fills them all may have lost its beginning, and is refused.  The blanks
#: between the elements that are not read take at most this many pieces of memory.
_TEXT_PIECES: Final = 8
#: At most this many different names of elements not read and of attributes (the schemas have
#: a few dozen).
_NAME_LIMIT: Final = 1000
#: At most this many DKIM or SPF results per row (DMARCbis: a row SHOULD carry at most 100).
_RESULT_LIMIT: Final = 100


class ReportError(Exception):
    """What makes one report unusable; the reader skips it with a warning naming the file."""


class AuthResult(NamedTuple):
    """One ``auth_results/dkim`` or ``auth_results/spf``: the domain and the raw result.

    A named tuple rather than an attrs class, as :class:`Record`: one is made per result of
    every row, and a tuple is cheaper to make and to hash (the summary's per-row verdicts are
    cached by the results).
    """

    domain: str
    result: str


class Record(NamedTuple):
    """One ``<record>``: ``messages`` (its ``<count>``) from ``source_ip`` with these results."""

    source_ip: str
    messages: int
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


def _domain(text: str) -> str:
    return text.strip().rstrip(".").lower()


def _integer(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ReportError(f"{what} {text[:40]!r} is not a whole number")
    return int(text)


# What each element does, by local name, in each state of the reader: start a section (which
# ends the one before), enter auth_results or one of its dkim/spf entries, or be a leaf whose text
# is kept in the section's values (an override reason's ``type`` is a leaf that may repeat).
_SECTION, _AUTH, _ENTRY, _LEAF = range(4)
_SECTIONS: Final = ("report_metadata", "policy_published", "record")
_TABLES: Final[dict[str, dict[str, int]]] = {
    "top": {},
    "report_metadata": dict.fromkeys(("org_name", "report_id", "begin", "end"), _LEAF),
    "policy_published": dict.fromkeys(("domain", "adkim", "aspf", "p", "pct"), _LEAF),
    "record": {
        **dict.fromkeys(("source_ip", "count", "disposition", "header_from", "type"), _LEAF),
        "auth_results": _AUTH,
    },
    "auth": {"dkim": _ENTRY, "spf": _ENTRY},
    "entry": {"dkim": _ENTRY, "spf": _ENTRY, "domain": _LEAF, "result": _LEAF},
}
#: The leaf kept as a list, one item per occurrence: ``policy_evaluated/reason/type``.
_REASON: Final = "type"
#: Separates the namespace from the local name in the names expat reports.
_SEPARATOR: Final = " "
#: A cache's keys (texts as written) and values (what is read from them).
_Raw = TypeVar("_Raw")
_Value = TypeVar("_Value")
#: Each cache below is emptied when it reaches this size.
_CACHE_SIZE: Final = 4096
#: Source addresses already read: the text as written (blanks included) -> canonical address.
_ADDRESSES: dict[str, str] = {}
#: Auth results already made, by their domain and result as written (reports repeat them).
_RESULTS: dict[tuple[str, str], AuthResult] = {}
#: From domains already read: the text as written -> the domain.
_DOMAINS: dict[str, str] = {}


def _text(values: dict[str, str], name: str) -> str:
    """A leaf's text as the reports mean it: without the blanks around it, at most 1,024
    characters."""
    return values.get(name, "").strip()[:_TEXT_LIMIT]


def _cached(
    cache: dict[_Raw, _Value],
    raw: _Raw,
    make: Callable[[_Raw], _Value],
    length: Callable[[_Raw], int],
) -> _Value:
    """``make(raw)``, from ``cache`` when a row before had the same text.  A text longer than a
    value can be (``length``, asked on a miss only) is made anew each time, never kept: thousands
    of distinct texts of half a megabyte each would otherwise fill the cache with gigabytes."""
    value = cache.get(raw)
    if value is None:
        value = make(raw)
        if length(raw) <= _TEXT_LIMIT:
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[raw] = value
    return value


def _address(raw: str) -> str:
    text = raw.strip()[:_TEXT_LIMIT]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ReportError(f"record source_ip {text[:60]!r} is not an IP address") from None


def _leaf_domain(raw: str) -> str:
    return _domain(raw.strip()[:_TEXT_LIMIT])


def _pair_length(raw: tuple[str, str]) -> int:
    return len(raw[0]) + len(raw[1])


def _auth_result(raw: tuple[str, str]) -> AuthResult:
    domain, result = raw
    return AuthResult(_leaf_domain(domain), result.strip()[:_TEXT_LIMIT].lower())


def _read_metadata(feedback: Feedback, values: dict[str, str]) -> None:
    feedback.org_name = _text(values, "org_name")
    feedback.report_id = _text(values, "report_id")
    if not feedback.org_name or not feedback.report_id:
        raise ReportError("report_metadata lacks org_name or report_id")
    if "begin" not in values or "end" not in values:
        raise ReportError("report_metadata lacks date_range")
    feedback.begin = _integer(_text(values, "begin"), "date_range begin")
    feedback.end = _integer(_text(values, "end"), "date_range end")


def _read_policy(feedback: Feedback, values: dict[str, str]) -> None:
    feedback.domain = _domain(_text(values, "domain"))
    if not feedback.domain:
        raise ReportError("policy_published lacks domain")
    feedback.policy = _text(values, "p").lower()
    for tag in ("adkim", "aspf"):
        mode = _text(values, tag).lower() or "r"
        if mode not in ("r", "s"):
            raise ReportError(f"policy_published {tag} {mode!r} is not r or s")
        setattr(feedback, tag, mode)
    pct = _text(values, "pct")
    feedback.pct = _integer(pct, "pct") if pct else None
    feedback.has_policy = True


def _read_record(
    values: dict[str, str], dkim: list[AuthResult], spf: list[AuthResult], reasons: list[str]
) -> Record:
    address = _cached(_ADDRESSES, values.get("source_ip", ""), _address, len)
    count = _integer(_text(values, "count"), "record count")
    raw = _text(values, "disposition").lower()
    if raw not in DISPOSITIONS:
        raise ReportError(f"record disposition {raw[:40]!r} is not none/quarantine/reject")
    header_from = _cached(_DOMAINS, values.get("header_from", ""), _leaf_domain, len)
    if not header_from:
        raise ReportError("a record has no identifiers/header_from")
    return Record(
        address, count, DISPOSITIONS[raw], header_from, tuple(dkim), tuple(spf), tuple(reasons)
    )


class _Reader:
    """The expat callbacks: they fill ``feedback`` and collect finished records in ``done``.

    Each pyexpat callback costs about as much as expat's own work on an element, whether the
    handler is Python or C, and so does installing a handler; on the benchmark's gigabyte those
    costs are the time.  So only the start of elements calls Python (the reader's state lives
    there), and the character data goes, through the built-in ``append`` of a bounded deque, to
    ``texts``: pyexpat hands its buffer over at each start tag, so when a kept leaf starts the
    deque is emptied, and at the next start tag it holds the leaf's text.  No end-tag callback is
    needed: a section (``report_metadata``, ``policy_published``, ``record``) ends where the next
    one starts or the document ends.  What a leaf's text runs to is the next start tag, so it
    includes the blanks after its end tag; character data there other than blanks is mixed
    content, which the schemas do not have, and would be read as part of the leaf's text.

    The per-element work is the start handler's first lines, so they touch only slots; a leaf's
    text is kept as written (blanks and all) and read when its section ends, through caches keyed
    by that raw text (a report repeats its sources, domains and results row after row).
    """

    __slots__ = (
        "actions",
        "auth",
        "dkim",
        "done",
        "feedback",
        "leaf",
        "parser",
        "reasons",
        "section",
        "spf",
        "tables",
        "texts",
        "unknown",
        "values",
    )

    def __init__(self, parser: xml.parsers.expat.XMLParserType, feedback: Feedback) -> None:
        self.parser = parser
        self.feedback = feedback
        #: Per state, expat's element name (namespace included) -> (action, local name).
        self.tables: dict[str, dict[str, tuple[int, str]]] = {}
        self.actions: dict[str, tuple[int, str]] = {}
        self.section = ""  # report_metadata, policy_published, record
        self.auth = ""  # dkim or spf: the auth_results entry being read
        self.leaf = ""  # the kept leaf whose text is in texts
        self.texts: deque[str] = deque(maxlen=_TEXT_PIECES)
        self.values: dict[str, str] = {}
        self.dkim: list[AuthResult] = []
        self.spf: list[AuthResult] = []
        self.reasons: list[str] = []
        self.done: list[Record] = []
        #: The names of the elements not read (extensions, ``<selector>``...) and of attributes,
        #: to bound them.
        self.unknown: set[str] = set()
        parser.StartDoctypeDeclHandler = self.refuse_doctype
        parser.EntityDeclHandler = self.refuse_doctype
        parser.StartElementHandler = self.root
        parser.CharacterDataHandler = self.texts.append

    @staticmethod
    def refuse_doctype(*_: object) -> None:
        raise ReportError("the XML has a document type declaration (DTD), which a report never has")

    @property
    def started(self) -> bool:
        return bool(self.tables)

    def root(self, name: str, _attributes: object) -> None:
        """The root element: ``feedback``, in the namespace every other name is read in."""
        namespace, _, local = name.rpartition(_SEPARATOR)
        if local != "feedback":
            raise ReportError(f"the root element is <{local}>, not <feedback>: not a DMARC report")
        prefix = namespace + _SEPARATOR if namespace else ""
        sections = {prefix + section: (_SECTION, section) for section in _SECTIONS}
        for state, table in _TABLES.items():
            actions = {prefix + name: (action, name) for name, action in table.items()}
            self.tables[state] = {**sections, **actions}
        self.actions = self.tables["top"]
        self.parser.StartElementHandler = self.start

    def start(self, name: str, attributes: list[str]) -> None:
        if attributes:  # names and values, alternately (ordered_attributes)
            for attribute in attributes[::2]:
                if attribute not in self.unknown:
                    self.new_unknown(attribute)
        if self.leaf:
            self.end_leaf()
        action = self.actions.get(name)
        if action is None:
            if name not in self.unknown:
                self.new_unknown(name)
            return
        kind, local = action
        if kind == _LEAF:
            self.leaf = local
            self.texts.clear()
        elif kind == _ENTRY:
            self.end_entry()
            self.auth = local
            self.actions = self.tables["entry"]
        elif kind == _AUTH:
            self.actions = self.tables["auth"]
        else:
            self.finish()
            if local == "record" and not self.feedback.has_policy:
                raise ReportError("a <record> comes before <policy_published>")
            self.section = local
            self.actions = self.tables[local]

    def new_unknown(self, name: str) -> None:
        """An element or attribute name not seen before: expat keeps every distinct name it meets
        for the whole document, so a report of millions of made-up names would take hundreds of
        MB within the size cap.  Reports use a few dozen; more than a thousand is not a report."""
        if len(self.unknown) >= _NAME_LIMIT:
            raise ReportError(
                f"more than {_NAME_LIMIT:,} different element or attribute names: not a report"
            )
        self.unknown.add(name)

    def end_leaf(self) -> None:
        """The kept leaf's text, from its start tag to the next one (or the document's end)."""
        texts, leaf = self.texts, self.leaf
        if len(texts) == _TEXT_PIECES:
            raise ReportError(f"the text of <{leaf}> is far too long for a report")
        if leaf == _REASON:
            self.reasons.append("".join(texts).strip()[:_TEXT_LIMIT].lower())
        else:
            self.values[leaf] = "".join(texts)
        self.leaf = ""

    def end_entry(self) -> None:
        """The auth_results entry read so far is complete."""
        if self.auth:
            results = self.dkim if self.auth == "dkim" else self.spf
            values = self.values
            raw = (values.pop("domain", ""), values.pop("result", ""))
            if len(results) < _RESULT_LIMIT:
                results.append(_cached(_RESULTS, raw, _auth_result, _pair_length))
            self.auth = ""

    def finish(self) -> None:
        """The section read so far is complete (the next one starts, or the document ends)."""
        if self.leaf:
            self.end_leaf()
        section, values = self.section, self.values
        if section == "record":
            self.end_entry()
            self.done.append(_read_record(values, self.dkim, self.spf, self.reasons))
            self.dkim, self.spf, self.reasons = [], [], []
        elif section == "report_metadata":
            _read_metadata(self.feedback, values)
        elif section == "policy_published":
            _read_policy(self.feedback, values)
        self.section = ""
        self.actions = self.tables["top"]
        values.clear()


def parse_feedback(chunks: Iterable[bytes], feedback: Feedback) -> Iterator[Record]:
    """Fill ``feedback`` and yield each record of the report read from ``chunks``.

    ``feedback`` is filled as the parser reaches ``report_metadata`` and ``policy_published``
    (both precede the records in every schema); a record before the policy is refused, since its
    alignment depends on the policy.  Raises :class:`ReportError` for anything unusable.
    """
    # No interning of names: pyexpat's table would be a second copy of every distinct name
    # (expat keeps its own: see _Reader.new_unknown), and its lookup per element costs 1.7 % of
    # the reading.
    parser = xml.parsers.expat.ParserCreate(namespace_separator=_SEPARATOR, intern=None)
    parser.buffer_text = True
    parser.buffer_size = _SLICE
    parser.ordered_attributes = True  # a list per element is cheaper than a dict
    reader = _Reader(parser, feedback)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            for start in range(0, len(view), _SLICE):
                parser.Parse(view[start : start + _SLICE], False)
            yield from reader.done
            reader.done.clear()
        parser.Parse(b"", True)
    except xml.parsers.expat.ExpatError as error:
        raise ReportError(f"not well-formed XML: {error}") from None
    reader.finish()
    yield from reader.done
    if not reader.started:
        raise ReportError("no XML element at all")
    if not feedback.has_policy:
        raise ReportError("no <policy_published>")
