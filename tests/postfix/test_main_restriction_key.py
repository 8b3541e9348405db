"""A policy check written in Postfix's braced form is the same check as the plain form."""

from __future__ import annotations

import mailconf

POLICY = "check_policy_service unix:private/policyd-spf"


def test_braced_policy_service_is_not_added_twice() -> None:
    text = (
        "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination,\n"
        "    check_policy_service { unix:private/policyd-spf, default_action=DUNNO }\n"
    )
    doc = mailconf.parse(text, kind="postfix-main")
    assert doc.add_restriction("smtpd_recipient_restrictions", POLICY) is False  # type: ignore[attr-defined]
    assert doc.dump() == text


def test_a_different_policy_service_is_added() -> None:
    text = (
        "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination,\n"
        "    check_policy_service { unix:private/other, default_action=DUNNO }\n"
    )
    doc = mailconf.parse(text, kind="postfix-main")
    assert doc.add_restriction("smtpd_recipient_restrictions", POLICY) is True  # type: ignore[attr-defined]
    assert doc.dump().endswith(POLICY + "\n")
