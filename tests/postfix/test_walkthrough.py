"""Golden test: the walkthrough's Postfix edits (steps 3-4, 13, 20) on Debian's shipped files.

The files are read from the installed package at test time (not copied into the repository); the
expected diff is written here as the lines added and where they go.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

import mailconf
from mailconf.postfix.lint import lint_main
from mailconf.postfix.main import MainCf, milter_socket_for_postfix
from mailconf.postfix.master import MasterCf
from postfix.test_master_edits import continuation_indent
from postfix.test_oracle import DEBIAN_MAIN, DEBIAN_MASTER, config_dir, postconf, unused_warnings

SPF_SERVICE = "policyd-spf  unix  -  n  n  -  0  spawn  user=policyd-spf argv=/usr/bin/policyd-spf"
POLICY = "check_policy_service unix:private/policyd-spf"
EXPECTED_MAIN = [
    "policyd-spf_time_limit = 3600",
    f"smtpd_recipient_restrictions = {POLICY}",
    "milter_default_action = accept",
    "milter_protocol = 6",
    "smtpd_milters = local:opendkim/opendkim.sock, local:opendmarc/opendmarc.sock",
    "non_smtpd_milters = $smtpd_milters",
]
# Padded like the neighbours (and like postconf -M prints it); the arguments laid out like
# Debian's own pipe services: on a continuation line indented by two blanks.


def expected_master(master_text: str) -> list[str]:
    """The SPF service as the walkthrough adds it, its arguments indented as the file's own."""
    return [
        "policyd-spf unix -       n       n       -       0       spawn",
        f"{continuation_indent(master_text)}user=policyd-spf argv=/usr/bin/policyd-spf",
    ]


def added_lines(before: str, after: str) -> tuple[list[str], list[str], int]:
    """(added, removed, line of the first addition in ``before``) from a 0-context diff."""
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm=""))
    hunks = [line for line in diff if line.startswith("@@")]
    assert len(hunks) == 1, diff
    first = int(hunks[0].split()[1].split(",")[0].lstrip("-"))
    added = [line[1:] for line in diff[3:] if line.startswith("+")]
    removed = [line[1:] for line in diff[3:] if line.startswith("-")]
    return added, removed, first


def apply_walkthrough(main: MainCf, master: MasterCf) -> None:
    # step 3
    master.add_service(SPF_SERVICE)
    # step 4: the time limit, and the policy check last (after relay control, which Debian's
    # smtpd_relay_restrictions does)
    main.set("policyd-spf_time_limit", "3600")
    main.add_restriction("smtpd_recipient_restrictions", POLICY)
    # step 13
    main.set("milter_default_action", "accept")
    main.set("milter_protocol", "6")
    main.add_milter(milter_socket_for_postfix("local:/var/spool/postfix/opendkim/opendkim.sock"))
    main.set("non_smtpd_milters", "$smtpd_milters")
    # step 20
    main.add_milter(milter_socket_for_postfix("local:/var/spool/postfix/opendmarc/opendmarc.sock"))


@pytest.fixture
def debian() -> tuple[str, str]:
    if not (DEBIAN_MAIN.exists() and DEBIAN_MASTER.exists()):
        pytest.skip("Debian's postfix package is not installed (main.cf.debian, master.cf.dist)")
    return DEBIAN_MAIN.read_text(), DEBIAN_MASTER.read_text()


def test_walkthrough_golden_diff(debian: tuple[str, str], tmp_path: Path) -> None:
    main_text, master_text = debian
    main = mailconf.parse(main_text, "postfix-main")
    master = mailconf.parse(master_text, "postfix-master")
    assert isinstance(main, MainCf) and isinstance(master, MasterCf)
    apply_walkthrough(main, master)

    added, removed, at = added_lines(main_text, main.dump())
    assert (added, removed) == (EXPECTED_MAIN, [])
    last_parameter = main_text.splitlines().index(main_text.rstrip("\n").splitlines()[-1])
    assert at == last_parameter + 1  # right after the last parameter of Debian's file

    added, removed, at = added_lines(master_text, master.dump())
    assert removed == []
    assert added == expected_master(master_text)
    # right after the last service (Debian 13's file has commented-out examples after it)
    original = mailconf.parse(master_text, "postfix-master")
    assert isinstance(original, MasterCf)
    last = original.services[-1]
    assert at == original.line_of(last) + len(last.text.splitlines()) - 1

    # idempotent: the whole walkthrough again changes nothing
    once = main.dump(), master.dump()
    apply_walkthrough(main, master)
    assert (main.dump(), master.dump()) == once

    # the walkthrough's literal step 4 value is what we reach when the list starts like it does
    literal = mailconf.parse(main_text, "postfix-main")
    assert isinstance(literal, MainCf)
    literal.set(
        "smtpd_recipient_restrictions",
        "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
    )
    literal.add_restriction("smtpd_recipient_restrictions", POLICY)
    assert literal.list_items("smtpd_recipient_restrictions") == [
        "permit_mynetworks",
        "permit_sasl_authenticated",
        "reject_unauth_destination",
        POLICY,
    ]

    # Postfix agrees: nothing unused (policyd-spf_time_limit is valid with the spawn service),
    # and lint has nothing to say
    directory = config_dir(tmp_path, main=main.dump(), master=master.dump())
    result = postconf(directory, "-n")
    assert unused_warnings(result.stderr) == set()
    assert "policyd-spf_time_limit = 3600" in result.stdout
    assert lint_main(main, master) == []
    assert master.lint() == []
