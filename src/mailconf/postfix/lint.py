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

from mailconf.findings import Finding, Severity
from mailconf.postfix.main import (
    SERVICE_PARAMETER_SUFFIXES,
    MainCf,
    Parameter,
    known_parameters,
    legacy_parameters,
    read_only_parameters,
)
from mailconf.postfix.master import MasterCf
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
    ``MainCf.lint`` runs; ``root`` is not needed: main.cf names no file it checks).

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
    return lint_main(main, master)


def service_parameter_names(master: MasterCf) -> set[str]:
    """The per-service parameter names master.cf's services make valid."""
    names: set[str] = set()
    for service in master.services:
        for suffix in SERVICE_PARAMETER_SUFFIXES.get(service.command, ()):
            names.add(service.name + suffix)
    return names


def _all_suffixes() -> set[str]:
    return {suffix for suffixes in SERVICE_PARAMETER_SUFFIXES.values() for suffix in suffixes}


def lint_main(main: MainCf, master: MasterCf | None) -> list[Finding]:
    """main.cf's findings, with ``master`` (None: no master.cf).

    A name is known when it is built in, a per-service name of a master.cf service
    (``policyd-spf_time_limit`` for a spawn service), a ``smtpd_restriction_classes`` name, or
    referenced as ``$name`` by another value (that is what ``postconf`` accepts).  Without
    ``master`` the per-service families cannot be checked: names ending in one of their
    suffixes are then not reported.
    """
    findings: list[Finding] = []
    path = main.path
    params = main._parameters()
    known = set(known_parameters()) | legacy_parameters()
    classes = main.restriction_classes
    referenced: set[str] = set()
    for entry in params:
        referenced.update(references(entry.value))
    for name, default in known_parameters().items():
        if main.get(name) is None:
            referenced.update(references(default))
    if master is not None:
        for service in master.services:
            for value in service.overrides.values():
                referenced.update(references(value))
    service_names = service_parameter_names(master) if master is not None else set()
    suffixes = _all_suffixes()

    def finding(severity: Severity, code: str, message: str, fix: str, entry: object) -> None:
        line = main.line_of(entry) if entry is not None else None  # type: ignore[arg-type]
        findings.append(Finding(severity, code, message, fix, path, line))

    # names -----------------------------------------------------------------------------
    seen: dict[str, Parameter] = {}
    read_only = read_only_parameters()
    for entry in params:
        name = entry.name
        if name in seen:
            finding(
                Severity.WARNING,
                "postfix.duplicate",
                f"{name} is set again here; the earlier value (line {main.line_of(seen[name])}) "
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
        guess = difflib.get_close_matches(name, sorted(known | service_names), n=1, cutoff=0.8)
        hint = f"; did you mean {guess[0]}?" if guess else ""
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
            f"rename it to {guess[0]}" if guess else f"remove {name} or check its spelling",
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
                        if master.service(service_name, "unix") is None:
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
        anchor = main._last("smtpd_recipient_restrictions") or main._last(
            "smtpd_relay_restrictions"
        )
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
    """Duplicated services, ``-o name = value`` written with blanks outside braces, and ``-o``
    names Postfix does not know (what ``MasterCf.lint`` runs; ``root`` is not needed)."""
    findings: list[Finding] = []
    path = master.path
    known = set(known_parameters()) | service_parameter_names(master)
    seen: dict[str, object] = {}
    for service in master.services:
        line = master.line_of(service)
        if service.key in seen:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "postfix.duplicate-service",
                    f"{service.key} is defined again here; the earlier entry (line "
                    f"{master.line_of(seen[service.key])}) is ignored",  # type: ignore[arg-type]
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
        local_refs = set()
        for value in service.overrides.values():
            local_refs.update(references(value))
        for name in service.overrides:
            if name in known or name in local_refs:
                continue
            guess = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
            findings.append(
                Finding(
                    Severity.WARNING,
                    "postfix.unknown-override",
                    f"{service.key}: unknown parameter {name} in -o"
                    + (f"; did you mean {guess[0]}?" if guess else "")
                    + " (fine if main.cf or another -o refers to it as $" + name + ")",
                    f"rename it to {guess[0]}" if guess else "check its spelling",
                    path,
                    line,
                )
            )
    return findings
