"""The grammars define the entries: the models read an entry's parts with regexes derived from
the grammar's terminals (mailconf.syntax.grammar.part_pattern), and these tests prove that the
derived regex is the grammar.

* Structurally: the derived regex without its named groups is, character for character, the
  regex Lark itself compiles for the terminal, so the two accept the same language.
* By example: over the corpus and generated near-valid lines, Lark's ``entry``/``parts`` start
  symbols accept exactly what the fast path accepts, and for the tables (where Lark lexes the
  plain line for speed) every line Lark takes as an entry has the parts ROW names.
"""

from __future__ import annotations

import functools
import re

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.load_grammar import PrepareLiterals, TerminalTreeToPattern, nr_deepcopy_tree

import mailconf
from fuzzing import HARD_CHARS, corpus_texts
from mailconf.postfix.lines import logical_text, split_braced
from mailconf.postfix.master import SERVICE_TYPES
from mailconf.syntax import grammar

# (grammar file, terminal, the groups the models read)
PARTS = [
    ("opendkim", "OPTION", {"indent", "name", "sep", "value", "space", "comment", "newline"}),
    ("opendmarc", "OPTION", {"indent", "name", "sep", "value", "space", "comment", "newline"}),
    ("dataset_lines", "ROW", {"indent", "key", "sep", "value", "space", "comment", "newline"}),
    ("shellvars", "COMMAND", {"export", "name", "equals", "value", "rest", "words"}),
    ("postfix-main", "PARAMETER", {"name", "before", "equals", "after", "value"}),
    ("postfix_lines", "JOIN", set()),
    ("postfix_lines", "TRIVIA_LINE", set()),
    *(("postfix-master", t, set()) for t in ("TYPE", "PRIVATE", "UNPRIV", "CHROOT", "WAKEUP")),
    ("postfix-master", "MAXPROC", set()),
]
# The kind whose parser uses each shared terminal (an %import of the file that defines it).
USERS = {
    "dataset_lines": ("keytable", "signingtable", "hostlist"),
    "postfix_lines": ("postfix-main", "postfix-master"),
}
ENTRY_KINDS = ("opendkim", "opendmarc", "shellvars", "keytable", "signingtable", "hostlist")
PARTS_TERMINAL = {
    "opendkim": ("opendkim", "OPTION"),
    "opendmarc": ("opendmarc", "OPTION"),
    "shellvars": ("shellvars", "COMMAND"),
    "keytable": ("dataset_lines", "ROW"),
    "signingtable": ("dataset_lines", "ROW"),
    "hostlist": ("dataset_lines", "ROW"),
}
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lark_regexp(grammar_name: str, terminal: str) -> str:
    """The regex Lark compiles for a terminal (its own TerminalTreeToPattern)."""
    tree = grammar.terminal_definitions(grammar_name)[terminal]
    pattern = (PrepareLiterals() * TerminalTreeToPattern()).transform(nr_deepcopy_tree(tree))
    regexp: str = pattern.to_regexp()
    return regexp


@pytest.mark.parametrize(("grammar_name", "terminal", "groups"), PARTS)
def test_derived_regex_is_larks_regex_with_named_groups(
    grammar_name: str, terminal: str, groups: set[str]
) -> None:
    plain, _ = grammar.derive(grammar_name, terminal)
    assert plain == lark_regexp(grammar_name, terminal)
    assert groups <= set(grammar.part_pattern(grammar_name, terminal).groupindex)
    for kind in USERS.get(grammar_name, (grammar_name,)):
        compiled = grammar.parser(kind).get_terminal(terminal) if terminal in _used(kind) else None
        if compiled is not None:
            assert compiled.pattern.to_regexp() == plain, kind


def _used(kind: str) -> set[str]:
    return {str(t.name) for t in grammar.parser(kind).terminals}


def test_named_groups_are_only_wrappers() -> None:
    """Removing the group names from the derived regex leaves Lark's regex with extra
    non-capturing groups only: the named groups capture, they do not change what matches."""
    for grammar_name, terminal, _ in PARTS:
        plain, grouped = grammar.derive(grammar_name, terminal)
        unnamed = re.compile(re.sub(r"\(\?P<[a-z_]+>", "(?:", grouped))
        assert unnamed.groups == re.compile(plain).groups


def test_shared_grammars_are_imported_not_copied() -> None:
    """hostlist, keytable and signingtable take their rules from dataset_lines.lark; main.cf and
    master.cf theirs from postfix_lines.lark: one definition, the same compiled terminals."""
    for shared, kinds in USERS.items():
        for kind in kinds:
            text = grammar.grammar_path(kind).read_text()
            assert f"%import .{shared} (" in text
            for terminal in ("TRIVIA", "ENTRY", "ENTRIES"):
                compiled = grammar.parser(kind).get_terminal(terminal).pattern.to_regexp()
                assert compiled == lark_regexp(shared, terminal), (kind, terminal)


# ------------------------------------------------------------------------- by example
@functools.cache
def _corpus_entries(kind: str) -> list[str]:
    entries: list[str] = []
    for text in corpus_texts(kind):
        try:
            doc = mailconf.parse(text, kind=kind)
        except mailconf.ParseError:
            continue
        entries.extend(entry.text for entry in doc.entries)
    return entries


def _line_noise(kind: str) -> st.SearchStrategy[str]:
    """Near-valid single entries: a corpus entry with characters inserted, replaced or cut, or a
    short line of hard characters and words."""
    entries = _corpus_entries(kind) or ["x y\n"]
    pieces = st.sampled_from([*HARD_CHARS.replace("\n", ""), "A", "=", "export ", " x"])
    noise = st.lists(pieces, max_size=3).map("".join)
    edited = st.builds(
        lambda entry, at, cut, noise: (
            entry[: at % (len(entry) + 1)] + noise + entry[at % (len(entry) + 1) + cut :]
        ),
        st.sampled_from(entries),
        st.integers(0, 200),
        st.integers(0, 3),
        noise,
    )
    fresh = st.builds(
        lambda text, newline: text + newline,
        st.lists(pieces, min_size=1, max_size=12).map("".join),
        st.sampled_from(["\n", "", "\r\n"]),
    )
    return st.one_of(edited, fresh)


def lark_accepts(kind: str, text: str, start: str) -> bool:
    try:
        grammar.parser(kind).parse(text, start=start)
    except lark.exceptions.UnexpectedInput:
        return False
    return True


def _assert_entry_equivalence(kind: str, text: str) -> None:
    grammar_name, terminal = PARTS_TERMINAL[kind]
    fast = grammar.part_pattern(grammar_name, terminal).fullmatch(text) is not None
    assert lark_accepts(kind, text, "entry") == fast, (kind, text)
    assert lark_accepts(kind, text, "parts") == fast, (kind, text)


@pytest.mark.parametrize("kind", ENTRY_KINDS)
def test_every_corpus_entry_has_its_parts(kind: str) -> None:
    entries = _corpus_entries(kind)
    assert entries or kind == "shellvars"
    for text in entries:
        _assert_entry_equivalence(kind, text)


@pytest.mark.parametrize("kind", ENTRY_KINDS)
@EXAMPLES
@given(data=st.data())
def test_grammar_and_fast_path_accept_the_same_entries(kind: str, data: st.DataObject) -> None:
    _assert_entry_equivalence(kind, data.draw(_line_noise(kind)))


@EXAMPLES
@given(data=st.data())
def test_main_cf_grammar_and_fast_path_accept_the_same_parameters(data: st.DataObject) -> None:
    text = data.draw(_line_noise("postfix-main"))
    if not lark_accepts("postfix-main", text, "entry"):
        return  # not one entry's lines at all: the line rules refuse it before any parameter
    logical = logical_text(text)
    fast = grammar.part_pattern("postfix-main", "PARAMETER").fullmatch(logical) is not None
    assert lark_accepts("postfix-main", logical, "parts") == fast, text
    try:
        mailconf.parse(text, kind="postfix-main")
    except mailconf.ParseError:
        assert not fast, text
    else:
        assert fast, text


@EXAMPLES
@given(data=st.data())
def test_master_cf_grammar_and_fast_path_accept_the_same_services(data: st.DataObject) -> None:
    """The model splits the logical line as postconf does (braces) and checks fields 2-7 with
    the grammar's terminals; Lark's ``parts`` start parses the same six fields."""
    text = data.draw(_line_noise("postfix-master"))
    if not lark_accepts("postfix-master", text, "entry"):
        return
    fields = split_braced(logical_text(text), " \t\r\n")
    try:
        mailconf.parse(text, kind="postfix-master")
    except mailconf.ParseError:
        accepted = False
    else:
        accepted = True
    lark_ok = len(fields) >= 8 and lark_accepts("postfix-master", " ".join(fields[1:7]), "parts")
    assert accepted == lark_ok, (text, fields)


def test_service_types_in_messages_are_the_grammars() -> None:
    type_pattern = grammar.part_pattern("postfix-master", "TYPE")
    assert all(type_pattern.fullmatch(name) for name in SERVICE_TYPES)
    assert not any(type_pattern.fullmatch(name) for name in ("tcp", "unix-", "Inet", "inetd"))


def test_crlf_and_nul_lines_split_as_the_daemons_read_them() -> None:
    """A few entries whose parts matter, read through the models."""
    dkim = mailconf.parse("Mode sv\r\nSyslog yes\x00no\n", kind="opendkim")
    assert dkim.options == {"Mode": "sv", "Syslog": "yes"}
    dmarc = mailconf.parse("AuthservID mail\r\nx\r y\n", kind="opendmarc")
    assert dmarc.options == {"AuthservID": "mail\r", "x\r": "y"}
    table = mailconf.parse("a\x00b val\nk  v v \x0b\n\x00skipped\n", kind="keytable")
    assert [(row.key, row.value) for row in table.rows] == [("a", ""), ("k", "v v")]
    assert table.dump().count("\n") == 3
    shell = mailconf.parse('X="a\x00b"\n', kind="shellvars")
    assert shell.get("X") == "ab"


def test_the_entries_of_every_corpus_file_split_the_same_way() -> None:
    """Each entry's parts put back together are its text: nothing is lost between parts."""
    for kind, (grammar_name, terminal) in PARTS_TERMINAL.items():
        pattern = grammar.part_pattern(grammar_name, terminal)
        for text in _corpus_entries(kind):
            match = pattern.fullmatch(text)
            assert match is not None
            top = [
                (match.start(name), match.end(name))
                for name in pattern.groupindex
                if match.group(name) is not None and name != "trivia_line"
            ]
            covered = sorted(span for span in top if span[0] < span[1])
            assert "".join(text[a:b] for a, b in covered) == text, (kind, text)
