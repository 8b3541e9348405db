"""``$name`` expansion as ``postconf -x`` does it (Postfix's ``mac_parse``/``mac_expand`` with
recursion), so ``mailconf get --expand`` answers what ``postconf -x`` answers.

The forms, all of which Postfix's own defaults use (``relay_domains``,
``smtp_tls_dane_insecure_mx_policy``, ``address_verify_poll_count``...):

* ``$name``, ``${name}``, ``$(name)``: the value, itself expanded (an undefined name is empty);
  ``$$`` is a literal ``$``;
* ``${name?text}`` / ``${name:text}``: ``text`` when the *unexpanded* value is non-empty /
  undefined or empty; ``${name?{text1}:{text2}}`` both ways (blanks around the braces dropped);
* ``${{left} OP {right} ? {text1} : {text2}}``: a comparison, numeric when both sides are all
  digits, else of the strings; ``OPlevel`` (``<level``...) compares compatibility levels
  ("3.6" < "3.10").  Without ``?``/``:`` it yields ``true`` or nothing.

Only the branch that is taken is read (a syntax error in the other goes unnoticed, as in
Postfix).  What Postfix calls a "macro processing error" (postconf then exits with a fatal
error) is an :class:`ExpansionError` here, with the same wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mailconf.errors import MailconfError

__all__ = ["ExpansionError", "Lookup", "expand"]

#: A name's unexpanded value, or None when it is undefined.
Lookup = Callable[[str], "str | None"]

_WHITESPACE = " \t\r\n"  # CHARS_SPACE
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_OPERATOR_CHARS = frozenset("<>!=?+-*/~&|%")
_OPERATORS = ("==", "!=", "<", "<=", ">=", ">")
_MAX_NESTING = 100  # mac_expand's "unreasonable macro call nesting"
_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")
_LONG_MAX = 2**63 - 1


class ExpansionError(MailconfError):
    """A value Postfix cannot expand ("macro processing error": postconf -x exits)."""


def expand(value: str, lookup: Lookup) -> str:
    """``value`` with every ``$name`` expanded recursively through ``lookup``."""
    return _Expander(lookup, 0).run(value)


class _Expander:
    """One ``mac_expand()`` call: the result so far and the nesting depth, which the recursive
    expansion of looked-up values shares (a relational operand starts a call of its own)."""

    def __init__(self, lookup: Lookup, calls: int) -> None:
        self._lookup = lookup
        self._result: list[str] = []
        self._level = 0
        self._calls = calls  # nested relational operands, which Postfix does not bound

    def run(self, value: str) -> str:
        self._parse(value)
        return "".join(self._result)

    def _parse(self, value: str) -> None:
        """``mac_parse()``: literal text to the result, each macro reference to :meth:`_expr`."""
        literal: list[str] = []
        index, length = 0, len(value)
        while index < length:
            dollar = value.find("$", index)
            if dollar < 0:
                literal.append(value[index:])
                break
            literal.append(value[index:dollar])
            if value[dollar + 1 : dollar + 2] == "$":
                literal.append("$")
                index = dollar + 2
                continue
            if literal:
                self._result.append("".join(literal))
                literal = []
            index = dollar + 1
            opener = value[index : index + 1]
            if opener in ("{", "("):
                closer = "}" if opener == "{" else ")"
                level, end = 1, index + 1
                while level > 0:
                    if end >= length:
                        raise ExpansionError(f'truncated macro reference: "{value}"')
                    if value[end] == opener:
                        level += 1
                    elif value[end] == closer:
                        level -= 1
                    end += 1
                name, index = value[index + 1 : end - 1], end
            else:
                end = index
                while end < length and value[end] in _NAME_CHARS:
                    end += 1
                name, index = value[index:end], end
            if not name:
                raise ExpansionError(f'empty macro name: "{value}"')
            self._expr(name)
        if literal:
            self._result.append("".join(literal))

    def _expr(self, text: str) -> None:
        """One ``$name``/``${...}``: a name (with ``?``/``:``) or a relational expression."""
        self._level += 1
        if self._level > _MAX_NESTING + 1:
            raise ExpansionError(f'unreasonable macro call nesting: "{text}"')
        position = _skip_blanks(text, 0)
        operator = ""
        found: str | None
        if text[position : position + 1] == "{":
            found, position = self._relational(text, position)
            if position < len(text):
                operator = text[position]
                if operator not in "?:":
                    raise ExpansionError(
                        f'"?" or ":" expected at: "...}}>>>{text[position : position + 20]}"'
                    )
                position += 1
        else:
            start = cursor = position
            while True:
                after = _skip_blanks(text, cursor)
                if after == len(text):
                    name = text[start:cursor]
                    break
                if text[after] in "?:":
                    name, operator, position = text[start:cursor], text[after], after + 1
                    break
                if text[cursor] not in _NAME_CHARS:
                    raise ExpansionError(
                        f'attribute name syntax error at: "...{text[:cursor]}'
                        f'>>>{text[cursor : cursor + 20]}"'
                    )
                cursor += 1
            found = self._lookup(name)
        if operator == "?":
            when_true, position = _operand(text, position)
            if found:
                self._parse(when_true)
            if position < len(text):
                if text[position] != ":":
                    raise ExpansionError(
                        f'":" expected at: "...{when_true}}}>>>{text[position : position + 20]}"'
                    )
                operator, position = ":", position + 1
                if found:  # the "else" text is only checked for leftovers, as in Postfix
                    _, position = _operand(text, position)
                    self._leftover(text, position)
        if operator == ":" and not found:
            when_false, position = _operand(text, position)
            self._parse(when_false)
            self._leftover(text, position)
        elif operator == "" and found:
            self._parse(found)  # MAC_EXP_FLAG_RECURSE: the value is expanded in turn
        self._level -= 1

    @staticmethod
    def _leftover(text: str, position: int) -> None:
        if position < len(text):
            raise ExpansionError(f'unexpected input at: "...>>>{text[position : position + 20]}"')

    def _relational(self, text: str, position: int) -> tuple[str, int]:
        """``{left} OP {right}`` from ``position``: "true" or "", and where the rest starts."""
        left, position = _curly(text, position)
        length = 0
        while position + length < len(text) and text[position + length] in _OPERATOR_CHARS:
            length += 1
        operator = text[position : position + length]
        if operator not in _OPERATORS:
            expected = " or ".join(f'"{op}"' for op in _OPERATORS)
            raise ExpansionError(
                f'{expected} expected at: "...{left}}}>>>{text[position : position + 20]}"'
            )
        position += length
        suffix = ""
        while position < len(text) and text[position] in _NAME_CHARS - {"_"}:
            suffix += text[position]
            position += 1
        if suffix and suffix != "level":
            raise ExpansionError(f'bad operator suffix at: "...{operator}>>>{suffix}"')
        after = _skip_blanks(text, position)
        if text[after : after + 1] != "{":
            raise ExpansionError(
                f'"{{expression}}" expected at: "...{{{left}}} {operator}>>>'
                f'{text[position : position + 20]}"'
            )
        right, position = _curly(text, after)
        if self._calls >= _MAX_NESTING:
            raise ExpansionError(f'unreasonable macro call nesting: "{text}"')
        left_value = _Expander(self._lookup, self._calls + 1).run(left)
        right_value = _Expander(self._lookup, self._calls + 1).run(right)
        compare = _compare_levels if suffix else _compare
        return ("true" if compare(left_value, operator, right_value) else ""), position


def _skip_blanks(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def _curly(text: str, position: int) -> tuple[str, int]:
    """The payload of the ``{...}`` at ``position`` (balanced), and the position after the
    closing brace and the blanks that follow it."""
    level, end = 1, position + 1
    while True:
        if end >= len(text):
            raise ExpansionError(f'unbalanced {{}} in attribute expression: "{text[position:]}"')
        if text[end] == "{":
            level += 1
        elif text[end] == "}":
            level -= 1
            if level <= 0:
                break
        end += 1
    return text[position + 1 : end], _skip_blanks(text, end + 1)


def _operand(text: str, position: int) -> tuple[str, int]:
    """The text after ``?`` or ``:``: a ``{...}`` payload, else everything that is left."""
    after = _skip_blanks(text, position)
    if text[after : after + 1] == "{":
        return _curly(text, after)
    return text[position:], len(text)


def _ordered(delta: int, operator: str) -> bool:
    return {
        "==": delta == 0,
        "!=": delta != 0,
        "<": delta < 0,
        "<=": delta <= 0,
        ">=": delta >= 0,
        ">": delta > 0,
    }[operator]


def _compare(left: str, operator: str, right: str) -> bool:
    """Numbers when both sides are all (ASCII) digits, else the strings byte by byte."""
    if _all_digits(left) and _all_digits(right):
        numbers = int(left), int(right)
        if max(numbers) > _LONG_MAX:
            raise ExpansionError(
                f"mac_exp_eval: bad conversion: {left if numbers[0] > _LONG_MAX else right}"
            )
        return _ordered(numbers[0] - numbers[1], operator)
    a, b = left.encode("utf-8", "surrogateescape"), right.encode("utf-8", "surrogateescape")
    return _ordered((a > b) - (a < b), operator)


def _all_digits(text: str) -> bool:
    return bool(text) and all("0" <= c <= "9" for c in text)


def _compare_levels(left: str, operator: str, right: str) -> bool:
    return _ordered(compatibility_level(left) - compatibility_level(right), operator)


def compatibility_level(text: str) -> int:
    """``major[.minor[.patch]]`` as one comparable number (``compat_level_from_string``)."""
    numbers: list[int] = []
    position = 0
    for width in (None, 0x3FF, 0x3FF):
        match = _STRTOL.match(text, position)
        number = int(match[1]) if match else -1
        limit = _LONG_MAX >> 20 if width is None else width
        if match is None or not 0 <= number <= limit:
            break
        numbers.append(number)
        position = match.end()
        if position == len(text):
            numbers += [0] * (3 - len(numbers))
            return (numbers[0] << 20) | (numbers[1] << 10) | numbers[2]
        if text[position] != "." or len(numbers) == 3:
            break
        position += 1
    raise ExpansionError(f'malformed compatibility level syntax: "{text}"')
