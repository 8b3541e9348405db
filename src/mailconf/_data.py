"""The data files shipped inside the package (``mailconf/data/``): option and parameter tables
generated from the real daemons by the scripts in ``tools/``."""

from __future__ import annotations

from pathlib import Path

DATA_DIRECTORY = Path(__file__).resolve().parent / "data"


def read_data(*parts: str) -> str:
    """The text of ``data/<parts...>``; a plain path because the package is always on disk and
    importlib.resources would cost every command a few milliseconds of start-up."""
    return DATA_DIRECTORY.joinpath(*parts).read_text(encoding="utf-8")
