"""What the modules of mailconf.mailconf share: importing the mailconf library on the managed host
(or failing with how to install it), the spec options of ``setup`` and ``check`` (named like the
spec file, ``mailconf.toml``), and turning a plan and findings into Ansible's return values.

Nothing here configures anything: every decision is the library's, called the way the ``mailconf``
command calls it, so a playbook and ``mailconf apply`` cannot disagree.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

try:
    import mailconf
except ImportError:
    mailconf = None
    MAILCONF_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    MAILCONF_IMPORT_ERROR = None


def library_module(options: Any, **rules: Any) -> Any:
    """The task's AnsibleModule, its options and their rules given by ``options()`` (a
    function: options that the library's catalogue makes need the library).  On a host without
    mailconf the task fails saying how to install it, not that every option is unknown."""
    from ansible.module_utils.basic import AnsibleModule, _load_params

    if MAILCONF_IMPORT_ERROR is None:
        return AnsibleModule(**options(), **rules)
    given = {name: {"type": "raw"} for name in _load_params() if not name.startswith("_ansible")}
    module = AnsibleModule(argument_spec=given, supports_check_mode=True)
    require_mailconf(module)
    return module


def run_task(options: Any, run: Any) -> None:
    """A module's whole task: its AnsibleModule (:func:`library_module`, check mode supported),
    ``run(module)``'s return values, or the library's refusal as the task's failure."""
    module = library_module(options, supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except Exception as error:
        fail_on_mailconf_error(module, error)


def require_mailconf(module: Any) -> None:
    """Fail the task, saying how to install it, when this host's Python has no mailconf."""
    if MAILCONF_IMPORT_ERROR is None:
        return
    module.fail_json(
        msg=(
            f"the mailconf Python library is not importable by {sys.executable} on this host: "
            "install it there from a wheel or a checkout of the repository (python3 -m pip "
            "install /path/to/mailconf-VERSION-py3-none-any.whl or /path/to/mailconf; it is "
            "not on the package index), or point "
            "ansible_python_interpreter at a Python that has it"
        ),
        exception=MAILCONF_IMPORT_ERROR,
    )


#: The spec options of ``setup`` and ``check``: either ``config`` (a mailconf.toml on the managed
#: host) or the spec's keys as options.  No defaults and no choices here: what is left out gets
#: the library's default and the library validates every value, with the messages of
#: ``mailconf plan``.
SPEC_ARGUMENTS: dict[str, Any] = {
    "config": {"type": "path"},
    "domains": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "selector": {"type": "str"},
            "ed25519_selector": {"type": "str"},
            "ed25519": {"type": "bool"},
        },
    },
    "ips": {"type": "list", "elements": "str"},
    "hostname": {"type": "str"},
    "dmarc": {
        "type": "dict",
        "options": {"policy": {"type": "str"}, "report": {"type": "str"}},
    },
    "dkim": {
        "type": "dict",
        "options": {"rsa_bits": {"type": "int"}, "ed25519": {"type": "bool"}},
    },
    "sockets": {
        "type": "dict",
        "options": {
            "style": {"type": "str"},
            "opendkim_port": {"type": "int"},
            "opendmarc_port": {"type": "int"},
        },
    },
    "opendkim": {
        "type": "dict",
        "options": {"resolver_configuration": {"type": "str"}},
    },
    "root": {"type": "path", "default": "/"},
}

_SPEC_KEYS = ("domains", "ips", "hostname", "dmarc", "dkim", "sockets", "opendkim")

#: The module keyword arguments that go with :data:`SPEC_ARGUMENTS`.
SPEC_RULES: dict[str, Any] = {
    "mutually_exclusive": [("config", key) for key in _SPEC_KEYS],
    "required_one_of": [("config", "domains")],
}


#: How each shape of edit (:class:`mailconf.edits.Shape`) is given as a module option.
_EDIT_OPTIONS: dict[str, dict[str, Any]] = {
    "item": {"type": "list", "elements": "str"},
    "pair": {"type": "dict"},
    "restriction": {
        "type": "dict",
        "options": {
            "list": {"type": "str", "required": True},
            "item": {"type": "str", "required": True},
            "after": {"type": "str"},
            "last": {"type": "bool", "default": False},
        },
        "mutually_exclusive": [("after", "last")],
    },
}


def edit_options() -> dict[str, Any]:
    """The options of mailconf.mailconf.edit (AnsibleModule's ``argument_spec`` and
    ``required_one_of``): the file, and one option per operation of the library's catalogue
    (:data:`mailconf.edits.OPERATIONS`, which ``mailconf edit`` builds its options from too),
    shaped as the operation's argument; one of them at least."""
    from mailconf import edits

    arguments: dict[str, Any] = {
        "path": {"type": "path", "required": True},
        "kind": {"type": "str"},
    }
    for op in edits.OPERATIONS:
        arguments[op.name] = dict(_EDIT_OPTIONS[op.shape.value])
    arguments["root"] = {"type": "path", "default": "/"}
    arguments["force"] = {"type": "bool", "default": False}
    return {
        "argument_spec": arguments,
        "required_one_of": [[op.name for op in edits.OPERATIONS]],
    }


def setup_from_params(params: dict[str, Any]) -> Any:
    """The :class:`mailconf.Setup` the options describe: ``config`` read as ``mailconf plan
    --config`` reads it, or the options as the tables of the spec file (``domains`` is the file's
    ``[[domain]]``), given to the same reader."""
    if params["config"] is not None:
        return mailconf.Setup.from_toml(params["config"])
    from mailconf.setup.spec import ED25519_SUFFIX

    domains = []
    for domain in params["domains"]:
        row = {k: v for k, v in domain.items() if v is not None and k != "ed25519"}
        if domain["ed25519"] and domain["ed25519_selector"] is None:
            # The spec's own name for a domain's ed25519 key: SELECTOR-ed25519 (the selector
            # as the library defaults it when it is not given).
            row["ed25519_selector"] = mailconf.Domain(**row).selector + ED25519_SUFFIX
        domains.append(row)
    table: dict[str, Any] = {"domain": domains}
    for key in _SPEC_KEYS[1:]:
        value = params[key]
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
        if value is not None:
            table[key] = value
    return mailconf.Setup.from_mapping(table)


def system_root(params: dict[str, Any]) -> Any:
    """The system tree the task works on (``root``, like ``--root``; ``/`` the live system)."""
    from mailconf.system.root import SystemRoot

    return SystemRoot.live() if params["root"] == "/" else SystemRoot(params["root"])


def plan_or_perform(
    module: Any, make: Any, perform: Any, failed: str
) -> tuple[Any, dict[str, Any]]:
    """In check mode the plan ``make()`` makes; else what ``perform()`` did (an ApplyResult),
    its plan and its result for the task's return.  A failed apply fails the task with
    ``failed`` and the library's account of what was done and restored."""
    if module.check_mode:
        return make(), {}
    from mailconf.setup.apply import ApplyError

    try:
        result = perform()
    except ApplyError as error:
        module.fail_json(
            msg=f"{failed}: {error}",
            result=error.result.to_json(),
            steps=[step.to_json() for step in error.result.plan.steps],
        )
    return result.plan, {"result": result.to_json()}


def file_diffs(plan: Any) -> list[dict[str, str]]:
    """Ansible's ``diff`` (what ``ansible-playbook --diff`` prints): before and after of every
    file the plan writes.  Keys are steps of their own, never files, so no private key is here."""
    return [
        {
            "before_header": step.target,
            "after_header": step.target,
            "before": _text(step.old),
            "after": _text(step.content),
        }
        for step in plan.of_kind("file")
    ]


def _text(content: bytes | None) -> str:
    return "" if content is None else content.decode("utf-8", "replace")


def doctor_findings(
    setup: Any,
    root: Any,
    *,
    query_dns: bool = False,
    nameserver: str | None = None,
    dns_timeout: float | None = None,
) -> list[Any]:
    """The doctor's findings (``mailconf check``) for ``setup`` on ``root``.  The module's options
    are a spec (a file, or its tables as options), which states a DMARC policy as much as
    ``mailconf check --config`` does: the published one is compared with it."""
    from mailconf.dns.lookup import DEFAULT_BUDGET, make_resolver
    from mailconf.doctor import domain_checks, run_checks

    return run_checks(
        root,
        domain_checks(setup, compare_policy=True),
        ips=[str(ip) for ip in setup.ips],
        hostname=setup.hostname,
        dns=make_resolver(nameserver) if query_dns else None,
        query_dns=query_dns,
        dns_timeout=DEFAULT_BUDGET if dns_timeout is None else dns_timeout,
    )


def fail_on_mailconf_error(module: Any, error: Exception, **result: Any) -> None:
    """A refusal of the library is the task's failure, with the library's own message (as the
    ``mailconf`` command prints it); anything else is left to Ansible (a bug: traceback)."""
    if isinstance(error, mailconf.MailconfError):
        module.fail_json(msg=str(error), **result)
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        module.fail_json(msg=f"{where}{error.strerror or error}", **result)
    raise error
