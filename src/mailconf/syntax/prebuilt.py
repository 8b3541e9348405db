"""Writing the parser tables that are built ahead of time and shipped inside the package, so
that a command does not spend most of its start-up building an LALR parser.

Building ``postfix-main``'s parser in memory costs 60-70 ms of CPU on the CI machine, about as
much as the whole rest of ``mailconf get``; loading its tables from here costs 3-5 ms.  What is
stored, per grammar file (``_prebuilt/<name>.txt``): Lark's own serialisation of the parser
(``Lark.memo_serialize``, the data its standalone generator embeds), the ``ENTRY`` regex and the
derived regex of every terminal (:func:`mailconf.syntax.grammar.derive`).
:func:`mailconf.syntax.grammar.prebuilt_table` reads them.

Why this is safe to load as root (the Lark cache that ``cache=True`` keeps in ``/tmp`` was a
local root exploit): the files live in the package directory, which is exactly as trusted as the
code next to them, and they are read with :func:`ast.literal_eval`, which builds literals
(strings, numbers, dicts, lists, tuples) and can run nothing.  Pickle is never used.

Why it can never give a different parser: a table is used only when it was built from the
grammar files as they are now (a SHA-256 over every ``.lark`` file) by the Lark version that is
installed (its serialisation format is Lark's private business).  Otherwise mailconf builds the
parser in memory, as it always did, and is only slower; ``tests/syntax/test_prebuilt.py`` fails
when the shipped tables are stale.  Regenerate them with ``python -m mailconf.syntax.prebuilt``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mailconf.syntax import grammar


def build_table(grammar_name: str) -> dict[str, Any]:
    """What :func:`~mailconf.syntax.grammar.prebuilt_table` reads for ``grammar_name``, computed
    from the grammar now."""
    import lark

    source = grammar.grammar_path(grammar_name).read_text(encoding="utf-8")
    is_kind = grammar.is_kind_grammar(source)
    parser_data: dict[str, Any] | None = None
    unit: str | None = None
    scanner: list[str] | None = None
    if is_kind:
        built = grammar.build_parser(grammar_name)
        data, memo = built.memo_serialize([lark.lexer.TerminalDef, lark.grammar.Rule])
        parser_data = {"data": _plain(data), "memo": _plain(memo)}
        unit = grammar.unit_regexp(built)
        scanner = _start_scanner(built)
    parts: dict[str, str] = {}
    for terminal in grammar.terminal_definitions(grammar_name):
        try:
            parts[terminal] = grammar.derive(grammar_name, terminal)[1]
        except ValueError:  # a construct derive() does not take: derived on use, if ever used
            continue
    return {
        "grammar_sha256": grammar.grammar_digest(),
        "lark": grammar.lark_version(),
        "parser": parser_data,
        "unit": unit,
        "scanner": scanner,
        "parts": parts,
    }


def _start_scanner(built: Any) -> list[str] | None:
    """The regexes Lark's lexer tries, in its order, for the ``start`` rule, when the rule is
    flat (``start: (TRIVIA | ENTRIES)*``): every parser state reachable from it accepts the same
    terminals and may end there.  Then lexing *is* parsing, and
    :func:`mailconf.syntax.parse.scan` does it with these regexes alone, without importing Lark
    (40 ms of every command's start-up).  None for a grammar that is not flat."""
    table = built.parser.parser._parse_table
    start = table.start_states["start"]
    lexers = built.parser.lexer.lexers
    accepted: set[frozenset[str]] = set()
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        actions = table.states[state]
        if not actions:  # the state after $END
            continue
        if "$END" not in actions or built.lexer_conf.ignore:
            return None
        accepted.add(frozenset(name for name in actions if name.isupper() and name != "$END"))
        for action, target in actions.values():
            if action.name == "Shift" and target not in seen:
                seen.add(target)
                todo.append(target)
    scanner = lexers[start].scanner
    if (
        len(accepted) != 1
        or lexers[start].g_regex_flags
        or scanner.allowed_types != set(next(iter(accepted)))
    ):
        return None
    return [str(compiled.pattern) for compiled in scanner._mres]


def _plain(value: Any) -> Any:
    """``value`` with Lark's ``Token`` strings as plain ``str``: what ``repr`` can write and
    ``literal_eval`` read back (a Token's repr is a call)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a prebuilt table")


def render(grammar_name: str) -> str:
    return repr(build_table(grammar_name)) + "\n"


def write_all(directory: Path = grammar.PREBUILT_DIRECTORY) -> list[Path]:
    """(Re)write the table of every grammar file into ``directory``."""
    directory.mkdir(exist_ok=True)
    written = []
    for path in sorted(grammar.grammar_directory().glob("*.lark")):
        target = directory / f"{path.stem}.txt"
        target.write_text(render(path.stem), encoding="utf-8")
        written.append(target)
    for stale in directory.glob("*.txt"):
        if stale not in written:
            stale.unlink()
    return written


if __name__ == "__main__":  # python -m mailconf.syntax.prebuilt
    for written in write_all():
        print(written, file=sys.stderr)
