"""Loading the Lark grammars in ``grammars/`` and deriving the fast per-entry regexes from them.

Every grammar has the same shape: a ``start`` rule over run terminals (``TRIVIA``, ``ENTRIES``
and, for Postfix, ``ORPHANS``), an ``entry`` rule over the unit terminal ``ENTRY`` and a ``parts``
rule over the terminals that name the parts of an entry (``OPTION: INDENT? NAME SEP VALUE ...``).
Lark's LALR parser (contextual lexer, built in memory) recognises the runs; the compiled ``ENTRY``
pattern, taken from the same grammar, splits an ``ENTRIES`` run into entries.  Matching runs
instead of single lines is what makes a 100,000-line KeyTable parse in a fraction of a second:
Lark's per-token cost is paid a few times per file instead of once per line.

The models read an entry's parts through :func:`part_pattern`: a terminal of the grammar compiled
as one regex in which each named terminal it is built from is a named group.  The regex is
Lark's own compilation of that terminal (tests compare the two strings) with the groups added,
so the grammar is the only place an entry's syntax is written.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import lark
    from lark.lexer import Pattern

RUN_TERMINALS = ("TRIVIA", "ORPHANS", "ENTRIES")
UNIT_TERMINAL = "ENTRY"
STARTS = ("start", "entry", "parts")


def grammar_directory() -> Path:
    """Where the ``.lark`` files are: inside the installed wheel, or ``grammars/`` in a checkout."""
    # A path next to the package, not importlib.resources: the wheel is always unpacked on disk
    # and importing importlib.resources costs ~5 ms of every command's start-up.
    package = Path(__file__).resolve().parents[1]
    packaged = package / "grammars"
    return packaged if packaged.is_dir() else package.parents[1] / "grammars"


def grammar_path(kind: str) -> Path:
    return grammar_directory() / f"{kind}.lark"


@functools.cache
def parser(kind: str) -> lark.Lark:
    """The LALR parser of ``kind``, built in memory once per process.

    Never ``cache=True``: Lark would then ``pickle.load`` a file with a predictable name in the
    world-writable temporary directory, and any local user could plant one that runs code as
    root the next time an admin runs mailconf.  Building these small grammars costs a few
    milliseconds (``benchmarks/`` measures it); nothing is read but the ``.lark`` file shipped
    with the package.
    """
    import lark  # imported here: only parsing needs it, and it is the costliest import we have

    return lark.Lark.open(
        str(grammar_path(kind)),
        parser="lalr",
        lexer="contextual",
        start=list(STARTS),
        cache=False,
        maybe_placeholders=False,
    )


@functools.cache
def unit_pattern(kind: str) -> re.Pattern[str]:
    """The compiled ``ENTRY`` terminal of ``kind``'s grammar."""
    terminal: Any = parser(kind).get_terminal(UNIT_TERMINAL)
    return re.compile(terminal.pattern.to_regexp())


@functools.cache
def part_pattern(grammar_name: str, terminal: str) -> re.Pattern[str]:
    """``terminal`` of ``grammars/<grammar_name>.lark`` (the file that defines it) as one compiled
    regex whose named sub-terminals are named groups, in lower case: ``OPTION: INDENT? NAME SEP
    VALUE`` gives ``(?:(?P<indent>[ \\t]+))?(?P<name>...)(?P<sep>...)(?P<value>...)``.  Terminals
    whose name starts with ``_`` are inlined without a group.  Derived once per process, on first
    use (a few milliseconds)."""
    return re.compile(derive(grammar_name, terminal)[1])


def derive(grammar_name: str, terminal: str) -> tuple[str, str]:
    """``(Lark's regexp of terminal, the same with named groups)``, from the grammar's definition.

    The walk mirrors Lark's own compilation of terminal definitions (``TerminalTreeToPattern``:
    sequences joined, alternatives longest first, ``?``/``*``/``+``/ranges as non-capturing
    groups) so the first string is exactly what Lark lexes with; tests check that it is.  Lark
    resolves a reference to another terminal by putting that terminal's definition tree in its
    place, so a reference is recognised by the identity of the tree (which is why the terminal is
    read from the file that defines its parts: an ``%import`` keeps only the names it lists).
    """
    definitions = terminal_definitions(grammar_name)
    names = {id(tree): name for name, tree in definitions.items() if not name.startswith("_")}
    try:
        root = definitions[terminal]
    except KeyError:
        raise ValueError(f"grammars/{grammar_name}.lark has no terminal {terminal}") from None
    plain, grouped = _compile(root, names)
    return plain.to_regexp(), grouped


@functools.cache
def terminal_definitions(grammar_name: str) -> dict[str, Any]:
    """The terminal definitions of one grammar file as Lark reads them (trees, references
    resolved).  A kind's file (the one with a ``start`` rule) comes from its parser, which
    parsing has built anyway; a shared file (``dataset_lines``, ``postfix_lines``) is loaded
    alone, without building a parser."""
    path = grammar_path(grammar_name)
    text = path.read_text(encoding="utf-8")
    if _START_RULE.search(text):
        loaded: Any = parser(grammar_name).grammar
    else:
        from lark.load_grammar import load_grammar

        load: Any = load_grammar  # untyped in Lark
        loaded, _ = load(text, str(path), [], False)
    return {str(name): tree for name, (tree, _) in loaded.term_defs}


_START_RULE = re.compile(r"^start\s*:", re.MULTILINE)


def _compile(node: Any, names: dict[int, str]) -> tuple[Pattern, str]:
    """``(Lark's pattern of node, its regexp with named groups)``."""
    from lark import Tree
    from lark.lexer import PatternRE, PatternStr

    data = node.data
    if data == "value":
        (child,) = node.children
        plain, grouped = _compile(child, names)
        name = names.get(id(child))
        return plain, grouped if name is None else f"(?P<{name.lower()}>{grouped})"
    if data in ("literal", "range"):
        from lark.load_grammar import PrepareLiterals

        prepared = PrepareLiterals().transform(Tree(data, list(node.children)))
        (pattern,) = prepared.children
        return pattern, pattern.to_regexp()
    if data in ("expr", "maybe"):
        inner, inner_grouped = _compile(node.children[0], names)
        op = _operator(node.children[1:]) if data == "expr" else "?"
        plain = PatternRE(f"(?:{inner.to_regexp()}){op}", inner.flags)
        return plain, _with_flags(f"(?:{inner_grouped}){op}", plain.flags)
    items = [_compile(child, names) for child in node.children]
    if data == "expansion":
        if not items:
            return PatternStr(""), ""
        if len(items) == 1:
            return items[0]
        joined = PatternRE("".join(item.to_regexp() for item, _ in items), ())
        return joined, "".join(grouped for _, grouped in items)
    if data == "expansions":
        if len(items) == 1:
            return items[0]
        items.sort(key=lambda item: (-item[0].max_width, -item[0].min_width, -len(item[0].value)))
        alternatives = "|".join(item.to_regexp() for item, _ in items)
        return PatternRE(f"(?:{alternatives})", ()), "(?:{})".format("|".join(g for _, g in items))
    raise ValueError(f"unsupported construct {data!r} in a terminal definition")


def _operator(args: list[Any]) -> str:
    op = str(args[0])
    if op != "~":
        return op
    bounds = [int(arg) for arg in args[1:]]
    return f"{{{bounds[0]}}}" if len(bounds) == 1 else f"{{{bounds[0]},{bounds[1]}}}"


def _with_flags(regexp: str, flags: Any) -> str:
    for flag in flags:
        regexp = f"(?{flag}:{regexp})"
    return regexp
