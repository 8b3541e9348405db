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

An existing setup is adopted, never clobbered (:mod:`mailconf.setup.existing` reads it,
:mod:`mailconf.setup.adopt` refuses a spec that contradicts it): a domain that already signs keeps
its key, selector and tables; a socket that already is the spec's endpoint is kept as written; a
daemon whose socket moves has its ``smtpd_milters``/``non_smtpd_milters`` entry replaced in place
(same position, so the milters keep their order and no stale entry is left for Postfix to fail
on); ``milter_default_action`` is kept when set; an SPF policy check already in place is kept and
no second one is added.  Each change to something the admin wrote is flagged on its step.

Every step is computed by comparing the desired state with what is there
(:mod:`mailconf.setup.builder`), so planning again after an apply gives an empty plan. File steps
carry the complete new content and a unified diff.  :func:`make_plan` reads as the walkthrough's
sections, one function each, in the walkthrough's order: the plan's order is its steps' order.
The milters' sections (their confs, tables, keys and sockets) are in
:mod:`mailconf.setup.milterplan`.
"""

from __future__ import annotations

from mailconf import fileio
from mailconf.errors import MailconfError, ValidationError
from mailconf.findings import Severity
from mailconf.names import validate_domain
from mailconf.postfix.main import MainCf, milter_socket_for_postfix
from mailconf.postfix.master import MasterCf
from mailconf.postfix.milters import same_milter_endpoint
from mailconf.postfix.values import milter_socket
from mailconf.setup.adopt import adopt_setup
from mailconf.setup.builder import StepBuilder
from mailconf.setup.existing import Existing, read_existing
from mailconf.setup.milterplan import (
    dkim_tables,
    milter_sockets,
    plan_dkim_conf,
    plan_dkim_tables,
    plan_dmarc,
    plan_milter_socket,
)
from mailconf.setup.pending import pending_restarts
from mailconf.setup.plan import Plan, Step
from mailconf.setup.prechecks import missing_referenced_files, root_needs
from mailconf.setup.spec import Setup
from mailconf.system import packages
from mailconf.system.root import SystemRoot
from mailconf.system.run import Runner, run

__all__ = ["make_plan", "restart_steps"]

PACKAGES = ("postfix-policyd-spf-python", "opendkim", "opendkim-tools", "opendmarc")
SERVICES = ("opendkim", "opendmarc", "postfix")  # restart order: milters first

MAIN_CF = "/etc/postfix/main.cf"
MASTER_CF = "/etc/postfix/master.cf"
OPENDKIM_DEFAULT = "/etc/default/opendkim"
OPENDMARC_DEFAULT = "/etc/default/opendmarc"

POLICYD_SPF_SERVICE = (
    "policyd-spf  unix  -       n       n       -       0       spawn\n"
    "  user=policyd-spf argv=/usr/bin/policyd-spf"
)
POLICY_CHECK = "check_policy_service unix:private/policyd-spf"
WALKTHROUGH_RESTRICTIONS = (
    "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, " + POLICY_CHECK
)


def make_plan(
    setup: Setup,
    root: SystemRoot | None = None,
    *,
    runner: Runner = run,
    stage_only: bool = False,
) -> Plan:
    """The steps that bring ``root`` (default ``/``) to ``setup``; nothing is changed.
    :class:`~mailconf.setup.adopt.ConflictError` when the spec contradicts the configuration.

    A domain's first key signs at once (a new server works after one command); with
    ``stage_only`` it is staged instead, like a rotation's key (:mod:`mailconf.setup.lifecycle`):
    written with its KeyTable row, out of the SigningTable until ``mailconf dkim activate``
    finds it in DNS.  A key staged so stays staged when apply runs again without the flag."""
    root = root or SystemRoot.live()
    existing = read_existing(root)
    wanted, adopted = adopt_setup(setup, existing, root)
    b = StepBuilder(root, wanted, runner)
    b.notes.extend(adopted)
    main, main_old = b.load(MAIN_CF, MainCf)
    if main_old is None:
        raise MailconfError(
            f"{MAIN_CF} not found under {root}: install and configure Postfix first "
            "(Debian's 'Internet Site')"
        )
    hostname = _hostname(setup, main, root, b)
    queue_directory = main.get("queue_directory") or "/var/spool/postfix"
    if "$" in queue_directory or not queue_directory.startswith("/"):
        raise MailconfError(f"main.cf queue_directory {queue_directory!r} is not a plain path")
    dkim_socket, dmarc_socket = milter_sockets(wanted, queue_directory, existing)
    tables = dkim_tables(existing)

    _plan_packages(b)
    _plan_policy_service(b, existing)  # main.cf's half comes last: one diff per file
    plan_dkim_conf(b, hostname, dkim_socket, tables)
    plan_dkim_tables(b, tables, stage_only)
    plan_milter_socket(
        b, "opendkim", dkim_socket, queue_directory, group="postfix", postfix_joins=False
    )
    plan_dmarc(b, hostname, dmarc_socket)
    plan_milter_socket(
        b, "opendmarc", dmarc_socket, queue_directory, group="opendmarc", postfix_joins=True
    )
    _plan_main_cf(b, main, main_old, (dkim_socket, dmarc_socket), queue_directory, existing)
    b.steps.extend(restart_steps(root, b.steps))
    notes = (
        *root_needs(root, queue_directory),
        *b.notes,
        *missing_referenced_files(root, b.steps),
    )
    return Plan(root, setup, tuple(b.steps), notes, hostname, stage_only)


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


def _plan_policy_service(b: StepBuilder, existing: Existing) -> None:
    """2. SPF: the policyd-spf service in master.cf, unless an SPF policy check is in place
    (under whatever name, with either daemon): that one is kept and no second one is added, which
    would check every message twice and double its DNS queries."""
    if existing.spf:
        foreign = [c for c in existing.spf if (c.service, c.program) != ("policyd-spf",) * 2]
        if foreign:  # mailconf's own check needs no note on every later plan
            checks = "; ".join(check.describe() for check in foreign)
            b.note("setup.spf-adopted", f"SPF is already checked ({checks}): kept, none added")
        return
    master, master_old = b.load(MASTER_CF, MasterCf)
    master.add_service(POLICYD_SPF_SERVICE)
    b.file(MASTER_CF, master, master_old, ("postfix",), description="policyd-spf service")


def _plan_main_cf(
    b: StepBuilder,
    main: MainCf,
    main_old: bytes | None,
    sockets: tuple[str, str],
    queue_directory: str,
    existing: Existing,
) -> None:
    """5. main.cf: the SPF policy check (after reject_unauth_destination; none when one is in
    place) and the milters, in both smtpd_milters and non_smtpd_milters, a moved daemon's entry
    replaced where it was."""
    if not existing.spf:
        main.set("policyd-spf_time_limit", "3600")
        if not main.list_items("smtpd_recipient_restrictions"):
            main.set("smtpd_recipient_restrictions", WALKTHROUGH_RESTRICTIONS)
        else:
            main.add_restriction("smtpd_recipient_restrictions", POLICY_CHECK)
    if existing.milter_default_action is None:
        main.set("milter_default_action", "accept")
    elif existing.milter_default_action.strip() != "accept":
        _keep_default_action(b, existing.milter_default_action)
    main.set("milter_protocol", "6")
    milters = [milter_socket_for_postfix(socket, queue_directory) for socket in sockets]
    flags: list[str] = []
    for daemon, milter in zip(("opendkim", "opendmarc"), milters, strict=True):
        for param in MILTER_LISTS:
            flags += _move_milter(main, param, daemon, milter, existing, queue_directory)
    for milter in milters:
        main.add_milter(milter)
    if not main.list_items("non_smtpd_milters"):
        main.set("non_smtpd_milters", "$smtpd_milters")
    else:  # no-ops when it holds them through $smtpd_milters
        for milter in milters:
            main.add_milter(milter, param="non_smtpd_milters")
    b.file(
        MAIN_CF,
        main,
        main_old,
        ("postfix",),
        description="SPF policy check and milters",
        replaces=flags,
    )


MILTER_LISTS = ("smtpd_milters", "non_smtpd_milters")


def _keep_default_action(b: StepBuilder, action: str) -> None:
    """``milter_default_action`` is the admin's decision (``accept`` is set only when unset)."""
    why = (
        ": while a milter cannot be reached Postfix defers mail (4xx) instead of passing it "
        "unsigned and unchecked, so a milter entry that no daemon serves defers every message; "
        "the plan moves milter entries with their daemons' sockets and leaves none stale"
        if action.strip() == "tempfail"
        else ""
    )
    b.note("setup.default-action-kept", f"milter_default_action = {action} kept{why}")


def _move_milter(
    main: MainCf, param: str, daemon: str, milter: str, existing: Existing, queue_directory: str
) -> list[str]:
    """Replace ``daemon``'s entry in ``param`` by ``milter``, in place, when the daemon's socket
    moves: the entry that reaches one of its current sockets.  The flags for each entry changed."""
    current = [setting.spec for setting in existing.sockets.get(daemon) or []]
    items = main.list_items(param)
    if any(same_milter_endpoint(item, milter, queue_directory) for item in items):
        stale = [
            item
            for item in items
            if any(same_milter_endpoint(item, old, queue_directory) for old in current)
            and not same_milter_endpoint(item, milter, queue_directory)
        ]
        for item in stale:
            main.list_remove(param, item)
        return [
            f"remove {param} entry {item}: {daemon} no longer listens there (it is already "
            f"listed as {milter})"
            for item in stale
        ]
    for item in items:
        if not any(same_milter_endpoint(item, old, queue_directory) for old in current):
            continue
        new = item.replace(milter_socket(item), milter, 1)
        main.list_insert(param, new, before=item)
        main.list_remove(param, item)
        return [
            f"replace {param} entry {item} with {new}: {daemon} moves to {milter}; the entry "
            "keeps its position so the milters run in the same order"
        ]
    return []


def _package_services(name: str) -> tuple[str, ...]:
    return {
        "opendkim": ("opendkim",),
        "opendmarc": ("opendmarc",),
        "postfix-policyd-spf-python": ("postfix",),
    }.get(name, ())


def restart_steps(root: SystemRoot, steps: list[Step]) -> list[Step]:
    """The restarts ``steps`` need (and those an interrupted apply still owes), milters first."""
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
    choose = setup.how_to_set('hostname = "FQDN"', "--hostname FQDN")
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
            f"TrustedAuthservIDs; to choose another: {choose}",
        )
        return chosen
    raise ValidationError(
        "cannot tell the host's fully qualified name (main.cf myhostname, /etc/mailname); "
        f"give it: {choose}"
    )
