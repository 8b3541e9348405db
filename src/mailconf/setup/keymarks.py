"""The dates of a key's life, kept in a comment line directly above its KeyTable row::

    # mailconf-dkim: staged=2026-11-02T10:00:00Z activated=2026-11-05T09:12:44Z

Read and written here for the planner (``apply --stage-only`` marks a first key staged) and
:mod:`mailconf.setup.lifecycle` (which says why the state lives there).
"""

from __future__ import annotations

import datetime as dt

import attrs

from mailconf.milter.tables import KeyTable, Row

__all__ = ["MARK", "now_utc", "parse_stamp", "row_marks", "rows_named", "set_marks", "stamp"]

MARK = "# mailconf-dkim:"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime(TIME_FORMAT)


def parse_stamp(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def row_marks(row: Row) -> dict[str, str]:
    """The ``name=value`` words of the mark line directly above ``row`` (empty when none)."""
    lines = row.leading_lines
    if not lines or not lines[-1].lstrip().startswith(MARK):
        return {}
    words = lines[-1].strip()[len(MARK) :].split()
    return dict(word.split("=", 1) for word in words if "=" in word)


def set_marks(table: KeyTable, row: Row, values: dict[str, str]) -> None:
    """Write ``values`` into the mark line above ``row`` (added when it has none)."""
    lines = row.leading_lines
    if lines and lines[-1].lstrip().startswith(MARK):
        lines = lines[:-1]
    marks = {**row_marks(row), **values}
    line = f"{MARK} " + " ".join(f"{name}={value}" for name, value in marks.items())
    index = table.entries.index(row)
    table.entries[index] = attrs.evolve(row, leading="".join(lines) + line + table.newline)


def rows_named(table: KeyTable, keyname: str) -> list[Row]:
    return [row for row in table.rows if row.key == keyname]
