"""mailconf(1): the committed copy the wheel installs is the page Sphinx builds from docs/man.md,
and ``man -l`` renders it with every command."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mailconf.cli import build_parser

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "man" / "mailconf.1"


def words(troff: str) -> list[str]:
    """The page without what differs between versions of the tools and says nothing: comment
    lines (they name the Docutils version) and empty requests (a lone ``.``), blanks collapsed
    (argparse wraps the usage lines differently from one Python version to the next)."""
    kept = [line for line in troff.splitlines() if line != "." and not line.startswith('.\\"')]
    return " ".join(kept).split()


def test_the_committed_man_page_is_a_fresh_build(man_page: Path) -> None:
    fresh = man_page.read_text(encoding="utf-8")
    assert words(COMMITTED.read_text(encoding="utf-8")) == words(fresh), (
        "docs/man/mailconf.1 is stale: run ./dev docs (it copies the fresh build there)"
    )


def test_man_renders_the_page_with_every_command() -> None:
    if shutil.which("man") is None:
        pytest.skip("man is not installed (apt-get install man-db)")
    result = subprocess.run(
        ["man", "--warnings", "-l", str(COMMITTED)],
        env={**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": "", "LC_ALL": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["MAILCONF(1)", "mailconf", "MAILCONF(1)"]
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "SEE ALSO"):
        assert heading in lines
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name in action.choices:
        assert f"   {name}" in lines, f"no section for {name}"
    assert "          mailconf plan --config mailconf.toml --detailed-exitcode" in lines
