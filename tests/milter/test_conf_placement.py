"""A new option goes where the file already shows it commented out, as an admin would put it."""

from __future__ import annotations

import pytest

import mailconf

DEBIAN = (
    "Syslog\t\t\tyes\n"
    "#Mode\t\t\tsv\n"
    "#SubDomains\t\tno\n"
    "OversignHeaders\t\tFrom\n"
    "#Socket\t\t\tinet:8891@localhost\n"
    "#Socket\t\t\tlocal:/var/spool/postfix/opendkim/opendkim.sock\n"
    "#Nameservers\t\t127.0.0.1\n"
)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        # the same value: the admin's own line, uncommented in place
        ("Mode", "sv", DEBIAN.replace("#Mode", "Mode")),
        # another value: on the line after the commented one, laid out like it
        ("SubDomains", "yes", DEBIAN.replace("no\n", "no\nSubDomains\t\tyes\n")),
        # of several commented lines, the one with the same value
        (
            "Socket",
            "local:/var/spool/postfix/opendkim/opendkim.sock",
            DEBIAN.replace("#Socket\t\t\tlocal:", "Socket\t\t\tlocal:"),
        ),
        # in the trailing comments after the last option
        ("Nameservers", "127.0.0.1", DEBIAN.replace("#Nameservers", "Nameservers")),
        # no such comment: after the last option, as before
        ("UMask", "007", DEBIAN.replace("From\n", "From\nUMask\t\t\t007\n")),
    ],
)
def test_set_goes_next_to_the_commented_out_line(name: str, value: str, expected: str) -> None:
    doc = mailconf.parse(DEBIAN, "opendkim")
    assert doc.set(name, value) is True
    assert doc.dump() == expected
    assert doc.get(name) == value
    assert mailconf.parse(expected, "opendkim").get(name) == value
    assert doc.set(name, value) is False
