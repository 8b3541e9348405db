"""Entries whose parts are read with the grammar: :class:`GrammarEntry`.

A kind's grammar names the parts of its entries as terminals (``OPTION: INDENT? NAME SEP VALUE
SPACE? COMMENT? NEWLINE?``); :func:`mailconf.syntax.grammar.part_pattern` compiles such a
terminal into one regex with a named group per part.  An entry matches it once, on first use,
and keeps the match (entries are frozen: the text never changes), so a 100,000-row table costs
nothing until its rows are read, and the models never split an entry with a second, hand-written
rule.
"""

from __future__ import annotations

import functools
import re
from typing import ClassVar

import attrs

from mailconf.syntax import grammar
from mailconf.syntax.document import Entry


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

    @functools.cached_property
    def _match(self) -> re.Match[str] | None:
        # Computed on first use and kept: the entry is frozen, so its text cannot change.
        pattern = grammar.part_pattern(self.grammar_name, self.parts_terminal)
        return pattern.fullmatch(self.part_source())

    def match_parts(self) -> re.Match[str] | None:
        """The parts of this entry, or None when the terminal does not match it (only possible
        for kinds whose entries are checked after Lark has found them: Postfix's)."""
        return self._match

    @property
    def parts(self) -> re.Match[str]:
        """The parts of this entry, which the grammar has accepted."""
        match = self._match
        if match is None:
            raise self._not_parsed()
        return match

    def part(self, name: str) -> str:
        """One part's text ("" when the entry does not have that optional part)."""
        match = self._match
        if match is None:
            raise self._not_parsed()
        return match[name] or ""

    def _not_parsed(self) -> AssertionError:
        # A bug: Lark accepted the entry (or the model checked it), so the terminal matches it.
        return AssertionError(
            f"{self.grammar_name}: {self.parts_terminal} does not match {self.text!r}"
        )
