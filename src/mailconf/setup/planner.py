"""From a :class:`Setup` and the system under a root to an ordered, idempotent :class:`Plan`.

The plan follows the walkthrough (``shared/walkthrough.md``) step by step, with its mistakes
fixed:

* the SPF policy check goes *after* ``reject_unauth_destination`` and the admin's restrictions
  are kept; with no ``smtpd_recipient_restrictions`` at all, the list starts with
  ``permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination`` so local and
  authenticated senders are not SPF-checked;
* trusted.hosts says ``localhost`` (the walkthrough's ``locahost`` is fixed in place), ``::1`` and
  ``.DOMAIN`` (a literal ``*.DOMAIN`` never matches in a host list and is fixed in place too);
* ``/etc/default/opendmarc``'s ``SOCKET`` is changed like OpenDKIM's (Debian's init script and
  unit generator pass it with ``-p``, overriding opendmarc.conf's ``Socket``);
* OpenDKIM's ``AuthservID`` is set to the host name that OpenDMARC's ``TrustedAuthservIDs``
  trusts, so the two agree whatever Postfix's ``myhostname`` says;
* ``ignore.hosts`` also lists ``::1`` (Postfix listens on IPv6 loopback by default);
* keys are generated in Python, 0600 and owned by opendkim, never regenerated; no ADSP.

Every step is computed by comparing the desired state with what is there, so planning again after
an apply gives an empty plan. File steps carry the complete new content and a unified diff.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from typing import Any, TypeVar

import attrs

from mailconf import fileio
from mailconf.diff import unified_diff
from mailconf.errors import MailconfError, ValidationError
from mailconf.findings import Finding, Severity
from mailconf.milter.conf import OpenDkimConf, OpenDmarcConf
from mailconf.milter.shellvars import ShellVars
from mailconf.milter.tables import HostList, KeyTable, SigningTable
from mailconf.names import validate_domain
from mailconf.postfix.main import MainCf, milter_socket_for_postfix
from mailconf.postfix.master import MasterCf
from mailconf.setup.spec import DKIM_KEY_DIRECTORY, KeySpec, Setup
from mailconf.syntax.document import Document
from mailconf.syntax.kinds import parse_kind
from mailconf.system import accounts, packages
from mailconf.system.root import SystemRoot
from mailconf.system.run import Runner, run

__all__ = ["PENDING_RESTARTS", "Plan", "Step", "make_plan"]

PACKAGES = ("postfix-policyd-spf-python", "opendkim", "opendkim-tools", "opendmarc")
SERVICES = ("opendkim", "opendmarc", "postfix")  # restart order: milters first

MAIN_CF = "/etc/postfix/main.cf"
MASTER_CF = "/etc/postfix/master.cf"
OPENDKIM_CONF = "/etc/opendkim.conf"
OPENDMARC_CONF = "/etc/opendmarc.conf"
OPENDKIM_DEFAULT = "/etc/default/opendkim"
OPENDMARC_DEFAULT = "/etc/default/opendmarc"
OPENDKIM_DIR = "/etc/opendkim"
KEY_TABLE = "/etc/opendkim/key.table"
SIGNING_TABLE = "/etc/opendkim/signing.table"
TRUSTED_HOSTS = "/etc/opendkim/trusted.hosts"
OPENDMARC_DIR = "/etc/opendmarc"
IGNORE_HOSTS = "/etc/opendmarc/ignore.hosts"
#: Services whose restart is still owed by an apply that stopped before restarting them.
PENDING_RESTARTS = "/var/lib/mailconf/pending-restarts"

POLICYD_SPF_SERVICE = (
    "policyd-spf  unix  -       n       n       -       0       spawn\n"
    "  user=policyd-spf argv=/usr/bin/policyd-spf"
)
POLICY_CHECK = "check_policy_service unix:private/policyd-spf"
WALKTHROUGH_RESTRICTIONS = (
    "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, " + POLICY_CHECK
)
STEP_KINDS = ("package", "group-member", "directory", "owner", "mode", "key", "file", "restart")


@attrs.frozen
class Step:
    """One action of a plan. ``services`` are the daemons that must restart if it is done."""

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
        return data

    def render(self) -> str:
        head = f"{self.kind}: {self.description}"
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
        }

    def render(self) -> str:
        lines = []
        for note in self.notes:
            lines.append(note.render())
        if not self.steps:
            lines.append(f"nothing to do: {self.root} already matches the setup")
        for number, step in enumerate(self.steps, 1):
            lines.append(f"[{number}/{len(self.steps)}] {step.render()}")
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ helpers
def file_diff(path: str, old: bytes | None, new: bytes) -> str:
    """The diff a file step shows (``/dev/null`` as the old side of a new file)."""
    before = fileio.decode(old) if old is not None else ""
    return unified_diff(before, fileio.decode(new), path if old is not None else "/dev/null", path)


def read_bytes(root: SystemRoot, path: str) -> bytes | None:
    try:
        return root.read_bytes(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except IsADirectoryError:
        raise MailconfError(f"{path}: is a directory, a file was expected") from None


DocumentT = TypeVar("DocumentT", bound=Document)


def _load(
    root: SystemRoot, path: str, kind: str, doc_type: type[DocumentT]
) -> tuple[DocumentT, bytes | None]:
    data = read_bytes(root, path)
    text = fileio.decode(data) if data is not None else ""
    doc = parse_kind(text, kind, path=path)
    assert isinstance(doc, doc_type)
    return doc, data


class _Builder:
    """Collects steps in walkthrough order."""

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
                diff=file_diff(path, old, new),
                content=new,
                old=old,
                mode=mode if old is None else None,
                owner=owner if old is None else None,
                group=group if old is None else None,
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
        if grp is not None and usr is not None and (user in grp.members or usr.gid == grp.gid):
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
        if not txt.exists():
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


# ------------------------------------------------------------------------------- planning
def make_plan(setup: Setup, root: SystemRoot | None = None, *, runner: Runner = run) -> Plan:
    """The steps that bring ``root`` (default ``/``) to ``setup``; nothing is changed."""
    root = root or SystemRoot.live()
    b = _Builder(root, setup, runner)

    main, main_old = _load(root, MAIN_CF, "postfix-main", MainCf)
    if main_old is None:
        raise MailconfError(
            f"{MAIN_CF} not found under {root}: install and configure Postfix first "
            "(Debian's 'Internet Site')"
        )
    hostname = _hostname(setup, main, root, b)
    queue_directory = main.get("queue_directory") or "/var/spool/postfix"
    if "$" in queue_directory or not queue_directory.startswith("/"):
        raise MailconfError(f"main.cf queue_directory {queue_directory!r} is not a plain path")

    unix = setup.socket_style == "unix"
    if unix:
        dkim_socket = f"local:{queue_directory}/opendkim/opendkim.sock"
        dmarc_socket = f"local:{queue_directory}/opendmarc/opendmarc.sock"
    else:
        dkim_socket = f"inet:{setup.opendkim_port}@127.0.0.1"
        dmarc_socket = f"inet:{setup.opendmarc_port}@127.0.0.1"

    # 1. packages ---------------------------------------------------------------------------
    states = packages.query_packages(root, PACKAGES, runner=runner)
    if states is None:
        b.note(
            "setup.packages-unknown",
            f"no dpkg database under {root}: cannot tell whether {', '.join(PACKAGES)} are "
            "installed; make sure they are",
            Severity.WARNING,
        )
    else:
        for name in PACKAGES:
            if not states[name].installed:
                b.steps.append(
                    Step("package", name, f"apt-get install -y {name}", _package_services(name))
                )

    # 2. SPF: master.cf service, main.cf later (one diff per file) --------------------------
    master, master_old = _load(root, MASTER_CF, "postfix-master", MasterCf)
    master.add_service(POLICYD_SPF_SERVICE)
    b.file(MASTER_CF, master, master_old, ("postfix",), description="policyd-spf service")

    # 3. DKIM --------------------------------------------------------------------------------
    if unix:
        b.member("opendkim", "postfix", "Postfix must open OpenDKIM's socket")
    dkim, dkim_old = _load(root, OPENDKIM_CONF, "opendkim", OpenDkimConf)
    dkim_settings = [
        ("Canonicalization", "relaxed/simple"),
        ("Mode", "sv"),
        ("SubDomains", "no"),
        ("AuthservID", hostname),
        ("KeyTable", f"refile:{KEY_TABLE}"),
        ("SigningTable", f"refile:{SIGNING_TABLE}"),
        ("ExternalIgnoreList", TRUSTED_HOSTS),
        ("InternalHosts", TRUSTED_HOSTS),
        ("Socket", dkim_socket),
    ]
    if setup.multiple_signatures:
        dkim_settings.append(("MultipleSignatures", "yes"))
    if setup.resolver_configuration is not None:
        dkim_settings.append(("ResolverConfiguration", setup.resolver_configuration))
        if not root.exists(setup.resolver_configuration):
            b.note(
                "setup.resolver-configuration-missing",
                f"{setup.resolver_configuration} does not exist under {root}; OpenDKIM will "
                "not start until it does",
                Severity.WARNING,
            )
    for name, value in dkim_settings:
        dkim.set(name, value)
    b.file(OPENDKIM_CONF, dkim, dkim_old, ("opendkim",), description="signing and verifying")

    b.directory(OPENDKIM_DIR, 0o755, "opendkim", "opendkim", ("opendkim",), "OpenDKIM's tables")
    b.directory(DKIM_KEY_DIRECTORY, 0o700, "opendkim", "opendkim", ("opendkim",), "private keys")
    for domain in setup.domains:
        b.directory(
            f"{DKIM_KEY_DIRECTORY}/{domain.name}",
            0o700,
            "opendkim",
            "opendkim",
            ("opendkim",),
            f"keys of {domain.name}",
        )

    key_table, key_table_old = _load(root, KEY_TABLE, "keytable", KeyTable)
    signing, signing_old = _load(root, SIGNING_TABLE, "signingtable", SigningTable)
    trusted, trusted_old = _load(root, TRUSTED_HOSTS, "hostlist", HostList)
    for spec in setup.keys:
        key_table.set_key(spec.domain, spec.selector, spec.private_path, spec.key_name)
        signing.add_signing_key(f"*@{spec.domain}", spec.key_name)
    trusted.replace_host("locahost", "localhost")
    for host in ("127.0.0.1", "::1", "localhost"):
        trusted.add_host(host)
    for domain in setup.domains:
        trusted.replace_host(f"*.{domain.name}", f".{domain.name}")
        trusted.add_host(f".{domain.name}")
    for path, doc, old, what in (
        (KEY_TABLE, key_table, key_table_old, "keys"),
        (SIGNING_TABLE, signing, signing_old, "who signs with which key"),
        (TRUSTED_HOSTS, trusted, trusted_old, "hosts whose mail is signed"),
    ):
        b.file(path, doc, old, ("opendkim",), description=what, owner="opendkim", group="opendkim")
    for spec in setup.keys:
        b.key(spec)

    if unix:
        b.directory(
            f"{queue_directory}/opendkim",
            0o750,
            "opendkim",
            "postfix",
            ("opendkim",),
            "OpenDKIM's socket inside Postfix's chroot",
        )
    dkim_default, dkim_default_old = _load(root, OPENDKIM_DEFAULT, "shellvars", ShellVars)
    dkim_default.set("SOCKET", dkim_socket)
    b.file(
        OPENDKIM_DEFAULT,
        dkim_default,
        dkim_default_old,
        ("opendkim",),
        description="SOCKET used by the init script and unit generator",
    )

    # 4. DMARC -------------------------------------------------------------------------------
    dmarc, dmarc_old = _load(root, OPENDMARC_CONF, "opendmarc", OpenDmarcConf)
    for name, value in (
        ("AuthservID", "OpenDMARC"),
        ("TrustedAuthservIDs", hostname),
        ("RejectFailures", "true"),
        ("Socket", dmarc_socket),
        ("IgnoreHosts", IGNORE_HOSTS),
        ("IgnoreAuthenticatedClients", "true"),
        ("RequiredHeaders", "true"),
        ("SPFSelfValidate", "true"),
    ):
        dmarc.set(name, value)
    b.file(OPENDMARC_CONF, dmarc, dmarc_old, ("opendmarc",), description="DMARC checks")
    b.directory(OPENDMARC_DIR, 0o755, "root", "root", ("opendmarc",), "OpenDMARC's host list")
    ignore, ignore_old = _load(root, IGNORE_HOSTS, "hostlist", HostList)
    for host in ("127.0.0.1", "::1"):
        ignore.add_host(host)
    b.file(IGNORE_HOSTS, ignore, ignore_old, ("opendmarc",), description="hosts not checked")
    if unix:
        b.directory(
            f"{queue_directory}/opendmarc",
            0o750,
            "opendmarc",
            "opendmarc",
            ("opendmarc",),
            "OpenDMARC's socket inside Postfix's chroot",
        )
        b.member("opendmarc", "postfix", "Postfix must open OpenDMARC's socket")
    dmarc_default, dmarc_default_old = _load(root, OPENDMARC_DEFAULT, "shellvars", ShellVars)
    dmarc_default.set("SOCKET", dmarc_socket)
    b.file(
        OPENDMARC_DEFAULT,
        dmarc_default,
        dmarc_default_old,
        ("opendmarc",),
        description="SOCKET used by the init script and unit generator",
    )

    # 5. main.cf: SPF policy, milters --------------------------------------------------------
    main.set("policyd-spf_time_limit", "3600")
    if not main.list_items("smtpd_recipient_restrictions"):
        main.set("smtpd_recipient_restrictions", WALKTHROUGH_RESTRICTIONS)
    else:
        main.add_restriction("smtpd_recipient_restrictions", POLICY_CHECK)
    main.set("milter_default_action", "accept")
    main.set("milter_protocol", "6")
    dkim_milter = milter_socket_for_postfix(dkim_socket, queue_directory)
    dmarc_milter = milter_socket_for_postfix(dmarc_socket, queue_directory)
    main.add_milter(dkim_milter)
    main.add_milter(dmarc_milter)
    if not main.list_items("non_smtpd_milters"):
        main.set("non_smtpd_milters", "$smtpd_milters")
    else:  # no-ops when it holds them through $smtpd_milters
        main.add_milter(dkim_milter, param="non_smtpd_milters")
        main.add_milter(dmarc_milter, param="non_smtpd_milters")
    b.file(MAIN_CF, main, main_old, ("postfix",), description="SPF policy check and milters")

    # 6. restarts ----------------------------------------------------------------------------
    b.steps.extend(_restarts(root, b.steps))
    return Plan(root, setup, tuple(b.steps), tuple(b.notes), hostname)


def _package_services(name: str) -> tuple[str, ...]:
    return {
        "opendkim": ("opendkim",),
        "opendmarc": ("opendmarc",),
        "postfix-policyd-spf-python": ("postfix",),
    }.get(name, ())


def pending_restarts(root: SystemRoot) -> set[str]:
    """Restarts a previous apply owed and did not do (it was stopped or killed)."""
    data = read_bytes(root, PENDING_RESTARTS)
    if not data:
        return set()
    return {line.strip() for line in fileio.decode(data).splitlines() if line.strip()}


def _restarts(root: SystemRoot, steps: list[Step]) -> list[Step]:
    owed = pending_restarts(root)
    needed = {service for step in steps for service in step.services} | {
        entry.split(":")[0] for entry in owed
    }
    defaults = {
        step.target.rsplit("/", 1)[-1]
        for step in steps
        if step.kind == "file" and step.target in (OPENDKIM_DEFAULT, OPENDMARC_DEFAULT)
    } | {entry.split(":")[0] for entry in owed if entry.endswith(":defaults")}
    result = []
    for service in SERVICES:
        if service not in needed:
            continue
        touched = [s for s in steps if service in s.services]
        why = sorted({s.target for s in touched if s.kind in ("file", "key", "group-member")})
        others = len([s for s in touched if s.kind not in ("file", "key", "group-member")])
        if others:
            why.append(f"{others} other step{'s' if others > 1 else ''}")
        if not touched:
            why = ["an earlier apply stopped before restarting it"]
        result.append(
            Step(
                "restart",
                service,
                f"restart {service} ({', '.join(why)})",
                (service,),
                defaults=service in defaults,
            )
        )
    return result


def _hostname(setup: Setup, main: MainCf, root: SystemRoot, b: _Builder) -> str:
    """The FQDN for TrustedAuthservIDs/AuthservID: the spec's, else myhostname, else mailname."""
    myhostname = main.get("myhostname")
    if setup.hostname is not None:
        if myhostname and "$" not in myhostname and myhostname.lower() != setup.hostname:
            b.note(
                "setup.hostname-differs",
                f"hostname {setup.hostname} differs from Postfix's myhostname {myhostname}; "
                "OpenDKIM's AuthservID is set to the hostname so OpenDMARC trusts its results",
            )
        return setup.hostname
    candidates = []
    if myhostname and "$" not in myhostname:
        candidates.append(("main.cf myhostname", myhostname))
    mailname = read_bytes(root, "/etc/mailname")
    if mailname:
        first = fileio.decode(mailname).splitlines()
        if first:
            candidates.append(("/etc/mailname", first[0].strip()))
    for source, value in candidates:
        try:
            return validate_domain(value)
        except ValidationError:
            b.note("setup.hostname-unusable", f"{source} {value!r} is not a fully qualified name")
    raise ValidationError(
        "cannot tell the host's fully qualified name (main.cf myhostname, /etc/mailname); "
        "give it with --hostname (hostname = ... in mailconf.toml)"
    )
