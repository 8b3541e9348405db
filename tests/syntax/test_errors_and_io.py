"""Errors a person can act on, kind inference, and atomic saves that keep mode and owner."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import mailconf


@pytest.mark.parametrize(
    ("kind", "text", "line", "column", "fragment"),
    [
        (
            "postfix-main",
            "myhostname = a\nbogus line\n",
            2,
            7,
            "missing '=' after parameter name 'bogus'",
        ),
        ("postfix-main", "= value\n", 1, 1, "missing parameter name"),
        ("postfix-master", "smtp inet n - y - -\n", 1, 1, "Postfix needs at least 8"),
        ("postfix-master", "smtp tcp n - y - - smtpd\n", 1, 6, "invalid type field 'tcp'"),
        ("postfix-master", "smtp inet n - y x - smtpd\n", 1, 17, "invalid wakeup field 'x'"),
        ("opendkim", "Mode sv\nSocket   # nothing\n", 2, 7, "option 'Socket' has no value"),
        ("opendmarc", "AuthservID\n", 1, 11, "option 'AuthservID' has no value"),
        ("shellvars", 'SOCKET="local:/x\n', 1, 8, ""),
    ],
)
def test_refused_input_names_path_line_column_and_shows_the_line(
    kind: str, text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(mailconf.ParseError) as caught:
        mailconf.parse(text, kind=kind, path="/etc/x")
    error = caught.value
    assert isinstance(error, mailconf.MailconfError)
    assert (error.path, error.line, error.column) == ("/etc/x", line, column)
    rendered = str(error)
    assert rendered.startswith(f"/etc/x:{line}:{column}: ")
    assert fragment in rendered
    shown, caret = rendered.splitlines()[1:3]
    assert shown.strip() == text.splitlines()[line - 1].strip()
    assert caret.index("^") == 4 + column - 1


def test_indented_first_line_is_kept_not_refused() -> None:
    """Postfix only warns about a continuation line with nothing to continue."""
    text = "  orphan = 1\n# comment\nmyhostname = a\n"
    doc = mailconf.parse(text, kind="postfix-main")
    assert doc.dump() == text
    assert [e.text for e in doc.entries] == ["myhostname = a\n"]


def test_comment_ownership_header_leading_trailer() -> None:
    text = "# file intro\n\n# about a\na = 1\n# about b\nb = 2\n  # inside b\n  more\n# tail\n"
    doc = mailconf.parse(text, kind="postfix-main")
    assert doc.header == "# file intro\n\n"
    assert [(e.leading, e.text, e.lineno) for e in doc.entries] == [
        ("# about a\n", "a = 1\n", 4),
        ("# about b\n", "b = 2\n  # inside b\n  more\n", 6),
    ]
    assert doc.trailer == "# tail\n"
    doc.remove(doc.entries[0])
    assert doc.dump() == "# file intro\n\n# about b\nb = 2\n  # inside b\n  more\n# tail\n"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("main.cf", "postfix-main"),
        ("master.cf", "postfix-master"),
        ("opendkim.conf", "opendkim"),
        ("opendmarc.conf", "opendmarc"),
        ("key.table", "keytable"),
        ("KeyTable", "keytable"),
        ("signing.table", "signingtable"),
        ("SigningTable", "signingtable"),
        ("trusted.hosts", "hostlist"),
        ("TrustedHosts", "hostlist"),
        ("ExternalIgnoreList", "hostlist"),
        ("ignore.hosts", "hostlist"),
        ("default/opendkim", "shellvars"),
        ("default/opendmarc", "shellvars"),
    ],
)
def test_kind_is_inferred_from_the_file_name(tmp_path: Path, name: str, kind: str) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    assert mailconf.load(path).kind == kind


def test_unknown_file_name_needs_a_kind(tmp_path: Path) -> None:
    path = tmp_path / "random.txt"
    path.write_text("a = 1\n")
    with pytest.raises(mailconf.MailconfError, match="pass kind="):
        mailconf.load(path)
    assert mailconf.load(path, kind="postfix-main").dump() == "a = 1\n"


def test_load_round_trips_any_bytes_and_save_is_atomic_keeping_mode(tmp_path: Path) -> None:
    data = b"# caf\xe9 latin-1 comment\r\nmyhostname = a\x00b\r\n\ttab continued\rcr\n  "
    path = tmp_path / "main.cf"
    path.write_bytes(data)
    os.chmod(path, 0o640)
    doc = mailconf.load(path)
    assert doc.dump_bytes() == data
    doc.save()
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["main.cf"]  # no temp file left behind


def test_save_through_a_symlink_replaces_the_target(tmp_path: Path) -> None:
    real = tmp_path / "real.cf"
    real.write_text("a = 1\n")
    link = tmp_path / "main.cf"
    link.symlink_to(real)
    doc = mailconf.load(link)
    doc.replace(doc.entries[0], "a = 2")
    doc.save()
    assert link.is_symlink()
    assert real.read_text() == "a = 2\n"


def test_insert_keeps_crlf_and_missing_final_newline() -> None:
    doc = mailconf.parse("a = 1\r\nb = 2", kind="postfix-main")
    doc.insert(len(doc.entries), doc.parse_entry("c = 3"))
    assert doc.dump() == "a = 1\r\nb = 2\r\nc = 3"
    doc.remove(doc.entries[-1])
    assert doc.dump() == "a = 1\r\nb = 2"


def test_replace_validates_what_it_writes() -> None:
    doc = mailconf.parse("# keep me\nMode sv\n", kind="opendkim")
    with pytest.raises(mailconf.ParseError, match="has no value"):
        doc.replace(doc.entries[0], "Mode")
    doc.replace(doc.entries[0], "Mode s")
    assert doc.dump() == "# keep me\nMode s\n"
