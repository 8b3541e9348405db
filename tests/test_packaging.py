"""The wheel ships the grammars, the data files and ``py.typed``, and the code passes ruff and
mypy."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_wheel_contains_grammars_and_data(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {result.stderr.strip()[-200:]}")
    (wheel,) = tmp_path.glob("mailconf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for grammar in (REPO / "grammars").glob("*.lark"):
        assert f"mailconf/grammars/{grammar.name}" in names
        assert f"mailconf/syntax/_prebuilt/{grammar.stem}.txt" in names
    from mailconf.postfix.params import shipped_versions

    for major, minor in shipped_versions():
        assert f"mailconf/data/postfix/parameters-{major}.{minor}.json" in names
    assert any(name.startswith("mailconf/data/milter/") for name in names)
    assert "mailconf/py.typed" in names  # PEP 561: users' type checkers read our annotations
    assert any(name.endswith(".data/data/share/man/man1/mailconf.1") for name in names)


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
    ],
    ids=["ruff", "ruff-format", "mypy"],
)
def test_code_quality_gate(command: list[str]) -> None:
    tool = shutil.which(command[0], path=str(Path(sys.executable).parent))
    if tool is None:
        pytest.skip(f"{command[0]} is not installed in this environment")
    result = subprocess.run(
        [tool, *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
