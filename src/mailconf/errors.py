"""The exceptions mailconf raises.

Every error a user can cause is a :class:`MailconfError`, so the CLI can print it as one line and
tooling can catch one type.  Parse errors carry the position in the daemon's terms (1-based line and
column) and render the offending line with a caret, because "line 40" alone is useless in a 700-line
main.cf.
"""

from __future__ import annotations


class MailconfError(Exception):
    """Base class of every error mailconf raises on purpose."""


class ParseError(MailconfError):
    """Input the daemon would reject, or that mailconf cannot parse.

    ``str(error)`` is ``path:line:column: message`` followed by the offending line and a caret
    under the column.
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
        text = f"{where}: {self.message}"
        if self.source_line is not None:
            shown = self.source_line.rstrip("\r\n")
            caret_pad = "".join(
                "\t" if ch == "\t" else " " for ch in shown[: max(self.column - 1, 0)]
            )
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


class EditError(MailconfError):
    """A requested edit was refused (it would break mail or open a relay)."""


class ValidationError(MailconfError):
    """A value (domain, selector, path, option) is not acceptable before it touches the system."""
