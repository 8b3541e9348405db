"""Where a master.cf service's arguments go: how the file's own services lay theirs out.

Files differ: Debian's master.cf writes a ``pipe`` service's ``flags=... user=... argv=...`` on
one continuation line indented by two blanks and each ``-o`` of a service on a line of its own
indented further; compact files keep every argument on the command's line.  A service mailconf
adds should read like its neighbours, so the layout is measured on the file: whether its services
continue their arguments on further lines or keep them on the command's line (the majority of
the services that have arguments), and the indentation of a continuation line that begins with
an option (``-o ...``) and of one that does not (the most common of each).

The words themselves are never changed, only the blanks between them (each continuation line
starts with a blank, so Postfix reads the same words: :mod:`tests.postfix` checks it against
``postconf -M``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import attrs

from mailconf.postfix.lines import is_trivia_line
from mailconf.postfix.master_service import FIELD_NAMES, Service
from mailconf.syntax.document import split_lines

__all__ = ["ArgumentLayout", "argument_layout", "lay_out_arguments"]

_COMMAND = len(FIELD_NAMES) - 1  # index of the command field; its arguments follow
_FALLBACK_INDENT = "  "  # a continuation line needs a leading blank; Debian's pipe services


@attrs.frozen
class ArgumentLayout:
    """``continued``: arguments on continuation lines (else on the command's line);
    ``option_indent`` / ``other_indent``: the blanks before a continuation line that begins
    with an option, or with another argument (None when the file has no such line)."""

    continued: bool
    option_indent: str | None = None
    other_indent: str | None = None

    def indent(self, option: bool) -> str:
        first, second = (
            (self.option_indent, self.other_indent)
            if option
            else (self.other_indent, self.option_indent)
        )
        return first or second or _FALLBACK_INDENT


def argument_layout(services: Iterable[Service]) -> ArgumentLayout | None:
    """The layout of the arguments of ``services``; None when none of them has arguments."""
    continued = inline = 0
    indents: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    for service in services:
        spans = service._spans
        if len(spans) <= _COMMAND + 1:
            continue
        if "\n" in service.text[spans[_COMMAND][1] : spans[_COMMAND + 1][0]]:
            continued += 1
        else:
            inline += 1
        for line in split_lines(service.text)[1:]:
            if is_trivia_line(line):
                continue
            words = line.lstrip(" \t")
            indents[words.startswith("-")][line[: len(line) - len(words)]] += 1
    if not continued and not inline:
        return None
    if inline > continued:
        return ArgumentLayout(continued=False)
    option, other = (indents[kind].most_common(1) for kind in (True, False))
    return ArgumentLayout(
        continued=True,
        option_indent=option[0][0] if option else None,
        other_indent=other[0][0] if other else None,
    )


def lay_out_arguments(service: Service, layout: ArgumentLayout | None) -> str:
    """The text of ``service`` after its command, laid out as ``layout`` says: each daemon
    option (``-o name=value`` with its value) on a line of its own and the other arguments
    together on one line, or all on the command's line.  Kept as written when the file gives
    no layout, or when comment lines sit among the arguments (they stay where they are)."""
    text = service.text.rstrip("\r\n")
    spans = service._spans
    tail = text[spans[_COMMAND][1] :]
    if layout is None or len(spans) <= _COMMAND + 1:
        return tail
    if any(is_trivia_line(line) for line in split_lines(tail)[1:]):
        return tail
    words = [text[start:end] for start, end in spans[_COMMAND + 1 :]]
    units: list[tuple[bool, str]] = []  # (is an option, its text)
    index, options_end = 0, service.option_end - _COMMAND - 1
    while index < options_end:
        word = words[index]  # -o and -vo take the next word, as Service.option_end counts
        width = 2 if word.endswith("o") and "o" in word[1:] and index + 1 < len(words) else 1
        units.append((True, " ".join(words[index : index + width])))
        index += width
    if index < len(words):
        units.append((False, " ".join(words[index:])))
    if not layout.continued:
        return "".join(" " + unit for _, unit in units)
    return "".join("\n" + layout.indent(option) + unit for option, unit in units)
