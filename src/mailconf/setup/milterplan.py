"""The milters' part of the plan: OpenDKIM's and OpenDMARC's confs, tables, keys and sockets.

Split from :mod:`mailconf.setup.planner`, which keeps the plan's order, the packages, master.cf,
main.cf and the restarts, and calls these in the walkthrough's order (steps 3 and 4); the
functions here decide each milter file's content and which of the admin's values they replace.
"""

from __future__ import annotations

import attrs

from mailconf.findings import Severity
from mailconf.milter.conf import OpenDkimConf, OpenDmarcConf
from mailconf.milter.shellvars import ShellVars, init_script_environment
from mailconf.milter.tables import HostList, KeyTable, SigningTable
from mailconf.postfix.milters import same_milter_endpoint
from mailconf.setup.adopt import ConflictError
from mailconf.setup.builder import StepBuilder
from mailconf.setup.existing import Existing, TableFile
from mailconf.setup.keymarks import now_utc, row_marks, rows_named, set_marks, stamp
from mailconf.setup.spec import DKIM_KEY_DIRECTORY, Setup

__all__ = [
    "DkimTables",
    "dkim_tables",
    "milter_sockets",
    "plan_dkim_conf",
    "plan_dkim_tables",
    "plan_dmarc",
    "plan_milter_socket",
]

DAEMON_LABELS = {"opendkim": "OpenDKIM", "opendmarc": "OpenDMARC"}
OPENDKIM_CONF = "/etc/opendkim.conf"
OPENDMARC_CONF = "/etc/opendmarc.conf"
OPENDKIM_DIR = "/etc/opendkim"
KEY_TABLE = "/etc/opendkim/key.table"
SIGNING_TABLE = "/etc/opendkim/signing.table"
TRUSTED_HOSTS = "/etc/opendkim/trusted.hosts"
OPENDMARC_DIR = "/etc/opendmarc"
IGNORE_HOSTS = "/etc/opendmarc/ignore.hosts"


def milter_sockets(setup: Setup, queue_directory: str, existing: Existing) -> tuple[str, str]:
    """OpenDKIM's and OpenDMARC's sockets: unix sockets inside Postfix's chroot, or loopback TCP.
    A daemon already listening on that endpoint keeps its socket as written
    (``inet:8891@localhost`` is the spec's ``inet:8891@127.0.0.1``)."""
    if setup.socket_style == "unix":
        wanted = (
            f"local:{queue_directory}/opendkim/opendkim.sock",
            f"local:{queue_directory}/opendmarc/opendmarc.sock",
        )
    else:
        wanted = (f"inet:{setup.opendkim_port}@127.0.0.1", f"inet:{setup.opendmarc_port}@127.0.0.1")
    result = []
    for daemon, socket in zip(("opendkim", "opendmarc"), wanted, strict=True):
        current = existing.socket(daemon)
        keep = current is not None and same_milter_endpoint(current, socket, queue_directory)
        result.append(current if keep and current is not None else socket)
    return result[0], result[1]


@attrs.frozen
class DkimTables:
    """Where OpenDKIM's tables are: the admin's files when the conf names usable ones."""

    key_table: str
    key_table_value: str
    signing_table: str
    signing_table_value: str
    regex: bool


def dkim_tables(existing: Existing) -> DkimTables:
    """The configured KeyTable and SigningTable (kept, whatever their names), else mailconf's.
    A table that is not a file mailconf can edit (db:, ldap:, ...) is refused: the plan cannot
    add a key to it, and replacing it would drop every key it holds."""
    for option, raw in existing.unusable_tables.items():
        if option in ("KeyTable", "SigningTable"):
            raise ConflictError(
                f"opendkim.conf's {option} is {raw}: mailconf edits file: and refile: tables "
                "only; convert it to a text file first, or add the key to it yourself"
            )
    key: TableFile | None = existing.key_table
    signing: TableFile | None = existing.signing_table
    if key is not None and signing is not None:
        return DkimTables(key.path, key.raw, signing.path, signing.raw, signing.regex)
    return DkimTables(
        KEY_TABLE, f"refile:{KEY_TABLE}", SIGNING_TABLE, f"refile:{SIGNING_TABLE}", True
    )


#: Why the planner replaces a milter option the admin set otherwise (flagged on the step).
REPLACE_REASONS = {
    "Socket": "Postfix reaches the milter there (the spec's socket)",
    "KeyTable": "the keys are in mailconf's table",
    "SigningTable": "the signing rules are in mailconf's table",
    "Mode": "the server signs and verifies",
    "SubDomains": "only the listed domains are signed",
    "AuthservID": "OpenDMARC trusts results from this host name",
    "TrustedAuthservIDs": "OpenDMARC trusts OpenDKIM's results from this host name",
    "RejectFailures": "the spec's DMARC policy is enforced",
    "Canonicalization": "relaxed headers survive common rewrites",
}


def _set_options(doc: OpenDkimConf | OpenDmarcConf, settings: list[tuple[str, str]]) -> list[str]:
    """Set each option; the flags for values the admin had set otherwise."""
    flags = []
    for name, value in settings:
        old = doc.get(name)
        if old is not None and old != value:
            why = REPLACE_REASONS.get(name, "the setup needs it")
            flags.append(f"replace {name} {old} with {value}: {why}")
        doc.set(name, value)
    return flags


def plan_dkim_conf(b: StepBuilder, hostname: str, socket: str, tables: DkimTables) -> None:
    """3. DKIM: opendkim.conf (Postfix joins the opendkim group first, for a unix socket)."""
    setup = b.setup
    if setup.socket_style == "unix":
        b.member("opendkim", "postfix", "Postfix must open OpenDKIM's socket")
    dkim, dkim_old = b.load(OPENDKIM_CONF, OpenDkimConf)
    settings = [
        ("Canonicalization", "relaxed/simple"),
        ("Mode", "sv"),
        ("SubDomains", "no"),
        ("AuthservID", hostname),
        ("KeyTable", tables.key_table_value),
        ("SigningTable", tables.signing_table_value),
        ("ExternalIgnoreList", TRUSTED_HOSTS),
        ("InternalHosts", TRUSTED_HOSTS),
        ("Socket", socket),
    ]
    if setup.multiple_signatures:
        settings.append(("MultipleSignatures", "yes"))
    if setup.resolver_configuration is not None:
        settings.append(("ResolverConfiguration", setup.resolver_configuration))
        if not b.root.exists(setup.resolver_configuration):
            b.note(
                "setup.resolver-configuration-missing",
                f"{setup.resolver_configuration} does not exist under {b.root}; OpenDKIM will "
                "not start until it does",
                Severity.WARNING,
            )
    flags = _set_options(dkim, settings)
    b.file(
        OPENDKIM_CONF,
        dkim,
        dkim_old,
        ("opendkim",),
        description="signing and verifying",
        replaces=flags,
    )


def plan_dkim_tables(b: StepBuilder, tables: DkimTables, stage_only: bool) -> None:
    """3. DKIM: the tables' directory and the key directories, the three tables, the keys (a
    staged key stays out of the SigningTable)."""
    dkim = ("opendkim",)
    b.directory(OPENDKIM_DIR, 0o755, "opendkim", "opendkim", dkim, "OpenDKIM's tables")
    b.directory(DKIM_KEY_DIRECTORY, 0o700, "opendkim", "opendkim", dkim, "private keys")
    for domain in b.setup.domains:
        b.directory(
            f"{DKIM_KEY_DIRECTORY}/{domain.name}",
            0o700,
            "opendkim",
            "opendkim",
            dkim,
            f"keys of {domain.name}",
        )
    key_table, key_table_old = b.load(tables.key_table, KeyTable)
    signing, signing_old = b.load(tables.signing_table, SigningTable)
    trusted, trusted_old = b.load(TRUSTED_HOSTS, HostList)
    for spec in b.setup.keys:
        if spec.adopted:  # its rows are there and sign: left exactly as the admin wrote them
            continue
        rows = rows_named(key_table, spec.key_name)
        staged = bool(rows) and "staged" in row_marks(rows[0])
        key_table.set_key(spec.domain, spec.selector, spec.private_path, spec.key_name)
        if stage_only and not rows:
            row = rows_named(key_table, spec.key_name)[0]
            set_marks(key_table, row, {"staged": stamp(now_utc())})
        if stage_only or staged:
            b.note(
                "setup.key-staged",
                f"{spec.key_name} is staged, not signing: publish it (mailconf dns prints it), "
                f"then: mailconf dkim activate --domain {spec.domain}",
            )
            continue
        pattern = f"*@{spec.domain}" if tables.regex else spec.domain
        signing.add_signing_key(pattern, spec.key_name)
    if not signing.rows and not signing.trailer:  # OpenDKIM must find the file it is given
        signing.trailer = "# mailconf: no domain signs yet (mailconf dkim activate)\n"
    flags = []
    for wrong, right, why in [("locahost", "localhost", "a misspelling that never matches")] + [
        (f"*.{d.name}", f".{d.name}", "a host list takes no wildcard") for d in b.setup.domains
    ]:
        if trusted.replace_host(wrong, right):
            flags.append(f"replace {wrong} with {right}: {why}")
    for host in ("127.0.0.1", "::1", "localhost"):
        trusted.add_host(host)
    for domain in b.setup.domains:
        trusted.add_host(f".{domain.name}")
    for path, doc, old, what, replaced in (
        (tables.key_table, key_table, key_table_old, "keys", ()),
        (tables.signing_table, signing, signing_old, "who signs with which key", ()),
        (TRUSTED_HOSTS, trusted, trusted_old, "hosts whose mail is signed", tuple(flags)),
    ):
        b.file(
            path,
            doc,
            old,
            dkim,
            description=what,
            owner="opendkim",
            group="opendkim",
            replaces=replaced,
        )
    for spec in b.setup.keys:
        b.key(spec)


def plan_dmarc(b: StepBuilder, hostname: str, socket: str) -> None:
    """4. DMARC: opendmarc.conf, and the hosts it does not check."""
    dmarc, dmarc_old = b.load(OPENDMARC_CONF, OpenDmarcConf)
    settings = [
        ("AuthservID", "OpenDMARC"),
        ("TrustedAuthservIDs", hostname),
        ("RejectFailures", "true"),
        ("Socket", socket),
        ("IgnoreHosts", IGNORE_HOSTS),
        ("IgnoreAuthenticatedClients", "true"),
        ("RequiredHeaders", "true"),
        ("SPFSelfValidate", "true"),
    ]
    flags = _set_options(dmarc, settings)
    b.file(
        OPENDMARC_CONF,
        dmarc,
        dmarc_old,
        ("opendmarc",),
        description="DMARC checks",
        replaces=flags,
    )
    b.directory(OPENDMARC_DIR, 0o755, "root", "root", ("opendmarc",), "OpenDMARC's host list")
    ignore, ignore_old = b.load(IGNORE_HOSTS, HostList)
    for host in ("127.0.0.1", "::1"):
        ignore.add_host(host)
    b.file(IGNORE_HOSTS, ignore, ignore_old, ("opendmarc",), description="hosts not checked")


def plan_milter_socket(
    b: StepBuilder,
    daemon: str,
    socket: str,
    queue_directory: str,
    *,
    group: str,
    postfix_joins: bool,
) -> None:
    """A milter's socket: for a unix socket, its directory inside Postfix's chroot (owned by
    ``daemon``:``group``) and, with ``postfix_joins``, Postfix in the daemon's group (OpenDKIM's
    membership comes before its conf, as in the walkthrough); then ``/etc/default/DAEMON``'s
    SOCKET, set to the conf's so the init script and systemd agree."""
    label = DAEMON_LABELS[daemon]
    if b.setup.socket_style == "unix":
        b.directory(
            f"{queue_directory}/{daemon}",
            0o750,
            daemon,
            group,
            (daemon,),
            f"{label}'s socket inside Postfix's chroot",
        )
        if postfix_joins:
            b.member(daemon, "postfix", f"Postfix must open {label}'s socket")
    path = f"/etc/default/{daemon}"
    default, default_old = b.load(path, ShellVars)
    old = default.get("SOCKET", expand=True, environment=init_script_environment(daemon))
    default.set("SOCKET", socket)
    flags = []
    if old is not None and old != socket:
        flags.append(
            f"replace SOCKET {old} with {socket}: the same socket as /etc/{daemon}.conf's, so "
            "the init script and systemd agree"
        )
    b.file(
        path,
        default,
        default_old,
        (daemon,),
        description="SOCKET used by the init script and unit generator",
        replaces=flags,
    )
