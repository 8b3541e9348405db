"""Golden: the walkthrough's edits (steps 7, 9, 12, 17-18) on Debian's shipped files, read from the
installed system at test time, give exactly these diffs; the edits are idempotent."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

import mailconf
from mailconf.milter.table_lint import lint_signingtable

STEP_7_12 = [
    ("Canonicalization", "relaxed/simple"),
    ("Mode", "sv"),
    ("SubDomains", "no"),
    ("KeyTable", "refile:/etc/opendkim/key.table"),
    ("SigningTable", "refile:/etc/opendkim/signing.table"),
    ("ExternalIgnoreList", "/etc/opendkim/trusted.hosts"),
    ("InternalHosts", "/etc/opendkim/trusted.hosts"),
    ("Socket", "local:/var/spool/postfix/opendkim/opendkim.sock"),
]
OPENDKIM_DIFF = """\
--- /etc/opendkim.conf
+++ /etc/opendkim.conf
@@ -36,3 +36,3 @@
 # configured as shown on the last line below.
-Socket\t\t\tlocal:/run/opendkim/opendkim.sock
+Socket\t\t\tlocal:/var/spool/postfix/opendkim/opendkim.sock
 #Socket\t\t\tinet:8891@localhost
@@ -50,2 +50,8 @@
 TrustAnchorFile\t\t/usr/share/dns/root.key
+Mode\t\t\tsv
+SubDomains\t\tno
+KeyTable\t\trefile:/etc/opendkim/key.table
+SigningTable\t\trefile:/etc/opendkim/signing.table
+ExternalIgnoreList\t/etc/opendkim/trusted.hosts
+InternalHosts\t\t/etc/opendkim/trusted.hosts
 #Nameservers\t\t127.0.0.1
"""
STEP_17 = [
    ("AuthservID", "OpenDMARC"),
    ("TrustedAuthservIDs", "mail.hogehoge.com"),
    ("RejectFailures", "true"),
    ("Socket", "local:/var/spool/postfix/opendmarc/opendmarc.sock"),
    ("IgnoreHosts", "/etc/opendmarc/ignore.hosts"),
    ("IgnoreAuthenticatedClients", "true"),
    ("RequiredHeaders", "true"),
    ("SPFSelfValidate", "true"),
]
OPENDMARC_DIFF = """\
--- /etc/opendmarc.conf
+++ /etc/opendmarc.conf
@@ -66,3 +66,3 @@
 #
-Socket local:/run/opendmarc/opendmarc.sock
+Socket local:/var/spool/postfix/opendmarc/opendmarc.sock
\x20
@@ -114 +114,8 @@
 UserID opendmarc
+AuthservID OpenDMARC
+TrustedAuthservIDs mail.hogehoge.com
+RejectFailures true
+IgnoreHosts /etc/opendmarc/ignore.hosts
+IgnoreAuthenticatedClients true
+RequiredHeaders true
+SPFSelfValidate true
"""
DEFAULT_DIFF = """\
--- /etc/default/opendkim
+++ /etc/default/opendkim
@@ -19,3 +19,3 @@
 # default:
-SOCKET=local:$RUNDIR/opendkim.sock
+SOCKET=local:/var/spool/postfix/opendkim/opendkim.sock
 # listen on all interfaces on port 54321:
"""


def installed(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        pytest.skip(f"{path} is not installed (Debian package opendkim/opendmarc)")
    return file


def diff(path: Path, after: str) -> str:
    before = path.read_text()
    lines = difflib.unified_diff(
        before.splitlines(True), after.splitlines(True), str(path), str(path), n=1
    )
    return "".join(lines)


@pytest.mark.parametrize(
    ("path", "edits", "expected"),
    [
        ("/etc/opendkim.conf", STEP_7_12, OPENDKIM_DIFF),
        ("/etc/opendmarc.conf", STEP_17, OPENDMARC_DIFF),
    ],
)
def test_conf_edits(path: str, edits: list[tuple[str, str]], expected: str) -> None:
    file = installed(path)
    doc = mailconf.load(file)
    for name, value in edits:
        doc.set(name, value)  # type: ignore[attr-defined]
    assert diff(file, doc.dump()) == expected
    assert doc.validate() == []  # type: ignore[attr-defined]
    again = doc.dump()
    assert not any(doc.set(name, value) for name, value in edits)  # type: ignore[attr-defined]
    assert doc.dump() == again


def test_default_socket_keeps_quoting() -> None:
    file = installed("/etc/default/opendkim")
    doc = mailconf.load(file)
    assert doc.set("SOCKET", "local:/var/spool/postfix/opendkim/opendkim.sock")  # type: ignore[attr-defined]
    assert diff(file, doc.dump()) == DEFAULT_DIFF
    quoted = mailconf.parse('SOCKET="local:/run/opendkim/opendkim.sock"\n', kind="shellvars")
    quoted.set("SOCKET", "local:/var/spool/postfix/opendkim/opendkim.sock")  # type: ignore[attr-defined]
    assert quoted.dump() == 'SOCKET="local:/var/spool/postfix/opendkim/opendkim.sock"\n'


def test_step_9_and_18_tables() -> None:
    keytable = mailconf.parse("", kind="keytable")
    assert keytable.add_key(  # type: ignore[attr-defined]
        "hogehoge.com", "default", "/etc/opendkim/keys/hogehoge.com/default.private"
    )
    assert keytable.dump() == (
        "default._domainkey.hogehoge.com "
        "hogehoge.com:default:/etc/opendkim/keys/hogehoge.com/default.private\n"
    )
    signing = mailconf.parse("", kind="signingtable")
    assert signing.add_entry("*@hogehoge.com", "default._domainkey.hogehoge.com")  # type: ignore[attr-defined]
    assert signing.lookup("info@HogeHoge.com", regex=True) == "default._domainkey.hogehoge.com"  # type: ignore[attr-defined]
    assert lint_signingtable(signing, keytable=keytable, regex=True) == []  # type: ignore[arg-type]
    hosts = mailconf.parse("", kind="hostlist")
    for host in ("127.0.0.1", "locahost", "*.hogehoge.com"):
        assert hosts.add_host(host)  # type: ignore[attr-defined]
    assert hosts.dump() == "127.0.0.1\nlocahost\n*.hogehoge.com\n"
    codes = [(f.line, f.code) for f in hosts.lint()]  # type: ignore[attr-defined]
    assert codes == [(2, "milter.host-unresolvable"), (3, "milter.host-glob")]
    ignore = mailconf.parse("", kind="hostlist")
    assert ignore.add_host("127.0.0.1") and not ignore.add_host("127.0.0.1")  # type: ignore[attr-defined]
    assert ignore.dump() == "127.0.0.1\n"
