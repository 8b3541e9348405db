"""KeyTable / SigningTable lookups against ``printf 'SPEC\\nKEY/1\\n' | opendkim -Q``, for ``file:``
and ``refile:`` tables with wildcards, case, indentation, comments and repeated keys."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailconf
from mailconf.milter.tables import SigningTable
from support import require_binary

KEYS = [
    "a@example.com",
    "A@Example.COM",
    "*@example.com",
    "*",
    "example.com",
    "x+y@ex.com",
    "*.sub.org",
]
KEYS += ["b@sub.org", "a?c", "user@*", "(a|b)@ex.com", ".example.com", "*example*"]
QUERIES = [
    "a@example.com",
    "A@EXAMPLE.COM",
    "b@example.com",
    "example.com",
    "x+y@ex.com",
    "xxy@ex.com",
]
QUERIES += ["ac", "c", "a@ex.com", "b@ex.com", "q.sub.org", "b@sub.org", "exampleXcom", "*"]


@st.composite
def table_text(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 7))):
        key = draw(st.sampled_from(KEYS))
        value = draw(st.sampled_from(["k1", "k2", "k3:signer@example.com", "", "two words"]))
        indent = draw(st.sampled_from(["", "", "", " "]))
        sep = draw(st.sampled_from([" ", "\t", "  "]))
        comment = draw(st.sampled_from(["", "", " # note", "#x"]))
        lines.append(f"{indent}{key}{sep if value else ''}{value}{comment}")
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["", "# comment", "   "])))
    return "".join(line + "\n" for line in lines)


def daemon_lookups(binary: str, spec: str, queries: list[str]) -> list[str | None]:
    """One ``opendkim -Q`` run per query (a miss or an error ends the run's output)."""
    answers: list[str | None] = []
    for query in queries:
        result = subprocess.run(
            [binary, "-Q"], input=f"{spec}\n{query}/1\n", capture_output=True, text=True, timeout=20
        )
        lines = result.stdout.splitlines()
        if "dkimf_db_get() returned" in result.stderr:
            answers.append("<error>")
        elif not lines or "record not found" in lines[0]:
            answers.append(None)
        else:
            assert lines[0].startswith("'") and lines[0].endswith("'"), result
            answers.append(lines[0][1:-1])
    return answers


def _lookup(table: SigningTable, query: str, regex: bool) -> str | None:
    try:
        return table.lookup(query, regex=regex, icase=False)
    except mailconf.ValidationError:
        return "<error>"


@pytest.fixture(scope="module")
def workdir() -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)  # type: ignore[misc]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=table_text(),
    queries=st.lists(st.sampled_from(QUERIES), min_size=1, max_size=3, unique=True),
)
def test_lookups_equal_opendkim_q(text: str, queries: list[str], workdir: Path) -> None:
    binary = require_binary("opendkim")
    path = workdir / "signing.table"
    path.write_text(text)
    table = mailconf.parse(text, kind="signingtable")
    assert isinstance(table, SigningTable)
    for prefix, regex in (("file:", False), ("refile:", True)):
        expected = daemon_lookups(binary, prefix + str(path), queries)
        got = [_lookup(table, query, regex) for query in queries]
        assert got == expected, (prefix, text, queries)
    keytable = mailconf.parse(text, kind="keytable")
    assert [keytable.lookup(q) for q in queries] == daemon_lookups(binary, f"file:{path}", queries)  # type: ignore[attr-defined]


def test_broken_pattern_is_refused_like_the_daemon(workdir: Path) -> None:
    binary = require_binary("opendkim")
    path = workdir / "broken.table"
    path.write_text("x[ y\n")
    result = subprocess.run(
        [binary, "-Q"], input=f"refile:{path}\na/1\n", capture_output=True, text=True
    )
    assert "Error compiling regular expression" in result.stderr
    table = mailconf.parse(path.read_text(), kind="signingtable")
    with pytest.raises(mailconf.ValidationError, match="regular expression"):
        table.lookup("a", regex=True)  # type: ignore[attr-defined]
    assert [f.code for f in table.lint()] == ["milter.bad-pattern"]  # refile:, the usual setup


POSIX_PATTERNS = [
    (r"a\dc", ["adc", "a1c"]),  # no \d in POSIX ERE: the letter d
    (r"a\Z", ["aZ", "a"]),
    (r"a\z", ["az"]),  # a Python error, a literal z to glibc
    ("[[:digit:]]x", ["5x", "dx"]),  # a POSIX class, not a nested set
    (r"[\d]", ["d", "\\", "5"]),  # a backslash inside brackets is literal
    ("[]a]", ["]", "a", "b"]),
    ("[^]a]", ["b", "]"]),
    ("x[.]y", ["x.y", "x\\y", "xzy"]),  # refile's own escaping of '.' inside brackets
    (r"a\<b", ["ab"]),
    (r"\w+@\wx", ["ab@cx", "a@.x"]),
    ("[[:foo:]]", ["a"]),  # an unknown class: regcomp fails
]


@pytest.mark.parametrize(("pattern", "queries"), POSIX_PATTERNS)
def test_refile_patterns_are_posix_regexes(pattern: str, queries: list[str], workdir: Path) -> None:
    """A ``refile:`` pattern is compiled by glibc's regcomp (POSIX ERE with GNU escapes), not
    by Python: mailconf's answers equal ``opendkim -Q``'s for what the two languages read
    differently."""
    binary = require_binary("opendkim")
    path = workdir / "posix.table"
    path.write_text(f"{pattern} k\n")
    opened = subprocess.run(
        [binary, "-Q"], input=f"refile:{path}\nx/1\n", capture_output=True, text=True, timeout=20
    )
    table = mailconf.parse(path.read_text(), kind="signingtable")
    assert isinstance(table, SigningTable)
    if "Error compiling regular expression" in opened.stderr:
        with pytest.raises(mailconf.ValidationError, match="regular expression"):
            table.lookup(queries[0], regex=True)
        return
    expected = daemon_lookups(binary, f"refile:{path}", queries)
    assert [_lookup(table, query, True) for query in queries] == expected
