"""Where list items sit in a main.cf parameter's raw text, and splicing one in or out there in the
list's own style: one item per line (same indentation, same trailing-comma convention) or a
single line (the separator it already uses: ``", "``, ``","`` or ``" "``).

Kept apart from :mod:`mailconf.postfix.main` because it is pure text geometry: it knows nothing
of parameters, documents or what the items mean.
"""

from __future__ import annotations

from mailconf.postfix.lines import ISSPACE, content_end, line_end
from mailconf.postfix.values import LIST_SEPARATORS

_BLANKS = " \t\v\f"


class ListLayout:
    """Splicing list items into a parameter's raw text in the list's own style.

    ``text`` is the parameter's lines as written, ``spans`` where each item sits in it (raw
    offsets: :meth:`mailconf.postfix.main.Parameter.raw_span`), ``newline`` the file's line
    ending, used when the text itself has none to copy.  :meth:`insert` and :meth:`remove` give
    the new text; the caller puts it back through the document, which re-parses it.
    """

    def __init__(self, text: str, spans: list[tuple[int, int]], newline: str) -> None:
        self.text = text
        self.spans = spans
        first_end = self.text.find("\n")
        self.newline = "\r\n" if first_end > 0 and self.text[first_end - 1] == "\r" else newline
        if first_end < 0:
            self.newline = newline

    # raw-text geometry -----------------------------------------------------------
    def _line_start(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def _content_end(self, pos: int) -> int:
        return content_end(self.text, pos)

    def _line_end(self, pos: int) -> int:
        return line_end(self.text, pos)

    def _own_line(self, index: int) -> bool:
        """Item ``index`` starts a continuation line (only blanks before it)."""
        start = self.spans[index][0]
        line_start = self._line_start(start)
        return line_start > 0 and not self.text[line_start:start].strip(_BLANKS)

    def _tail(self, index: int) -> str | None:
        """Separators after item ``index`` up to the end of its line, None if another item
        follows on that line."""
        end = self.spans[index][1]
        if index + 1 < len(self.spans) and "\n" not in self.text[end : self.spans[index + 1][0]]:
            # The next item is on this line.  Checked first, on the separator only: finding the
            # end of the line for each item of a 50,000-item line is quadratic (an insertion
            # before an item on a line of its own looks at every item's tail).
            return None
        tail = self.text[end : self._content_end(end)]
        return tail if not tail.strip(LIST_SEPARATORS) else None

    def _inline_separator(self) -> str:
        for index in range(len(self.spans) - 1):
            between = self.text[self.spans[index][1] : self.spans[index + 1][0]]
            if "\n" not in between:
                return between
        comma = any("," in (self._tail(i) or "") for i in range(len(self.spans)))
        if len(self.spans) > 1 and not comma:
            return " "
        return ", "

    def _line_comma(self) -> str:
        tails = [self._tail(i) for i in range(len(self.spans) - 1)]
        return "," if any(t and "," in t for t in tails) else ""

    def _comments_above(self, line_start: int) -> int:
        """Move ``line_start`` up over the comment lines directly above it inside the entry."""
        while line_start > 0:
            previous = self._line_start(line_start - 1)
            line = self.text[previous:line_start]
            if not line.strip(ISSPACE).startswith("#"):
                break
            line_start = previous
        return line_start

    # edits -------------------------------------------------------------------------
    def insert(self, position: int, item: str) -> str:
        text = self.text
        if position >= len(self.spans):
            last = len(self.spans) - 1
            end = self.spans[last][1]
            if self._own_line(last) and self._tail(last) is not None:
                tail = self._tail(last) or ""
                inter = (self._tail(last - 1) or "").rstrip(_BLANKS) if last > 0 else ""
                if last == 0 or self._tail(last - 1) is None:
                    inter = self._line_comma()
                indent = text[self._line_start(self.spans[last][0]) : self.spans[last][0]]
                new = f"{inter}{self.newline}{indent}{item}{tail}"
                return text[:end] + new + text[end + len(tail) :]
            return text[:end] + self._inline_separator() + item + text[end:]
        start = self.spans[position][0]
        if self._own_line(position):
            line_start = self._comments_above(self._line_start(start))
            indent = text[self._line_start(start) : start]
            comma = self._line_comma()
            if not comma and "," in (self._tail(position) or ""):
                comma = ","
            return text[:line_start] + f"{indent}{item}{comma}{self.newline}" + text[line_start:]
        return text[:start] + item + self._inline_separator() + text[start:]

    def remove(self, index: int) -> str:
        text = self.text
        start, end = self.spans[index]
        tail = self._tail(index)
        last = index == len(self.spans) - 1
        if self._own_line(index) and tail is not None:
            line_start = self._comments_above(self._line_start(start))
            line_end = self._line_end(end)
            if line_end == len(text) and not text.endswith("\n"):
                # the last line of an entry without final newline: drop the newline before it
                prev_end = line_start - 1
                if prev_end > 0 and text[prev_end - 1] == "\r":
                    prev_end -= 1
                line_start, line_end = max(prev_end, 0), len(text)
            result = text[:line_start] + text[line_end:]
            if last and index > 0:
                prev_tail = self._tail(index - 1)
                if prev_tail is not None and "," in prev_tail and "," not in tail:
                    prev_end = self.spans[index - 1][1]
                    result = result[:prev_end] + result[prev_end + len(prev_tail) :]
            return result
        if index + 1 < len(self.spans) and "\n" not in text[end : self.spans[index + 1][0]]:
            return text[:start] + text[self.spans[index + 1][0] :]
        if index > 0 and "\n" not in text[self.spans[index - 1][1] : start]:
            return text[: self.spans[index - 1][1]] + text[end:]
        # first on the `name =` line, the rest (if any) on later lines
        stop = self._content_end(end) if tail is not None else end
        head = text[:start].rstrip(_BLANKS)
        return head + text[stop:]
