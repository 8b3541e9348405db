"""Loading the Lark grammars in ``grammars/`` and turning them into fast line splitters.

Every grammar has the same shape: a ``start`` rule over run terminals (``TRIVIA``, ``ENTRIES``
and, for Postfix, ``ORPHANS``) and an ``entry`` rule over the unit terminal ``ENTRY``.  Lark's LALR
parser (contextual lexer, built in memory) recognises the runs; the compiled ``ENTRY``
pattern, taken from the same grammar, splits an ``ENTRIES`` run into entries.  Matching runs
instead of single lines is what makes a 100,000-line KeyTable parse in a fraction of a second:
Lark's per-token cost is paid a few times per file instead of once per line.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import lark

RUN_TERMINALS = ("TRIVIA", "ORPHANS", "ENTRIES")
UNIT_TERMINAL = "ENTRY"


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
        start=["start", "entry"],
        cache=False,
        maybe_placeholders=False,
    )


@functools.cache
def unit_pattern(kind: str) -> re.Pattern[str]:
    """The compiled ``ENTRY`` terminal of ``kind``'s grammar."""
    terminal: Any = parser(kind).get_terminal(UNIT_TERMINAL)
    return re.compile(terminal.pattern.to_regexp())
