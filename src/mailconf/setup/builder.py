"""Steps from comparing what a plan wants with what is under the root.

A step is added only where the two differ (a file whose edited content is not its bytes, a
directory that is missing or has another owner or mode, a key that does not exist, a group
without the member): that is what makes planning again after an apply give an empty plan, and
what lets a plan be compared with a fresh one before it is applied.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from typing import TypeVar

from mailconf import fileio
from mailconf.diff import unified_diff
from mailconf.errors import MailconfError
from mailconf.findings import Finding, Severity
from mailconf.setup.existing import parse_under
from mailconf.setup.plan import Step
from mailconf.setup.spec import KeySpec, Setup
from mailconf.syntax.document import Document
from mailconf.system import accounts
from mailconf.system.root import SystemRoot
from mailconf.system.run import Runner

__all__ = ["StepBuilder"]

DocumentT = TypeVar("DocumentT", bound=Document)


def _file_diff(path: str, old: bytes | None, new: bytes) -> str:
    """The diff a file step shows (``/dev/null`` as the old side of a new file)."""
    before = fileio.decode(old) if old is not None else ""
    return unified_diff(before, fileio.decode(new), path if old is not None else "/dev/null", path)


class StepBuilder:
    """Collects a plan's steps in order, each only where the system differs from what is wanted,
    and the notes the plan shows (as findings)."""

    def __init__(self, root: SystemRoot, setup: Setup, runner: Runner) -> None:
        self.root = root
        self.setup = setup
        self.runner = runner
        self.steps: list[Step] = []
        self.notes: list[Finding] = list(setup.findings())
        self.users: dict[str, accounts.User] = {}
        self.groups: dict[str, accounts.Group] = {}
        try:
            self.users = accounts.read_users(root)
            self.groups = accounts.read_groups(root)
        except MailconfError as exc:
            self.notes.append(Finding(Severity.WARNING, "setup.accounts", str(exc)))
        # Directories this plan creates (their contents do not exist yet either).
        self.creating: set[str] = set()

    def note(self, code: str, message: str, severity: Severity = Severity.INFO) -> None:
        self.notes.append(Finding(severity, code, message))

    def load(self, path: str, doc_type: type[DocumentT]) -> tuple[DocumentT, bytes | None]:
        """The file at ``path`` parsed as ``doc_type`` (empty when missing) and its bytes (None
        when missing): a :meth:`file` step compares the edited document with those bytes."""
        data = self.root.read_if_present(path)
        return parse_under(self.root, data if data is not None else b"", path, doc_type), data

    # -- files ----------------------------------------------------------------------------
    def file(
        self,
        path: str,
        doc: Document,
        old: bytes | None,
        services: Iterable[str],
        *,
        description: str,
        mode: int = 0o644,
        owner: str | None = None,
        group: str | None = None,
        replaces: Iterable[str] = (),
    ) -> None:
        new = doc.dump_bytes()
        if old is not None and new == old:
            return
        if old is None and not new:
            return
        what = "create" if old is None else "change"
        self.steps.append(
            Step(
                "file",
                path,
                f"{what} {path}: {description}",
                tuple(services),
                diff=_file_diff(path, old, new),
                content=new,
                old=old,
                mode=mode if old is None else None,
                owner=owner if old is None else None,
                group=group if old is None else None,
                replaces=tuple(replaces) if old is not None else (),
            )
        )

    # -- directories, owners, modes ---------------------------------------------------------
    def _ids(self, owner: str, group: str) -> tuple[int | None, int | None]:
        user = self.users.get(owner)
        grp = self.groups.get(group)
        return (user.uid if user else None), (grp.gid if grp else None)

    def directory(
        self, path: str, mode: int, owner: str, group: str, services: Iterable[str], why: str
    ) -> None:
        host = self.root.resolve(path)
        services = tuple(services)
        if not host.is_dir() or self._under_creation(path):
            if host.exists() and not host.is_dir():
                raise MailconfError(f"{path}: exists and is not a directory")
            self.creating.add(path)
            self.steps.append(
                Step(
                    "directory",
                    path,
                    f"create {path} ({mode:04o} {owner}:{group}): {why}",
                    services,
                    mode=mode,
                    owner=owner,
                    group=group,
                )
            )
            return
        self.ownership(path, mode, owner, group, services)

    def _under_creation(self, path: str) -> bool:
        return any(path.startswith(parent + "/") for parent in self.creating)

    def ownership(
        self, path: str, mode: int, owner: str, group: str, services: tuple[str, ...]
    ) -> None:
        st = os.stat(self.root.resolve(path))
        uid, gid = self._ids(owner, group)
        if uid is None or gid is None or st.st_uid != uid or st.st_gid != gid:
            self.steps.append(
                Step(
                    "owner",
                    path,
                    f"chown {owner}:{group} {path}",
                    services,
                    owner=owner,
                    group=group,
                )
            )
        if stat.S_IMODE(st.st_mode) != mode:
            self.steps.append(
                Step(
                    "mode",
                    path,
                    f"chmod {mode:04o} {path} (now {stat.S_IMODE(st.st_mode):04o})",
                    services,
                    mode=mode,
                )
            )

    def member(self, group: str, user: str, why: str) -> None:
        grp = self.groups.get(group)
        usr = self.users.get(user)
        if (
            grp is not None
            and usr is not None
            and (user in grp.members or usr.gid == grp.gid)
            and not accounts.gshadow_behind(self.root, group, user)
        ):
            return
        self.steps.append(
            Step(
                "group-member",
                f"{user}@{group}",
                f"add {user} to group {group}: {why}",
                ("postfix",) if user == "postfix" else (),
                member=(group, user),
            )
        )

    def key(self, spec: KeySpec) -> None:
        private = self.root.resolve(spec.private_path)
        txt = self.root.resolve(spec.txt_path)
        if self._under_creation(spec.private_path) or not private.exists():
            size = f"{spec.bits}-bit RSA" if spec.algorithm == "rsa" else "ed25519"
            self.steps.append(
                Step(
                    "key",
                    spec.private_path,
                    f"generate a {size} key {spec.key_name} in {spec.private_path} "
                    f"(0600 opendkim:opendkim) and {spec.txt_path}",
                    ("opendkim",),
                    mode=0o600,
                    owner="opendkim",
                    group="opendkim",
                    key=spec,
                )
            )
            return
        # An adopted key named otherwise than SELECTOR.private keeps its own layout.
        if not txt.exists() and spec.standard_name:
            self.steps.append(
                Step(
                    "key",
                    spec.txt_path,
                    f"write {spec.txt_path} from the existing {spec.private_path} (kept)",
                    (),
                    owner="opendkim",
                    group="opendkim",
                    key=spec,
                )
            )
        self.ownership(spec.private_path, 0o600, "opendkim", "opendkim", ("opendkim",))
