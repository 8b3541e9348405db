"""Laying out a new ``key value`` line like its neighbours: the shared part of every table-like
edit (OpenDKIM/OpenDMARC options, KeyTable and SigningTable rows).

Administrators align values in a column with tabs or with spaces; a line mailconf adds must land
in the same column with the same kind of padding, as a terminal (8-column tabs) shows it.
"""

from __future__ import annotations

TAB_WIDTH = 8


def visual_width(text: str) -> int:
    """The column ``text`` ends at, tabs expanded to the next multiple of eight."""
    column = 0
    for char in text:
        column = (column // TAB_WIDTH + 1) * TAB_WIDTH if char == "\t" else column + 1
    return column


def align_like(indent: str, key: str, value: str, separator: str, value_column: int) -> str:
    """``indent key <padding> value``: padded with tabs when ``separator`` (the neighbour's gap
    between key and value) has one, else with spaces up to ``value_column``; at least one blank."""
    start = visual_width(indent + key)
    if "\t" in separator:
        padding, position = "", start
        while position < value_column or not padding:
            padding += "\t"
            position = (position // TAB_WIDTH + 1) * TAB_WIDTH
    elif len(separator) > 1 and start < value_column:
        padding = " " * (value_column - start)
    else:
        padding = " "
    return f"{indent}{key}{padding}{value}"
