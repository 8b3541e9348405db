"""One type for everything mailconf reports without refusing: lint warnings and doctor findings.

A finding has a stable dotted ``code`` (tests and tooling match on it, never on the wording), a
severity, where it is (file and line when there is one), a one-line reason and the fix.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs


class Severity(str, enum.Enum):
    """How bad a finding is; ``error`` means the daemon refuses to start or mail breaks."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@attrs.frozen
class Finding:
    severity: Severity
    code: str
    message: str
    fix: str = ""
    path: str | None = None
    line: int | None = None
    column: int | None = None  # where on the line, when that is known (a parse error)

    def render(self) -> str:
        """``path:line[:column]: severity: message`` (the format of ``mailconf lint`` and
        compilers)."""
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}" if self.column is None else f":{self.line}:{self.column}"
            where += ": "
        text = f"{where}{self.severity.value}: {self.message} [{self.code}]"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "fix": self.fix,
            "path": self.path,
            "line": self.line,
            "column": self.column,
        }


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
