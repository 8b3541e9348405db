"""Lint checks for main.cf and master.cf: warnings and errors, never rewrites.

What counts as a known parameter name is what ``postconf`` accepts without an "unused parameter"
warning (``postconf_user.c``, ``postconf_service.c``): the built-in names, the per-service names
of master.cf services (``<service>_time_limit`` for ``spawn`` and ``pipe``, the transport family
``<service>_destination_concurrency_limit`` ... for ``local``/``smtp``/``lmtp``/``virtual``/
``error``/``pipe``), names listed in ``smtpd_restriction_classes``, and user-defined names that
some value refers to as ``$name``.

Each model names its entry point here (``linter``), so ``doc.lint(root)`` runs it without the
model importing this module: :func:`lint_main_cf` and :func:`lint_master`.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections import Counter
from collections.abc import Iterable
from itertools import chain
from typing import TYPE_CHECKING

from mailconf.findings import Finding, Severity
from mailconf.postfix.main import (
    SERVICE_PARAMETER_SUFFIXES,
    MainCf,
    known_parameters,
    legacy_parameters,
    read_only_parameters,
)
from mailconf.postfix.master import MasterCf, Service
from mailconf.postfix.parameter import Parameter
from mailconf.postfix.restrictions import (
    NO_RELAY_CONTROL,
    does_relay_control,
    first_inbound_permit,
    first_relay_check,
    first_unconditional,
    is_policy_service,
    restriction_items,
    unreachable_policy,
)
from mailconf.postfix.values import (
    is_restriction_list,
    list_tokens,
    macro_problem,
    milter_socket,
    references,
)

if TYPE_CHECKING:
    from mailconf.postfix.milters import Endpoint


def lint_main_cf(main: MainCf, root: str = "/") -> list[Finding]:
    """``main.cf``'s lint, together with the master.cf beside it when there is one (what
    ``MainCf.lint`` runs; ``root`` says which Postfix's parameter names and defaults count).

    Codes: ``postfix.unknown-parameter`` (with a did-you-mean), ``postfix.duplicate``,
    ``postfix.read-only``, ``postfix.dead-restriction``, ``postfix.policy-before-relay-check``,
    ``postfix.no-relay-control`` (error: Postfix refuses to start), ``postfix.bad-macro``
    (a ``$`` Postfix cannot expand: an error for a built-in parameter),
    ``postfix.policy-service-missing`` (error: needs master.cf).
    """
    master = None
    if main.path:
        sibling = os.path.join(os.path.dirname(main.path), "master.cf")
        if os.path.exists(sibling):
            master = MasterCf.load(sibling)
    return lint_main(main, master, root)


def service_parameter_names(master: MasterCf) -> set[str]:
    """The per-service parameter names master.cf's services make valid."""
    return {
        name + suffix for name, suffixes in service_suffixes(master).items() for suffix in suffixes
    }


def service_suffixes(master: MasterCf) -> dict[str, set[str]]:
    """Service name -> the per-service parameter suffixes its services (by command) make valid."""
    suffixes: dict[str, set[str]] = {}
    for service in master.services:
        known = SERVICE_PARAMETER_SUFFIXES.get(service.command, ())
        if known:
            suffixes.setdefault(service.name, set()).update(known)
    return suffixes


class Suggestions:
    """ "Did you mean" for unknown names, at a cost that does not grow with the file.

    The answer is what ``difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)`` gives,
    with these candidates:

    * the built-in names, given once.  difflib only sees those that share enough two-character
      pieces with ``name`` to reach the cutoff at all, which does not change its answer: a
      ``ratio()`` of 0.8 needs M >= 0.4 * T matched characters (T = both lengths) in blocks
      separated by at least one unmatched character, and there are only T - 2 * M of those,
      so the blocks hold at least 3 * M - T - 1 >= 0.2 * T - 1 shared pieces.  That turns
      ~1,000 ``ratio()`` calls per unknown name into a handful (the 26k-line main.cf benchmark
      has 20,000 unknown names);
    * the per-service names (``<service>_time_limit``...) of the services ``name`` starts with
      (up to a ``_`` or ``-``), compared ignoring case and ``-`` versus ``_`` (so
      ``policyd_spf_time_limit`` finds the ``policyd-spf`` service): the names of every service
      would be O(services) candidates per unknown name, quadratic for a master.cf of 10,000
      services with unknown ``-o`` names.
    """

    def __init__(self, names: Iterable[str], services: dict[str, set[str]]) -> None:
        self._names, self._lengths, self._by_piece = _piece_index(frozenset(names))
        self._services: dict[str, list[str]] = {}  # folded service name -> its names + suffixes
        for service, suffixes in services.items():
            self._services.setdefault(_fold(service), []).extend(
                service + suffix for suffix in sorted(suffixes)
            )
        self._answers: dict[str, str | None] = {}

    def guess(self, name: str) -> str | None:
        if name not in self._answers:
            self._answers[name] = self._guess(name)
        return self._answers[name]

    def _guess(self, name: str) -> str | None:
        shared = Counter(chain.from_iterable(self._by_piece.get(p, ()) for p in _pieces(name)))
        if len(name) < 6:  # names of up to 6 - len(name) characters need no shared piece
            shared.update(dict.fromkeys(range(len(self._names)), 0))
        # 5 * shared >= len(name) + len(known) - 6, with the lengths moved to one side
        limit, lengths = len(name) - 6, self._lengths
        candidates = [
            self._names[number]
            for number, count in shared.items()
            if 5 * count - lengths[number] >= limit
        ]
        for cut, char in enumerate(name):
            if char in "_-":
                candidates += self._services.get(_fold(name[:cut]), ())
        found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
        return found[0] if found else None


@functools.cache
def _piece_index(names: frozenset[str]) -> tuple[list[str], list[int], dict[str, list[int]]]:
    """The built-in names sorted, their lengths, and piece -> the numbers of the names holding
    it.  The same ~1,000 names every time: built once per process, not once per lint."""
    ordered = sorted(names)
    by_piece: dict[str, list[int]] = {}
    for number, known in enumerate(ordered):
        for piece in set(_pieces(known)):
            by_piece.setdefault(piece, []).append(number)
    return ordered, [len(known) for known in ordered], by_piece


@functools.cache
def _default_references(root: str) -> dict[str, frozenset[str]]:
    """Built-in name -> the ``$names`` its default refers to (once per root and process)."""
    return {name: frozenset(references(value)) for name, value in known_parameters(root).items()}


def _fold(service: str) -> str:
    return service.lower().replace("-", "_")


def _pieces(name: str) -> list[str]:
    """The two-character pieces of ``name``, one per position (repeats kept)."""
    return [name[index : index + 2] for index in range(len(name) - 1)]


def _all_suffixes() -> set[str]:
    return {suffix for suffixes in SERVICE_PARAMETER_SUFFIXES.values() for suffix in suffixes}


def lint_main(main: MainCf, master: MasterCf | None, root: str = "/") -> list[Finding]:
    """main.cf's findings, with ``master`` (None: no master.cf), for the Postfix under ``root``.

    A name is known when it is built in, a per-service name of a master.cf service
    (``policyd-spf_time_limit`` for a spawn service), a ``smtpd_restriction_classes`` name, or
    referenced as ``$name`` by another value (that is what ``postconf`` accepts).  Without
    ``master`` the per-service families cannot be checked: names ending in one of their
    suffixes are then not reported.
    """
    lint = _MainLint(main, master, root)
    lint.names()
    lint.macros()
    for entry in lint.params:  # in file order, the winning line of each name
        if entry is lint.seen[entry.name] and is_restriction_list(entry.name, lint.classes):
            lint.restriction_list(entry)
    lint.relay_control()
    lint.milters()
    return lint.findings


class _MainLint:
    """One run of :func:`lint_main`: what every step needs, computed once, and the findings.

    ``seen`` is the winning line of each name (filled by :meth:`names`, the first step; only the
    winner is ever read by Postfix)."""

    def __init__(self, main: MainCf, master: MasterCf | None, root: str) -> None:
        self.main, self.master, self.root = main, master, root
        self.findings: list[Finding] = []
        self.params = main._parameters()
        self.known = set(known_parameters(root)) | legacy_parameters(root)
        self.classes = main.restriction_classes
        self.lines = main.line_numbers()  # one pass; line_of() per finding would be quadratic
        self.seen: dict[str, Parameter] = {}
        # master.service() is a pass over master.cf: index the services once (the last one wins).
        self.services = {(s.name, s.type) for s in master.services} if master else set()

    def finding(
        self, severity: Severity, code: str, message: str, fix: str, entry: Parameter | None
    ) -> None:
        line = self.lines[entry] if entry is not None else None
        self.findings.append(Finding(severity, code, message, fix, self.main.path, line))

    def _referenced(self) -> set[str]:
        """Names some value refers to as ``$name``: in main.cf, in the defaults of what it does
        not set, and in master.cf's ``-o`` overrides."""
        referenced: set[str] = set()
        for entry in self.params:
            referenced.update(references(entry.value))
        set_names = {entry.name for entry in self.params}
        for name, default_references in _default_references(self.root).items():
            if name not in set_names:
                referenced.update(default_references)
        for service in self.master.services if self.master is not None else ():
            for value in service.overrides.values():
                referenced.update(references(value))
        return referenced

    def names(self) -> None:
        """Duplicates, read-only names, unknown names (with a did-you-mean)."""
        master = self.master
        valid = self.known | self.classes | self._referenced()
        if master is not None:
            valid |= service_parameter_names(master)
        suffixes = _all_suffixes()
        suggestions = Suggestions(self.known, service_suffixes(master) if master else {})
        read_only = read_only_parameters(self.root)
        for entry in self.params:
            name = entry.name
            if name in self.seen:
                self.finding(
                    Severity.WARNING,
                    "postfix.duplicate",
                    f"{name} is set again here; the earlier value (line "
                    f"{self.lines[self.seen[name]]}) is ignored",
                    f"keep one {name} line",
                    entry,
                )
            self.seen[name] = entry
            if name in read_only:
                self.finding(
                    Severity.WARNING,
                    "postfix.read-only",
                    f"{name} is read-only: Postfix ignores this setting",
                    f"remove {name}",
                    entry,
                )
                continue
            if name in valid:
                continue
            if master is None and any(name.endswith(suffix) for suffix in suffixes):
                continue  # a per-service name; without master.cf we cannot tell
            self._unknown(entry, suggestions.guess(name))

    def _unknown(self, entry: Parameter, guess: str | None) -> None:
        name = entry.name
        hint = f"; did you mean {guess}?" if guess else ""
        if name.endswith("_time_limit") and self.master is not None and not guess:
            wanted_service = name[: -len("_time_limit")]
            hint += f" ({name} needs a spawn or pipe service {wanted_service!r} in master.cf)"
        self.finding(
            Severity.WARNING,
            "postfix.unknown-parameter",
            f"unknown parameter {name} (Postfix ignores it: postconf reports it unused){hint}",
            f"rename it to {guess}" if guess else f"remove {name} or check its spelling",
            entry,
        )

    def macros(self) -> None:
        """Values Postfix cannot expand (only the winning duplicate is ever read)."""
        for name, entry in self.seen.items():
            problem = macro_problem(entry.value)
            if problem is None:
                continue
            fatal = name in self.known
            self.finding(
                Severity.ERROR if fatal else Severity.WARNING,
                "postfix.bad-macro",
                f"{name}: {problem}: "
                + (
                    "Postfix refuses to start (macro processing error)"
                    if fatal
                    else "any use of this value fails"
                ),
                "write a literal $ as $$, a reference as $name or ${name}",
                entry,
            )

    def restriction_list(self, entry: Parameter) -> None:
        """Dead items, a policy service that may let anyone relay, one with no master.cf
        service."""
        items = restriction_items(entry.value)
        dead = first_unconditional(items)
        if dead is not None and dead + 1 < len(items):
            self.finding(
                Severity.WARNING,
                "postfix.dead-restriction",
                f"{entry.name}: {', '.join(items[dead + 1 :])} after the unconditional "
                f"{items[dead]!r} is never evaluated",
                f"move them before {items[dead]!r} or remove them",
                entry,
            )
        relay = first_relay_check(items)
        check = items[relay] if relay is not None else ""
        for item in items[:relay] if relay is not None else ():
            if is_policy_service(item):
                self.finding(
                    Severity.WARNING,
                    "postfix.policy-before-relay-check",
                    f"{entry.name}: {item} comes before {check}: a policy answer "
                    "OK there would let anyone relay",
                    f"move it after {check}",
                    entry,
                )
        inbound = first_inbound_permit(items)
        if inbound is not None:
            permit = items[inbound]
            for item in items[inbound + 1 : dead if dead is not None else len(items)]:
                if is_policy_service(item):
                    self.finding(
                        Severity.WARNING,
                        "postfix.policy-unreachable",
                        unreachable_policy(entry.name, item, permit),
                        f"move it before {permit}",
                        entry,
                    )
        if self.master is not None:
            for item in items:
                if is_policy_service(item):
                    self._policy_service(entry, item)

    def _policy_service(self, entry: Parameter, item: str) -> None:
        socket = milter_socket(item.partition(" ")[2])
        for prefix in ("unix:private/", "unix:public/", "private/", "public/"):
            if not socket.startswith(prefix):
                continue
            service_name = socket[len(prefix) :]
            if (service_name, "unix") not in self.services:
                self.finding(
                    Severity.ERROR,
                    "postfix.policy-service-missing",
                    f"{entry.name}: {item} but master.cf has no {service_name}/unix "
                    "service: every check gets a temporary failure",
                    f"add a {service_name} unix service to master.cf "
                    f"('{service_name} unix - n n - 0 spawn ...')",
                    entry,
                )
            break

    def milters(self) -> None:
        """Two items of a milter list that connect to one socket (``unix:`` and ``local:``, a
        relative and a chroot-absolute path: mail passes the milter twice), or that look like
        one daemon named twice (``inet:localhost:8891`` and ``inet:127.0.0.1:8891``)."""
        from mailconf.postfix.milters import (
            MILTER_SERVICES,
            chrooted_services,
            maybe_same_daemon,
            milter_endpoint,
        )

        queue = self.main.get("queue_directory") or "/var/spool/postfix"
        for name, command in MILTER_SERVICES.items():
            entry = self.seen.get(name)
            if entry is None:
                continue
            chrooted = bool(chrooted_services(self.master, command, self.root))
            # One pass: the first item of each endpoint, and of each loopback port.
            first: dict[Endpoint, str] = {}
            loopback: dict[int, tuple[str, Endpoint]] = {}
            for token in list_tokens(entry.value):
                end = milter_endpoint(token.text, queue_directory=queue, chrooted=chrooted)
                if end is None:
                    continue
                if end in first:
                    self.finding(
                        Severity.WARNING,
                        "postfix.milter-twice",
                        f"{name}: {token.text} and {first[end]} are the same {end}: every "
                        "message passes that milter twice",
                        f"remove {token.text}",
                        entry,
                    )
                    continue
                first[end] = token.text
                earlier = loopback.get(end.port)
                if earlier is not None and maybe_same_daemon(end, earlier[1]):
                    self.finding(
                        Severity.WARNING,
                        "postfix.milter-same-daemon",
                        f"{name}: {token.text} and {earlier[0]} look like the same daemon "
                        "(one port on the loopback interface, named two ways)",
                        "keep one of them",
                        entry,
                    )
                elif end.family == "inet" and earlier is None:
                    loopback[end.port] = (token.text, end)

    def relay_control(self) -> None:
        """Postfix refuses to start without relay control in either relay list."""
        if any(does_relay_control(items) for items in self.main.relay_lists().values()):
            return
        seen = self.seen
        self.finding(
            Severity.ERROR,
            "postfix.no-relay-control",
            NO_RELAY_CONTROL.format(verb="contains"),
            "add reject_unauth_destination to smtpd_relay_restrictions",
            seen.get("smtpd_recipient_restrictions") or seen.get("smtpd_relay_restrictions"),
        )


def lint_master(master: MasterCf, root: str = "/") -> list[Finding]:
    """Duplicated services, ``-o name = value`` written with blanks outside braces, ``{ }`` that
    master(8) cannot take apart, and ``-o`` names the Postfix under ``root`` does not know (what
    ``MasterCf.lint`` runs)."""
    findings: list[Finding] = []
    path = master.path
    known = set(known_parameters(root)) | service_parameter_names(master)
    suggestions = Suggestions(known_parameters(root), service_suffixes(master))
    lines = master.line_numbers()  # one pass; line_of() per service would be quadratic
    seen: dict[str, Service] = {}
    for service in master.services:
        line = lines[service]
        if service.key in seen:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "postfix.duplicate-service",
                    f"{service.key} is defined again here; the earlier entry (line "
                    f"{lines[seen[service.key]]}) is ignored",
                    f"keep one {service.key} entry",
                    path,
                    line,
                )
            )
        seen[service.key] = service
        fields = service.fields
        for index in range(8, service.option_end):
            broken = index + 2 < len(fields) and fields[index + 2].startswith("=")
            if fields[index] == "-o" and broken:
                findings.append(
                    Finding(
                        Severity.ERROR,
                        "postfix.override-blanks",
                        f"{service.key}: '-o {fields[index + 1]} {fields[index + 2]}' has blanks "
                        "around '=' outside braces: the daemon gets a broken option",
                        f"write -o {fields[index + 1]}=... or -o {{ {fields[index + 1]} = ... }}",
                        path,
                        line,
                    )
                )
        for problem in service.brace_problems:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "postfix.master-braces",
                    f"{service.key}: {problem}: master(8) refuses to start (postconf warns and "
                    "reads the text inside the braces)",
                    "close the '{ }' group where it ends, with nothing after the '}'",
                    path,
                    line,
                )
            )
        local_refs = set()
        for value in service.overrides.values():
            local_refs.update(references(value))
        for name in service.overrides:
            if name in known or name in local_refs:
                continue
            guess = suggestions.guess(name)
            findings.append(
                Finding(
                    Severity.WARNING,
                    "postfix.unknown-override",
                    f"{service.key}: unknown parameter {name} in -o"
                    + (f"; did you mean {guess}?" if guess else "")
                    + " (fine if main.cf or another -o refers to it as $"
                    + name
                    + ")",
                    f"rename it to {guess}" if guess else "check its spelling",
                    path,
                    line,
                )
            )
    return findings
