"""Unified diffs of a file's two versions, as ``diff -u`` and ``git diff`` print them.

One function for every place that shows a change (``mailconf edit --diff`` and the plan's file
steps), so a missing final newline is marked the same way everywhere (``\\ No newline at end of
file``, which ``patch`` understands) and the text stays byte-exact: configuration text is decoded
with :mod:`mailconf.fileio`'s ``surrogateescape`` before it gets here.  Lines end at ``\\n``
only, as for ``diff`` and the daemons: ``str.splitlines`` would also cut at a form feed or a lone
CR, and show a change in the middle of what every program reads as one line.
"""

from __future__ import annotations

import difflib

__all__ = ["labels", "unified_diff"]

NO_NEWLINE = "\\ No newline at end of file\n"


def unified_diff(before: str, after: str, fromfile: str, tofile: str) -> str:
    """The diff from ``before`` to ``after`` (``""`` when they are equal); the headers name
    ``fromfile`` and ``tofile`` (``/dev/null`` for a file that is created, ``a/``/``b/``
    prefixes, or the same path twice, as the caller shows it)."""
    lines = difflib.unified_diff(
        _lines(before),
        _lines(after),
        fromfile,
        tofile,
        lineterm="\n",
    )
    return "".join(line if line.endswith("\n") else line + "\n" + NO_NEWLINE for line in lines)


def labels(path: str) -> tuple[str, str]:
    """The two header names for a change of the file at ``path``: an absolute path is named as
    it is on both sides (``--- /etc/postfix/main.cf``, as ``diff -u`` and ``patch -p0`` see it),
    a relative one with git's ``a/`` and ``b/`` prefixes (``patch -p1``)."""
    if path.startswith("/"):
        return path, path
    return f"a/{path}", f"b/{path}"


def _lines(text: str) -> list[str]:
    """``text`` cut after each ``\\n`` (the last line may lack one)."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
