"""docs/findings.md lists every finding code the source can produce (tooling matches on codes)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE = re.compile(
    r'"((?:postfix|milter|dkim|spf|dmarc|dns|sender|system)\.[a-z0-9]+(?:-[a-z0-9]+)*)"'
)


def test_every_code_in_the_source_is_documented() -> None:
    used = {
        match
        for path in (REPO / "src" / "mailconf").rglob("*.py")
        for match in CODE.findall(path.read_text(encoding="utf-8"))
    }
    documented = set(
        re.findall(r"`([a-z]+\.[a-z0-9-]+)`", (REPO / "docs" / "findings.md").read_text())
    )
    assert used, "the pattern found no codes: the test is broken"
    assert sorted(used - documented) == [], "undocumented codes"
    assert sorted(documented - used) == [], "documented codes nothing produces"
