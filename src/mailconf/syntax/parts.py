"""Entries whose parts are read with the grammar: :class:`GrammarEntry`.

A kind's grammar names the parts of its entries as terminals (``OPTION: INDENT? NAME SEP VALUE
SPACE? COMMENT? NEWLINE?``); :func:`mailconf.syntax.grammar.part_pattern` compiles such a
terminal into one regex with a named group per part.  An entry matches it once, on first use,
and keeps the match (entries are frozen: the text never changes), so a 100,000-row table costs
nothing until its rows are read, and the models never split an entry with a second, hand-written
rule.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal, TypeVar

import attrs

from mailconf.syntax import grammar
from mailconf.syntax.document import Entry

GrammarEntryT = TypeVar("GrammarEntryT", bound="GrammarEntry")


@attrs.frozen(eq=False)
class GrammarEntry(Entry):
    """An entry read through the terminal ``parts_terminal`` of ``grammars/<grammar_name>.lark``
    (the file that defines it: the three OpenDKIM tables share ``dataset_lines``)."""

    grammar_name: ClassVar[str] = ""
    parts_terminal: ClassVar[str] = ""

    def part_source(self) -> str:
        """The text the parts terminal describes: the entry's own text (Postfix: the logical
        line its physical lines make)."""
        return self.text

    # The match, read on first use (False until then: nothing to pay while parsing).  Entries are
    # frozen, so it stays true.  Never left unset: a kind with a cached_property gets attrs'
    # __getattr__, which would make every read of an unset slot slow.
    _match: re.Match[str] | Literal[False] | None = attrs.field(
        init=False, default=False, repr=False
    )

    @classmethod
    def parsed(cls: type[GrammarEntryT], leading: str, text: str, lineno: int) -> GrammarEntryT:
        # Entry.parsed with one more slot, written out: a super() call per row costs 20%.
        entry = _new(cls)
        _set_leading(entry, leading)
        _set_text(entry, text)
        _set_lineno(entry, lineno)
        _set_unread(entry, False)
        return entry

    def _remember(self) -> re.Match[str] | None:
        pattern = grammar.part_pattern(self.grammar_name, self.parts_terminal)
        match = pattern.fullmatch(self.part_source())
        object.__setattr__(self, "_match", match)
        return match

    def match_parts(self) -> re.Match[str] | None:
        """The parts of this entry, or None when the terminal does not match it (only possible
        for kinds whose entries are checked after Lark has found them: Postfix's)."""
        match = self._match
        return self._remember() if match is False else match

    @property
    def parts(self) -> re.Match[str]:
        """The parts of this entry, which the grammar has accepted."""
        match = self.match_parts()
        if match is None:
            raise self._not_parsed()
        return match

    def part(self, name: str) -> str:
        """One part's text ("" when the entry does not have that optional part)."""
        match = self._match  # match_parts() inlined: the hot path of reading 100,000 rows
        if match is False:
            match = self._remember()
        if match is None:
            raise self._not_parsed()
        return match[name] or ""

    def _not_parsed(self) -> AssertionError:
        # A bug: Lark accepted the entry (or the model checked it), so the terminal matches it.
        return AssertionError(
            f"{self.grammar_name}: {self.parts_terminal} does not match {self.text!r}"
        )


@attrs.frozen(eq=False)
class NameValueEntry(GrammarEntry):
    """An entry whose terminal names a ``name`` and a ``value`` part: main.cf's ``name = value``
    and the milters' ``Name value``.  The value is what the daemon reads (the terminal leaves out
    what it does not: blanks around it, a comment after it, continuation line breaks)."""

    @property
    def name(self) -> str:
        match = self._match  # part("name") inlined: lint reads every name of 50,000 lines
        if match is False:
            match = self._remember()
        if match is None:
            raise self._not_parsed()
        return match["name"] or ""

    @property
    def value(self) -> str:
        return self.part("value")


_new = object.__new__
_set_leading = Entry.__dict__["leading"].__set__
_set_text = Entry.__dict__["text"].__set__
_set_lineno = Entry.__dict__["lineno"].__set__
_set_unread = GrammarEntry.__dict__["_match"].__set__
