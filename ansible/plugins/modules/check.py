"""mailconf.mailconf.check: ``mailconf check``, the doctor, as a task."""

from __future__ import annotations

DOCUMENTATION = r"""
module: check
short_description: The mailconf doctor - lint, wiring, keys, DNS and sender rules
description:
  - Runs C(mailconf check) with the mailconf library on the managed host. It reports every
    configuration file's lint, the wiring between Postfix and the milters, the DKIM keys, the
    DNS records (SPF, DKIM, DMARC, reverse DNS) and the 2024 sender rules.
  - The task fails when a finding is an error, unless O(fail_on_error=false); it never changes
    anything.
version_added: 0.1.0
author:
  - mailconf developers
extends_documentation_fragment:
  - mailconf.mailconf.spec
options:
  dns:
    description:
      - Ask DNS (the records, reverse DNS); V(false) is C(mailconf check --no-dns).
    type: bool
    default: true
  nameserver:
    description: Ask this DNS server, C(HOST[:PORT]), instead of the host's resolvers.
    type: str
  dns_timeout:
    description:
      - Seconds all DNS queries may take together; the DNS checks left then are skipped (10 when
        not given).
    type: float
  fail_on_error:
    description: Fail the task when a finding is an error; V(false) only reports the findings.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The doctor only reads, so check mode runs it as usual.
  diff_mode:
    support: none
seealso:
  - module: mailconf.mailconf.setup
"""

EXAMPLES = r"""
- name: The doctor, after the records are published
  mailconf.mailconf.check:
    config: /etc/mailconf.toml

- name: Only report, without DNS
  mailconf.mailconf.check:
    domains: [{name: example.com}]
    ips: [192.0.2.10]
    dns: false
    fail_on_error: false
  register: doctor

- name: Show the errors
  ansible.builtin.debug:
    msg: "{{ doctor.findings | selectattr('severity', 'equalto', 'error') | list }}"
"""

RETURN = r"""
findings:
  description: Every finding, as C(mailconf check --json) prints them.
  returned: always
  type: list
  elements: dict
  sample:
    - severity: error
      code: milter.socket-unreachable
      message: smtpd_milters names unix:opendkim/opendkim.sock, which OpenDKIM does not listen on
      fix: ""
      path: /etc/postfix/main.cf
      line: 42
      column: null
errors:
  description: How many findings are errors.
  returned: always
  type: int
  sample: 0
"""

# Ansible's layout: the documentation first, then the imports.
from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailconf.mailconf.plugins.module_utils.mailconf_common import (  # noqa: E402
    SPEC_ARGUMENTS,
    SPEC_RULES,
    doctor_findings,
    fail_on_mailconf_error,
    require_mailconf,
    setup_from_params,
    system_root,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **SPEC_ARGUMENTS,
            "dns": {"type": "bool", "default": True},
            "nameserver": {"type": "str"},
            "dns_timeout": {"type": "float"},
            "fail_on_error": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
        **SPEC_RULES,
    )
    require_mailconf(module)
    try:
        findings = doctor_findings(
            setup_from_params(module.params),
            system_root(module.params),
            query_dns=module.params["dns"],
            nameserver=module.params["nameserver"],
            dns_timeout=module.params["dns_timeout"],
        )
    except Exception as error:
        fail_on_mailconf_error(module, error)
    errors = [f for f in findings if f.severity.value == "error"]
    result = {
        "changed": False,
        "findings": [f.to_json() for f in findings],
        "errors": len(errors),
    }
    if errors and module.params["fail_on_error"]:
        module.fail_json(
            msg=f"{len(errors)} error finding(s); the first: {errors[0].render()}", **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
