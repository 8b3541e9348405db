"""One rule of comment ownership for every kind (``syntax.document.split_owned``): the comment
lines directly above an entry belong to it and go when it is removed; a heading above a blank line
stays, and removing an entry from between two blank lines leaves one blank line, not two."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest

import mailconf

# kind, three entries (first, victim, last), and the edit that removes the victim
KINDS: list[tuple[str, tuple[str, str, str], Callable[[Any], bool]]] = [
    ("postfix-main", ("a = 1", "b = 2", "c = 3"), lambda d: d.unset("b")),
    (
        "postfix-master",
        ("a unix - n n - - pipe", "b unix - n n - - pipe", "c unix - n n - - pipe"),
        lambda d: d.remove_service("b", "unix"),
    ),
    ("opendkim", ("Syslog yes", "Mode sv", "UMask 002"), lambda d: d.unset("Mode")),
    (
        "opendmarc",
        ("Syslog true", "AuthservID mx.example.test", "UMask 002"),
        lambda d: d.unset("AuthservID"),
    ),
    (
        "keytable",
        ("a a.test:s:/k/a", "b b.test:s:/k/b", "c c.test:s:/k/c"),
        lambda d: d.remove_entry("b"),
    ),
    (
        "signingtable",
        ("*@a.test a", "*@b.test b", "*@c.test c"),
        lambda d: d.remove_row("*@b.test"),
    ),
    (
        "hostlist",
        ("127.0.0.1", "host.b.test", "::1"),
        lambda d: d.remove_host("host.b.test"),
    ),
    ("shellvars", ("A=1", "B=2", "C=3"), lambda d: d.unset("B")),
]
IDS = [kind for kind, _, _ in KINDS]
HEADING = "# --- customer hosts (do not remove) ---"


class Case(NamedTuple):
    """One kind of KINDS: its three entries and the edit that removes the victim."""

    kind: str
    lines: tuple[str, str, str]
    remove: Callable[[Any], bool]

    def removed(self, text: str, newline: str = "\n") -> str:
        """``text`` (written with ``newline``) after the victim's removal, which removes it once."""
        doc = mailconf.parse(text.replace("\n", newline), kind=self.kind)
        assert self.remove(doc)
        assert not self.remove(doc)
        return doc.dump().replace(newline, "\n")


@pytest.fixture(params=KINDS, ids=IDS)
def case(request: pytest.FixtureRequest) -> Case:
    return Case(*request.param)


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_heading_stays_owned_comments_go(case: Case, newline: str) -> None:
    if case.kind == "opendmarc" and newline == "\r\n":
        pytest.skip("OpenDMARC reads a CR-only line as an unnamed option: no CRLF file parses")
    first, victim, last = case.lines
    text = f"{first}\n{HEADING}\n\n# about the victim\n# more about it\n{victim}\n{last}\n"
    assert case.removed(text, newline) == f"{first}\n{HEADING}\n\n{last}\n"


def test_rule_holds_at_both_ends_of_the_file(case: Case) -> None:
    first, victim, last = case.lines
    # the first entry: the file's introduction (above the last blank line) is not its own
    text = f"{HEADING}\n\n# about the victim\n{victim}\n{last}\n"
    assert case.removed(text) == f"{HEADING}\n\n{last}\n"
    # the last entry: the heading stays, without a blank line left dangling at the end
    text = f"{first}\n{HEADING}\n\n# about the victim\n{victim}\n"
    assert case.removed(text) == f"{first}\n{HEADING}\n"


def test_no_double_blank_line_where_one_was(case: Case) -> None:
    first, victim, last = case.lines
    text = f"{first}\n\n# about the victim\n{victim}\n\n{last}\n"
    assert case.removed(text) == f"{first}\n\n{last}\n"


def test_every_occurrence_goes_with_its_own_comments(case: Case) -> None:
    first, victim, last = case.lines
    text = f"# a\n{victim}\n{first}\n\n# kept\n\n# b\n{victim}\n{last}\n"
    assert case.removed(text) == f"{first}\n\n# kept\n\n{last}\n"


def test_commented_out_entries_are_disabled_configuration_not_owned_comments() -> None:
    """Debian's master.cf has no blank line between its commented-out services and the next live
    one: removing ``pickup`` keeps them (they are configuration an admin may enable), while a
    prose comment directly above an entry still goes with it."""
    text = (
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "#submission inet n       -       y       -       -       smtpd\n"
        "#  -o syslog_name=postfix/submission\n"
        "pickup    unix  n       -       y       60      1       pickup\n"
        "# the cleanup service\n"
        "cleanup   unix  n       -       y       -       0       cleanup\n"
    )
    doc = mailconf.parse(text, "postfix-master")
    assert doc.remove_service("cleanup", "unix")
    assert "the cleanup service" not in doc.dump()
    assert doc.remove_service("pickup", "unix")
    assert doc.dump() == (
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "#submission inet n       -       y       -       -       smtpd\n"
        "#  -o syslog_name=postfix/submission\n"
    )
    main = mailconf.parse("#myhostname = old.example\nmyhostname = new.example\n", "postfix-main")
    assert main.unset("myhostname")
    assert main.dump() == "#myhostname = old.example\n"
