"""Performing a :class:`~mailconf.setup.plan.Plan`: safely, once, and converging after a crash.

Order of an apply (all under the apply lock, the plan made or re-made under it):

0. the plan's files validated as planned, before anything is done, by the real programs
   (``postconf -n``/``-M``, ``opendkim -n``, ``opendmarc -n`` on staged copies: the check ``plan``
   runs, :mod:`mailconf.setup.validation`), and the validated plan handed to ``review`` (the CLI
   shows it and asks for confirmation there, so what the admin confirms is what is performed);
1. packages (``apt-get install -y`` of the missing ones on ``/``; reported under ``--root``), then
   the plan is made again, since the packages create files and accounts;
2. every owner and group the plan names is resolved first: a missing account stops the apply
   before anything is written;
3. the services that will need a restart are recorded in ``/var/lib/mailconf/pending-restarts``
   *before* the first change, so an apply killed before its restarts leaves a plan that restarts
   them (otherwise the files would be new and the daemons old, and nothing would say so);
4. a refusal of the check of 0 (or of its repeat on the plan re-made after packages) stops the
   apply with nothing written;
5. the steps, each file written atomically (temporary file in the same directory, fsync, rename,
   fsync of the directory) with its owner and mode kept and a backup taken first;
6. validation with the real programs again, of the files in place (``postfix check`` on ``/``
   now runs, and the keys generated are there); a refusal restores every file this apply wrote,
   byte for byte, and names the check;
7. restarts, only of the services whose files changed (milters first, then Postfix).

Any failure in 5 or 6 restores the files and removes the directories this apply created (when
they are empty again); the error says what was done, what was undone and what was not done.
Owners, modes of existing directories and (on ``/``) group memberships are left in place: they are
harmless and the next apply finds them done.

What an apply did is an :class:`~mailconf.setup.result.ApplyResult` (re-exported here, with
:class:`~mailconf.setup.result.ApplyError`, since callers import them from this module).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence

from mailconf.errors import MailconfError
from mailconf.findings import Severity
from mailconf.keys import ensure_key_pair
from mailconf.setup.pending import (
    PENDING_RESTARTS,
    pending_entries,
    pending_restarts,
    write_pending,
)
from mailconf.setup.plan import Plan, Step
from mailconf.setup.planner import make_plan
from mailconf.setup.result import ApplyError, ApplyResult
from mailconf.setup.spec import Setup
from mailconf.setup.validation import DEFAULT_VALIDATORS, Validator, validate_plan
from mailconf.system import accounts, packages
from mailconf.system.backup import BACKUPS_SYSTEM_PATH, BackupSet, RestoreError
from mailconf.system.lock import ApplyLock
from mailconf.system.root import SystemRoot
from mailconf.system.run import Runner, run
from mailconf.system.services import ServiceError, ServiceManager, ServiceResult

__all__ = ["ApplyError", "ApplyResult", "Validator", "apply", "apply_plan", "perform"]

Progress = Callable[[str], None]
BeforeStep = Callable[[int, Step], None]
#: Shown the validated plan under the lock before anything is done; raises to stop the apply.
Review = Callable[[Plan], None]

TEMP_SUFFIXES = (".mailconf-tmp", ".mailconf-new")


def apply(
    setup: Setup,
    root: SystemRoot | None = None,
    *,
    runner: Runner = run,
    progress: Progress | None = None,
    validators: Sequence[Validator] | None = None,
    before_step: BeforeStep | None = None,
    services: ServiceManager | None = None,
    stage_only: bool = False,
    review: Review | None = None,
) -> ApplyResult:
    """Plan and perform ``setup`` on ``root`` (default ``/``); raise :class:`ApplyError`.
    ``stage_only``: a domain's first key is staged, not signing (see :func:`make_plan`);
    ``review``: see :func:`perform`."""
    root = root or SystemRoot.live()
    return perform(
        root,
        lambda: make_plan(setup, root, runner=runner, stage_only=stage_only),
        runner=runner,
        progress=progress,
        validators=validators,
        before_step=before_step,
        services=services,
        review=review,
    )


def perform(
    root: SystemRoot,
    make: Callable[[], Plan],
    *,
    runner: Runner = run,
    progress: Progress | None = None,
    validators: Sequence[Validator] | None = None,
    before_step: BeforeStep | None = None,
    services: ServiceManager | None = None,
    review: Review | None = None,
) -> ApplyResult:
    """Make a plan with ``make`` under the apply lock and perform it: :func:`apply` for a spec,
    and the same lock, backups, validation, rollback and restarts for the plans of the key's
    life (:mod:`mailconf.setup.lifecycle`), which are not made from a spec.

    ``review`` is called with the plan, validated, under the lock and before anything is done
    (an exception it raises stops the apply, nothing done).  A caller that shows the plan and
    asks for confirmation does it there rather than with a plan of its own made beforehand:
    the daemons' check of the planned files then runs once per apply, under the lock, which is
    where it protects the system (before the lock, the files may still change), and the plan
    confirmed is the plan performed.  The lock is held while ``review`` waits, as Terraform
    holds its state lock at its prompt: another apply is refused meanwhile, not interleaved."""
    with ApplyLock(root):
        plan = make()
        return _execute(plan, runner, progress, validators, before_step, services, review)


def apply_plan(
    plan: Plan,
    *,
    runner: Runner = run,
    progress: Progress | None = None,
    validators: Sequence[Validator] | None = None,
    before_step: BeforeStep | None = None,
    services: ServiceManager | None = None,
) -> ApplyResult:
    """Perform a plan the user has seen; refused if the system changed since it was made.

    The plan is made again under the lock and its files validated there, even when ``plan``
    was validated already (:func:`mailconf.plan`): only the check under the lock protects the
    system, since files the daemons read may change before it.  To show a plan and perform it
    with one check, give :func:`apply` a ``review``."""
    with ApplyLock(plan.root):
        fresh = make_plan(plan.setup, plan.root, runner=runner, stage_only=plan.stage_only)
        if fresh.to_json()["steps"] != plan.to_json()["steps"]:
            raise MailconfError(
                f"the system under {plan.root} changed since the plan was made; plan again"
            )
        return _execute(fresh, runner, progress, validators, before_step, services, None)


class _Run:
    def __init__(
        self,
        plan: Plan,
        runner: Runner,
        progress: Progress | None,
        before_step: BeforeStep | None,
    ) -> None:
        self.plan = plan
        self.root = plan.root
        self.runner = runner
        self.progress = progress or (lambda line: None)
        self.before_step = before_step
        self.result = ApplyResult(plan)
        self.backup: BackupSet | None = None
        #: Steps begun whose effect a restore does not undo (directories, owners, modes, and
        #: group memberships on the live root): the restarts they need stay owed.
        self.kept: list[Step] = []
        #: Directories this apply created, parents first: a restore removes them again.
        self.created: list[str] = []

    def backup_path(self, system_path: str) -> None:
        if self.backup is None:
            self.backup = BackupSet.create(self.root)
            self.result.backup = self.backup.directory
        self.backup.backup(system_path)

    def begin(self, step: Step) -> None:
        if step.kind in ("directory", "owner", "mode") or (
            step.kind == "group-member" and self.root.is_live
        ):
            self.kept.append(step)

    def restore(self) -> None:
        """Put back every file this apply wrote; keep owing the restarts of what stays done."""
        if self.backup is not None:
            try:
                restored = self.backup.restore()
            except RestoreError as exc:
                # Not raised: the error being reported is the one that made us restore.
                restored = exc.restored
                self.result.not_done.extend(
                    f"restore {path} from {self.backup.directory}: {why}"
                    for path, why in exc.failed
                )
            self.result.restored.extend(p for p in restored if p != PENDING_RESTARTS)
        self._remove_created()
        kept = {service for step in self.kept for service in step.services}
        if kept:
            # The restore put back the list owed before this apply; add what we did not undo.
            write_pending(self.root, sorted(pending_restarts(self.root) | kept))

    def _remove_created(self) -> None:
        """The directories this apply created, deepest first, each only if empty again (a
        directory something else wrote into since is kept)."""
        for directory in reversed(self.created):
            try:
                self.root.resolve(directory).rmdir()
            except (OSError, MailconfError):
                continue
            self.result.restored.append(f"{directory} (created, removed again)")
            # Undone after all: its restart is no longer owed.
            self.kept = [s for s in self.kept if (s.kind, s.target) != ("directory", directory)]
        self.created.clear()

    def note_new_directories(self, system_path: str) -> None:
        """Record ``system_path`` and its missing parents before they are created."""
        missing = []
        path = system_path.rstrip("/")
        while path and not self.root.exists(path):
            missing.append(path)
            path = os.path.dirname(path)
        self.created.extend(reversed(missing))


def _execute(
    plan: Plan,
    runner: Runner,
    progress: Progress | None,
    validators: Sequence[Validator] | None,
    before_step: BeforeStep | None,
    manager: ServiceManager | None,
    review: Review | None,
) -> ApplyResult:
    """The numbered phases of the module's docstring, in order; each raises ApplyError with what
    was done, restored and not done.  ``validators``: None for :data:`DEFAULT_VALIDATORS`."""
    if validators is None:
        validators = DEFAULT_VALIDATORS
    plan = validate_plan(plan, validators, runner=runner)
    if review is not None:
        review(plan)
    state = _Run(plan, runner, progress, before_step)
    if plan.empty:
        return state.result
    plan = _install_packages(state, validators)
    steps = [s for s in plan.steps if s.kind not in ("package", "restart")]
    restarts = plan.of_kind("restart")
    errors = [note for note in plan.notes if note.severity is Severity.ERROR]
    if errors:  # what the validation refuses, or would: stop before writing anything
        state.result.not_done.extend(s.description for s in steps + restarts)
        raise ApplyError(
            "the plan has errors, nothing was written: "
            + "; ".join(note.render() for note in errors),
            state.result,
        )
    _check_accounts(state, steps, restarts)
    _cleanup_temporaries(plan.root, steps)
    if steps:  # restarts owed from now on
        state.backup_path(PENDING_RESTARTS)
        write_pending(plan.root, pending_entries(restarts))
    _perform_steps(state, steps, restarts)
    _validate(state, validators, restarts)
    _restart(state, manager or ServiceManager(plan.root, runner=runner), len(steps), restarts)
    write_pending(plan.root, [])
    return state.result


def _install_packages(state: _Run, validators: Sequence[Validator]) -> Plan:
    """1. The missing packages (reported under an alternate root), then the plan made again,
    since the packages create files and accounts, and its files validated again."""
    plan = state.plan
    wanted = [step.target for step in plan.of_kind("package")]
    if not wanted:
        return plan
    state.progress(f"packages: {', '.join(wanted)}")
    try:
        report = packages.ensure_packages(plan.root, wanted, runner=state.runner)
    except MailconfError as exc:
        state.result.not_done.extend(s.description for s in plan.steps)
        raise ApplyError(f"installing packages failed: {exc}", state.result) from None
    if not report.performed:
        state.result.reported.append(f"{' '.join(report.command or ())} ({report.reason})".strip())
        return plan
    state.result.done.append(f"installed {', '.join(report.missing)}")
    plan = make_plan(plan.setup, plan.root, runner=state.runner, stage_only=plan.stage_only)
    plan = state.plan = state.result.plan = validate_plan(plan, validators, runner=state.runner)
    return plan


def _check_accounts(state: _Run, steps: list[Step], restarts: list[Step]) -> None:
    """2. Every owner, group and member the steps name exists, before anything is written."""
    root = state.root
    try:
        for step in steps:
            if step.owner is not None or step.group is not None:
                accounts.resolve_owner(root, step.owner, step.group)
            if step.member is not None:
                accounts.get_group(root, step.member[0])
                accounts.get_user(root, step.member[1])
    except MailconfError as exc:
        state.result.not_done.extend(s.description for s in steps + restarts)
        raise ApplyError(f"cannot apply: {exc}", state.result) from None


def _perform_steps(state: _Run, steps: list[Step], restarts: list[Step]) -> None:
    """5. The steps in order; any failure (even an interrupt) restores every file written."""
    total = len(steps) + len(restarts)
    for index, step in enumerate(steps):
        try:
            if state.before_step is not None:
                state.before_step(index, step)
            state.progress(f"[{index + 1}/{total}] {step.kind}: {step.description}")
            state.begin(step)
            _perform(state, step)
        except BaseException as exc:
            state.result.not_done.extend(s.description for s in steps[index:] + restarts)
            state.restore()
            if not isinstance(exc, Exception):
                raise
            reason = str(exc) or type(exc).__name__
            raise ApplyError(
                f"step {index + 1} ({step.kind} {step.target}) failed: {reason}", state.result
            ) from exc
        state.result.done.append(step.description)


def _validate(state: _Run, validators: Sequence[Validator], restarts: list[Step]) -> None:
    """6. The real programs' verdict on the files in place; a refusal restores the files."""
    for check in validators:
        verdict = check(state.root, runner=state.runner)
        state.result.validations.append(verdict)
        state.progress(
            f"validate {verdict.tool}: "
            + ("skipped" if verdict.skipped else "ok" if verdict.ok else "FAILED")
        )
        if not verdict.ok:
            state.restore()
            state.result.not_done.extend(s.description for s in restarts)
            raise ApplyError(
                f"validation failed: {verdict.tool} refused the new configuration: "
                f"{verdict.message or 'no message'}; every file this apply wrote was restored",
                state.result,
            )


def _restart(state: _Run, manager: ServiceManager, done: int, restarts: list[Step]) -> None:
    """7. The restarts, milters first; one that fails stays owed to the next apply."""
    total = done + len(restarts)
    for offset, step in enumerate(restarts):
        state.progress(f"[{done + offset + 1}/{total}] restart: {step.target}")
        try:
            if step.defaults:
                _record_service(state, manager.defaults_changed(step.target))
            _record_service(state, manager.restart(step.target))
        except (ServiceError, MailconfError) as exc:
            left = restarts[offset:]
            write_pending(state.root, pending_entries(left))
            state.result.not_done.extend(s.description for s in left)
            raise ApplyError(
                f"restart of {step.target} failed: {exc}; the configuration is in place and "
                "validated, the next apply retries the restart",
                state.result,
            ) from None


def _record_service(state: _Run, outcome: ServiceResult) -> None:
    state.result.services.append(outcome)
    commands = "; ".join(" ".join(argv) for argv in outcome.commands)
    what = f"{outcome.action} {outcome.service} ({outcome.method})"
    if outcome.performed:
        state.result.done.append(what + (f": {outcome.message}" if outcome.message else ""))
    else:
        detail = commands or outcome.message or "restart it by hand"
        state.result.reported.append(f"{what}: {detail}")


def _perform(state: _Run, step: Step) -> None:
    root = state.root
    if step.kind == "file":
        assert step.content is not None
        current = root.read_if_present(step.target)
        if current == step.content:
            return
        if current != step.old:
            raise MailconfError(f"{step.target} changed since the plan was made; plan again")
        state.backup_path(step.target)
        if step.old is None:
            uid, gid = accounts.resolve_owner(root, step.owner, step.group)
            root.write(
                step.target,
                step.content,
                mode=step.mode if step.mode is not None else 0o644,
                uid=None if uid < 0 else uid,
                gid=None if gid < 0 else gid,
            )
        else:
            root.write(step.target, step.content)
    elif step.kind == "directory":
        assert step.mode is not None
        state.note_new_directories(step.target)
        accounts.ensure_directory(
            root, step.target, mode=step.mode, owner=step.owner, group=step.group
        )
    elif step.kind == "owner":
        accounts.chown(root, step.target, step.owner, step.group)
    elif step.kind == "mode":
        assert step.mode is not None
        accounts.chmod(root, step.target, step.mode)
    elif step.kind == "key":
        spec = step.key
        assert spec is not None
        state.note_new_directories(spec.directory)
        state.backup_path(spec.private_path)
        state.backup_path(spec.txt_path)
        uid, gid = accounts.resolve_owner(root, step.owner, step.group)
        files = ensure_key_pair(
            root.resolve(spec.directory),
            spec.selector,
            spec.domain,
            algorithm=spec.algorithm,
            bits=spec.bits,
            uid=None if uid < 0 else uid,
            gid=None if gid < 0 else gid,
        )
        for finding in files.findings:
            state.result.reported.append(finding.render())
    elif step.kind == "remove":
        # The file goes to this apply's backup set (a rollback puts it back) and then away.
        state.backup_path(step.target)
        with root.open(step.target, follow=False) as place:
            place.unlink()
    elif step.kind == "group-member":
        assert step.member is not None
        group, user = step.member
        if not root.is_live:
            state.backup_path("/etc/group")
            if root.exists("/etc/gshadow"):
                state.backup_path("/etc/gshadow")
        accounts.ensure_group_member(root, group, user, runner=state.runner)
    else:  # pragma: no cover - the planner makes no other kinds here
        raise MailconfError(f"unknown step kind {step.kind!r}")


def _cleanup_temporaries(root: SystemRoot, steps: Sequence[Step]) -> None:
    """Remove our own temporary files an apply killed mid-write left (we hold the lock)."""
    # Every directory a step writes in, plus /etc: group-member steps rewrite /etc/group and
    # /etc/gshadow even though their target names the group, and a kill can leave those behind.
    directories = {os.path.dirname(s.target) for s in steps if s.target.startswith("/")}
    directories |= {"/etc", os.path.dirname(PENDING_RESTARTS)}
    for directory in sorted(directories):
        try:
            host = root.resolve(directory)
            names = os.listdir(host)
        except (OSError, MailconfError):
            continue
        for name in names:
            if name.startswith(".") and name.endswith(TEMP_SUFFIXES):
                with contextlib.suppress(OSError):
                    os.unlink(host / name)
    # A kill while a backup copy was being written leaves its temp file in that backup set.
    with contextlib.suppress(OSError, MailconfError):
        for leftover in root.resolve(BACKUPS_SYSTEM_PATH).rglob(".*"):
            if leftover.name.endswith(TEMP_SUFFIXES):
                leftover.unlink()
