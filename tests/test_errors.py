"""How errors quote what they complain about: short, printable, with the caret in place."""

from __future__ import annotations

import pytest

from mailconf.errors import ELLIPSIS, MAX_QUOTED, ParseError, printable, shorten


def _shown(error: ParseError) -> tuple[str, str, str]:
    message, line, caret = str(error).split("\n")
    return message, line.removeprefix("    "), caret.removeprefix("    ")


@pytest.mark.parametrize("column", [1, 50, 150, 2500, 4999, 5000])
def test_a_long_line_is_cut_around_the_column(column: int) -> None:
    source = "".join(chr(ord("a") + i % 26) for i in range(5000))
    error = ParseError("bad", path="main.cf", line=3, column=column, source_line=source + "\n")
    _, line, caret = _shown(error)
    assert len(line) <= MAX_QUOTED + 2
    assert line[len(caret) - 1] == source[column - 1]  # the caret still points at it
    assert line.startswith(ELLIPSIS) == (column > MAX_QUOTED // 2)
    assert line.endswith(ELLIPSIS) == (column < 5000 - MAX_QUOTED // 2)


def test_a_short_line_is_quoted_whole_with_its_tabs() -> None:
    error = ParseError("bad", line=1, column=3, source_line="\ta b\n")
    assert _shown(error)[1:] == ("\ta b", "\t ^")


def test_a_long_message_keeps_its_head_and_tail() -> None:
    message = "unrecognized parameter '" + "x" * 10_000 + "' (the daemon refuses to start)"
    shown = _shown(ParseError(message, line=1, column=1, source_line=""))[0]
    assert shown.startswith("<string>:1:1: unrecognized parameter 'xxx")
    assert shown.endswith("(the daemon refuses to start)")
    assert len(shown) <= len("<string>:1:1: ") + MAX_QUOTED


def test_control_characters_cannot_reach_the_terminal() -> None:
    # An escape sequence (set the window title), a bell, a NUL, a byte that was not UTF-8 (kept as a
    # lone surrogate), a C1 control and a bidi override: each shown as one visible character.
    hostile = "\x1b]0;owned\x07\x00\udcff\x9b\u202e"
    assert printable(hostile) == "␛]0;owned␇␀���"
    error = ParseError(hostile, line=1, column=4, source_line=hostile)
    assert all(ch.isprintable() or ch == "\n" for ch in str(error))
    assert _shown(error)[2] == "   ^"
    assert printable("a\tb\u00a0c") == "a\tb\u00a0c"  # tabs and no-break spaces are kept
    assert shorten("x" * 300).count(ELLIPSIS) == 1
