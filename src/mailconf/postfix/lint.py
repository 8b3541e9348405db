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
import os
from collections import Counter
from collections.abc import Iterable
from itertools import chain

from mailconf.findings import Finding, Severity
from mailconf.postfix.main import (
    SERVICE_PARAMETER_SUFFIXES,
    MainCf,
    Parameter,
    known_parameters,
    legacy_parameters,
    read_only_parameters,
)
from mailconf.postfix.master import MasterCf, Service
from mailconf.postfix.values import (
    RELAY_CONTROL,
    UNAUTH_DESTINATION,
    UNCONDITIONAL,
    group_restrictions,
    is_restriction_list,
    list_tokens,
    macro_problem,
    milter_socket,
    normalize_item,
    references,
)


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
        self._names = sorted(set(names))
        self._lengths = [len(known) for known in self._names]
        self._services: dict[str, list[str]] = {}  # folded service name -> its names + suffixes
        for service, suffixes in services.items():
            self._services.setdefault(_fold(service), []).extend(
                service + suffix for suffix in sorted(suffixes)
            )
        self._by_piece: dict[str, list[int]] = {}
        for number, known in enumerate(self._names):
            for piece in set(_pieces(known)):
                self._by_piece.setdefault(piece, []).append(number)
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
    findings: list[Finding] = []
    path = main.path
    params = main._parameters()
    known = set(known_parameters(root)) | legacy_parameters(root)
    classes = main.restriction_classes
    referenced: set[str] = set()
    for entry in params:
        referenced.update(references(entry.value))
    set_names = {entry.name for entry in params}
    for name, default in known_parameters(root).items():
        if name not in set_names:
            referenced.update(references(default))
    if master is not None:
        for service in master.services:
            for value in service.overrides.values():
                referenced.update(references(value))
    per_service = service_suffixes(master) if master is not None else {}
    service_names = service_parameter_names(master) if master is not None else set()
    suffixes = _all_suffixes()
    suggestions = Suggestions(known, per_service)

    lines = main.line_numbers()  # one pass; line_of() per finding would be quadratic
    # master.service() is a pass over master.cf: index the services once (the last one wins).
    services = {(s.name, s.type): s for s in master.services} if master is not None else {}

    def finding(
        severity: Severity, code: str, message: str, fix: str, entry: Parameter | None
    ) -> None:
        line = lines[entry] if entry is not None else None
        findings.append(Finding(severity, code, message, fix, path, line))

    # names -----------------------------------------------------------------------------
    seen: dict[str, Parameter] = {}
    read_only = read_only_parameters(root)
    for entry in params:
        name = entry.name
        if name in seen:
            finding(
                Severity.WARNING,
                "postfix.duplicate",
                f"{name} is set again here; the earlier value (line {lines[seen[name]]}) "
                "is ignored",
                f"keep one {name} line",
                entry,
            )
        seen[name] = entry
        if name in read_only:
            finding(
                Severity.WARNING,
                "postfix.read-only",
                f"{name} is read-only: Postfix ignores this setting",
                f"remove {name}",
                entry,
            )
            continue
        if name in known or name in classes or name in referenced or name in service_names:
            continue
        if master is None and any(name.endswith(suffix) for suffix in suffixes):
            continue  # a per-service name; without master.cf we cannot tell
        guess = suggestions.guess(name)
        hint = f"; did you mean {guess}?" if guess else ""
        if name.endswith("_time_limit") and master is not None:
            wanted_service = name[: -len("_time_limit")]
            hint += (
                f" ({name} needs a spawn or pipe service {wanted_service!r} in master.cf)"
                if not guess
                else ""
            )
        finding(
            Severity.WARNING,
            "postfix.unknown-parameter",
            f"unknown parameter {name} (Postfix ignores it: postconf reports it unused){hint}",
            f"rename it to {guess}" if guess else f"remove {name} or check its spelling",
            entry,
        )

    # values Postfix cannot expand (only the winning duplicate is ever read) ----------------
    for name, entry in seen.items():
        problem = macro_problem(entry.value)
        if problem is not None:
            fatal = name in known
            finding(
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

    # restriction lists -------------------------------------------------------------------
    for entry in params:
        if entry is not seen.get(entry.name) or not is_restriction_list(entry.name, classes):
            continue
        items = [normalize_item(it.text) for it in group_restrictions(list_tokens(entry.value))]
        for index, item in enumerate(items):
            if item in UNCONDITIONAL and index + 1 < len(items):
                finding(
                    Severity.WARNING,
                    "postfix.dead-restriction",
                    f"{entry.name}: {', '.join(items[index + 1 :])} after the unconditional "
                    f"{item!r} is never evaluated",
                    f"move them before {item!r} or remove them",
                    entry,
                )
                break
        relay = [i for i, it in enumerate(items) if it in UNAUTH_DESTINATION]
        if relay:
            for item in items[: relay[0]]:
                if item.split(" ", 1)[0] == "check_policy_service":
                    finding(
                        Severity.WARNING,
                        "postfix.policy-before-relay-check",
                        f"{entry.name}: {item} comes before {items[relay[0]]}: a policy answer "
                        "OK there would let anyone relay",
                        f"move it after {items[relay[0]]}",
                        entry,
                    )
        if master is not None:
            for item in items:
                word, _, argument = item.partition(" ")
                if word != "check_policy_service":
                    continue
                socket = milter_socket(argument)
                for prefix in ("unix:private/", "unix:public/", "private/", "public/"):
                    if socket.startswith(prefix):
                        service_name = socket[len(prefix) :]
                        if (service_name, "unix") not in services:
                            finding(
                                Severity.ERROR,
                                "postfix.policy-service-missing",
                                f"{entry.name}: {item} but master.cf has no {service_name}/unix "
                                "service: every check gets a temporary failure",
                                f"add a {service_name} unix service to master.cf "
                                f"('{service_name} unix - n n - 0 spawn ...')",
                                entry,
                            )
                        break

    # relay control (Postfix refuses to start without it) ----------------------------------
    lists = main._relay_lists()
    if not any(any(it in RELAY_CONTROL for it in items) for items in lists.values()):
        anchor = seen.get("smtpd_recipient_restrictions") or seen.get("smtpd_relay_restrictions")
        finding(
            Severity.ERROR,
            "postfix.no-relay-control",
            "neither smtpd_relay_restrictions nor smtpd_recipient_restrictions contains "
            "reject_unauth_destination (or defer_unauth_destination, reject, defer, "
            "defer_if_permit, check_relay_domains): Postfix refuses to start",
            "add reject_unauth_destination to smtpd_relay_restrictions",
            anchor,
        )
    return findings


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
