"""What Postfix does with a logical line before any program looks at it.

Shared by main.cf and master.cf: joining physical lines the way ``readlline.c`` does (the rule is
the ``JOIN`` terminal of ``grammars/postfix_lines.lark``) and splitting text the way
``mystrtok.c`` does (with ``{ }`` grouping, which counts nesting and so is no regular expression).
Kept apart from both models so neither depends on the other.
"""

from __future__ import annotations

import functools
import re

from mailconf.syntax import grammar

ISSPACE = " \t\n\v\f\r"  # C isspace() in the C locale, which Postfix uses


def _line_rule(terminal: str) -> re.Pattern[str]:
    return grammar.part_pattern("postfix_lines", terminal)


def is_trivia_line(line: str) -> bool:
    """Blank, whitespace-only, or first non-space character ``#``: skipped everywhere."""
    terminated = line if line.endswith("\n") else line + "\n"
    return _line_rule("TRIVIA_LINE").fullmatch(terminated) is not None


def logical_text(entry_text: str) -> str:
    """The logical line Postfix builds from an entry: trivia lines dropped, newlines removed,
    each continuation's leading whitespace kept (``a\\n\\tb`` becomes ``a\\tb``).  Postfix's
    string functions stop at a NUL byte, so text after one is cut."""
    joined = _line_rule("JOIN").sub("", entry_text)
    nul = joined.find("\0")
    return joined if nul < 0 else joined[:nul]


def content_end(text: str, pos: int) -> int:
    """Where the line holding ``pos`` ends, before its line ending (``\\n`` or ``\\r\\n``)."""
    end = text.find("\n", pos)
    if end < 0:
        return len(text)
    return end - 1 if end > 0 and text[end - 1] == "\r" else end


def line_end(text: str, pos: int) -> int:
    """Where the line holding ``pos`` ends, after its line ending."""
    end = text.find("\n", pos)
    return len(text) if end < 0 else end + 1


def split_nameval(text: str) -> tuple[str, str] | None:
    """``name = value`` split as ``split_nameval.c`` does (for ``-o`` overrides): the name ends
    at a blank or ``=``, only blanks may separate it from the ``=``, both parts are trimmed.
    None when there is no name or no ``=`` after it (Postfix warns and ignores the text)."""
    text = text.strip(ISSPACE)
    end = 0
    while end < len(text) and text[end] not in ISSPACE and text[end] != "=":
        end += 1
    name, rest = text[:end], text[end:].lstrip(ISSPACE)
    if not name or not rest.startswith("="):
        return None
    return name, rest[1:].strip(ISSPACE)


def split_braced(text: str, separators: str = ISSPACE) -> list[str]:
    """Split on runs of ``separators``; a ``{``...``}`` group (nesting counted) is not split.

    This is ``mystrtokq()``: an unbalanced ``{`` runs to the end of the text.
    """
    return [text[start:end] for start, end in split_braced_spans(text, separators)]


def strip_braces(token: str) -> str:
    """``{ a b }`` -> ``a b``: the outer braces and the blanks inside them removed."""
    if token.startswith("{") and token.endswith("}"):
        return token[1:-1].strip(ISSPACE)
    return token


def logical_positions(entry_text: str) -> tuple[str, list[int]]:
    """:func:`logical_text` plus, for each of its characters, its offset in ``entry_text``.

    Edits use this to find a field or list item of the logical line in the physical lines, so
    they can splice the file's own text instead of rewriting the entry.
    """
    logical: list[str] = []
    positions: list[int] = []
    start = 0
    for join in _line_rule("JOIN").finditer(entry_text):
        logical.append(entry_text[start : join.start()])
        positions.extend(range(start, join.start()))
        start = join.end()
    logical.append(entry_text[start:])
    positions.extend(range(start, len(entry_text)))
    joined = "".join(logical)
    nul = joined.find("\0")
    if nul >= 0:
        return joined[:nul], positions[:nul]
    return joined, positions


def split_braced_spans(text: str, separators: str = ISSPACE) -> list[tuple[int, int]]:
    """Like :func:`split_braced`, but the ``(start, end)`` offsets of each token."""
    if "{" not in text:
        # Without a group a token is a run of non-separators: the loop below at C speed (a list
        # of 50,000 items is 1 MB of text, a fifth of a second for the loop, split per edit).
        return [match.span() for match in _tokens(separators).finditer(text)]
    spans: list[tuple[int, int]] = []
    index, length = 0, len(text)
    while index < length:
        while index < length and text[index] in separators:
            index += 1
        if index >= length:
            break
        start, level = index, 0
        while index < length:
            char = text[index]
            if char == "{":
                level += 1
            elif level > 0 and char == "}":
                level -= 1
            elif level == 0 and char in separators:
                break
            index += 1
        spans.append((start, index))
    return spans


@functools.cache
def _tokens(separators: str) -> re.Pattern[str]:
    return re.compile(f"[^{re.escape(separators)}]+")
