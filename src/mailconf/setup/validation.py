"""The real programs' verdict on a plan's files, before anything is written: ``plan`` shows it and
exits 1 on a refusal, and an apply asks the same question, with the same code, before its first
write (and again once the files are in place, :mod:`mailconf.setup.apply`).  :func:`checked_plan`
is the one composition of planning and this check, for ``mailconf plan``, :func:`mailconf.plan`
and the Ansible module's check mode.

The validators are those of :mod:`mailconf.system.validate` (``postconf -n``/``-M``,
``opendkim -n``, ``opendmarc -n``; ``postfix check`` only once the files are written), handed the
plan's files as *staged* content: each configuration with a planned file is checked on copies in
a private scratch directory, so the daemon reads exactly what the apply would write and the real
files are untouched, under ``--root`` as on ``/``.  A refusal becomes an error note naming the
file and carrying the daemon's own message; a warning while the plan still installs packages
(they bring files the configuration opens, and an apply validates again once they are in).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from mailconf.findings import Finding, Severity
from mailconf.setup.plan import Plan
from mailconf.setup.planner import make_plan
from mailconf.setup.prechecks import MISSING_FILE, MissingFile, missing_references
from mailconf.setup.spec import Setup
from mailconf.system import validate
from mailconf.system.root import SystemRoot
from mailconf.system.run import Runner, run

__all__ = ["DEFAULT_VALIDATORS", "Validator", "checked_plan", "staged_files", "validate_plan"]

Validator = Callable[..., validate.Validation]

#: What an apply validates, in this order: before writing (staged) and once written.
DEFAULT_VALIDATORS: tuple[Validator, ...] = (
    validate.postconf_check,
    validate.postfix_check,
    validate.opendkim_check,
    validate.opendmarc_check,
)


def staged_files(plan: Plan) -> dict[str, bytes | None]:
    """Every file as the plan leaves it: a file step's new content, None for a removed file."""
    staged: dict[str, bytes | None] = {}
    for step in plan.steps:
        if step.kind == "file":
            staged[step.target] = step.content
        elif step.kind == "remove":
            staged[step.target] = None
    return staged


def validate_plan(
    plan: Plan, validators: Sequence[Validator] = DEFAULT_VALIDATORS, *, runner: Runner = run
) -> Plan:
    """``plan`` with each validator's verdict on its files (``validations``) and a note for each
    refusal; an empty plan changes nothing and is not validated.

    A refusal for a file the plan's notes already report missing (``setup.missing-file``: the
    planner's precheck, :mod:`mailconf.setup.prechecks`, with the fix) gets no second note: the
    daemon stops at that file, and one error says it.  The verdict stays in ``validations``."""
    if plan.empty:
        return plan
    staged = staged_files(plan)
    installing = [step.target for step in plan.of_kind("package")]
    verdicts = tuple(check(plan.root, runner=runner, staged=staged) for check in validators)
    reported = _reported_missing(plan)
    notes = [
        _refusal(verdict, installing)
        for verdict in verdicts
        if not verdict.ok and not _repeats(verdict, reported)
    ]
    return attrs.evolve(plan, notes=(*plan.notes, *notes), validations=verdicts)


def _reported_missing(plan: Plan) -> list[MissingFile]:
    """The missing files the plan's ``setup.missing-file`` notes report (by configuration)."""
    noted = {note.path for note in plan.notes if note.code == MISSING_FILE}
    if not noted:
        return []
    return [item for item in missing_references(plan.root, plan.steps) if item.conf in noted]


def _repeats(verdict: validate.Validation, reported: list[MissingFile]) -> bool:
    """Whether a refusal names a file already reported missing in the daemon's configuration."""
    return any(item.conf == verdict.conf and item.path in verdict.message for item in reported)


def checked_plan(
    setup: Setup, root: SystemRoot, *, stage_only: bool = False, runner: Runner = run
) -> Plan:
    """The plan for ``setup`` on ``root`` with the daemons' verdict on its files: what ``mailconf
    plan`` shows.  ``stage_only``: a domain's first key is staged, not signing (see
    :func:`~mailconf.setup.planner.make_plan`)."""
    plan = make_plan(setup, root, runner=runner, stage_only=stage_only)
    return validate_plan(plan, runner=runner)


def _refusal(verdict: validate.Validation, installing: list[str]) -> Finding:
    unless = (
        f" (the packages {', '.join(installing)} are not installed yet; apply checks again "
        "once they are)"
        if installing
        else ""
    )
    return Finding(
        Severity.WARNING if installing else Severity.ERROR,
        "setup.validation-failed",
        f"{verdict.tool} refuses the configuration as the plan leaves it{unless}: "
        f"{verdict.message or 'no message'}",
        f"correct what {verdict.tool} names: the plan keeps the administrator's own settings",
        verdict.conf or None,
    )
