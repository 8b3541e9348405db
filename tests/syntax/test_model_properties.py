"""Every kind, through the model: whatever the input, mailconf answers or refuses with a
MailconfError (ParseError, EditError, ValidationError), never anything else.

The round-trip tests only call ``dump()``; these drive the parsed document through every
accessor, ``lint()``, ``to_json()``, ``explain_line`` and edits (see tests/fuzzing.py), on
arbitrary text (NUL, CR, VT, FF, bytes that are not UTF-8, very long lines) and on mutations of
the real files in ../shared/corpus, and run ``mailconf show/lint/get`` on such files.  The number
of examples per kind is ``MAILCONF_FUZZ_EXAMPLES`` (default 150); ``benchmarks/fuzz.py`` runs
100,000 per kind.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailconf
from fuzzing import (
    HARD_CHARS,
    KINDS,
    cli_commands,
    cli_problem,
    corpus_texts,
    exercise,
    make_root,
    near_valid,
    run_cli_in_process,
)
from mailconf import fileio

EXAMPLES = int(os.environ.get("MAILCONF_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ARBITRARY_TEXT = st.one_of(
    st.text(alphabet=st.sampled_from(list(HARD_CHARS)), max_size=120),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
    st.binary(max_size=120).map(fileio.decode),
    st.builds(
        lambda head, n, tail: head + "x" * n + tail,
        st.text(HARD_CHARS, max_size=10),
        st.integers(1000, 5000),
        st.text(HARD_CHARS, max_size=10),
    ),
)


@pytest.fixture(scope="module")
def lint_root() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield make_root(Path(directory))


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(text=ARBITRARY_TEXT)
def test_arbitrary_text_through_the_model(kind: str, text: str, lint_root: str) -> None:
    exercise(kind, text, lint_root)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(seed=st.integers(0, 2**32))
def test_mutated_corpus_files_through_the_model(kind: str, seed: int, lint_root: str) -> None:
    exercise(kind, near_valid(corpus_texts(kind), random.Random(seed)), lint_root)


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=max(EXAMPLES // 5, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(seed=st.integers(0, 2**32), arbitrary=ARBITRARY_TEXT, pick=st.booleans())
def test_cli_never_reports_an_internal_error(
    kind: str, seed: int, arbitrary: str, pick: bool
) -> None:
    text = near_valid(corpus_texts(kind), random.Random(seed)) if pick else arbitrary
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "file"
        path.write_bytes(fileio.encode(text))
        for argv in cli_commands(kind, path, text):
            status, stderr = run_cli_in_process(argv)
            assert cli_problem(status, stderr) is None, (argv, text)


# The two crashes the issue reports, and one of each class the fuzzer found, as real processes.
REPRODUCERS = [
    ("opendmarc", "x\r y\n"),
    ("opendmarc", "Syslog yes\nSys%\rlog yes\n"),
    ("opendkim", "KeyTable /etc/opendkim/key\x00.table\nKeyFile /k\x00ey\n"),
    ("keytable", "k example.com:s:/etc/opendkim/keys/a\x00b\n"),
    ("hostlist", "127.0.0.1\nlocal\udcffhost\n"),
    ("signingtable", "*@example.com\x00 k\n\udcff x\n"),
    ("postfix-main", "a = 1\n\x00b = 2\n"),
    ("postfix-master", "smtp inet n - y - - smtpd\n\v-o x=y\n"),
    ("shellvars", "X=a\x00b\n"),
    # found by benchmarks/fuzz.py: lint never returned for a key path "//" (its own dirname);
    # a CR-only line became an empty entry when the last line was removed; a backslash before
    # a NUL inside double quotes
    ("keytable", "default._domainkey.example.com example.com:default://\n"),
    ("shellvars", "\r\nSOCKET=."),
    ("shellvars", "USER=\"a'b'\\\x00\"\n\n\x0b"),
]


@pytest.mark.parametrize(("kind", "text"), REPRODUCERS)
def test_cli_processes_on_hard_files(kind: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(fileio.encode(text))
    for argv in cli_commands(kind, path, text):
        result = subprocess.run(
            [sys.executable, "-m", "mailconf", *argv], capture_output=True, timeout=60
        )
        stderr = fileio.decode(result.stderr)
        assert cli_problem(result.returncode, stderr) is None, argv


def test_the_reproducers_are_answers_or_parse_errors(lint_root: str) -> None:
    """Each reproducer, through the whole model (the CLI test only sees exit codes)."""
    for kind, text in REPRODUCERS:
        exercise(kind, text, lint_root)


def test_fuzzer_reaches_every_kind() -> None:
    """The generator is not vacuous: most near-valid inputs of every kind parse, so the
    accessors, lint and edits really run."""
    for kind in KINDS:
        rng = random.Random(7)
        corpus = corpus_texts(kind)
        parsed = 0
        for _ in range(40):
            try:
                mailconf.parse(near_valid(corpus, rng), kind=kind)
            except mailconf.ParseError:
                continue
            parsed += 1
        assert parsed >= 10, kind
