"""Shared test helpers: where the real-world corpus and the Debian packages' files are, binaries."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def corpus_files(kind: str) -> list[Path]:
    """The shared corpus files of ``kind`` (empty when the corpus is not beside the repo)."""
    folder = CORPUS / kind
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def require_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}")


def require_binary(name: str) -> str:
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if path is None:
        pytest.skip(f"{name} is not installed (CI installs it with apt-get)")
    return path


#: How the tests run a command as ``nobody`` (the suite itself runs as root in CI).
AS_NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


@functools.cache
def _why_nobody_cannot_run_mailconf() -> str | None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return "needs root and setpriv to run a command as nobody"
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import mailconf"],
        capture_output=True, text=True, check=False, cwd="/",
    )  # fmt: skip
    if probe.returncode != 0:
        # e.g. a pyenv interpreter under root's 0700 home: its libpython is not readable by nobody.
        return f"nobody cannot run {sys.executable} with mailconf: {probe.stderr.strip()[:200]}"
    return None


def require_nobody() -> None:
    """Skip unless this interpreter, with mailconf, can run as ``nobody``."""
    reason = _why_nobody_cannot_run_mailconf()
    if reason is not None:
        pytest.skip(reason)


def run_as_nobody(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python ARGV...`` as nobody, from ``/``; skips the test where that cannot work."""
    require_nobody()
    return subprocess.run(
        [*AS_NOBODY, sys.executable, *argv],
        capture_output=True, text=True, check=False, cwd="/", timeout=timeout,
    )  # fmt: skip
