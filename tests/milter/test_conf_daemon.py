"""opendkim.conf / opendmarc.conf against the real daemons: mailconf accepts exactly what
``opendkim -n -x F`` / ``opendmarc -n -c F`` accept, and reads values as ``opendkim -e`` prints
them.  Generated files use only options that need no external file."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailconf
from mailconf.findings import has_errors
from support import require_binary

BOOLS = ["yes", "no", "True", "false", "1", "0", "Y", "n", "on", "off", "maybe", "yes # c"]
INTS = ["7", "007", "0x1ff", "08", "-1", "12abc", "0x", "99999999999999999999", "+3", "0X1F"]
DKIM_STRINGS = {
    "Mode": ["s", "v", "sv", "vs", "x", "SV"],
    "Canonicalization": ["relaxed/simple", "simple", "Relaxed/Simple", "relaxed/x", "nope"],
    "SignatureAlgorithm": ["rsa-sha256", "RSA-SHA1", "ed25519-sha256", "rsa-sha512"],
    "Minimum": ["50%", "101%", "-1", "3+", "abc", "7"],
    "AuthservID": ["mail.example.com", "HOSTNAME", '"quoted"'],
    "Selector": ["default"],
    "On-BadSignature": ["reject", "bogus"],
    "ReplaceHeaders": ["subject"],
    "BogusKey": ["fail", "Neutral", "none", "reject"],
    "UnprotectedKey": ["NONE", "tempfail"],
    "ATPSHashAlgorithm": ["sha256", "SHA1", "none", "md5"],
}
DKIM_BOOLS = ["Syslog", "SubDomains", "SyslogSuccess", "LogWhy", "AlwaysAddARHeader", "X-Header"]
DKIM_INTS = ["UMask", "DNSTimeout", "MinimumKeyBits", "ClockDrift"]
DMARC_BOOLS = ["Syslog", "RejectFailures", "SPFSelfValidate", "RequiredHeaders", "FailureReports"]
DMARC_INTS = ["UMask", "DNSTimeout", "MilterDebug"]
DMARC_STRINGS = {
    "AuthservID": ["OpenDMARC", "mail.example.com"],
    "TrustedAuthservIDs": ["mail.example.com,mx.example.com"],
    "Socket": ["local:/run/opendmarc/opendmarc.sock", "inet:8893@localhost"],
    "RejectString": ["rejected for %s", "%%s", "%%%s", "rejected", "%s %s", "%%s %s", "%S"],
}
UNKNOWN = ["Foo", "ResolverConfig", "ADSPAction", "Include"]


def _case(name: str, flip: bool) -> str:
    return name.swapcase() if flip else name


@st.composite
def conf_lines(draw: st.DrawFn, kind: str) -> str:
    bools, ints, strings = (
        (DKIM_BOOLS, DKIM_INTS, DKIM_STRINGS)
        if kind == "opendkim"
        else (DMARC_BOOLS, DMARC_INTS, DMARC_STRINGS)
    )
    unknown = [u for u in UNKNOWN if not (kind == "opendkim" and u == "Include")]
    choice = draw(st.integers(0, 9))
    indent = draw(st.sampled_from(["", "", " ", "\t"]))
    sep = draw(st.sampled_from([" ", "\t", "\t\t", "   "]))
    flip = draw(st.booleans()) and draw(st.booleans())
    if choice <= 2:
        name, value = draw(st.sampled_from(bools)), draw(st.sampled_from(BOOLS))
    elif choice <= 4:
        name, value = draw(st.sampled_from(ints)), draw(st.sampled_from(INTS))
    elif choice <= 6:
        name = draw(st.sampled_from(sorted(strings)))
        value = draw(st.sampled_from(strings[name]))
    elif choice == 7:
        return draw(st.sampled_from(["", "# comment", "   ", "#Syslog on"]))
    elif choice == 8:
        name, value = draw(st.sampled_from(unknown)), "x"
    else:
        name = draw(st.sampled_from(bools))
        return draw(st.sampled_from([f"{name}=yes", name, f"{name} #yes"]))
    tail = draw(st.sampled_from(["", "", " ", "\t# note"]))
    return f"{indent}{_case(name, flip)}{sep}{value}{tail}"


def conf_texts(kind: str) -> st.SearchStrategy[str]:
    return st.lists(conf_lines(kind), max_size=6).map(
        lambda lines: "".join(f"{line}\n" for line in lines)
    )


def mailconf_accepts(text: str, kind: str) -> bool:
    try:
        doc = mailconf.parse(text, kind=kind)
    except mailconf.ParseError:
        return False
    return not has_errors(doc.validate())  # type: ignore[attr-defined]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=20)


def daemon_check(kind: str, text: str, conf: Path) -> subprocess.CompletedProcess[str]:
    """The daemon's own check (``-n``: read the configuration, do not start) of ``text``, written
    to ``conf`` byte for byte (a CR stays a CR)."""
    binary = require_binary(kind)
    conf.write_bytes(text.encode())
    return _run([binary, "-n", "-x" if kind == "opendkim" else "-c", str(conf)])


def assert_same_verdict(kind: str, text: str, conf: Path) -> bool:
    """mailconf accepts ``text`` exactly when the daemon does; whether they do."""
    result = daemon_check(kind, text, conf)
    assert mailconf_accepts(text, kind) == (result.returncode == 0), (text, result.stderr)
    return result.returncode == 0


@pytest.fixture(scope="module")
def workdir() -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)  # type: ignore[misc]


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(text=conf_texts("opendkim"))
def test_opendkim_accepts_what_the_daemon_accepts(text: str, workdir: Path) -> None:
    conf = workdir / "opendkim.conf"
    if not assert_same_verdict("opendkim", text, conf):
        return
    binary = require_binary("opendkim")
    doc = mailconf.parse(text, kind="opendkim")
    for name, value in list(doc.typed_options().items())[:3]:  # type: ignore[attr-defined]
        shown = _run([binary, "-x", str(conf), "-e", name]).stdout.splitlines()
        expected = (
            {True: "True", False: "False"}.get(value, str(value))
            if isinstance(value, bool)
            else str(value)
        )
        assert shown and shown[0] == expected, (text, name)


@SETTINGS
@given(text=conf_texts("opendmarc"))
def test_opendmarc_accepts_what_the_daemon_accepts(text: str, workdir: Path) -> None:
    assert_same_verdict("opendmarc", text, workdir / "opendmarc.conf")


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("opendmarc", "UMask 7\r\n"),  # OpenDMARC keeps the CR: the integer is refused
        ("opendmarc", "Syslog true\r\n"),  # ...but a boolean only looks at its first character
        ("opendkim", "UMask 7\r\n"),  # OpenDKIM cuts at the CR
        ("opendkim", "Selector s\nMode v\n"),
        ("opendkim", "Selector s\n"),
        ("opendkim", "SigningTable csl:a\nMode v\n"),
        ("opendkim", "Domain example.com\n"),
        ("opendkim", "KeyTable bogus:a\n"),
        ("opendkim", "Mode v\nInternalHosts bogus:a\n"),
        ("opendkim", "Mode v\nInternalHosts csl:a,b\n"),
        ("opendkim", "Mode v\nMacroList csl:daemon_name\n"),
        ("opendkim", "Mode v\nMacroList db:/nonexistent/macros.db\n"),
        ("opendkim", "Mode v\nBogusKey tempfail\n"),
        ("opendkim", "Mode v\nATPSHashAlgorithm sha512\n"),
        ("opendmarc", "RejectString 550 5.7.1 rejected by DMARC policy for %s\n"),
        ("opendmarc", "RejectString %s%s\n"),
    ],
)
def test_daemon_edge_cases(kind: str, text: str, workdir: Path) -> None:
    assert_same_verdict(kind, text, workdir / f"{kind}.edge.conf")


def _opened_at_start() -> list[tuple[str, str]]:
    from mailconf.milter.options import path_options

    return [
        (kind, spec.name)
        for kind in ("opendkim", "opendmarc")
        for spec in path_options(kind).values()
        if spec.opens
    ]


@pytest.mark.parametrize(("kind", "name"), _opened_at_start())
def test_lint_refuses_a_missing_path_the_daemon_opens(kind: str, name: str, workdir: Path) -> None:
    """`mailconf lint` fails exactly when `-n` does for every file/directory option the option
    tables say the daemon opens at start (ReplaceRules, the Lua scripts, DomainWhitelistFile...)."""
    text = ("Mode v\n" if kind == "opendkim" else "") + f"{name} /nonexistent/mailconf\n"
    assert daemon_check(kind, text, workdir / f"{kind}.path.conf").returncode != 0
    doc = mailconf.parse(text, kind=kind)
    findings = doc.validate() + doc.lint()  # type: ignore[attr-defined]
    assert has_errors(findings), findings
