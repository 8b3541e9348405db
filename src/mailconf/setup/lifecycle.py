"""The key's life: stage -> publish -> activate -> retire, with its state in the files themselves.

A fresh key that signs the moment OpenDKIM restarts fails at every receiver (``dkim=fail (no
key)``) until DNS serves it, so a rotation never swaps keys in one step (Debian's ``dkim-rotate``
runs the same cycle from cron, with a database of its own):

* **staged**: :func:`plan_rotate` writes the key and its KeyTable row; the SigningTable still
  points at the active key, so nothing signs with it while its record is being published
  (``mailconf dns`` prints it);
* **active**: :func:`plan_activate`, once DNS serves the staged key as the doctor checks it,
  points the SigningTable rows at it and restarts OpenDKIM;
* **retiring**: the key it replaced keeps its KeyTable row (and its DNS record must stay: mail
  signed with it is still in flight and in mailboxes being re-checked) for a grace period;
* **retired**: :func:`plan_retire` removes the row, moves the key into the apply's backups and
  lists the DNS record to remove.  The signing key is never retired.

Where the state is kept: which key signs is what the SigningTable says; which keys exist is what
the KeyTable and the key files say.  The dates (staged, activated, and when a key was superseded,
from which its grace period counts) are a comment line directly above the key's KeyTable row::

    # mailconf-dkim: staged=2026-11-02T10:00:00Z activated=2026-11-05T09:12:44Z
    s202611._domainkey.example.com example.com:s202611:/etc/opendkim/keys/example.com/s2026...

A comment, not a state file or a database: OpenDKIM skips it; it belongs to its row (removing the
row removes it, copying the table copies it), so it cannot disagree with the table the way a
separate file could after an admin's edit; and the admin sees it and may change it (to end a
grace period early, say).  A row without it is the admin's own: its state is still read from the
tables, only its dates are unknown (retiring such a key needs ``--force``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import attrs

from mailconf import keys
from mailconf.dns.checks import check_dkim
from mailconf.dns.lookup import LookupSource
from mailconf.errors import EditError
from mailconf.findings import Finding, Severity
from mailconf.milter.tables import KeyEntry, KeyTable, SigningTable
from mailconf.names import validate_domain, validate_selector
from mailconf.setup.builder import StepBuilder
from mailconf.setup.existing import Existing, read_existing
from mailconf.setup.keymarks import now_utc, parse_stamp, row_marks, rows_named, set_marks, stamp
from mailconf.setup.plan import Plan, Step
from mailconf.setup.planner import restart_steps
from mailconf.setup.spec import DKIM_KEY_DIRECTORY, Domain, KeySpec, Setup
from mailconf.system.root import SystemRoot
from mailconf.system.run import Runner, run

__all__ = [
    "DEFAULT_GRACE",
    "KeyState",
    "LifecycleError",
    "key_states",
    "plan_activate",
    "plan_retire",
    "plan_rotate",
    "published",
    "with_published",
]

DEFAULT_GRACE = dt.timedelta(days=7)


class LifecycleError(EditError):
    """A key-life command refused (nothing was written); the message says why and what to do."""


@attrs.frozen
class KeyState:
    """One KeyTable row of a domain: its state (active, staged, retiring, inactive), its key, and
    the dates recorded above the row."""

    domain: str
    selector: str
    keyname: str
    path: str
    state: str
    algorithm: str | None
    bits: int | None
    dates: dict[str, str] = attrs.field(factory=dict)
    published: bool | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "selector": self.selector,
            "keyname": self.keyname,
            "key": self.path,
            "state": self.state,
            "algorithm": self.algorithm,
            "bits": self.bits,
            "dates": dict(self.dates),
            "published": self.published,
        }


# ------------------------------------------------------------------------------- reading
def key_states(root: SystemRoot, domain: str | None = None) -> list[KeyState]:
    """Every KeyTable row (of ``domain``, or of every domain) with its state, in table order."""
    existing = read_existing(root)
    if existing.keytable is None:
        return []
    names = [domain] if domain else _domains(existing)
    result = []
    for name in names:
        signing = {entry.keyname for entry in existing.signing_keys(name)}
        for entry in existing.table_keys(name):
            result.append(_state(root, existing, name, entry, signing))
    return result


def _domains(existing: Existing) -> list[str]:
    assert existing.keytable is not None
    entries = existing.keytable.keys()
    return list(dict.fromkeys(e.domain.lower() for e in entries if e.domain != "%"))


def _state(
    root: SystemRoot, existing: Existing, domain: str, entry: KeyEntry, signing: set[str]
) -> KeyState:
    assert existing.keytable is not None
    rows = rows_named(existing.keytable, entry.keyname)
    marks = row_marks(rows[0]) if rows else {}
    if entry.keyname in signing:
        state = "active"
    elif "superseded" in marks:
        state = "retiring"
    elif "staged" in marks:
        state = "staged"
    else:
        state = "inactive"
    algorithm: str | None = None
    bits: int | None = None
    try:
        key = keys.load_public_key(root.resolve(entry.keypath))
        algorithm, bits = key.algorithm, key.bits
    except FileNotFoundError:
        pass
    return KeyState(
        domain, entry.selector, entry.keyname, entry.keypath, state, algorithm, bits, marks
    )


def published(lookup: LookupSource, state: KeyState, root: SystemRoot) -> list[Finding]:
    """The doctor's DKIM check of ``state``'s record against its key: the errors (none when DNS
    serves this very key)."""
    key = keys.load_public_key(root.resolve(state.path))
    findings = check_dkim(lookup, state.domain, state.selector, key)
    return [f for f in findings if f.severity is Severity.ERROR]


def with_published(lookup: LookupSource, state: KeyState, root: SystemRoot) -> KeyState:
    """``state`` with :attr:`KeyState.published` answered: True when DNS serves this key, False
    when it serves none or another, None when the key or DNS could not be asked."""
    if state.algorithm is None:
        return state
    problems = published(lookup, state, root)
    if problems and all(f.code.startswith("dns.") for f in problems):
        return state
    return attrs.evolve(state, published=not problems)


# ------------------------------------------------------------------------------- planning
def _builder(root: SystemRoot, domain: str, runner: Runner) -> StepBuilder:
    return StepBuilder(root, Setup(domains=(Domain(domain),)), runner)


def _plan(b: StepBuilder, *, restart: bool) -> Plan:
    steps = list(b.steps)
    if not restart:
        steps = [attrs.evolve(step, services=()) for step in steps]
    steps.extend(restart_steps(b.root, steps))
    return Plan(b.root, b.setup, tuple(steps), tuple(b.notes))


def _signing_now(existing: Existing, domain: str) -> list[KeyEntry]:
    signing = existing.signing_keys(domain)
    if not signing or existing.key_table is None or existing.signing_table is None:
        raise LifecycleError(
            f"{domain} does not sign yet: run mailconf apply for it first (a domain's first key "
            "signs at once; apply --stage-only waits for DNS instead)"
        )
    return signing


def plan_rotate(
    root: SystemRoot,
    domain: str,
    *,
    selector: str | None = None,
    ed25519: bool = False,
    bits: int = keys.DEFAULT_RSA_BITS,
    now: dt.datetime | None = None,
    runner: Runner = run,
) -> Plan:
    """Stage a new key for ``domain``: the key (``SELECTOR.private``/``.txt`` in mailconf's key
    directory) and its KeyTable row, marked staged.  Nothing signs with it and nothing restarts.
    The selector defaults to ``sYYYYMM`` of ``now``."""
    domain = validate_domain(domain)
    now = now or now_utc()
    existing = read_existing(root)
    _signing_now(existing, domain)
    selector = validate_selector(selector or f"s{now:%Y%m}")
    taken = {entry.selector for entry in existing.table_keys(domain)}
    if selector in taken:
        raise LifecycleError(
            f"selector {selector} of {domain} is already in the KeyTable; give another with "
            "--selector"
        )
    assert existing.key_table is not None
    b = _builder(root, domain, runner)
    keys.check_rsa_bits(bits)
    spec = KeySpec(domain, selector, "ed25519" if ed25519 else "rsa", 256 if ed25519 else bits)
    if b.root.exists(spec.private_path):
        raise LifecycleError(f"{spec.private_path} exists already; give another --selector")
    for path, why in ((DKIM_KEY_DIRECTORY, "private keys"), (spec.directory, f"keys of {domain}")):
        if not root.resolve(path).is_dir():
            b.directory(path, 0o700, "opendkim", "opendkim", (), why)
    b.key(spec)
    table, old = b.load(existing.key_table.path, KeyTable)
    table.add_key(domain, selector, spec.private_path, spec.key_name)
    set_marks(table, rows_named(table, spec.key_name)[0], {"staged": stamp(now)})
    b.file(
        existing.key_table.path,
        table,
        old,
        (),
        description=f"stage {spec.key_name} (the SigningTable still signs with the active key)",
    )
    b.note(
        "setup.key-staged",
        f"publish {spec.key_name} (mailconf dns prints it), then: mailconf dkim activate "
        f"--domain {domain} --selector {selector}",
    )
    return _plan(b, restart=False)


def plan_activate(
    root: SystemRoot,
    domain: str,
    *,
    selector: str | None = None,
    dns: LookupSource | None = None,
    force: bool = False,
    now: dt.datetime | None = None,
    runner: Runner = run,
) -> Plan:
    """Sign with the staged key: the SigningTable rows of the active key of the same algorithm
    point at it, the marks say when, and OpenDKIM restarts.  Refused unless DNS (``dns``)
    serves the staged key, or with ``force`` (a warning in the plan)."""
    domain = validate_domain(domain)
    now = now or now_utc()
    existing = read_existing(root)
    if existing.key_table is None or existing.signing_table is None:
        raise LifecycleError(
            "opendkim.conf names no KeyTable and SigningTable files: run mailconf apply first"
        )
    signing = existing.signing_keys(domain)
    states = key_states(root, domain)
    staged = [s for s in states if s.state == "staged" and (selector in (None, s.selector))]
    if not staged:
        what = f"selector {selector}" if selector else "key"
        active = [s.selector for s in states if s.state == "active"]
        raise LifecycleError(
            f"{domain} has no staged {what} (signing with {', '.join(active)}); stage one with "
            f"mailconf dkim rotate --domain {domain}"
        )
    if len(staged) > 1:
        raise LifecycleError(
            f"{domain} has several staged keys ({', '.join(s.selector for s in staged)}); "
            "name one with --selector"
        )
    new = staged[0]
    old = [s for s in states if s.state == "active" and s.algorithm == new.algorithm]
    if not old and signing:  # a domain's first key (apply --stage-only) replaces nothing
        raise LifecycleError(
            f"{domain} signs with no {new.algorithm} key that {new.selector} could replace"
        )
    b = _builder(root, domain, runner)
    if force:
        b.note(
            "setup.activated-unchecked",
            f"{new.keyname} signs without DNS having been checked: receivers see dkim=fail "
            "(no key) until its record is published",
            Severity.WARNING,
        )
    else:
        problems = published(dns, new, root) if dns is not None else []
        if dns is None or problems:
            detail = "; ".join(f.message for f in problems) or "DNS was not asked"
            raise LifecycleError(
                f"DNS does not serve {new.keyname} yet ({detail}); publish the record mailconf "
                "dns prints and try again (--force activates anyway: mail then fails DKIM until "
                "the record is out)"
            )
    assert existing.signing_table is not None and existing.key_table is not None
    replaced = {entry.keyname for entry in signing} & {s.keyname for s in old}
    table, table_old = b.load(existing.signing_table.path, SigningTable)
    flags = []
    for row in list(table.rows):
        keyname = row.value.split(":", 1)[0]
        if keyname not in replaced:
            continue
        text = row.text.rstrip("\r\n")
        at = text.rindex(keyname)
        table.replace(row, text[:at] + new.keyname + text[at + len(keyname) :])
        flags.append(
            f"replace SigningTable row {row.key} {keyname} with {new.keyname}: "
            f"{new.selector} signs from now on"
        )
    if not old:
        table.add_signing_key(
            f"*@{domain}" if existing.signing_table.regex else domain, new.keyname
        )
    b.file(
        existing.signing_table.path,
        table,
        table_old,
        ("opendkim",),
        description=f"sign {domain} with {new.keyname}",
        replaces=flags,
    )
    key_table, key_old = b.load(existing.key_table.path, KeyTable)
    set_marks(key_table, rows_named(key_table, new.keyname)[0], {"activated": stamp(now)})
    for state in old:
        for row in rows_named(key_table, state.keyname)[:1]:
            set_marks(key_table, row, {"superseded": stamp(now), "by": new.selector})
    b.file(
        existing.key_table.path,
        key_table,
        key_old,
        ("opendkim",),
        description="record the activation (dates above the rows)",
    )
    if old:
        b.note(
            "setup.key-activated",
            f"{', '.join(s.selector for s in old)} stops signing; keep its DNS record, then "
            f"retire it after the grace period: mailconf dkim retire --domain {domain} "
            f"--selector {old[0].selector}",
        )
    return _plan(b, restart=True)


def plan_retire(
    root: SystemRoot,
    domain: str,
    selector: str,
    *,
    grace: dt.timedelta = DEFAULT_GRACE,
    force: bool = False,
    now: dt.datetime | None = None,
    runner: Runner = run,
) -> Plan:
    """Retire a selector that no longer signs: its KeyTable row goes, its key (and ``.txt``)
    moves into the apply's backups, and the plan lists the DNS record to remove.  Refused for
    the signing key, and before ``grace`` has passed since it was superseded unless ``force``."""
    domain = validate_domain(domain)
    selector = validate_selector(selector)
    now = now or now_utc()
    existing = read_existing(root)
    matching = [s for s in key_states(root, domain) if s.selector == selector]
    if not matching:
        raise LifecycleError(f"{domain} has no selector {selector} in the KeyTable")
    state = matching[0]
    if state.state == "active":
        raise LifecycleError(
            f"{state.keyname} still signs {domain}: activate another key first (mailconf dkim "
            f"rotate, then mailconf dkim activate --domain {domain})"
        )
    b = _builder(root, domain, runner)
    since = parse_stamp(state.dates.get("superseded", ""))
    if since is None or now < since + grace:
        why = (
            f"its grace period runs until {stamp(since + grace)} (superseded {stamp(since)})"
            if since is not None
            else "no date of its replacement is recorded above its KeyTable row"
        )
        if not force:
            raise LifecycleError(
                f"{state.keyname} is not retired: {why}; mail it signed may still be checked "
                "against its record (--force retires it now)"
            )
        b.note("setup.retired-early", f"{state.keyname} retired early: {why}", Severity.WARNING)
    assert existing.key_table is not None
    table, old = b.load(existing.key_table.path, KeyTable)
    table.remove_each(rows_named(table, state.keyname))
    b.file(
        existing.key_table.path,
        table,
        old,
        ("opendkim",),
        description=f"retire {state.keyname}",
        replaces=[f"remove KeyTable row {state.keyname}: selector {selector} is retired"],
    )
    left = table.keys()
    shared = [e for e in left if e.keypath == state.path]
    if not shared:
        for path in _key_files(state):
            if root.exists(path):
                b.steps.append(
                    Step(
                        "remove",
                        path,
                        f"move {path} into the backups",
                        ("opendkim",),
                        replaces=("remove the retired key (a copy stays in the backups)",),
                    )
                )
    b.note(
        "setup.dns-remove",
        f"remove the DNS record {selector}._domainkey.{domain} TXT (mailconf dns no longer "
        "prints it)",
    )
    return _plan(b, restart=True)


def _key_files(state: KeyState) -> Sequence[str]:
    """The private key, and the ``SELECTOR.txt`` mailconf or opendkim-genkey wrote beside it."""
    directory = state.path.rsplit("/", 1)[0]
    return (state.path, f"{directory}/{state.selector}.txt")
