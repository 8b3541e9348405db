"""Every edit of ``mailconf edit`` is an option of mailconf.mailconf.edit with the same outcome:
the same bytes written, the same lint findings, the same refusal (status 1 on the command line, a
failed task), the same usage error (status 2, a failed task, the option spelled ``set_field``
instead of ``--set-field``).  Table-driven: each row is one edit given both ways, run through the
command line and through one real ``ansible-playbook`` run of all rows; a test holds the table to
covering every operation of the library's catalogue (mailconf.edits.OPERATIONS), from which both
front ends take their options.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from mailconf import edits

POLICY = "check_policy_service unix:private/policyd-spf"
SPF_SERVICE = "policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf"
ROW = "s2._domainkey.example.org example.org:s2:/etc/opendkim/keys/example.org/s2.private"

#: Files added to the example tree for the rows: the OpenDKIM tables, a milter in main.cf.
EXTRA = {
    "etc/opendkim/key.table": f"{ROW.replace('s2', 'default')}\n",
    "etc/opendkim/trusted.hosts": "127.0.0.1\n192.0.2.99\n",
}
MILTERED = "etc/postfix-milters/main.cf"


class Row(NamedTuple):
    """One edit: the file (under the example tree), ``mailconf edit``'s options, the module's
    options, and the command's exit status (0 written, 1 refused, 2 usage error)."""

    name: str
    file: str
    cli: list[str]
    module: dict[str, Any]
    status: int


MAIN, MASTER = "etc/postfix/main.cf", "etc/postfix/master.cf"
KEYS, HOSTS = "etc/opendkim/key.table", "etc/opendkim/trusted.hosts"
ROWS = [
    Row("set", MAIN, ["--set", "smtpd_tls_loglevel=1"], {"set": {"smtpd_tls_loglevel": "1"}}, 0),
    Row("set warns", MAIN, ["--set", "smtpd_milter=inet:127.0.0.1:8891"],
        {"set": {"smtpd_milter": "inet:127.0.0.1:8891"}}, 0),
    Row("set usage", MAIN, ["--set", "=1"], {"set": {"": "1"}}, 2),
    Row("unset", MAIN, ["--unset", "biff"], {"unset": ["biff"]}, 0),
    Row("add_milter", MAIN, ["--add-milter", "inet:127.0.0.1:8891"],
        {"add_milter": ["inet:127.0.0.1:8891"]}, 0),
    Row("add_milter by name", MAIN, ["--add-milter", "opendkim", "--root", "{root}"],
        {"add_milter": ["opendkim"], "root": "{root}"}, 1),
    Row("remove_milter", MILTERED, ["--remove-milter", "inet:localhost:8891"],
        {"remove_milter": ["inet:localhost:8891"]}, 0),
    Row("add_restriction without its service", MAIN,
        ["--add-restriction", "smtpd_recipient_restrictions", POLICY, "--last"],
        {"add_restriction": {"list": "smtpd_recipient_restrictions", "item": POLICY,
                             "last": True}}, 1),
    Row("add_restriction forced", MAIN,
        ["--add-restriction", "smtpd_recipient_restrictions", POLICY, "--last", "--force"],
        {"add_restriction": {"list": "smtpd_recipient_restrictions", "item": POLICY,
                             "last": True}, "force": True}, 0),
    Row("add_restriction after", MAIN,
        ["--add-restriction", "smtpd_relay_restrictions", "reject_unauth_pipelining",
         "--after", "permit_mynetworks"],
        {"add_restriction": {"list": "smtpd_relay_restrictions",
                             "item": "reject_unauth_pipelining", "after": "permit_mynetworks"}},
        0),
    Row("add_service", MASTER, ["--add-service", SPF_SERVICE], {"add_service": [SPF_SERVICE]}, 0),
    Row("set_field", MASTER, ["--set-field", "smtp/inet/chroot=n"],
        {"set_field": {"smtp/inet/chroot": "n"}}, 0),
    Row("set_field refused", MASTER, ["--set-field", "smtp/inet/chroot=x"],
        {"set_field": {"smtp/inet/chroot": "x"}}, 1),
    Row("set_field usage", MASTER, ["--set-field", "smtp/inet=n"],
        {"set_field": {"smtp/inet": "n"}}, 2),
    Row("set_option", MASTER, ["--set-option", "smtp/inet/smtpd_tls_security_level=encrypt"],
        {"set_option": {"smtp/inet/smtpd_tls_security_level": "encrypt"}}, 0),
    Row("unset_option", MASTER, ["--unset-option", "relay/unix/syslog_name"],
        {"unset_option": ["relay/unix/syslog_name"]}, 0),
    Row("unset_option of no service", MASTER, ["--unset-option", "a/unix/b"],
        {"unset_option": ["a/unix/b"]}, 1),
    Row("remove_service", MASTER, ["--remove-service", "uucp/unix"],
        {"remove_service": ["uucp/unix"]}, 0),
    Row("set opendkim.conf", "etc/opendkim.conf", ["--set", "Mode=sv", "--unset", "Syslog"],
        {"set": {"Mode": "sv"}, "unset": ["Syslog"]}, 0),
    Row("set opendkim.conf refused", "etc/opendkim.conf", ["--set", "Mode=xyz"],
        {"set": {"Mode": "xyz"}}, 1),
    Row("set shell variables", "etc/default/opendkim", ["--set", "SOCKET=inet:8891@localhost"],
        {"set": {"SOCKET": "inet:8891@localhost"}}, 0),
    Row("add_entry", KEYS, ["--add-entry", ROW], {"add_entry": dict([ROW.split(" ", 1)])}, 0),
    Row("add_entry refused", KEYS, ["--add-entry", "onlykey"], {"add_entry": {"onlykey": None}},
        1),
    Row("add_entry forced", KEYS, ["--add-entry", "onlykey", "--force"],
        {"add_entry": {"onlykey": None}, "force": True}, 0),
    Row("remove_entry", KEYS, ["--remove-entry", "default._domainkey.example.org"],
        {"remove_entry": ["default._domainkey.example.org"]}, 0),
    Row("add_host", HOSTS, ["--add-host", "::1", "--add-host", ".example.org"],
        {"add_host": ["::1", ".example.org"]}, 0),
    Row("add_host refused", HOSTS, ["--add-host", "*.example.org"],
        {"add_host": ["*.example.org"]}, 1),
    Row("remove_host", HOSTS, ["--remove-host", "192.0.2.99"], {"remove_host": ["192.0.2.99"]}, 0),
    Row("wrong kind", MAIN, ["--add-host", "192.0.2.1"], {"add_host": ["192.0.2.1"]}, 2),
]  # fmt: skip


def test_the_table_covers_every_operation() -> None:
    covered = {name for row in ROWS for name in row.module if name not in ("root", "force")}
    assert covered == {op.name for op in edits.OPERATIONS}
    for op in edits.OPERATIONS:  # each also as written, not only refused
        assert any(op.name in row.module and row.status == 0 for row in ROWS), op.name


class Outcome(NamedTuple):
    status: int
    stderr: str
    result: dict[str, Any]
    cli_bytes: bytes
    module_bytes: bytes
    original: bytes


def _tree(tools: Any, target: Path) -> Path:
    root = tools.copy_example(target)
    for relative, text in EXTRA.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    main = (root / MAIN).read_text()
    (root / MILTERED).parent.mkdir()
    (root / MILTERED).write_text(
        main + "smtpd_milters = inet:localhost:8891, inet:127.0.0.1:8893\n"
        "non_smtpd_milters = $smtpd_milters\n"
    )
    return root


@pytest.fixture(scope="module")
def outcomes(
    ansible: Any, tools: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("parity")
    tasks: list[dict[str, Any]] = []
    cli: dict[str, Any] = {}
    roots = {}
    for index, row in enumerate(ROWS):
        by_cli = _tree(tools, base / f"cli{index}")
        by_module = _tree(tools, base / f"module{index}")
        roots[row.name] = (by_cli, by_module)
        words = [word.format(root=by_cli) for word in row.cli]
        cli[row.name] = tools.mailconf_cli("edit", by_cli / row.file, *words)
        options = dict(row.module)
        if "root" in options:
            options["root"] = options["root"].format(root=by_module)
        tasks.append(
            {
                "name": row.name,
                "mailconf.mailconf.edit": {"path": str(by_module / row.file), **options},
                "register": f"row{index}",
                "ignore_errors": True,
            }
        )
    results = base / "results.json"
    collected = {row.name: f"{{{{ row{index} }}}}" for index, row in enumerate(ROWS)}
    tasks.append(
        {
            "name": "The results",
            "ansible.builtin.copy": {"content": "{{ collected | to_json }}", "dest": str(results),
                                     "mode": "0644"},
            "vars": {"collected": collected},
        }
    )  # fmt: skip
    playbook = base / "parity.yml"
    playbook.write_text(json.dumps([{"name": "Parity", "hosts": "fleet", "gather_facts": False,
                                     "tasks": tasks}]))  # fmt: skip
    inventory = tools.write_inventory(base / "inventory.yml", {"editor": {}})
    run = ansible.playbook(inventory, playbook)
    assert run.host("editor")["failed"] == 0, run.output
    module_results = json.loads(results.read_text())
    pristine = _tree(tools, base / "pristine")
    return {
        row.name: Outcome(
            cli[row.name].returncode,
            cli[row.name].stderr,
            module_results[row.name],
            (roots[row.name][0] / row.file).read_bytes(),
            (roots[row.name][1] / row.file).read_bytes(),
            (pristine / row.file).read_bytes(),
        )
        for row in ROWS
    }


def _codes(text: str) -> list[str]:
    """The finding codes of lint's lines on the command line's stderr (``... [code]``)."""
    return re.findall(r" \[([a-z][a-z0-9.-]*)\](?: \(fix: .*\))?$", text, re.M)


def _as_module_spells(message: str) -> str:
    """A command-line message with the options spelled as the module's (``--set-field`` is
    ``set_field``), without the hint at the command's help."""
    message = message.removesuffix(" (see mailconf edit --help)")
    return re.sub(r"--([a-z]+(?:-[a-z]+)*)", lambda m: m[1].replace("-", "_"), message)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_the_module_does_what_the_command_does(row: Row, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[row.name]
    result = outcome.result
    assert outcome.status == row.status, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert result.get("failed", False) is (row.status != 0), result
    assert outcome.module_bytes == outcome.cli_bytes
    assert (outcome.cli_bytes != outcome.original) is (row.status == 0)
    said = [line.removeprefix("mailconf: ") for line in outcome.stderr.splitlines()]
    if row.status == 0:
        assert result["changed"] is True
        assert [f["code"] for f in result["findings"]] == _codes(outcome.stderr)
        for finding in result["findings"]:
            assert any(finding["message"] in w for w in result.get("warnings", [])), result
        return
    message = result["msg"]
    if row.status == 2:
        assert message.startswith(f"{row.module.get('path', '')}"), message
        assert _as_module_spells(said[-1]) in message, (said, message)
    elif "lint would report" in said[-1]:
        assert [f["code"] for f in result["findings"]] == _codes(outcome.stderr)
        refusal = said[-1].split(": not changed: ", 1)[1].split(" (above)", 1)[0]
        assert f": not changed: {refusal}, the first: " in message
    else:  # refused by the model itself: its message, word for word
        assert message == said[-1]
