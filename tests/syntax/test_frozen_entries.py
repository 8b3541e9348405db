"""Entries are frozen: what a model derived from an entry's text cannot go stale, because the
text cannot change; edits go through the document, which builds and checks a new entry."""

from __future__ import annotations

import attrs
import pytest

import mailconf
from mailconf.syntax.kinds import KINDS

ONE_ENTRY = {
    "postfix-main": "a = 1\n",
    "postfix-master": "a unix - n n - - pipe\n",
    "opendkim": "Mode sv\n",
    "opendmarc": "AuthservID mx\n",
    "keytable": "a a.test:s:/k\n",
    "signingtable": "*@a.test a\n",
    "hostlist": "127.0.0.1\n",
    "shellvars": "A=1\n",
}


def test_every_kind_is_covered() -> None:
    assert set(ONE_ENTRY) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(ONE_ENTRY))
def test_an_entry_cannot_be_changed_in_place(kind: str) -> None:
    doc = mailconf.parse("# about it\n" + ONE_ENTRY[kind], kind=kind)
    entry = doc.entries[0]
    for field, value in (("text", "b = 2\n"), ("leading", ""), ("lineno", 9)):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(entry, field, value)
    assert doc.dump() == "# about it\n" + ONE_ENTRY[kind]


def test_the_document_edit_api_is_the_way_and_meaning_follows() -> None:
    doc = mailconf.parse("# about a\na = 1\nm = x,\n  y\n", kind="postfix-main")
    first = doc.entries[0]
    assert doc.get("a") == "1"  # the parts are now cached on ``first``
    new = doc.replace(first, "b = 2")
    assert new is not first and first.text == "a = 1\n"  # the old entry is untouched
    assert (new.leading, new.lineno) == ("# about a\n", 2)  # comments and position kept
    assert doc.dump() == "# about a\nb = 2\nm = x,\n  y\n"
    assert doc.get("a") is None and doc.get("b") == "2"
    with pytest.raises(mailconf.ParseError):
        doc.replace(new, "no equals sign")  # the document checks what it swaps in
    assert doc.list_append("m", "z") and doc.list_items("m") == ["x", "y", "z"]
