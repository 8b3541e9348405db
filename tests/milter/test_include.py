"""OpenDKIM's Include: what the daemon refuses in an included file, `mailconf lint` refuses too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support import require_binary


@pytest.mark.parametrize(
    ("included", "refused"),
    [
        ("Canonicalization relaxed/simple\n", False),
        ("Bogus 1\n", True),
        ("SubDomains maybe\n", True),
        ("KeyTable file:/nonexistent/key.table\n", True),
    ],
)
def test_lint_follows_include_like_opendkim_n(tmp_path: Path, included: str, refused: bool) -> None:
    opendkim = require_binary("opendkim")
    (tmp_path / "extra.conf").write_text(included)
    main = tmp_path / "opendkim.conf"
    main.write_text(f"Mode sv\nInclude {tmp_path / 'extra.conf'}\n")
    daemon = subprocess.run([opendkim, "-n", "-x", str(main)], capture_output=True, timeout=30)
    assert (daemon.returncode != 0) == refused
    ours = subprocess.run(
        [sys.executable, "-m", "mailconf", "lint", str(main)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (ours.returncode == 1) == refused, ours.stdout + ours.stderr
    if refused:
        assert "extra.conf" in ours.stdout


@pytest.mark.parametrize("levels", [5, 6])
def test_include_nesting_limit_agrees_with_opendkim(tmp_path: Path, levels: int) -> None:
    """opendkim -n accepts five nested Includes and refuses six ("nesting too deep")."""
    opendkim = require_binary("opendkim")
    for level in range(levels):
        (tmp_path / f"l{level}.conf").write_text(f"Include {tmp_path / f'l{level + 1}.conf'}\n")
    (tmp_path / f"l{levels}.conf").write_text("Mode sv\n")
    top = tmp_path / "l0.conf"
    daemon = subprocess.run([opendkim, "-n", "-x", str(top)], capture_output=True, timeout=30)
    ours = subprocess.run(
        [sys.executable, "-m", "mailconf", "lint", str(top), "--kind", "opendkim"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (daemon.returncode == 0) == (levels == 5)
    assert (ours.returncode == 0) == (daemon.returncode == 0), ours.stdout
