"""mailconf.mailconf.dkim: ``mailconf dkim status|rotate|activate|retire`` as a task."""

from __future__ import annotations

DOCUMENTATION = r"""
module: dkim
short_description: The DKIM key's life - stage, activate once DNS serves it, retire the old
description:
  - The key rotation of C(mailconf dkim), with the mailconf library on the managed host. A new
    key is staged (written, with its KeyTable row, but not signing) while its DNS record is
    published; it is activated (the SigningTable points at it and OpenDKIM restarts) once DNS
    serves it; the key it replaced is retired (its row removed, the key moved into the backups)
    after a grace period. The dates are kept in a comment line above each key's KeyTable row.
  - Changes are made as C(mailconf apply) makes them (lock, backups, validation by the daemons,
    rollback); a refusal of the library (DNS not serving the key yet, the grace period not over,
    the signing key) fails the task with the library's message and writes nothing.
  - Idempotent where a repeated command has a meaning. O(command=rotate) when the domain already
    has a staged key (the one O(selector) names, or any when it names none) changes nothing and
    returns that key. O(command=activate) when no key is staged and the key O(selector) names,
    or any when it names none, signs already changes nothing. O(command=retire) of a selector
    the KeyTable no longer has changes nothing. So a play that rotates, waits for DNS,
    activates and retires can run again at any point.
version_added: 0.1.0
author:
  - mailconf developers
options:
  command:
    description:
      - V(status) reports each key's state (never a change); V(rotate) stages a new key;
        V(activate) signs with the staged key; V(retire) removes a key that no longer signs.
    type: str
    required: true
    choices: [status, rotate, activate, retire]
  domain:
    description:
      - The mail domain. Required unless O(command=status), which reports every domain without
        it.
    type: str
  selector:
    description:
      - V(rotate) the new key's selector (default C(sYYYYMM) of today); V(activate) the staged
        selector (default the only staged one); V(retire) the selector to retire (required).
    type: str
  ed25519:
    description: V(rotate) an ed25519 key instead of an RSA one.
    type: bool
    default: false
  rsa_bits:
    description: V(rotate) the RSA key's size.
    type: int
    default: 2048
  grace_days:
    description: V(retire) the days since the key's replacement was activated before it may go.
    type: float
    default: 7
  force:
    description:
      - V(activate) without checking that DNS serves the key (mail fails DKIM until it does);
        V(retire) before the grace period is over. Either is returned as a warning finding.
    type: bool
    default: false
  dns:
    description:
      - V(status) asks DNS whether each key is published; V(activate) checks that DNS serves the
        staged key before it signs (without it, activating needs O(force)).
    type: bool
    default: true
  nameserver:
    description: The DNS server to ask (C(HOST[:PORT])), instead of the host's resolvers.
    type: str
  root:
    description:
      - Work on the system tree under this directory instead of C(/), as
        C(mailconf dkim --root) does. Services are then reported, not restarted.
    type: path
    default: /
attributes:
  check_mode:
    support: full
    description:
      - The plan is made and returned; nothing is written and RV(changed) says whether it would
        be.
  diff_mode:
    support: full
    description: The KeyTable and SigningTable before and after (keys are never shown).
requirements:
  - The mailconf Python library on the managed host (see mailconf.mailconf.setup).
seealso:
  - module: mailconf.mailconf.setup
  - module: community.general.nsupdate
    description: Publishes the staged key's record and removes the retired one's.
"""

EXAMPLES = r"""
- name: Stage a new key (nothing signs with it yet)
  mailconf.mailconf.dkim:
    command: rotate
    domain: example.com
  register: staged

- name: Its record, for the DNS
  ansible.builtin.debug:
    msg: "{{ staged.keys | selectattr('state', 'equalto', 'staged') | list }}"

- name: Sign with it once DNS serves it
  mailconf.mailconf.dkim:
    command: activate
    domain: example.com
    nameserver: 192.0.2.53

- name: Retire the old key after a week
  mailconf.mailconf.dkim:
    command: retire
    domain: example.com
    selector: default

- name: Every key's state
  mailconf.mailconf.dkim:
    command: status
    dns: false
  register: keys
"""

RETURN = r"""
keys:
  description:
    - The domain's keys (every domain's for O(command=status) without O(domain)) after the
      task, as C(mailconf dkim status --json) gives them; in check mode, as they are now.
    - C(published) is true when DNS serves the key, false when it serves none or another, null
      when DNS was not asked.
  returned: always
  type: list
  elements: dict
  sample:
    - domain: example.com
      selector: s202611
      keyname: s202611._domainkey.example.com
      key: /etc/opendkim/keys/example.com/s202611.private
      state: staged
      algorithm: rsa
      bits: 2048
      dates: {staged: "2026-11-02T10:00:00Z"}
      published: null
steps:
  description: The plan's steps (C(mailconf dkim ... --dry-run --json)); empty when nothing changes.
  returned: always
  type: list
  elements: dict
findings:
  description:
    - The plan's notes (what to publish or remove in DNS, what was forced), as the doctor's
      findings.
  returned: always
  type: list
  elements: dict
result:
  description: What was done (the apply's result); absent in check mode and when nothing changed.
  returned: when changed and not in check mode
  type: dict
dns_remove:
  description: O(command=retire) the DNS record that is to be removed now, for an nsupdate task.
  returned: when a key is retired
  type: str
  sample: default._domainkey.example.com
"""

from typing import Any  # noqa: E402

# Ansible's layout: the documentation first, then the imports.
from ansible_collections.mailconf.mailconf.plugins.module_utils.mailconf_common import (  # noqa: E402
    file_diffs,
    plan_or_perform,
    run_task,
    system_root,
)

_ARGUMENTS = {
    "command": {
        "type": "str",
        "required": True,
        "choices": ["status", "rotate", "activate", "retire"],
    },
    "domain": {"type": "str"},
    "selector": {"type": "str"},
    "ed25519": {"type": "bool", "default": False},
    "rsa_bits": {"type": "int", "default": 2048},
    "grace_days": {"type": "float", "default": 7},
    "force": {"type": "bool", "default": False},
    "dns": {"type": "bool", "default": True},
    "nameserver": {"type": "str"},
    "root": {"type": "path", "default": "/"},
}


def _options() -> dict[str, Any]:
    return {
        "argument_spec": _ARGUMENTS,
        "required_if": [
            ("command", "rotate", ("domain",)),
            ("command", "activate", ("domain",)),
            ("command", "retire", ("domain", "selector")),
        ],
    }


def main() -> None:
    run_task(_options, run)


def run(module: Any) -> dict[str, Any]:
    from mailconf.names import validate_domain
    from mailconf.setup import lifecycle

    params = module.params
    root = system_root(params)
    domain = validate_domain(params["domain"]) if params["domain"] else None
    if params["command"] == "status":
        return {"changed": False, "keys": _keys(module, root, domain), "steps": [], "findings": []}
    assert domain is not None
    make = _planner(module, root, domain, lifecycle.key_states(root, domain))
    if make is None:  # already done: see DOCUMENTATION's idempotence rules
        return {"changed": False, "keys": _keys(module, root, domain), "steps": [], "findings": []}
    from mailconf.setup.apply import perform

    plan, outcome = plan_or_perform(module, make, lambda: perform(root, make), "failed")
    outcome.update(
        changed=not plan.empty,
        keys=_keys(module, root, domain),
        steps=[step.to_json() for step in plan.steps],
        findings=[note.to_json() for note in plan.notes],
    )
    if params["command"] == "retire":
        outcome["dns_remove"] = f"{params['selector']}._domainkey.{domain}"
    if module._diff:
        outcome["diff"] = file_diffs(plan)
    return outcome


def _planner(module: Any, root: Any, domain: str, states: list[Any]) -> Any:
    """The function that makes the command's plan, or None when what it would do is done."""
    import datetime as dt

    from mailconf.setup import lifecycle

    params = module.params
    selector = params["selector"]

    def named(state: Any) -> bool:
        return selector in (None, state.selector)

    command = params["command"]
    if command == "rotate":
        if any(s.state == "staged" and named(s) for s in states):
            return None
        return lambda: lifecycle.plan_rotate(
            root, domain, selector=selector, ed25519=params["ed25519"], bits=params["rsa_bits"]
        )
    if command == "activate":
        staged = [s for s in states if s.state == "staged" and named(s)]
        if not staged and any(s.state == "active" and named(s) for s in states):
            return None
        lookup = None if params["force"] else _lookup(module)
        return lambda: lifecycle.plan_activate(
            root, domain, selector=selector, dns=lookup, force=params["force"]
        )
    if not any(s.selector == selector for s in states):
        return None
    if not 0 <= params["grace_days"] < 36500:
        module.fail_json(msg=f"grace_days: {params['grace_days']} is not a number of days")
    grace = dt.timedelta(days=params["grace_days"])
    return lambda: lifecycle.plan_retire(root, domain, selector, grace=grace, force=params["force"])


def _lookup(module: Any) -> Any:
    if not module.params["dns"]:
        return None
    from mailconf.dns.lookup import as_lookup, make_resolver

    return as_lookup(make_resolver(module.params["nameserver"]))


def _keys(module: Any, root: Any, domain: str | None) -> list[dict[str, Any]]:
    """The keys' states (of ``domain``, or every domain), published or not when ``dns``."""
    from mailconf.setup import lifecycle

    states = lifecycle.key_states(root, domain)
    if module.params["dns"] and module.params["command"] == "status" and states:
        lookup = _lookup(module)
        states = [lifecycle.with_published(lookup, state, root) for state in states]
    return [state.to_json() for state in states]


if __name__ == "__main__":
    main()
