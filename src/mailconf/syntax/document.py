"""The lossless tree shared by every file kind.

A :class:`Document` is a header, a list of :class:`Entry` objects and a trailer.  Every byte of the
file lives in exactly one of them, so ``dump()`` is a concatenation and edits move whole entries:

* an entry holds the trivia (comment and blank lines) since the previous entry (``leading``) and
  its own physical lines (``text``), including comment lines inside a continued Postfix value;
* the document header holds what comes before the first entry up to the last blank line (and
  Postfix's orphan continuation lines); the trailer holds what follows the last entry.

Who *owns* a comment is one rule for every kind, :func:`split_owned` (LibCST's): the comment lines
directly above an entry are its own and go when it is removed; a heading above a blank line stays,
and inserting an entry never steals a neighbour's comments.

Entries are cheap and frozen: structure inside an entry (a name, a value, fields) is computed by
the kind's subclass on first access, not while parsing, and stays true since the text cannot
change.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar, TypeVar

import attrs

from mailconf import fileio
from mailconf.errors import ParseError
from mailconf.findings import Finding
from mailconf.syntax import grammar
from mailconf.syntax.parse import (
    is_blank_line,
    parse_single_entry,
    parse_text,
    split_owned,
)
from mailconf.syntax.parse import (
    split_lines as split_lines,
)

DocT = TypeVar("DocT", bound="Document")
#: What :meth:`Document.set` accepts as a value: text, or a number or boolean the kind spells.
Value = str | int | bool
EntryT = TypeVar("EntryT", bound="Entry")


@attrs.frozen(eq=False)
class Entry:
    """One logical entry: a main.cf parameter, a master.cf service, an option, a table row.

    Entries are frozen: what a kind derives from the text (a name, a value, fields) is computed
    once and stays true, because the text never changes.  An edit builds a new entry
    (``attrs.evolve``) and the document swaps it in (:meth:`Document.replace`, :meth:`~Document.
    insert`, :meth:`~Document.remove`...), checking it as it does a parsed one.  Entries compare
    and hash by identity: a document holds each object once.

    ``lineno`` is the 1-based line of the entry's first own line in the parsed source; it is 0 for
    entries created by an edit (use :meth:`Document.line_of`, or :meth:`Document.line_numbers` for
    many entries, after edits).
    """

    leading: str
    text: str
    lineno: int = 0

    @classmethod
    def parsed(cls: type[EntryT], leading: str, text: str, lineno: int) -> EntryT:
        """``cls(leading, text, lineno)`` for the parser, without attrs' frozen ``__init__``
        (which sets each slot through ``object.__setattr__``): the same object, built twice as
        fast, which a 100,000-row table notices.  Entries declare no other fields."""
        entry = _new(cls)
        _set_leading(entry, leading)
        _set_text(entry, text)
        _set_lineno(entry, lineno)
        return entry

    def validate(self) -> tuple[int, int, str] | None:
        """``(line offset, column, message)`` when the daemon would refuse this entry, else None.

        Kinds override this; the default accepts what the grammar accepted.
        """
        return None

    @property
    def physical_lines(self) -> list[str]:
        """The entry's own physical lines, each with its line ending."""
        return split_lines(self.text)

    @property
    def leading_lines(self) -> list[str]:
        return split_lines(self.leading)

    @property
    def ends_with_newline(self) -> bool:
        return self.text.endswith("\n")


_new = object.__new__
_set_leading = Entry.__dict__["leading"].__set__  # the slots' own setters
_set_text = Entry.__dict__["text"].__set__
_set_lineno = Entry.__dict__["lineno"].__set__


@attrs.define(eq=False)
class Document:
    """A parsed file that dumps back to exactly the text it came from."""

    kind: ClassVar[str] = ""
    entry_type: ClassVar[type[Entry]] = Entry

    header: str = ""
    entries: list[Entry] = attrs.field(factory=list)
    trailer: str = ""
    path: str | None = None

    @classmethod
    def load(cls: type[DocT], path: str | os.PathLike[str]) -> DocT:
        """Read and parse ``path`` as this kind (the typed twin of :func:`mailconf.load`)."""
        return cls.parse(fileio.read_text(path), os.fspath(path))

    @classmethod
    def parse(cls: type[DocT], text: str, path: str | None = None) -> DocT:
        """Parse ``text`` as this kind (the typed twin of :func:`mailconf.parse`); ParseError for
        what the daemon refuses, naming ``path`` when given."""
        validates = cls.entry_type.validate is not Entry.validate
        try:
            header, entries, trailer = parse_text(
                cls.kind, text, cls.entry_type.parsed, cls.explain_line, validates=validates
            )
        except ParseError as error:
            if path is not None and error.path is None:
                raise error.with_path(path) from None
            raise
        return cls(header=header, entries=entries, trailer=trailer, path=path)

    # ------------------------------------------------------------------ output
    def dump(self) -> str:
        parts = [self.header]
        for entry in self.entries:
            parts.append(entry.leading)
            parts.append(entry.text)
        parts.append(self.trailer)
        return "".join(parts)

    def __str__(self) -> str:
        return self.dump()

    def dump_bytes(self) -> bytes:
        return fileio.encode(self.dump())

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write atomically (temp file, fsync, rename) keeping the existing mode and owner."""
        target = path if path is not None else self.path
        if target is None:
            raise ValueError("save() needs a path: this document was not loaded from a file")
        fileio.atomic_write(target, self.dump_bytes())

    # ------------------------------------------------------------ navigation
    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def newline(self) -> str:
        """The line ending new lines get: CRLF when the file's first line ending is CRLF."""
        text = self.header or (
            self.entries[0].leading + self.entries[0].text if self.entries else ""
        )
        text = text or self.trailer
        index = text.find("\n")
        return "\r\n" if index > 0 and text[index - 1] == "\r" else "\n"

    @property
    def ends_with_newline(self) -> bool:
        """False when the file's last line has no line ending (kept that way by edits)."""
        dumped_tail = self.trailer or (self.entries[-1].text if self.entries else self.header)
        return not dumped_tail or dumped_tail.endswith("\n")

    def line_of(self, entry: Entry) -> int:
        """The 1-based line where ``entry``'s own text starts in the current dump.

        One call walks the entries before ``entry``: to number many entries (lint), use
        :meth:`line_numbers` once instead of this in a loop, which would be quadratic.
        """
        line = 1 + self.header.count("\n")
        for candidate in self.entries:
            line += candidate.leading.count("\n")
            if candidate is entry:
                return line
            line += candidate.text.count("\n")
        raise ValueError("entry is not in this document")

    def line_numbers(self) -> dict[Entry, int]:
        """:meth:`line_of` of every entry, in one pass (entries hash by identity)."""
        numbers: dict[Entry, int] = {}
        line = 1 + self.header.count("\n")
        for entry in self.entries:
            line += entry.leading.count("\n")
            numbers[entry] = line
            line += entry.text.count("\n")
        return numbers

    def positions(self) -> dict[Entry, int]:
        """Each entry's index in :attr:`entries`, in one pass: edits that touch many entries look
        them up here instead of calling ``entries.index`` (a scan) for each."""
        return {entry: index for index, entry in enumerate(self.entries)}

    # ----------------------------------------------------------------- edits
    def parse_entry(self, text: str) -> Entry:
        """Parse ``text`` as one entry of this kind (with the file's line ending), or raise."""
        return parse_single_entry(
            self.kind, self.terminate(text), self.entry_type, self.explain_line
        )

    def terminate(self, line_text: str) -> str:
        """``line_text`` with every line ending in this file's line ending."""
        body = _strip_one_newline(line_text)
        body = body.replace("\r\n", "\n").replace("\n", self.newline)
        return body + self.newline

    def insert(self, index: int, entry: Entry) -> Entry:
        """Insert ``entry`` before position ``index`` (``len(self)`` appends), keeping the file's
        final-newline style: a file without a final newline still has none afterwards."""
        at_end = index >= len(self.entries)
        if at_end and not self.trailer and not self.ends_with_newline:
            self._terminate_last_line()
            if entry.text.endswith("\n"):
                entry = attrs.evolve(entry, text=entry.text.rstrip("\r\n"))
        self.entries.insert(index, entry)
        return entry

    def replace(self, old: Entry, new_text: str) -> Entry:
        """Replace ``old``'s own lines with ``new_text`` (parsed, validated); keep its comments."""
        return self.replace_at(self.entries.index(old), new_text)

    def replace_at(self, index: int, new_text: str) -> Entry:
        """:meth:`replace` of the entry at ``index``, for edits that already know where it is."""
        return self._put(index, self.parse_entry(new_text))

    def replace_each(self, changes: Sequence[tuple[Entry, str]]) -> list[Entry]:
        """:meth:`replace` for many entries at once, in linear time: one pass finds them all,
        and a text that repeats (the same value written over 50,000 duplicate lines) is parsed
        and validated once.  Returns the new entries in the order of ``changes``."""
        positions = self.positions()
        parsed: dict[str, Entry] = {}
        replaced = []
        for old, new_text in changes:
            if old not in positions:
                raise ValueError("entry is not in this document")
            model = parsed.get(new_text)
            if model is None:
                model = parsed[new_text] = self.parse_entry(new_text)
            replaced.append(self._put(positions[old], model))  # each put makes its own copy
        return replaced

    def _put(self, index: int, new: Entry) -> Entry:
        """``new`` in the place of the entry at ``index``, with its comments, its line number and
        its final-newline style (a new object, even when ``new`` is already one)."""
        old = self.entries[index]
        text = new.text if old.ends_with_newline else new.text.rstrip("\r\n")
        new = attrs.evolve(new, leading=old.leading, text=text, lineno=old.lineno)
        self.entries[index] = new
        return new

    def add_above_each(self, changes: Sequence[tuple[Entry, str]]) -> list[Entry]:
        """Add trivia lines (``comments``, whole lines) at the end of each entry's leading
        trivia, directly above its own lines, in one pass; returns the new entries in order."""
        positions = self.positions()
        added = []
        for old, comments in changes:
            if old not in positions:
                raise ValueError("entry is not in this document")
            new = attrs.evolve(old, leading=old.leading + comments)
            self.entries[positions[old]] = new
            added.append(new)
        return added

    def remove(self, entry: Entry) -> None:
        """Remove ``entry`` with the comment lines it owns (see :func:`split_owned`); the rest of
        the trivia above it (a heading above a blank line) stays, given to the next entry or the
        trailer."""
        self.remove_each([entry])

    def remove_each(self, entries: Sequence[Entry]) -> None:
        """Remove every entry of ``entries`` in one pass over the document: the same result as
        calling :meth:`remove` for each in turn, without a scan and a list shift for each."""
        self._take_out({entry: "" for entry in entries}, owned=True)
        if not all(entry.ends_with_newline for entry in entries):
            # The removed entry was the unterminated last line: the new last line loses its newline.
            self._unterminate_last_line()

    def demote(self, changes: Sequence[tuple[Entry, str]]) -> None:
        """Turn each entry into trivia ``text`` (commented-out lines) in one pass: they stay where
        the entry was, with every comment above it, in front of the next entry."""
        self._take_out(dict(changes), owned=False)

    def _take_out(self, doomed: dict[Entry, str], *, owned: bool) -> None:
        """Take the keys of ``doomed`` out of the document, leaving the trivia its value says in
        their place.  With ``owned`` the comment lines each one owns go with it; without, all its
        leading trivia stays.  What stays joins the next entry that stays (or the trailer)."""
        if not doomed.keys() <= set(self.entries):
            raise ValueError("entry is not in this document")
        kept: list[Entry] = []
        carried: list[str] = []  # pieces of trivia, joined once: many removals stay linear
        for entry in self.entries:
            if entry in doomed:
                leading = split_owned(entry.leading, self.kind)[0] if owned else entry.leading
                _add_trivia(carried, leading)
                _add_trivia(carried, doomed[entry])
                continue
            if carried:
                _add_trivia(carried, entry.leading)
                leading = "".join(carried)
                carried.clear()
                if leading != entry.leading:
                    entry = attrs.evolve(entry, leading=leading)
            kept.append(entry)
        self.entries[:] = kept
        rest = "".join(carried)
        if owned:
            rest = _drop_final_blank_lines(rest)
        self.trailer = _join_trivia(rest, self.trailer)

    def _terminate_last_line(self) -> None:
        if self.entries:
            last = self.entries[-1]
            self.entries[-1] = attrs.evolve(last, text=last.text + self.newline)
        else:
            self.header += self.newline if self.header else ""

    def _unterminate_last_line(self) -> None:
        if self.trailer:
            self.trailer = _strip_one_newline(self.trailer)
        elif self.entries:
            last = self.entries[-1]
            text = _strip_one_newline(last.text)
            if grammar.unit_pattern(self.kind).fullmatch(text):
                self.entries[-1] = attrs.evolve(last, text=text)
            else:
                # ``" \r\n"`` in a CRLF file loses its CR with its line ending: what is left
                # (``" "``) is no entry of the kind any more, only trailing blank space.
                del self.entries[-1]
                self.trailer = last.leading + text
        else:
            self.header = _strip_one_newline(self.header)

    # ------------------------------------------------------------- the kind's meaning
    # The protocol every kind implements with its daemon's meaning, so that the CLI and the doctor
    # handle any file without knowing its kind.

    #: ``(module, function)`` of the kind's linter, ``function(doc, root) -> list[Finding]``.  The
    #: lint module imports the model, so the model names its linter instead of importing it; it is
    #: imported on first use, as :mod:`~mailconf.syntax.kinds` imports the models.  None: the
    #: kind has nothing to check beyond what parsing refuses.
    linter: ClassVar[tuple[str, str] | None] = None
    #: How the kind writes ``True`` and ``False`` (:meth:`value_text`).
    booleans: ClassVar[tuple[str, str]] = ("yes", "no")

    def get(self, name: str) -> str | None:
        """The value of ``name`` as the kind's daemon reads it; None when the file does not set
        it.  What a name is belongs to the kind: a main.cf parameter, an option (ignoring case), a
        master.cf service as ``name/type``, a table key (the daemon's first match), a variable."""
        raise NotImplementedError(f"{type(self).__name__} does not say what a name is")

    def __contains__(self, name: object) -> bool:
        """``name in doc``: the file sets ``name`` (:meth:`get` is not None)."""
        return isinstance(name, str) and self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        """``doc[name]``: :meth:`get`, or KeyError when the file does not set ``name``."""
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def to_json(self) -> dict[str, object]:
        """The file's meaning as JSON-ready data (what ``mailconf show`` prints)."""
        raise NotImplementedError(f"{type(self).__name__} has no JSON form")

    @classmethod
    def explain_line(cls, line: str, column: int = 1) -> tuple[int, str]:
        """Why ``line`` is no entry of this kind, the parser having stopped at ``column``:
        ``(column, message)``, in the daemon's words where the kind knows them."""
        return column, f"cannot parse this line as {cls.kind}"

    def lint(self, root: str = "/") -> list[Finding]:
        """What the daemon would refuse or do wrong (errors and warnings; nothing is rewritten).
        Files the document names are looked up under ``root``; a finding without a file of its
        own names this document's path."""
        if self.linter is None:
            return []
        module, function = self.linter
        check: Callable[[Document, str], list[Finding]] = getattr(
            importlib.import_module(module), function
        )
        return [
            finding
            if finding.path is not None or self.path is None
            else attrs.evolve(finding, path=self.path)
            for finding in check(self, root)
        ]

    def value_text(self, value: Value) -> str:
        """``value`` as the kind writes it: text as given, an integer in decimal, a boolean as the
        kind's yes or no (``set("biff", False)`` writes ``biff = no``)."""
        if isinstance(value, bool):
            return self.booleans[0] if value else self.booleans[1]
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str):
            return value
        raise TypeError(f"a value is text, an integer or a boolean, not {type(value).__name__}")


def _strip_one_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def _join_trivia(above: str, below: str) -> str:
    """``above`` followed by ``below`` without doubling the blank line between them: where an
    entry was removed from between two blank lines, one blank line remains, not two."""
    pieces = [above] if above else []
    _add_trivia(pieces, below)
    return "".join(pieces)


def _add_trivia(pieces: list[str], trivia: str) -> None:
    """Append ``trivia`` to ``pieces`` as :func:`_join_trivia` joins (looking at one line on each
    side only, so that a long run of removals stays linear)."""
    if not trivia:
        return
    if pieces and is_blank_line(_first_line(trivia)):
        last = _last_line(pieces[-1])
        if is_blank_line(last):
            pieces[-1] = pieces[-1][: len(pieces[-1]) - len(last)]
    pieces.append(trivia)


def _first_line(text: str) -> str:
    return text[: text.find("\n") + 1 or len(text)]


def _last_line(text: str) -> str:
    return text[text.rfind("\n", 0, len(text) - 1) + 1 :]


def _drop_final_blank_lines(trivia: str) -> str:
    lines = split_lines(trivia)
    while lines and is_blank_line(lines[-1]):
        lines.pop()
    return "".join(lines)
