"""The parse driver: Lark recognises runs of lines, the kind's entry type gives them meaning.

Errors come out as :class:`~mailconf.errors.ParseError` with the daemon's notion of position, never
as a Lark exception: Lark's errors are turned into ours here, in one place.
"""

from __future__ import annotations

from typing import TypeVar

from mailconf.errors import ParseError
from mailconf.syntax import grammar
from mailconf.syntax.document import (
    Document,
    Entry,
    raise_entry_error,
    split_lines,
    split_owned,
)

DocT = TypeVar("DocT", bound=Document)


def parse_document(doc_type: type[DocT], text: str, path: str | None = None) -> DocT:
    """Parse ``text`` as ``doc_type``'s kind; bad input raises ParseError, never anything else."""
    try:
        return _parse(doc_type, text, path)
    except ParseError as error:
        if path is not None and error.path is None:
            raise error.with_path(path) from None
        raise


def _parse(doc_type: type[DocT], text: str, path: str | None) -> DocT:
    kind = doc_type.kind
    tokens = _tokens(kind, text, doc_type)
    unit = grammar.unit_pattern(kind)
    make_entry = doc_type.entry_type.parsed
    # Kinds whose grammar says everything (tables) skip the per-entry call: 100,000 rows add up.
    validates = doc_type.entry_type.validate is not Entry.validate

    header_parts: list[str] = []
    entries: list[Entry] = []
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
                        raise_entry_error(doc_type, entry, problem)
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
    doc = doc_type(header="".join(header_parts), entries=entries, trailer=pending, path=path)
    return doc


def _tokens(kind: str, text: str, doc_type: type[Document]) -> list[tuple[str, str]]:
    import lark

    if not text:
        return []
    try:
        tree = grammar.parser(kind).parse(text, start="start")
    except lark.exceptions.UnexpectedCharacters as error:
        raise _character_error(doc_type, text, error.pos_in_stream or 0) from None
    except lark.exceptions.UnexpectedInput as error:  # pragma: no cover - flat grammars
        raise ParseError(f"unexpected input ({type(error).__name__})", line=1, column=1) from None
    return [(token.type, str(token)) for token in tree.children if isinstance(token, lark.Token)]


def _character_error(doc_type: type[Document], text: str, position: int) -> ParseError:
    """A lexer failure at ``position``: describe the line the way the kind's daemon would."""
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    source_line = text[line_start : line_end + 1 if line_end >= 0 else len(text)]
    line = text.count("\n", 0, line_start) + 1
    column, message = explain_line(doc_type, source_line, position - line_start + 1)
    return ParseError(message, line=line, column=column, source_line=source_line)


def explain_line(doc_type: type[Document], source_line: str, column: int) -> tuple[int, str]:
    explain = getattr(doc_type, "explain_line", None)
    if explain is not None:
        result: tuple[int, str] = explain(source_line)
        return result
    return column, f"cannot parse this line as {doc_type.kind}"


def parse_single_entry(doc_type: type[Document], text: str) -> Entry:
    """Parse text that must be exactly one entry (used by edits to validate what they insert)."""
    import lark

    kind = doc_type.kind
    try:
        grammar.parser(kind).parse(text, start="entry")
    except lark.exceptions.UnexpectedInput as error:
        position = getattr(error, "pos_in_stream", 0) or 0
        if isinstance(error, lark.exceptions.UnexpectedCharacters):
            raise _character_error(doc_type, text, position) from None
        raise ParseError(
            f"not a single {kind} entry",
            line=1,
            column=1,
            source_line=split_lines(text)[0] if text else "",
        ) from None
    entry = doc_type.entry_type("", text, 0)
    problem = entry.validate()
    if problem is not None:
        raise_entry_error(doc_type, entry, problem)
    return entry
