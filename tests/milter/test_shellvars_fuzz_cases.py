"""Inputs the fuzzer found (benchmarks/fuzz.py): each once gave an internal error."""

from __future__ import annotations

import pytest

import mailconf
from mailconf.milter.shellvars import shell_word


def test_a_quote_left_open_once_the_shell_drops_nul_is_refused_when_read() -> None:
    # dash drops NUL bytes: '\\<NUL>"' becomes '\\"', an escaped quote, and the string never ends.
    with pytest.raises(mailconf.ParseError, match="unterminated quoted string"):
        mailconf.parse("USER=\"a'b'\\\x00\"\n", "shellvars")
    with pytest.raises(mailconf.MailconfError):
        shell_word('"x\\')


def test_removing_the_unterminated_last_line_of_a_crlf_file_leaves_a_readable_file() -> None:
    doc = mailconf.parse("\r\n \r\nSOCKET=", "shellvars")
    doc.remove(doc.entries[-1])
    again = mailconf.parse(doc.dump(), "shellvars")
    assert again.dump() == doc.dump()
    assert [entry.text for entry in doc.entries] == [entry.text for entry in again.entries]
