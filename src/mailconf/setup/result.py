"""What an apply did: :class:`ApplyResult` (its report, one-line summary and JSON) and
:class:`ApplyError` (an apply that stopped, with its result).

Kept apart from :mod:`mailconf.setup.apply` (which re-exports both) so the machinery that
performs the steps and the way its outcome is reported each stay small.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from mailconf.errors import MailconfError
from mailconf.setup.plan import Plan
from mailconf.system import validate
from mailconf.system.services import ServiceResult

__all__ = ["ApplyError", "ApplyResult"]


@attrs.define
class ApplyResult:
    """What an apply did; ``reported`` lists what was only reported (alternate root)."""

    plan: Plan
    done: list[str] = attrs.field(factory=list)
    not_done: list[str] = attrs.field(factory=list)
    restored: list[str] = attrs.field(factory=list)
    reported: list[str] = attrs.field(factory=list)
    validations: list[validate.Validation] = attrs.field(factory=list)
    services: list[ServiceResult] = attrs.field(factory=list)
    backup: Path | None = None
    ok: bool = True

    def render(self) -> str:
        lines = []
        if not self.done and not self.reported and self.ok:
            lines.append(f"nothing to do: {self.plan.root} already matches the setup")
        for title, items in (
            ("replaced or removed, as the plan flagged", self.flags()),
            ("done", self.done),
            ("reported, not run", self.reported),
            ("restored to how it was", self.restored),
            ("not done", self.not_done),
        ):
            if items:
                lines.append(f"{title}:")
                lines.extend(f"  - {item}" for item in items)
        for check in self.validations:
            state = "skipped" if check.skipped else ("ok" if check.ok else "FAILED")
            detail = (
                f": {check.message}" if check.message and (check.skipped or not check.ok) else ""
            )
            lines.append(f"validation {check.tool}: {state}{detail}")
        if self.backup is not None:
            lines.append(f"backup of the changed files: {self.backup}")
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """One line for ``apply --quiet``: the counts, failed checks, and where the backup is."""
        counts = [
            f"{len(items)} {title}"
            for title, items in (
                ("done", self.done),
                ("reported, not run", self.reported),
                ("restored", self.restored),
                ("not done", self.not_done),
            )
            if items
        ]
        failed = [check.tool for check in self.validations if not check.ok]
        if failed:
            counts.append("validation FAILED: " + ", ".join(failed))
        if self.backup is not None:
            counts.append(f"backup: {self.backup}")
        head = "applied" if self.ok else "apply failed"
        if self.ok and not self.done and not self.reported:
            return f"nothing to do: {self.plan.root} already matches the setup"
        return f"{head}: " + "; ".join(counts)

    def flags(self) -> list[str]:
        """What the steps done replaced or removed of the admin's configuration (the plan's
        ``replaces`` flags), printed again so they are seen after the diffs scrolled by."""
        done = set(self.done)
        return [
            f"{step.target}: {flag}"
            for step in self.plan.steps
            if step.description in done
            for flag in step.replaces
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "replaced": self.flags(),
            "done": self.done,
            "not_done": self.not_done,
            "restored": self.restored,
            "reported": self.reported,
            "validations": [check.to_json() for check in self.validations],
            "backup": None if self.backup is None else str(self.backup),
        }


class ApplyError(MailconfError):
    """An apply stopped; ``result`` says what was done, restored and not done."""

    def __init__(self, message: str, result: ApplyResult) -> None:
        self.reason = message
        self.result = result
        result.ok = False
        summary = [message]
        if result.done:
            summary.append("done: " + "; ".join(result.done))
        if result.restored:
            summary.append("restored: " + ", ".join(result.restored))
        if result.not_done:
            summary.append("not done: " + "; ".join(result.not_done))
        super().__init__("\n".join(summary))
