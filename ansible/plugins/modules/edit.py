"""mailconf.mailconf.edit: ``mailconf edit FILE`` as a task."""

from __future__ import annotations

DOCUMENTATION = r"""
module: edit
short_description: Change one Postfix, OpenDKIM or OpenDMARC file, touching only what must change
description:
  - One file edit with the mailconf library on the managed host, as C(mailconf edit FILE) does it.
    The file is parsed the way its daemon reads it, only the lines the change needs are touched
    (comments, blank lines, layout and line endings are kept), and it is written atomically with
    its owner and mode kept.
  - The options are C(mailconf edit)'s, from the one catalogue of edits in the library
    (C(mailconf.edits)). Each calls the file model's method of the same name (O(add_milter) is
    C(MainCf.add_milter)), in the order the options are listed here. An option that does not
    apply to the file's kind fails the task; so does an edit the library refuses (one that would
    open a relay, say), with the library's message.
  - As C(mailconf edit) does, the result is linted. An edit after which lint reports an error
    the file did not have fails the task and writes nothing, unless O(force); a new warning is
    shown as the task's warning. Both are returned in RV(findings).
  - Idempotent. An edit that is already there changes nothing and the task reports no change.
version_added: 0.1.0
author:
  - mailconf developers
options:
  path:
    description: The file to edit, on the managed host.
    type: path
    required: true
  kind:
    description:
      - The file's kind, when its name does not say it (C(mailconf edit --kind)), one of
        V(postfix-main), V(postfix-master), V(opendkim), V(opendmarc), V(keytable),
        V(signingtable), V(hostlist) or V(shellvars).
    type: str
  set:
    description:
      - Parameters or options to set, name to value (main.cf, opendkim.conf, opendmarc.conf,
        C(/etc/default) files). A YAML boolean is written the way the file's daemon spells one.
    type: dict
  unset:
    description: Parameters or options to remove.
    type: list
    elements: str
  add_milter:
    description:
      - main.cf only. Milters to add to C(smtpd_milters) unless already there, as a socket or as
        V(opendkim)/V(opendmarc) (the socket that daemon's configuration under O(root) names).
    type: list
    elements: str
  remove_milter:
    description: main.cf only. Milters to remove from C(smtpd_milters).
    type: list
    elements: str
  add_restriction:
    description:
      - main.cf only. Puts a restriction into a restriction list, at the end or after an item
        (C(mailconf edit --add-restriction LIST ITEM --last|--after)). Refused when it would be
        dead, open a relay, or leave Postfix without relay control.
    type: dict
    suboptions:
      list:
        description: The restriction list, for example V(smtpd_recipient_restrictions).
        type: str
        required: true
      item:
        description: The restriction, for example V(check_policy_service unix:private/policyd-spf).
        type: str
        required: true
      after:
        description: Put it right after this item.
        type: str
      last:
        description: Put it last among the items that are evaluated.
        type: bool
        default: false
  add_service:
    description: master.cf only. Services to add or update, each as a master.cf line.
    type: list
    elements: str
  add_entry:
    description: KeyTable or SigningTable only. Rows to add or update, key to value.
    type: dict
  remove_entry:
    description: KeyTable or SigningTable only. Keys of rows to remove.
    type: list
    elements: str
  add_host:
    description: Host lists only (C(TrustedHosts), C(InternalHosts), C(IgnoreHosts)). Hosts to add.
    type: list
    elements: str
  remove_host:
    description: Host lists only. Hosts to remove.
    type: list
    elements: str
  remove_service:
    description: master.cf only. Services to remove, each C(NAME/TYPE) (C(postconf -MX)).
    type: list
    elements: str
  set_field:
    description:
      - master.cf only. Fields to set, C(NAME/TYPE/FIELD) to value, as C(postconf -F) does
        (FIELD as postconf names it, for example V(smtp/inet/chroot)).
    type: dict
  set_option:
    description:
      - master.cf only. C(-o) overrides to set, C(NAME/TYPE/PARAM) to value, as C(postconf -P)
        does (for example V(submission/inet/smtpd_tls_security_level)).
    type: dict
  unset_option:
    description: master.cf only. C(-o) overrides to remove, each C(NAME/TYPE/PARAM) (postconf -PX).
    type: list
    elements: str
  root:
    description:
      - Where O(add_milter) and O(remove_milter) find opendkim.conf and opendmarc.conf, and
        where an opendkim.conf's C(Include) files are read.
    type: path
    default: /
  force:
    description:
      - Write even when lint calls the result an error (C(mailconf edit --force)); the error is
        still returned in RV(findings) and shown as a warning.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Nothing is written; RV(changed) says whether the file would change.
  diff_mode:
    support: full
    description: The file before and after.
requirements:
  - The mailconf Python library on the managed host (see mailconf.mailconf.setup).
seealso:
  - module: mailconf.mailconf.setup
"""

EXAMPLES = r"""
- name: Sign and check with both milters
  mailconf.mailconf.edit:
    path: /etc/postfix/main.cf
    add_milter: [opendkim, opendmarc]

- name: SPF policy check after the relay control
  mailconf.mailconf.edit:
    path: /etc/postfix/main.cf
    add_restriction:
      list: smtpd_recipient_restrictions
      item: check_policy_service unix:private/policyd-spf
      last: true

- name: OpenDKIM signs and verifies
  mailconf.mailconf.edit:
    path: /etc/opendkim.conf
    set:
      Mode: sv
    unset: [SubDomains]

- name: A key of a second domain
  mailconf.mailconf.edit:
    path: /etc/opendkim/key.table
    add_entry:
      default._domainkey.example.org: >-
        example.org:default:/etc/opendkim/keys/example.org/default.private

- name: The policy service of SPF checks
  mailconf.mailconf.edit:
    path: /etc/postfix/master.cf
    add_service:
      - "policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf"

- name: smtpd outside the chroot, TLS required on submission, no relayhost override
  mailconf.mailconf.edit:
    path: /etc/postfix/master.cf
    set_field:
      smtp/inet/chroot: "n"
    set_option:
      submission/inet/smtpd_tls_security_level: encrypt
    unset_option: [submission/inet/relayhost]
"""

RETURN = r"""
kind:
  description: The kind the file was read as.
  returned: success
  type: str
  sample: postfix-main
findings:
  description:
    - What lint says of the edited file that it did not say before (the warnings, and with
      O(force) the errors), each as C(mailconf lint --json) gives it. On a refused edit, the
      failed task returns them too.
  returned: always
  type: list
  elements: dict
  sample:
    - severity: warning
      code: postfix.unknown-parameter
      message: "unknown parameter smtpd_milter (did you mean smtpd_milters?)"
      path: /etc/postfix/main.cf
      line: 12
"""

from typing import Any  # noqa: E402

# Ansible's layout: the documentation first, then the imports.
from ansible_collections.mailconf.mailconf.plugins.module_utils.mailconf_common import (  # noqa: E402
    edit_options,
    run_task,
)


def main() -> None:
    run_task(edit_options, run)


def run(module: Any) -> dict[str, object]:
    """``mailconf edit PATH`` with the task's options: the library's catalogue reads them and
    applies them, lint checks the result; the task writes (unless in check mode) and reports."""
    from mailconf import edits
    from mailconf.errors import UsageError

    params = module.params
    path = params["path"]
    doc = edits.load(path, params["kind"], params["root"])
    try:
        edits.check_kind(doc.kind, [op.name for op in edits.OPERATIONS if params[op.name]])
        result = edits.apply(
            doc, edits.from_structured(params), root=params["root"], force=params["force"]
        )
    except UsageError as error:
        module.fail_json(msg=f"{path}: {error}", kind=doc.kind)
    except edits.LintRefusal as refusal:
        first = refusal.errors[0].render()
        module.fail_json(
            msg=f"{path}: {refusal}, the first: {first} (force: true writes it anyway)",
            kind=doc.kind,
            findings=[finding.to_json() for finding in refusal.findings],
        )
    for finding in result.findings:
        module.warn(finding.render())
    if result.changed and not module.check_mode:
        doc.save()
    outcome: dict[str, object] = {
        "changed": result.changed,
        "kind": doc.kind,
        "findings": [finding.to_json() for finding in result.findings],
    }
    if module._diff:
        outcome["diff"] = {
            "before_header": path,
            "after_header": path,
            "before": result.before,
            "after": result.after,
        }
    return outcome


if __name__ == "__main__":
    main()
