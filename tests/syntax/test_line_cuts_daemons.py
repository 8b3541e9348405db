"""Where the daemons cut a line (NUL, CR, `#`) and what they take for blanks (VT, FF), asked of
the daemons themselves: the grammars' character classes must agree with ``opendkim -n``,
``opendmarc -n``, ``opendkim -Q`` and ``postconf``.  The fuzzer found these by crashing the
models (a NUL in a KeyTable key path reached ``os.stat``); the answers here are what fixed the
grammars."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import mailconf
from mailconf.findings import has_errors
from support import require_binary

CONF_LINES = [
    "Syslog yes\0Foo\n",  # the value ends at the NUL
    "Syslog\0 yes\n",  # the name ends at the NUL: no value
    "Mode v\nBogus\0 x\n",
    "\0Bogus x\n",  # nothing before the NUL: an empty line
    "Mode\0\n",
    "UMask 0\0x\n",
    "UMask 0x\0\n",
    "x\r y\n",  # OpenDKIM: the name is "x" (cut at CR); OpenDMARC: "x\r"
    "Syslog yes\r\n",
    "\rSyslog yes\n",
    "Syslog\vyes\n",  # VT and FF are not blanks here
    "Syslog yes\f\n",
    "Syslog #yes\n",
]


def _accepts(text: str, kind: str) -> bool:
    try:
        doc = mailconf.parse(text, kind=kind)
    except mailconf.ParseError:
        return False
    return not has_errors(doc.validate())  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", CONF_LINES)
@pytest.mark.parametrize("kind", ["opendkim", "opendmarc"])
def test_conf_lines_are_accepted_as_the_daemon_accepts_them(
    kind: str, text: str, tmp_path: Path
) -> None:
    binary = require_binary(kind)
    conf = tmp_path / f"{kind}.conf"
    conf.write_bytes(text.encode())
    flag = "-x" if kind == "opendkim" else "-c"
    result = subprocess.run([binary, "-n", flag, str(conf)], capture_output=True, timeout=20)
    assert _accepts(text, kind) == (result.returncode == 0), (text, result.stderr)


@pytest.mark.parametrize(
    ("text", "name"),
    [("Syslog yes\0Foo\n", "Syslog"), ("UMask 0\0x\n", "UMask"), ("Syslog yes\r\n", "Syslog")],
)
def test_opendkim_reads_the_value_before_the_cut(text: str, name: str, tmp_path: Path) -> None:
    binary = require_binary("opendkim")
    conf = tmp_path / "opendkim.conf"
    conf.write_bytes(text.encode())
    shown = subprocess.run(
        [binary, "-x", str(conf), "-e", name], capture_output=True, text=True, timeout=20
    ).stdout.splitlines()
    value = mailconf.parse(text, kind="opendkim").typed(name)  # type: ignore[attr-defined]
    expected = str(value)  # opendkim -e prints booleans as True/False, integers in decimal
    assert shown and shown[0] == expected


TABLE = "a\0b val\nc val\0x\n\0d v\ne v\r\nf\vv\ng  v v \v\n\0\nh v#x\n"


@pytest.mark.parametrize("key", ["a", "c", "d", "e", "f", "g", "h"])
def test_table_lookups_cut_at_nul_like_opendkim_q(key: str, tmp_path: Path) -> None:
    binary = require_binary("opendkim")
    path = tmp_path / "key.table"
    path.write_bytes(TABLE.encode())
    table = mailconf.parse(TABLE, kind="keytable")
    result = subprocess.run(
        [binary, "-Q"], input=f"file:{path}\n{key}/1\n", capture_output=True, text=True, timeout=20
    )
    lines = result.stdout.splitlines()
    expected = None if not lines or "record not found" in lines[0] else lines[0][1:-1]
    assert table.lookup(key) == expected, (key, result)  # type: ignore[attr-defined]


MAIN_CF = [
    ("a = 1\n\0b = 2\n", None),  # a line starting with NUL has an empty name
    ("my\0host = x\n", None),
    ("myhostname = a\0b\n", "a"),
    ("myhostname = a\n \0b\n", "a"),
    ("myhostname\0 = a\n", None),
    ("myhostname = a\n#\0\n b\n", "a b"),
    ("myhostname =\va\f\n", "a"),
]


@pytest.mark.parametrize(("text", "value"), MAIN_CF)
def test_main_cf_nul_ends_the_logical_line_like_postconf(
    text: str, value: str | None, tmp_path: Path
) -> None:
    binary = require_binary("postconf")
    (tmp_path / "main.cf").write_bytes(text.encode())
    (tmp_path / "master.cf").write_text("")
    result = subprocess.run(
        [binary, "-c", str(tmp_path), "-h", "myhostname"], capture_output=True, timeout=20
    )
    try:
        doc = mailconf.parse(text, kind="postfix-main")
    except mailconf.ParseError:
        assert result.returncode != 0
        assert value is None
        return
    assert result.returncode == 0
    assert doc.get("myhostname") == value  # type: ignore[attr-defined]
    assert result.stdout.decode().strip() == value
