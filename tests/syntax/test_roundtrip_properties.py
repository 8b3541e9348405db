"""Property tests: generated files of every kind round-trip byte for byte, and arbitrary text
either round-trips or raises ParseError, never anything else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailconf
from mailconf import fileio

NEWLINES = st.sampled_from(["\n", "\r\n"])
BLANKS = st.text(alphabet=" \t", max_size=3)
UNICODE_WORD = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="#={}"
    ),
    min_size=1,
    max_size=8,
)
NAME = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)
COMMENT = st.builds(
    lambda pad, text: f"{pad}#{text}",
    BLANKS,
    st.text(max_size=15).map(lambda t: t.replace("\n", "")),
)
TRIVIA_LINE = st.one_of(COMMENT, BLANKS)
settings.register_profile(
    "mailconf", max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("mailconf")


def _join(lines: list[str], newline: str, final_newline: bool) -> str:
    text = newline.join(lines)
    return text + newline if final_newline and lines else text


@st.composite
def main_cf(draw: st.DrawFn) -> str:
    """main.cf with continuations, comments and blank lines inside values, `#`, duplicates."""
    lines: list[str] = []
    names = draw(st.lists(NAME, min_size=1, max_size=4))
    for _ in range(draw(st.integers(0, 8))):
        lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
        name = draw(st.sampled_from(names))
        spacing = draw(st.sampled_from(["=", " = ", "\t=\t", " =", "= "]))
        value = draw(
            st.one_of(st.just(""), UNICODE_WORD, st.just("a # not a comment"), st.just("{ a, b }"))
        )
        lines.append(f"{name}{spacing}{value}{draw(BLANKS)}")
        for _ in range(draw(st.integers(0, 3))):
            lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
            lines.append(draw(st.sampled_from([" ", "\t", "  \t"])) + draw(UNICODE_WORD))
    lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
    return _join(lines, draw(NEWLINES), draw(st.booleans()))


@st.composite
def master_cf(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
        fields = [
            draw(NAME),
            draw(st.sampled_from(["inet", "unix", "unix-dgram", "fifo", "pass"])),
            *(draw(st.sampled_from(["y", "n", "-"])) for _ in range(3)),
            draw(st.sampled_from(["-", "0", "60", "300?", "-?"])),
            draw(st.sampled_from(["-", "0", "100"])),
            draw(st.sampled_from(["smtpd", "spawn", "pipe", "local"])),
        ]
        sep = draw(st.sampled_from([" ", "  ", "\t", "      "]))
        lines.append(sep.join(fields) + draw(BLANKS))
        for _ in range(draw(st.integers(0, 3))):
            lines.extend(draw(st.lists(TRIVIA_LINE, max_size=1)))
            override = draw(
                st.sampled_from(
                    [
                        "-o smtpd_tls_security_level=encrypt",
                        "-o { smtpd_client_restrictions = permit_sasl_authenticated, reject }",
                        "-o syslog_name=postfix/submission",
                        "user=policyd-spf argv=/usr/bin/policyd-spf",
                        "{ a b } c",
                    ]
                )
            )
            lines.append(draw(st.sampled_from(["  ", "\t", "    "])) + override)
    lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
    return _join(lines, draw(NEWLINES), draw(st.booleans()))


@st.composite
def milter_conf(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
        name = draw(
            st.sampled_from(["Mode", "Syslog", "UMask", "Socket", "Canonicalization", "mode"])
        )
        value = draw(
            st.one_of(UNICODE_WORD, st.sampled_from(["sv", "yes", "007", "local:/run/x.sock"]))
        )
        comment = draw(st.sampled_from(["", " # trailing", "\t#x", "#"]))
        separator = draw(st.sampled_from([" ", "\t", "\t\t", "   "]))
        lines.append(f"{draw(BLANKS)}{name}{separator}{value}{draw(BLANKS)}{comment}")
    lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
    # OpenDMARC keeps CR in values and refuses a CR-only line, so CRLF is generated for OpenDKIM
    # only (tests below); both accept LF.
    return _join(lines, "\n", draw(st.booleans()))


@st.composite
def table(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 10))):
        lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
        key = draw(
            st.one_of(NAME, st.just("*@example.com"), st.just("!10.0.0.0/8"), st.just("[::1]"))
        )
        value = draw(
            st.one_of(
                st.just(""),
                st.just("example.com:default:/etc/opendkim/keys/example.com/default.private"),
                UNICODE_WORD,
            )
        )
        sep = draw(st.sampled_from([" ", "\t", "\t\t", "   "])) if value else ""
        lines.append(f"{draw(BLANKS)}{key}{sep}{value}{draw(st.sampled_from(['', ' # c', '#']))}")
    lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
    return _join(lines, draw(NEWLINES), draw(st.booleans()))


@st.composite
def shell_vars(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
        name = draw(st.sampled_from(["SOCKET", "RUNDIR", "USER", "NODAEMON", "EXTRAAFTER"]))
        value = draw(
            st.sampled_from(
                [
                    '"local:/run/opendkim/opendkim.sock"',
                    "'inet:8891@localhost'",
                    "/run/opendkim",
                    '"a\nb"',
                    "x\\\ny",
                    "",
                ]
            )
        )
        export = draw(st.sampled_from(["", "export "]))
        comment = draw(st.sampled_from(["", " # it's fine"]))
        lines.append(f"{export}{name}={value}{comment}")
    lines.extend(draw(st.lists(TRIVIA_LINE, max_size=2)))
    return _join(lines, draw(NEWLINES), draw(st.booleans()))


@given(main_cf())
def test_main_cf_round_trips(text: str) -> None:
    assert mailconf.parse(text, kind="postfix-main").dump() == text


@given(master_cf())
def test_master_cf_round_trips(text: str) -> None:
    assert mailconf.parse(text, kind="postfix-master").dump() == text


@given(milter_conf(), st.booleans())
def test_opendkim_conf_round_trips(text: str, crlf: bool) -> None:
    if crlf:
        text = text.replace("\n", "\r\n")
    assert mailconf.parse(text, kind="opendkim").dump() == text


@given(milter_conf())
def test_opendmarc_conf_round_trips(text: str) -> None:
    assert mailconf.parse(text, kind="opendmarc").dump() == text


@given(table(), st.sampled_from(["keytable", "signingtable", "hostlist"]))
def test_tables_round_trip(text: str, kind: str) -> None:
    assert mailconf.parse(text, kind=kind).dump() == text


@given(shell_vars())
def test_shellvars_round_trip(text: str) -> None:
    assert mailconf.parse(text, kind="shellvars").dump() == text


HARD_TEXT = st.text(
    alphabet=st.sampled_from(list(" \t\r\n\v\f#={}=-:xyA0\x00é\udcff'\"\\")), max_size=60
)


@given(st.one_of(HARD_TEXT, st.text(max_size=60)), st.sampled_from(list(mailconf.KINDS)))
@settings(max_examples=600)
def test_any_text_round_trips_or_raises_parse_error(text: str, kind: str) -> None:
    try:
        doc = mailconf.parse(text, kind=kind)
    except mailconf.ParseError as error:
        assert error.line >= 1
        assert error.column >= 1
        return
    assert doc.dump() == text


@given(st.binary(max_size=80), st.sampled_from(list(mailconf.KINDS)))
def test_any_bytes_round_trip_through_lossless_decoding(data: bytes, kind: str) -> None:
    text = fileio.decode(data)
    try:
        doc = mailconf.parse(text, kind=kind)
    except mailconf.ParseError:
        return
    assert doc.dump_bytes() == data
