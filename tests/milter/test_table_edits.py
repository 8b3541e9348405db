"""The table edits the planner makes, as methods of the table models: each keeps the admin's
lines, comments and layout, and is idempotent."""

from __future__ import annotations

from mailconf.milter.tables import HostList, KeyTable, SigningTable
from mailconf.syntax.kinds import parse_kind


def _table(text: str, kind: str) -> object:
    return parse_kind(text, kind)


def test_set_key_leaves_one_row_per_name() -> None:
    table = _table(
        "# keys\nk   a.test:s:/old\n# stale\nk   a.test:s:/older\nother b.test:s:/b\n", "keytable"
    )
    assert isinstance(table, KeyTable)
    assert table.set_key("a.test", "s", "/new", "k")
    # the stale row goes with the comment directly above it (the one ownership rule)
    assert table.dump() == "# keys\nk   a.test:s:/new\nother b.test:s:/b\n"
    assert not table.set_key("a.test", "s", "/new", "k")
    assert table.lookup("k") == "a.test:s:/new"


def test_add_signing_key_keeps_the_patterns_other_keys() -> None:
    table = _table("*@a.test\trsa-key\n*@b.test\tb-key\n", "signingtable")
    assert isinstance(table, SigningTable)
    assert table.add_signing_key("*@a.test", "ed-key")
    assert table.dump() == "*@a.test\trsa-key\n*@a.test\ted-key\n*@b.test\tb-key\n"
    assert not table.add_signing_key("*@a.test", "ed-key")
    assert table.add_signing_key("*@c.test", "c-key")
    assert table.dump().endswith("*@c.test\tc-key\n")


def test_replace_host_fixes_the_line_in_place() -> None:
    table = _table("127.0.0.1\n  locahost # typo\nlocahost\n", "hostlist")
    assert isinstance(table, HostList)
    assert table.replace_host("locahost", "localhost")
    assert table.dump() == "127.0.0.1\n  localhost # typo\n"
    assert not table.replace_host("locahost", "localhost")
    wildcard = _table("*.a.test\n", "hostlist")
    assert isinstance(wildcard, HostList)
    assert wildcard.replace_host("*.a.test", ".a.test")
    assert wildcard.hosts == [".a.test"]


def test_replace_host_drops_the_mistake_when_the_right_host_is_listed() -> None:
    table = _table("localhost\n\n# kept\n\n# typo below\nlocahost\n", "hostlist")
    assert isinstance(table, HostList)
    assert table.replace_host("locahost", "localhost")
    assert table.dump() == "localhost\n\n# kept\n"
