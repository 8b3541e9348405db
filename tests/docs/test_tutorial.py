"""The tutorial cannot drift: its outputs are a fresh run's, the Japanese pages mirror the English
ones, and the built site links each page to its counterpart in the other language."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
TUTORIAL = DOCS / "tutorial"
JA_TUTORIAL = DOCS / "ja" / "tutorial"
HOWTO = DOCS / "howto"
OUTPUTS = TUTORIAL / "_outputs"
INCLUDE = re.compile(r"```\{literalinclude\}\s+(\S+)")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "tutorial_outputs", REPO / "tools" / "tutorial_outputs.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.md"))


def test_outputs_are_a_fresh_run(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("apply gives the keys to opendkim and the example tree to root: needs root")
    generator = _generator()
    made = set(generator.generate(tmp_path))
    committed = {p.name for p in OUTPUTS.iterdir()}
    knot = set(generator.KNOT_OUTPUTS)
    if made != committed and committed - made == knot and not shutil.which("knotd"):
        pytest.skip("knotd is missing: the RFC 2136 outputs were not remade (Debian's knot)")
    assert made == committed, "run tools/tutorial_outputs.py and commit docs/tutorial/_outputs"
    for name in sorted(made):
        assert (tmp_path / name).read_text() == (OUTPUTS / name).read_text(), (
            f"{name} differs from a fresh run: run tools/tutorial_outputs.py and commit the result"
        )


def _includes(page: Path) -> set[Path]:
    return {(page.parent / target).resolve() for target in INCLUDE.findall(page.read_text())}


def test_every_output_is_shown_and_every_include_exists() -> None:
    pages = [*TUTORIAL.glob("*.md"), *JA_TUTORIAL.glob("*.md"), *HOWTO.glob("*.md")]
    included = set().union(*(_includes(page) for page in pages))
    for target in included:
        assert target.is_file(), f"an include names a missing file: {target}"
    outputs = {p.resolve() for p in OUTPUTS.iterdir()}
    assert outputs <= included, (
        f"outputs no page shows: {sorted(p.name for p in outputs - included)}"
    )


def test_japanese_tutorial_covers_every_page() -> None:
    english = _pages(TUTORIAL)
    assert len(english) > 1
    assert _pages(JA_TUTORIAL) == english
    for name in english:
        en = {p.name for p in _includes(TUTORIAL / name)}
        ja = {p.name for p in _includes(JA_TUTORIAL / name)}
        assert ja == en, f"ja/tutorial/{name} shows other outputs than tutorial/{name}"


def _first_paragraph(page: Path) -> str:
    """The paragraph right under the page's title."""
    lines = page.read_text().splitlines()
    assert lines[0].startswith("# "), f"{page}: the title is not the first line"
    return next(line for line in lines[1:] if line.strip())


def test_each_page_links_to_its_counterpart_first() -> None:
    for name in _pages(TUTORIAL):
        assert f"(../ja/tutorial/{name})" in _first_paragraph(TUTORIAL / name), (
            f"tutorial/{name}: no link to the Japanese page under the title"
        )
        assert f"(../../tutorial/{name})" in _first_paragraph(JA_TUTORIAL / name), (
            f"ja/tutorial/{name}: no link to the English page under the title"
        )


def test_built_site_switches_language_both_ways(html_site: Path) -> None:
    """The language links resolve in the built HTML (``html_site``: tests/docs/conftest.py)."""
    for name in _pages(TUTORIAL):
        page = name.removesuffix(".md") + ".html"
        english = (html_site / "tutorial" / page).read_text()
        japanese = (html_site / "ja" / "tutorial" / page).read_text()
        assert f'href="../ja/tutorial/{page}"' in english, f"tutorial/{page} -> ja"
        assert f'href="../../tutorial/{page}"' in japanese, f"ja/tutorial/{page} -> en"
