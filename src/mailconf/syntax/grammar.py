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

import ast
import functools
import hashlib
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
    """The LALR parser of ``kind``: from the tables shipped in the package when they are current
    (:func:`prebuilt_table`), else built in memory; once per process.

    Never ``cache=True``: Lark would then ``pickle.load`` a file with a predictable name in the
    world-writable temporary directory, and any local user could plant one that runs code as
    root the next time an admin runs mailconf.
    """
    import lark  # imported here: only parsing needs it, and it is the costliest import we have

    table = prebuilt_table(kind)
    if table is not None and table["parser"] is not None and table["lark"] == lark.__version__:
        stored = table["parser"]  # Lark's own format: only for the Lark version that wrote it
        load: Any = lark.Lark._load_from_dict  # what Lark's standalone parsers call
        loaded: lark.Lark = load(stored["data"], stored["memo"])
        return loaded
    return build_parser(kind)


def build_parser(kind: str) -> lark.Lark:
    """``kind``'s parser built from its grammar file, in memory (60-70 ms for ``postfix-main``)."""
    import lark

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
    table = prebuilt_table(kind)
    if table is not None and table["unit"] is not None:
        return re.compile(table["unit"])
    return re.compile(unit_regexp(parser(kind)))


@functools.cache
def scanner(kind: str) -> tuple[re.Pattern[str], ...] | None:
    """The regexes that lex (and so parse) ``kind``'s flat ``start`` rule, in Lark's order, from
    the prebuilt table; None when there is none (then Lark parses)."""
    table = prebuilt_table(kind)
    if table is None or table.get("scanner") is None:
        return None
    return tuple(re.compile(pattern) for pattern in table["scanner"])


def unit_regexp(built: lark.Lark) -> str:
    terminal: Any = built.get_terminal(UNIT_TERMINAL)
    return str(terminal.pattern.to_regexp())


# ------------------------------------------------------------------ tables built ahead of time
PREBUILT_DIRECTORY = Path(__file__).resolve().parent / "_prebuilt"


@functools.cache
def grammar_digest() -> str:
    """SHA-256 over every grammar file's name and bytes: a change in any of them (an
    ``%import``-ed one included) retires every prebuilt table."""
    digest = hashlib.sha256()
    for path in sorted(grammar_directory().glob("*.lark")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def lark_version() -> str:
    import lark

    return str(lark.__version__)


@functools.cache
def prebuilt_table(grammar_name: str) -> dict[str, Any] | None:
    """The table :mod:`mailconf.syntax.prebuilt` wrote for ``grammar_name``, when it was built
    from the grammar files as they are now; else None (the caller then derives what it needs
    from the grammar, only slower).  Its regexes are plain ``re`` patterns; its serialised parser
    is Lark's private format, which :func:`parser` takes only from the Lark version that wrote it.

    Read with :func:`ast.literal_eval`, which builds literals and can run nothing, from the
    package directory, which is as trusted as the code beside it.  Never pickle."""
    try:
        text = (PREBUILT_DIRECTORY / f"{grammar_name}.txt").read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        loaded = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # a damaged install: build in memory rather than refuse to start
    if not isinstance(loaded, dict):
        return None
    if loaded.get("grammar_sha256") != grammar_digest():
        return None
    return loaded


@functools.cache
def part_pattern(grammar_name: str, terminal: str) -> re.Pattern[str]:
    """``terminal`` of ``grammars/<grammar_name>.lark`` (the file that defines it) as one compiled
    regex whose named sub-terminals are named groups, in lower case: ``OPTION: INDENT? NAME SEP
    VALUE`` gives ``(?:(?P<indent>[ \\t]+))?(?P<name>...)(?P<sep>...)(?P<value>...)``.  Terminals
    whose name starts with ``_`` are inlined without a group.  Derived once per process, on first
    use (a few milliseconds; nothing when the prebuilt table has it)."""
    table = prebuilt_table(grammar_name)
    if table is not None and terminal in table["parts"]:
        return re.compile(table["parts"][terminal])
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
    if is_kind_grammar(text):
        loaded: Any = _built_parser(grammar_name).grammar
    else:
        from lark.load_grammar import load_grammar

        load: Any = load_grammar  # untyped in Lark
        loaded, _ = load(text, str(path), [], False)
    return {str(name): tree for name, (tree, _) in loaded.term_defs}


_START_RULE = re.compile(r"^start\s*:", re.MULTILINE)


def is_kind_grammar(text: str) -> bool:
    """Whether a grammar file's ``text`` is a kind's (it has a ``start`` rule) rather than a file
    of shared terminals that kinds ``%import``."""
    return _START_RULE.search(text) is not None


def _built_parser(kind: str) -> lark.Lark:
    """A parser that carries its grammar (a prebuilt one does not): the one in use when it was
    built in memory, else a new one."""
    in_use = parser(kind)
    return in_use if getattr(in_use, "grammar", None) is not None else build_parser(kind)


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
