"""The parser tables shipped in the package (mailconf.syntax.prebuilt) are the grammar.

* They are current: regenerating them from grammars/ gives the shipped bytes (the serialised Lark
  parser only for the Lark version that wrote it; other Lark versions never load it).
* The scanner that parses without Lark (flat ``start`` rules) tokenises exactly as a parser built
  from the grammar files does, and fails at the same place, on the corpus and on generated input;
  so does the parser loaded from the tables.
* A stale or damaged table is ignored (mailconf builds the parser in memory), and a table file
  holding code is read as data and never run.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator
from pathlib import Path

import lark
import pytest

import mailconf
from fuzzing import corpus_texts, generated_inputs
from mailconf.errors import ParseError
from mailconf.syntax import grammar, parse, prebuilt
from mailconf.syntax.kinds import KINDS

GRAMMARS = sorted(path.stem for path in grammar.grammar_directory().glob("*.lark"))
GENERATED_PER_KIND = 400


def test_shipped_tables_are_current() -> None:
    """Regenerated as ``python -m mailconf.syntax.prebuilt`` does, every table holds what is
    shipped.  Lark numbers its parser states differently from run to run, so the serialised
    parser is compared by what it does (the next test), not by its bytes."""
    for name in GRAMMARS:
        shipped = ast.literal_eval((grammar.PREBUILT_DIRECTORY / f"{name}.txt").read_text())
        fresh = prebuilt.build_table(name)
        assert (shipped["parser"] is None) == (fresh["parser"] is None), name
        if shipped["lark"] != lark.__version__:  # then the shipped parser is never loaded
            del shipped["lark"], fresh["lark"]
        del shipped["parser"], fresh["parser"]
        assert shipped == fresh, f"{name}: run python -m mailconf.syntax.prebuilt"
    assert sorted(p.stem for p in grammar.PREBUILT_DIRECTORY.glob("*.txt")) == GRAMMARS


def test_every_kind_parses_without_lark_where_its_start_rule_is_flat() -> None:
    for kind in KINDS:
        assert grammar.scanner(kind) is not None, kind


def _lark_tokens(built: lark.Lark, text: str) -> list[tuple[str, str]] | int:
    """Tokens of a parser built from the grammar now, or the position where it fails."""
    if not text:
        return []
    try:
        tree = built.parse(text, start="start")
    except lark.exceptions.UnexpectedInput as error:
        return int(error.pos_in_stream or 0)
    return [(t.type, str(t)) for t in tree.children if isinstance(t, lark.Token)]


def _scanned(kind: str, text: str) -> list[tuple[str, str]] | int:
    patterns = grammar.scanner(kind)
    assert patterns is not None

    def position(line: str, column: int) -> tuple[int, str]:
        return column, "no run matches"

    try:
        return parse.scan(patterns, text, position)
    except ParseError as error:
        line_start = sum(len(line) for line in parse.split_lines(text)[: error.line - 1])
        return line_start + error.column - 1


@pytest.mark.parametrize("kind", KINDS)
def test_scanner_and_loaded_parser_agree_with_the_grammar(kind: str) -> None:
    built = grammar.build_parser(kind)  # from the .lark files, never from the tables
    loaded = grammar.parser(kind)
    rng = random.Random(f"prebuilt:{kind}")
    inputs = generated_inputs(kind, rng)
    texts = corpus_texts(kind) + [next(inputs) for _ in range(GENERATED_PER_KIND)]
    refused = 0
    for text in texts:
        expected = _lark_tokens(built, text)
        refused += isinstance(expected, int)
        assert _scanned(kind, text) == expected, text[:200]
        assert _lark_tokens(loaded, text) == expected, text[:200]
    # Postfix reads every line somehow and the tables' runs take any line: only these three
    # grammars refuse text at the run level, so only they compare failure positions.
    assert (refused > 0) == (kind in ("opendkim", "opendmarc", "shellvars")), refused


def test_a_stale_table_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = ast.literal_eval((grammar.PREBUILT_DIRECTORY / "postfix-main.txt").read_text())
    table["grammar_sha256"] = "0" * 64
    table["scanner"] = ["(?P<TRIVIA>x)"]  # would refuse every real main.cf
    (tmp_path / "postfix-main.txt").write_text(repr(table))
    _use_tables_from(tmp_path, monkeypatch)
    assert grammar.prebuilt_table("postfix-main") is None
    assert grammar.scanner("postfix-main") is None
    assert mailconf.parse("biff = no\n", kind="postfix-main").get("biff") == "no"


def test_a_table_holding_code_is_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"
    for name in GRAMMARS:
        (tmp_path / f"{name}.txt").write_text(payload)
    _use_tables_from(tmp_path, monkeypatch)
    for kind in KINDS:
        assert grammar.prebuilt_table(kind) is None
    assert mailconf.parse("biff = no\n", kind="postfix-main").get("biff") == "no"
    assert not marker.exists()


CACHED = (
    grammar.prebuilt_table,
    grammar.scanner,
    grammar.parser,
    grammar.unit_pattern,
    grammar.part_pattern,
)


def _use_tables_from(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grammar, "PREBUILT_DIRECTORY", directory)
    for cached in CACHED:
        cached.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """After each test (and after monkeypatch restored the directory), forget what was read."""
    yield
    for cached in CACHED:
        cached.cache_clear()
