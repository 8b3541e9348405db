"""mailconf.mailconf.setup: ``mailconf apply`` (``mailconf plan`` in check mode) as a task."""

from __future__ import annotations

from typing import Any

DOCUMENTATION = r"""
module: setup
short_description: SPF, DKIM and DMARC for Postfix, as mailconf apply does it
description:
  - Brings Postfix, OpenDKIM and OpenDMARC on the managed host to the setup the options (or a
    C(mailconf.toml)) describe, with the mailconf library on that host (packages, groups,
    directories, DKIM keys, every configuration file, validation with the real daemons, rollback
    on failure, restarts of what changed). It is C(mailconf apply), and in check mode
    C(mailconf plan).
  - The task is changed when the plan was not empty; run again, it reports no change.
  - It returns the DNS records to publish (what C(mailconf dns) prints) for a following task, and
    the doctor's findings (C(mailconf check --no-dns)).
version_added: 0.1.0
author:
  - mailconf developers
extends_documentation_fragment:
  - mailconf.mailconf.spec
options:
  hard_fail:
    description:
      - The SPF record in RV(records) ends in C(-all) instead of C(~all)
        (C(mailconf dns --hard-fail)).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Makes the plan and changes nothing; RV(changed) says whether the plan has steps.
      The real daemons check the planned files, as C(mailconf plan) does; a file they refuse
      fails the task, as it would fail the real run.
  diff_mode:
    support: full
    description: Before and after of every configuration file the plan writes (keys never).
notes:
  - In check mode before the first run the DKIM keys do not exist yet, so RV(records) is empty
    until a real run has made them.
seealso:
  - module: mailconf.mailconf.check
  - module: mailconf.mailconf.edit
"""

EXAMPLES = r"""
- name: Sign and check mail for two domains
  mailconf.mailconf.setup:
    domains:
      - name: example.com
      - name: example.org
        selector: mail2026
        ed25519: true
    ips: [192.0.2.10, "2001:db8::10"]
    hostname: mail.example.com
    dmarc:
      policy: quarantine
      report: dmarc-reports@example.com
  register: mail

- name: The same from a spec file already on the host
  mailconf.mailconf.setup:
    config: /etc/mailconf.toml

- name: Publish the records with a DNS module of your provider
  community.general.nsupdate:
    server: ns1.example.com
    zone: "{{ item.name.split('.')[-2:] | join('.') }}"
    record: "{{ item.name }}."
    type: TXT
    value: "{{ item.strings }}"
  loop: "{{ mail.records }}"
"""

RETURN = r"""
steps:
  description:
    - The plan's steps, in order (as C(mailconf plan --json) gives them); empty when the host
      already matched the setup.
  returned: always
  type: list
  elements: dict
  sample:
    - kind: file
      target: /etc/postfix/main.cf
      description: "change /etc/postfix/main.cf: SPF policy check and milters"
      diff: "--- a/etc/postfix/main.cf ..."
      new_file: false
records:
  description:
    - The SPF, DKIM and DMARC TXT records to publish for every domain (C(mailconf dns --format
      json)); RV(records[].strings) is the value split into DNS character-strings.
  returned: always
  type: list
  elements: dict
  sample:
    - name: example.com
      type: TXT
      value: v=spf1 ip4:192.0.2.10 ~all
      strings: ["v=spf1 ip4:192.0.2.10 ~all"]
findings:
  description:
    - The doctor's findings on the system after the task (before it, in check mode), without DNS
      queries (see mailconf.mailconf.check for those), and the notes of the plan and the records.
  returned: always
  type: list
  elements: dict
  sample:
    - severity: warning
      code: spf.private-address
      message: 192.0.2.10/32 is not a public address; receivers on the Internet never see it
      fix: list the server's public address
      path: null
      line: null
      column: null
result:
  description:
    - What the apply did (C(mailconf apply --json)); absent in check mode.
  returned: when not in check mode
  type: dict
  contains:
    done:
      description: The steps performed.
      type: list
      elements: str
    reported:
      description: What was only reported (packages and restarts under another root).
      type: list
      elements: str
    validations:
      description: The checks with the real daemons (C(postconf), C(opendkim -n), ...).
      type: list
      elements: dict
    backup:
      description: Where the files it changed were saved first.
      type: str
"""

# Ansible's layout: the documentation first, then the imports.
from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailconf.mailconf.plugins.module_utils.mailconf_common import (  # noqa: E402
    SPEC_ARGUMENTS,
    SPEC_RULES,
    doctor_findings,
    fail_on_mailconf_error,
    file_diffs,
    mailconf,
    plan_or_perform,
    require_mailconf,
    setup_from_params,
    system_root,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={**SPEC_ARGUMENTS, "hard_fail": {"type": "bool", "default": False}},
        supports_check_mode=True,
        **SPEC_RULES,
    )
    require_mailconf(module)
    try:
        module.exit_json(**run(module))
    except Exception as error:
        fail_on_mailconf_error(module, error)


def run(module: AnsibleModule) -> dict[str, object]:
    from mailconf.cli.doctor import records_for
    from mailconf.findings import Severity
    from mailconf.setup.apply import apply

    setup = setup_from_params(module.params)
    root = system_root(module.params)

    def checked_plan() -> Any:
        # As ``mailconf plan``: the daemons judge the planned files, and a refusal fails the
        # task in check mode as it would fail the real run.
        plan = mailconf.plan(setup, root.path)
        errors = [n.render() for n in plan.notes if n.severity is Severity.ERROR]
        if errors:
            module.fail_json(
                msg="the plan is refused: " + "; ".join(errors),
                steps=[step.to_json() for step in plan.steps],
            )
        return plan

    plan, outcome = plan_or_perform(
        module, checked_plan, lambda: apply(setup, root), "apply failed"
    )
    notes = list(plan.notes)
    try:
        records, record_notes = records_for(setup, root, hard_fail=module.params["hard_fail"])
    except mailconf.ReadError:
        if not module.check_mode:
            raise
        records, record_notes = [], []  # check mode before the first run: no keys yet
    findings = notes + record_notes + doctor_findings(setup, root)
    outcome.update(
        changed=not plan.empty,
        steps=[step.to_json() for step in plan.steps],
        records=[record.to_json() for record in records],
        findings=[finding.to_json() for finding in findings],
    )
    if module._diff:
        outcome["diff"] = file_diffs(plan)
    return outcome


if __name__ == "__main__":
    main()
