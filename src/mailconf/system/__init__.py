"""The apply layer's primitives: everything that touches the system, and nothing else.

The planner decides *what* to change; these modules do it safely on one :class:`SystemRoot`
(``/`` or ``--root DIR``) and report what they did. Under an alternate root nothing outside DIR is
touched and nothing is run except read-only validators: packages, group changes through
``gpasswd`` and service restarts are returned as reports instead.
"""

from __future__ import annotations

from mailconf.system.accounts import (
    Group,
    User,
    chmod,
    chown,
    ensure_directory,
    ensure_group_member,
    get_group,
    get_user,
    is_group_member,
    read_groups,
    read_users,
    resolve_owner,
)
from mailconf.system.backup import BackupEntry, BackupSet, RestoreError, list_backups
from mailconf.system.daemons import milter_setup
from mailconf.system.lock import ApplyLock, LockHeldError
from mailconf.system.packages import InstallReport, PackageState, ensure_packages, query_packages
from mailconf.system.processes import stop_pid
from mailconf.system.root import SystemRoot
from mailconf.system.run import CommandResult, Runner, run
from mailconf.system.services import ServiceError, ServiceManager, ServiceResult
from mailconf.system.validate import (
    Validation,
    opendkim_check,
    opendmarc_check,
    postconf_check,
    postfix_check,
)

__all__ = [
    "ApplyLock",
    "BackupEntry",
    "BackupSet",
    "CommandResult",
    "Group",
    "InstallReport",
    "LockHeldError",
    "PackageState",
    "RestoreError",
    "Runner",
    "ServiceError",
    "ServiceManager",
    "ServiceResult",
    "SystemRoot",
    "User",
    "Validation",
    "chmod",
    "chown",
    "ensure_directory",
    "ensure_group_member",
    "ensure_packages",
    "get_group",
    "get_user",
    "is_group_member",
    "list_backups",
    "milter_setup",
    "opendkim_check",
    "opendmarc_check",
    "postconf_check",
    "postfix_check",
    "query_packages",
    "read_groups",
    "read_users",
    "resolve_owner",
    "run",
    "stop_pid",
]
