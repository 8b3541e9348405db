"""The parse driver: Lark recognises runs of lines, the kind's entry type gives them meaning.

Errors come out as :class:`~mailconf.errors.ParseError` with the daemon's notion of position, never
as a Lark exception: Lark's errors are turned into ours here, in one place.

The driver knows the grammars and the line rule, not the tree it fills: a kind's
:class:`~mailconf.syntax.document.Document` calls it with its entry type and its way of explaining
a line the daemon refuses (:meth:`~mailconf.syntax.document.Document.parse`), so the tree is built
above the driver and the driver never imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from mailconf.errors import ParseError
from mailconf.syntax import grammar


class ParsedEntry(Protocol):
    """What the driver needs of an entry (:class:`~mailconf.syntax.document.Entry` is one)."""

    @property
    def text(self) -> str: ...

    @property
    def lineno(self) -> int: ...

    def validate(self) -> tuple[int, int, str] | None: ...


EntryT = TypeVar("EntryT", bound=ParsedEntry)
#: Makes an entry from ``(leading trivia, own text, line number)``.
MakeEntry = Callable[[str, str, int], EntryT]
#: ``(source line, column) -> (column, message)``: why the daemon refuses a line, in its terms.
Explain = Callable[[str, int], tuple[int, str]]


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only, keeping it: the daemons treat CR, VT and FF as ordinary characters."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def parse_text(
    kind: str,
    text: str,
    make_entry: MakeEntry[EntryT],
    explain: Explain,
    *,
    validates: bool = True,
) -> tuple[str, list[EntryT], str]:
    """``(header, entries, trailer)`` of ``text`` read as ``kind``; bad input raises ParseError,
    never anything else.  ``validates``: call each entry's ``validate()`` (kinds whose grammar
    says everything, the tables, skip it: 100,000 rows add up)."""
    tokens = _tokens(kind, text, explain)
    unit = grammar.unit_pattern(kind)

    header_parts: list[str] = []
    entries: list[EntryT] = []
    pending = ""  # trivia waiting for its owner (the next entry, or the trailer)
    line = 1
    for token_type, value in tokens:
        if token_type == "ENTRIES":
            position = 0
            for match in unit.finditer(value):
                own = match.group()
                if match.start() != position:  # cannot happen: ENTRIES is ENTRY+
                    raise AssertionError("grammar run and unit disagree")
                position = match.end()
                if not entries:
                    # The first entry owns only its comments: the file's introduction is the header.
                    header, pending = split_owned(pending)
                    header_parts.append(header)
                    line += header.count("\n")
                line += pending.count("\n")
                entry = make_entry(pending, own, line)
                if validates:
                    problem = entry.validate()
                    if problem is not None:
                        raise entry_error(entry, problem)
                entries.append(entry)
                pending = ""
                line += own.count("\n")
        elif token_type == "ORPHANS":
            # Only possible before the first entry: Postfix warns and drops these lines.
            header_parts.append(pending + value)
            line += (pending + value).count("\n")
            pending = ""
        else:
            pending += value
    return "".join(header_parts), entries, pending


_BLANKS = " \t\n\v\f\r"
"""What makes a line blank: C's ``isspace()`` in the C locale, which every daemon reads with."""


def is_blank_line(line: str) -> bool:
    return not line.strip(_BLANKS)


def split_owned(trivia: str, kind: str | None = None) -> tuple[str, str]:
    """Split the trivia above an entry into ``(kept, owned)``: the one rule of comment ownership.

    The comment lines directly above an entry (no blank line between) are ``owned``: they describe
    it and go with it when it is removed.  Everything up to and including the last blank line above
    them is ``kept``: a section heading, or the file's introduction above the first entry (LibCST's
    rule for the module header), which removing the entry must not remove.

    With ``kind``, a block that holds a commented-out entry of that kind (``#submission inet n -
    y - - smtpd``, ``#Mode sv``: ``#`` directly followed by a line the grammar reads as an entry)
    is disabled configuration, not a description, and nothing of it is owned.  Debian's master.cf
    has no blank line between its dozens of commented-out services and the next live one:
    removing ``pickup`` must not take them along.
    """
    lines = split_lines(trivia)
    cut = len(lines)
    while cut > 0 and not is_blank_line(lines[cut - 1]):
        cut -= 1
    kept = "".join(lines[:cut])
    if kind is not None and any(_disabled_entry(kind, line) for line in lines[cut:]):
        return trivia, ""
    return kept, trivia[len(kept) :]


def _disabled_entry(kind: str, line: str) -> bool:
    body = line.lstrip(" \t")[1:]
    return body[:1] not in ("", " ", "\t", "#", "\r", "\n") and bool(
        grammar.unit_pattern(kind).fullmatch(body)
    )


def _tokens(kind: str, text: str, explain: Explain) -> list[tuple[str, str]]:
    """The run tokens of ``text``: ``(terminal name, text)``; ParseError where none matches."""
    if not text:
        return []
    patterns = grammar.scanner(kind)
    if patterns is not None:
        return scan(patterns, text, explain)
    import lark

    try:
        tree = grammar.parser(kind).parse(text, start="start")
    except lark.exceptions.UnexpectedInput as error:
        # UnexpectedToken too: Lark's contextual lexer says so when a terminal of another rule
        # (an entry's part) matches where no run does; it is the same place in the text.
        raise _character_error(explain, text, error.pos_in_stream or 0) from None
    return [(token.type, str(token)) for token in tree.children if isinstance(token, lark.Token)]


def scan(patterns: Sequence[re.Pattern[str]], text: str, explain: Explain) -> list[tuple[str, str]]:
    """Lex ``text`` as Lark's lexer does with these patterns (the first that matches at each
    position wins); for a flat ``start`` rule that is the whole parse (see
    :mod:`mailconf.syntax.prebuilt`; tests compare the two on every kind)."""
    tokens: list[tuple[str, str]] = []
    position, end = 0, len(text)
    while position < end:
        for pattern in patterns:
            match = pattern.match(text, position)
            if match is not None:
                break
        else:
            raise _character_error(explain, text, position)
        tokens.append((str(match.lastgroup), match.group()))
        position = match.end()
    return tokens


def _character_error(explain: Explain, text: str, position: int) -> ParseError:
    """A lexer failure at ``position``: describe the line the way the kind's daemon would."""
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    source_line = text[line_start : line_end + 1 if line_end >= 0 else len(text)]
    line = text.count("\n", 0, line_start) + 1
    column, message = explain(source_line, position - line_start + 1)
    return ParseError(message, line=line, column=column, source_line=source_line)


def parse_single_entry(
    kind: str, text: str, make_entry: MakeEntry[EntryT], explain: Explain
) -> EntryT:
    """Parse text that must be exactly one entry (used by edits to validate what they insert)."""
    import lark

    try:
        grammar.parser(kind).parse(text, start="entry")
    except lark.exceptions.UnexpectedInput as error:
        position = getattr(error, "pos_in_stream", 0) or 0
        if isinstance(error, lark.exceptions.UnexpectedCharacters):
            raise _character_error(explain, text, position) from None
        raise ParseError(
            f"not a single {kind} entry",
            line=1,
            column=1,
            source_line=split_lines(text)[0] if text else "",
        ) from None
    entry = make_entry("", text, 0)
    problem = entry.validate()
    if problem is not None:
        raise entry_error(entry, problem)
    return entry


def entry_error(entry: ParsedEntry, problem: tuple[int, int, str]) -> ParseError:
    """The error for an entry its kind refuses: ``problem`` is ``validate()``'s answer."""
    offset, column, message = problem
    lines = split_lines(entry.text)
    source = lines[offset] if offset < len(lines) else (lines[-1] if lines else "")
    return ParseError(message, line=entry.lineno + offset, column=column, source_line=source)
