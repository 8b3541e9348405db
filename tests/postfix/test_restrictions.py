"""One set of restriction-list rules, two doors: what ``add_restriction`` refuses to write, the
lint warns about when the same list is written by hand, and what it writes the lint accepts."""

from __future__ import annotations

import pytest

import mailconf
from mailconf.errors import EditError
from mailconf.postfix.lint import lint_main

POLICY = "check_policy_service unix:private/policyd-spf"
RULES = {
    "postfix.dead-restriction",
    "postfix.policy-before-relay-check",
    "postfix.policy-unreachable",
}


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
        (
            ["permit_mynetworks", "permit_auth_destination", "reject"],
            POLICY,
            "permit_auth_destination",
            "postfix.policy-unreachable",
        ),
        (["permit_mynetworks", "permit_auth_destination", "reject"], POLICY, None, None),
        (["reject_unauth_destination", "permit_mx_backup"], POLICY, None, None),
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


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (
            "permit_mynetworks, permit_auth_destination, reject",
            f"permit_mynetworks, {POLICY}, permit_auth_destination, reject",
        ),
        (
            "permit_mynetworks, reject_unauth_destination, permit_mx_backup, permit",
            f"permit_mynetworks, reject_unauth_destination, {POLICY}, permit_mx_backup, permit",
        ),
        (  # nothing permits inbound mail early: last, after the relay check
            "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
            f"permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, {POLICY}",
        ),
    ],
)
def test_last_puts_a_policy_check_where_inbound_mail_reaches_it(
    current: str, expected: str
) -> None:
    """SMTPD_ACCESS_README: the first OK ends the list; permit_auth_destination (and
    permit_mx_backup, postconf(5)) permit the mail to this host's domains, so an SPF check after
    them never sees inbound mail."""
    doc = mailconf.parse(f"smtpd_recipient_restrictions = {current}\n", "postfix-main")
    assert doc.add_restriction("smtpd_recipient_restrictions", POLICY, last=True)
    assert doc.get("smtpd_recipient_restrictions") == expected
    assert rule_codes(doc.list_items("smtpd_recipient_restrictions")) == set()
    # Other restrictions still go last among the live items.
    assert doc.add_restriction("smtpd_recipient_restrictions", "reject_rbl_client x", last=True)
    items = doc.list_items("smtpd_recipient_restrictions")
    assert items.index("reject_rbl_client x") > items.index(POLICY)
