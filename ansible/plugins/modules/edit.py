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
  - Each option calls the file model's method of the same name (O(add_milter) is
    C(MainCf.add_milter)), in the order the options are listed here. An option that does not
    apply to the file's kind fails the task; so does an edit the library refuses (one that would
    open a relay, say), with the library's message.
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
  root:
    description: Where O(add_milter) and O(remove_milter) find opendkim.conf and opendmarc.conf.
    type: path
    default: /
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
"""

RETURN = r"""
kind:
  description: The kind the file was read as.
  returned: success
  type: str
  sample: postfix-main
"""

# Ansible's layout: the documentation first, then the imports.
from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailconf.mailconf.plugins.module_utils.mailconf_common import (  # noqa: E402
    fail_on_mailconf_error,
    mailconf,
    require_mailconf,
)

#: The edit options, in the order they are applied; each calls the file model's method of the
#: same name, as the options of ``mailconf edit`` do.
EDITS = (
    "set",
    "unset",
    "add_milter",
    "remove_milter",
    "add_restriction",
    "add_service",
    "add_entry",
    "remove_entry",
    "add_host",
    "remove_host",
)

ARGUMENTS = {
    "path": {"type": "path", "required": True},
    "kind": {"type": "str"},
    "set": {"type": "dict"},
    "unset": {"type": "list", "elements": "str"},
    "add_milter": {"type": "list", "elements": "str"},
    "remove_milter": {"type": "list", "elements": "str"},
    "add_restriction": {
        "type": "dict",
        "options": {
            "list": {"type": "str", "required": True},
            "item": {"type": "str", "required": True},
            "after": {"type": "str"},
            "last": {"type": "bool", "default": False},
        },
        "mutually_exclusive": [("after", "last")],
    },
    "add_service": {"type": "list", "elements": "str"},
    "add_entry": {"type": "dict"},
    "remove_entry": {"type": "list", "elements": "str"},
    "add_host": {"type": "list", "elements": "str"},
    "remove_host": {"type": "list", "elements": "str"},
    "root": {"type": "path", "default": "/"},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENTS, supports_check_mode=True, required_one_of=[EDITS]
    )
    require_mailconf(module)
    try:
        module.exit_json(**run(module))
    except Exception as error:
        fail_on_mailconf_error(module, error)


def run(module: AnsibleModule) -> dict[str, object]:
    params = module.params
    path = params["path"]
    doc = mailconf.load(path, params["kind"])
    before = doc.dump()
    for option in EDITS:
        value = params[option]
        if value is None:
            continue
        method = getattr(doc, option, None)
        if method is None:
            module.fail_json(msg=f"{path}: {option} does not apply to a {doc.kind} file")
        for arguments, keywords in _calls(option, value, params["root"]):
            method(*arguments, **keywords)
    after = doc.dump()
    changed = after != before
    if changed and not module.check_mode:
        doc.save()
    result: dict[str, object] = {"changed": changed, "kind": doc.kind}
    if module._diff:
        result["diff"] = {
            "before_header": path,
            "after_header": path,
            "before": before,
            "after": after,
        }
    return result


def _calls(option: str, value: object, root: str) -> list[tuple[tuple[object, ...], dict]]:
    """The calls of the model's method ``option`` that the option's ``value`` asks for."""
    if option == "add_restriction":
        assert isinstance(value, dict)
        return [((value["list"], value["item"]), {"after": value["after"], "last": value["last"]})]
    if isinstance(value, dict):  # set, add_entry: name to value
        return [((name, item), {}) for name, item in value.items()]
    assert isinstance(value, list)
    keywords = {"root": root} if option in ("add_milter", "remove_milter") else {}
    return [((item,), keywords) for item in value]


if __name__ == "__main__":
    main()
