"""The exceptions mailconf raises, and the exit status each one means on the command line.

Every error a user can cause is a :class:`MailconfError`, so the CLI can print it as one line and
tooling can catch one type.  Each class says which of the two kinds of failure it is, as its
``exit_status``, and the CLI maps an exception to its exit status in one place (``mailconf.cli``):

* 2 (:class:`InputError` and its subclasses): mailconf cannot do what it was asked because of what
  it was given: the command line (:class:`UsageError`), a value (:class:`ValidationError`), or an
  input file it cannot read (:class:`ReadError`) or parse (:class:`ParseError`).
* 1 (everything else, :class:`EditError` among them): it understood the request and the answer is
  "no": an edit refused for what it would do, an apply that failed, a step that could not be done.

Parse errors carry the position in the daemon's terms (1-based line and column) and render the
offending line with a caret, because "line 40" alone is useless in a 700-line main.cf.
"""

from __future__ import annotations

import os
import unicodedata
from typing import ClassVar, TypeVar

EXIT_OK = 0
#: A refused edit, a failed apply, an error finding, nothing found (``get``, ``lookup``).
EXIT_FAILED = 1
#: The command line, an argument, or an input file that cannot be read or parsed.
EXIT_USAGE = 2
#: Never reached by a user: an internal error (a bug), sysexits' EX_SOFTWARE.
EXIT_INTERNAL = 70
#: Interrupted by SIGINT (128 + 2, as a shell reports it).
EXIT_INTERRUPTED = 130

#: At most this many characters of a file's line (or of a message) are quoted in an error: a
#: binary file's first "line" can be megabytes long.
MAX_QUOTED = 200
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


_E = TypeVar("_E", bound="MailconfError")


class MailconfError(Exception):
    """Base class of every error mailconf raises on purpose: something could not be done."""

    exit_status: ClassVar[int] = EXIT_FAILED

    @classmethod
    def from_os_error(
        cls: type[_E], path: str | os.PathLike[str], error: OSError, action: str = ""
    ) -> _E:
        """``PATH: [cannot ACTION: ]reason``, naming ``path`` whatever file ``error`` names (the
        temporary file of an atomic write, say)."""
        reason = error.strerror or str(error)
        return cls(f"{os.fspath(path)}: {f'cannot {action}: ' if action else ''}{reason}")


class EditError(MailconfError):
    """A requested edit was refused (it would break mail or open a relay)."""


class InputError(MailconfError):
    """What mailconf was given cannot be used: an argument or an input file."""

    exit_status: ClassVar[int] = EXIT_USAGE


class UsageError(InputError):
    """The command line itself is wrong (options missing or contradicting each other).

    The CLI adds where to read the command's usage (``see mailconf edit --help``).
    """


class ValidationError(InputError):
    """A value (domain, selector, path, option) is not acceptable before it touches the system."""


class ReadError(InputError):
    """An input file cannot be read (missing, permission denied, not a file)."""


class ParseError(InputError):
    """Input the daemon would reject, or that mailconf cannot parse.

    ``str(error)`` is ``path:line:column: message`` followed by the offending line and a caret
    under the column.  The message and the line are quoted at most :data:`MAX_QUOTED` characters
    long, with control characters made visible, so a binary file cannot flood or drive the
    terminal.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int = 0,
        column: int = 0,
        source_line: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.path or '<string>'}:{self.line}:{self.column}"
        text = f"{where}: {shorten(self.message)}"
        if self.source_line is not None:
            shown, caret = _excerpt(self.source_line.rstrip("\r\n"), max(self.column - 1, 0))
            caret_pad = "".join("\t" if ch == "\t" else " " for ch in shown[:caret])
            text += f"\n    {shown}\n    {caret_pad}^"
        return text

    def with_path(self, path: str) -> ParseError:
        """The same error attributed to ``path`` (parsing happens before the path is known)."""
        return ParseError(
            self.message,
            path=path,
            line=self.line,
            column=self.column,
            source_line=self.source_line,
        )


def printable(text: str) -> str:
    """``text`` safe to write to a terminal, character for character (so a caret stays aligned).

    A C0 control character becomes its Unicode control picture (NUL is ``␀``); any other character
    a terminal would not simply print (a byte that was not UTF-8, kept as a lone surrogate by
    ``surrogateescape``; a C1 control; a bidi override) becomes ``�``.  Tabs, newlines and spaces
    (no-break ones too) are kept.
    """
    if text.isprintable():
        return text
    out = []
    for char in text:
        code = ord(char)
        if char in "\t\n" or char.isprintable():
            out.append(char)
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("\N{SYMBOL FOR DELETE}")
        elif unicodedata.category(char) == "Zs":  # a no-break space: worth seeing as it is
            out.append(char)
        else:  # C1 controls, bidi overrides, line separators, unassigned, lone surrogates
            out.append("\N{REPLACEMENT CHARACTER}")
    return "".join(out)


def shorten(text: str, limit: int = MAX_QUOTED) -> str:
    """``text`` made :func:`printable`; if longer than ``limit``, its middle is cut out.

    The head says what is wrong and the tail usually says what to do, so both are kept.
    """
    text = printable(text)
    if len(text) <= limit:
        return text
    tail = limit // 3
    return text[: limit - tail - 1] + ELLIPSIS + text[-tail:]


def _excerpt(line: str, index: int, limit: int = MAX_QUOTED) -> tuple[str, int]:
    """At most ``limit`` characters of ``line`` around ``index``, and ``index`` within them."""
    line = printable(line)
    if len(line) <= limit:
        return line, index
    start = min(max(index - limit // 2, 0), len(line) - limit)
    shown = line[start : start + limit]
    if start > 0:
        shown = ELLIPSIS + shown
        index = index - start + 1
    if start + limit < len(line):
        shown += ELLIPSIS
    return shown, index
