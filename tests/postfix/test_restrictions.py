"""One set of restriction-list rules, two doors: what ``add_restriction`` refuses to write, the
lint warns about when the same list is written by hand, and what it writes the lint accepts."""

from __future__ import annotations

import pytest

import mailconf
from mailconf.errors import EditError
from mailconf.postfix.lint import lint_main

POLICY = "check_policy_service unix:private/policyd-spf"
RULES = {"postfix.dead-restriction", "postfix.policy-before-relay-check"}


def rule_codes(items: list[str]) -> set[str]:
    text = f"smtpd_recipient_restrictions = {', '.join(items)}\n"
    return {f.code for f in lint_main(mailconf.parse(text, "postfix-main"), None)} & RULES


@pytest.mark.parametrize(
    ("current", "new", "after", "refused_as"),
    [
        (["reject_unauth_destination", "permit"], POLICY, "permit", "postfix.dead-restriction"),
        (
            ["reject_unauth_destination", "reject"],
            "reject_rbl_client x",
            "reject",
            "postfix.dead-restriction",
        ),
        (
            ["permit_mynetworks", "reject_unauth_destination"],
            POLICY,
            "permit_mynetworks",
            "postfix.policy-before-relay-check",
        ),
        (
            ["permit_mynetworks", "reject_unauth_destination"],
            POLICY,
            "reject_unauth_destination",
            None,
        ),
        (["reject_unauth_destination", "permit"], POLICY, None, None),  # goes before the permit
        (["defer_unauth_destination"], "reject_rbl_client x", None, None),
    ],
)
def test_the_edit_refuses_what_the_lint_warns_about(
    current: list[str], new: str, after: str | None, refused_as: str | None
) -> None:
    assert rule_codes(current) == set()
    doc = mailconf.parse(f"smtpd_recipient_restrictions = {', '.join(current)}\n", "postfix-main")
    if refused_as is None:
        assert doc.add_restriction("smtpd_recipient_restrictions", new, after=after)
        assert rule_codes(doc.list_items("smtpd_recipient_restrictions")) == set()
        return
    with pytest.raises(EditError):
        doc.add_restriction("smtpd_recipient_restrictions", new, after=after)
    assert after is not None
    by_hand = list(current)
    by_hand.insert(current.index(after) + 1, new)
    assert rule_codes(by_hand) == {refused_as}
