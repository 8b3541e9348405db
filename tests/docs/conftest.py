"""The documentation built once per test session, as ``./dev docs`` builds it (``-W``: a warning
is an error), into a temporary directory; skipped where Sphinx is not installed (the ``docs``
extra, which ``./dev`` installs)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def sphinx_build(builder: str, out: Path) -> Path:
    """Build the docs with ``builder`` into ``out``; fail with Sphinx's warnings if it warns."""
    if importlib.util.find_spec("sphinx") is None:
        pytest.skip("Sphinx is not installed (pip install -e '.[docs]'; ./dev does)")
    options = ["-W", "--keep-going", "-E", "-q", "-b", builder, "-d", str(out / ".doctrees")]
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", *options, str(DOCS), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "WARNING" not in result.stderr, result.stderr[-5000:]
    return out


@pytest.fixture(scope="session")
def html_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/ built as HTML; the directory holding index.html."""
    return sphinx_build("html", tmp_path_factory.mktemp("html"))


@pytest.fixture(scope="session")
def man_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mailconf(1) as ``sphinx-build -b man`` makes it from docs/man.md."""
    return sphinx_build("man", tmp_path_factory.mktemp("man")) / "mailconf.1"
