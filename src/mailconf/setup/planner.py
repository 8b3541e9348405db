"""From a :class:`Setup` and the system under a root to an ordered, idempotent :class:`Plan`.

The plan follows the walkthrough (``shared/walkthrough.md``) step by step, with its mistakes
fixed:

* the SPF policy check goes *after* ``reject_unauth_destination`` and the admin's restrictions
  are kept; with no ``smtpd_recipient_restrictions`` at all, the list starts with
  ``permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination`` so local and
  authenticated senders are not SPF-checked;
* trusted.hosts says ``localhost`` (the walkthrough's ``locahost`` is fixed in place), ``::1`` and
  ``.DOMAIN`` (a literal ``*.DOMAIN`` never matches in a host list and is fixed in place too);
* ``/etc/default/opendmarc``'s ``SOCKET`` is set like OpenDKIM's, to the conf's ``Socket``: the
  init script uses the conf's, systemd (once the unit generator ran) ``SOCKET``, and Postfix must
  be right under both (:mod:`mailconf.milter.sockets`);
* OpenDKIM's ``AuthservID`` is set to the host name that OpenDMARC's ``TrustedAuthservIDs``
  trusts, so the two agree whatever Postfix's ``myhostname`` says;
* ``ignore.hosts`` also lists ``::1`` (Postfix listens on IPv6 loopback by default);
* keys are generated in Python, 0600 and owned by opendkim, never regenerated; no ADSP.

Every step is computed by comparing the desired state with what is there
(:mod:`mailconf.setup.builder`), so planning again after an apply gives an empty plan. File steps
carry the complete new content and a unified diff.  :func:`make_plan` reads as the walkthrough's
sections, one function each, in the walkthrough's order: the plan's order is its steps' order.
"""

from __future__ import annotations

from mailconf import fileio
from mailconf.errors import MailconfError, ValidationError
from mailconf.findings import Severity
from mailconf.milter.conf import OpenDkimConf, OpenDmarcConf
from mailconf.milter.shellvars import ShellVars
from mailconf.milter.tables import HostList, KeyTable, SigningTable
from mailconf.names import validate_domain
from mailconf.postfix.main import MainCf, milter_socket_for_postfix
from mailconf.postfix.master import MasterCf
from mailconf.setup.builder import StepBuilder
from mailconf.setup.pending import pending_restarts
from mailconf.setup.plan import Plan, Step
from mailconf.setup.prechecks import missing_referenced_files, root_needs
from mailconf.setup.spec import DKIM_KEY_DIRECTORY, Setup
from mailconf.system import packages
from mailconf.system.root import SystemRoot
from mailconf.system.run import Runner, run

__all__ = ["make_plan"]

PACKAGES = ("postfix-policyd-spf-python", "opendkim", "opendkim-tools", "opendmarc")
SERVICES = ("opendkim", "opendmarc", "postfix")  # restart order: milters first
DAEMON_LABELS = {"opendkim": "OpenDKIM", "opendmarc": "OpenDMARC"}

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

POLICYD_SPF_SERVICE = (
    "policyd-spf  unix  -       n       n       -       0       spawn\n"
    "  user=policyd-spf argv=/usr/bin/policyd-spf"
)
POLICY_CHECK = "check_policy_service unix:private/policyd-spf"
WALKTHROUGH_RESTRICTIONS = (
    "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, " + POLICY_CHECK
)


def make_plan(setup: Setup, root: SystemRoot | None = None, *, runner: Runner = run) -> Plan:
    """The steps that bring ``root`` (default ``/``) to ``setup``; nothing is changed."""
    root = root or SystemRoot.live()
    b = StepBuilder(root, setup, runner)
    main, main_old = b.load(MAIN_CF, "postfix-main", MainCf)
    if main_old is None:
        raise MailconfError(
            f"{MAIN_CF} not found under {root}: install and configure Postfix first "
            "(Debian's 'Internet Site')"
        )
    hostname = _hostname(setup, main, root, b)
    queue_directory = main.get("queue_directory") or "/var/spool/postfix"
    if "$" in queue_directory or not queue_directory.startswith("/"):
        raise MailconfError(f"main.cf queue_directory {queue_directory!r} is not a plain path")
    dkim_socket, dmarc_socket = _milter_sockets(setup, queue_directory)

    _plan_packages(b)
    _plan_policy_service(b)  # main.cf's half comes last: one diff per file
    _plan_dkim_conf(b, hostname, dkim_socket)
    _plan_dkim_tables(b)
    _plan_milter_socket(
        b, "opendkim", dkim_socket, queue_directory, group="postfix", postfix_joins=False
    )
    _plan_dmarc(b, hostname, dmarc_socket)
    _plan_milter_socket(
        b, "opendmarc", dmarc_socket, queue_directory, group="opendmarc", postfix_joins=True
    )
    _plan_main_cf(b, main, main_old, (dkim_socket, dmarc_socket), queue_directory)
    b.steps.extend(_restarts(root, b.steps))
    notes = (
        *root_needs(root, queue_directory),
        *b.notes,
        *missing_referenced_files(root, b.steps),
    )
    return Plan(root, setup, tuple(b.steps), notes, hostname)


def _milter_sockets(setup: Setup, queue_directory: str) -> tuple[str, str]:
    """OpenDKIM's and OpenDMARC's sockets: unix sockets inside Postfix's chroot, or loopback TCP."""
    if setup.socket_style == "unix":
        return (
            f"local:{queue_directory}/opendkim/opendkim.sock",
            f"local:{queue_directory}/opendmarc/opendmarc.sock",
        )
    return f"inet:{setup.opendkim_port}@127.0.0.1", f"inet:{setup.opendmarc_port}@127.0.0.1"


def _plan_packages(b: StepBuilder) -> None:
    """1. The packages that are not installed (a note when the root has no dpkg database)."""
    states = packages.query_packages(b.root, PACKAGES, runner=b.runner)
    if states is None:
        b.note(
            "setup.packages-unknown",
            f"no dpkg database under {b.root}: cannot tell whether {', '.join(PACKAGES)} are "
            "installed; make sure they are",
            Severity.WARNING,
        )
        return
    for name in PACKAGES:
        if not states[name].installed:
            b.steps.append(
                Step("package", name, f"apt-get install -y {name}", _package_services(name))
            )


def _plan_policy_service(b: StepBuilder) -> None:
    """2. SPF: the policyd-spf service in master.cf."""
    master, master_old = b.load(MASTER_CF, "postfix-master", MasterCf)
    master.add_service(POLICYD_SPF_SERVICE)
    b.file(MASTER_CF, master, master_old, ("postfix",), description="policyd-spf service")


def _plan_dkim_conf(b: StepBuilder, hostname: str, socket: str) -> None:
    """3. DKIM: opendkim.conf (Postfix joins the opendkim group first, for a unix socket)."""
    setup = b.setup
    if setup.socket_style == "unix":
        b.member("opendkim", "postfix", "Postfix must open OpenDKIM's socket")
    dkim, dkim_old = b.load(OPENDKIM_CONF, "opendkim", OpenDkimConf)
    settings = [
        ("Canonicalization", "relaxed/simple"),
        ("Mode", "sv"),
        ("SubDomains", "no"),
        ("AuthservID", hostname),
        ("KeyTable", f"refile:{KEY_TABLE}"),
        ("SigningTable", f"refile:{SIGNING_TABLE}"),
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
    for name, value in settings:
        dkim.set(name, value)
    b.file(OPENDKIM_CONF, dkim, dkim_old, ("opendkim",), description="signing and verifying")


def _plan_dkim_tables(b: StepBuilder) -> None:
    """3. DKIM: the tables' directory and the key directories, the three tables, the keys."""
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
    key_table, key_table_old = b.load(KEY_TABLE, "keytable", KeyTable)
    signing, signing_old = b.load(SIGNING_TABLE, "signingtable", SigningTable)
    trusted, trusted_old = b.load(TRUSTED_HOSTS, "hostlist", HostList)
    for spec in b.setup.keys:
        key_table.set_key(spec.domain, spec.selector, spec.private_path, spec.key_name)
        signing.add_signing_key(f"*@{spec.domain}", spec.key_name)
    trusted.replace_host("locahost", "localhost")
    for host in ("127.0.0.1", "::1", "localhost"):
        trusted.add_host(host)
    for domain in b.setup.domains:
        trusted.replace_host(f"*.{domain.name}", f".{domain.name}")
        trusted.add_host(f".{domain.name}")
    for path, doc, old, what in (
        (KEY_TABLE, key_table, key_table_old, "keys"),
        (SIGNING_TABLE, signing, signing_old, "who signs with which key"),
        (TRUSTED_HOSTS, trusted, trusted_old, "hosts whose mail is signed"),
    ):
        b.file(path, doc, old, dkim, description=what, owner="opendkim", group="opendkim")
    for spec in b.setup.keys:
        b.key(spec)


def _plan_dmarc(b: StepBuilder, hostname: str, socket: str) -> None:
    """4. DMARC: opendmarc.conf, and the hosts it does not check."""
    dmarc, dmarc_old = b.load(OPENDMARC_CONF, "opendmarc", OpenDmarcConf)
    for name, value in (
        ("AuthservID", "OpenDMARC"),
        ("TrustedAuthservIDs", hostname),
        ("RejectFailures", "true"),
        ("Socket", socket),
        ("IgnoreHosts", IGNORE_HOSTS),
        ("IgnoreAuthenticatedClients", "true"),
        ("RequiredHeaders", "true"),
        ("SPFSelfValidate", "true"),
    ):
        dmarc.set(name, value)
    b.file(OPENDMARC_CONF, dmarc, dmarc_old, ("opendmarc",), description="DMARC checks")
    b.directory(OPENDMARC_DIR, 0o755, "root", "root", ("opendmarc",), "OpenDMARC's host list")
    ignore, ignore_old = b.load(IGNORE_HOSTS, "hostlist", HostList)
    for host in ("127.0.0.1", "::1"):
        ignore.add_host(host)
    b.file(IGNORE_HOSTS, ignore, ignore_old, ("opendmarc",), description="hosts not checked")


def _plan_milter_socket(
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
    default, default_old = b.load(path, "shellvars", ShellVars)
    default.set("SOCKET", socket)
    b.file(
        path,
        default,
        default_old,
        (daemon,),
        description="SOCKET used by the init script and unit generator",
    )


def _plan_main_cf(
    b: StepBuilder,
    main: MainCf,
    main_old: bytes | None,
    sockets: tuple[str, str],
    queue_directory: str,
) -> None:
    """5. main.cf: the SPF policy check (after reject_unauth_destination) and the milters, in
    both smtpd_milters and non_smtpd_milters."""
    main.set("policyd-spf_time_limit", "3600")
    if not main.list_items("smtpd_recipient_restrictions"):
        main.set("smtpd_recipient_restrictions", WALKTHROUGH_RESTRICTIONS)
    else:
        main.add_restriction("smtpd_recipient_restrictions", POLICY_CHECK)
    main.set("milter_default_action", "accept")
    main.set("milter_protocol", "6")
    milters = [milter_socket_for_postfix(socket, queue_directory) for socket in sockets]
    for milter in milters:
        main.add_milter(milter)
    if not main.list_items("non_smtpd_milters"):
        main.set("non_smtpd_milters", "$smtpd_milters")
    else:  # no-ops when it holds them through $smtpd_milters
        for milter in milters:
            main.add_milter(milter, param="non_smtpd_milters")
    b.file(MAIN_CF, main, main_old, ("postfix",), description="SPF policy check and milters")


def _package_services(name: str) -> tuple[str, ...]:
    return {
        "opendkim": ("opendkim",),
        "opendmarc": ("opendmarc",),
        "postfix-policyd-spf-python": ("postfix",),
    }.get(name, ())


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


def _hostname(setup: Setup, main: MainCf, root: SystemRoot, b: StepBuilder) -> str:
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
    mailname = root.read_if_present("/etc/mailname")
    if mailname:
        first = fileio.decode(mailname).splitlines()
        if first:
            candidates.append(("/etc/mailname", first[0].strip()))
    for source, value in candidates:
        try:
            chosen = validate_domain(value)
        except ValidationError:
            b.note("setup.hostname-unusable", f"{source} {value!r} is not a fully qualified name")
            continue
        b.note(
            "setup.hostname",
            f"host name {chosen} (from {source}) for OpenDKIM's AuthservID and OpenDMARC's "
            "TrustedAuthservIDs; set hostname in the spec (--hostname) to choose another",
        )
        return chosen
    raise ValidationError(
        "cannot tell the host's fully qualified name (main.cf myhostname, /etc/mailname); "
        "give it with --hostname (hostname = ... in mailconf.toml)"
    )
