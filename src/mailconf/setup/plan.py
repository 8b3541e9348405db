"""What a plan is: the ordered steps that bring a system to a setup, each saying what it changes,
why, and which daemons must restart once it is done.

Kept apart from the planner (which decides the steps) and from apply (which performs them),
because both, the CLI and the tests read plans: a step carries everything needed to perform it
(a file's complete new content and the content it replaces, modes, owners, the key to generate),
so ``apply_plan`` can check that the system is still what the plan was made from.
"""

from __future__ import annotations

from typing import Any

import attrs

from mailconf.findings import Finding
from mailconf.setup.spec import KeySpec, Setup
from mailconf.system.root import SystemRoot
from mailconf.system.validate import Validation

__all__ = ["Plan", "Step"]


@attrs.frozen
class Step:
    """One action of a plan. ``kind`` is package, group-member, directory, owner, mode, key,
    file, remove (a file moved into the apply's backups) or restart; ``services`` are the
    daemons that must restart if it is done.
    ``replaces`` flags each setting or entry the administrator wrote that the step replaces or
    removes (``replace ...: why`` / ``remove ...: why``): the plan shows them and apply prints
    them again, so nothing an admin relied on changes silently."""

    kind: str
    target: str
    description: str
    services: tuple[str, ...] = ()
    diff: str = ""
    content: bytes | None = attrs.field(default=None, repr=False)
    old: bytes | None = attrs.field(default=None, repr=False)
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    key: KeySpec | None = None
    member: tuple[str, str] | None = None  # (group, user)
    defaults: bool = False  # restart: /etc/default/NAME changed first
    replaces: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "target": self.target,
            "description": self.description,
        }
        if self.kind == "file":
            data["diff"] = self.diff
            data["new_file"] = self.old is None
        if self.mode is not None:
            data["mode"] = f"{self.mode:04o}"
        if self.owner is not None or self.group is not None:
            data["owner"] = f"{self.owner or ''}:{self.group or ''}"
        if self.key is not None:
            data["key"] = {
                "domain": self.key.domain,
                "selector": self.key.selector,
                "algorithm": self.key.algorithm,
                "bits": self.key.bits,
                "private": self.key.private_path,
                "txt": self.key.txt_path,
            }
        if self.member is not None:
            data["group"], data["user"] = self.member
        if self.services:
            data["services"] = list(self.services)
        if self.kind == "restart" and self.defaults:
            data["defaults_changed"] = True
        if self.replaces:
            data["replaces"] = list(self.replaces)
        return data

    def render(self) -> str:
        head = f"{self.kind}: {self.description}"
        head += "".join(f"\n  ! {flag}" for flag in self.replaces)
        if self.kind == "file" and self.diff:
            return head + "\n" + self.diff.rstrip("\n")
        return head


@attrs.frozen
class Plan:
    """An ordered list of steps; empty when the system already matches the setup."""

    root: SystemRoot
    setup: Setup
    steps: tuple[Step, ...]
    notes: tuple[Finding, ...] = ()
    hostname: str = ""
    #: Made with ``stage_only`` (a first key staged, not signing): apply_plan makes it so again.
    stage_only: bool = False
    #: The real programs' verdicts on the planned files (:mod:`mailconf.setup.validation`);
    #: empty until the plan is validated.
    validations: tuple[Validation, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.steps

    def of_kind(self, kind: str) -> list[Step]:
        return [step for step in self.steps if step.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "steps": [step.to_json() for step in self.steps],
            "notes": [note.to_json() for note in self.notes],
            "validations": [check.to_json() for check in self.validations],
        }

    def render(self) -> str:
        lines = []
        for note in self.notes:
            lines.append(note.render())
        if not self.steps:
            lines.append(f"nothing to do: {self.root} already matches the setup")
        for number, step in enumerate(self.steps, 1):
            lines.append(f"[{number}/{len(self.steps)}] {step.render()}")
        if self.validations:
            lines.append("checked as planned: " + ", ".join(map(_verdict, self.validations)))
        return "\n".join(lines) + "\n"


def _verdict(check: Validation) -> str:
    """``postconf ok``, ``opendkim FAILED`` (its note says why), ``postfix check skipped (why)``."""
    if check.skipped:
        return f"{check.tool} skipped ({check.message})"
    return f"{check.tool} {'ok' if check.ok else 'FAILED'}"
