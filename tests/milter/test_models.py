"""Milter models: typed reading, edits that keep bytes and alignment, host-list matching, lint."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

import mailconf
from mailconf.findings import Severity
from mailconf.milter.datasets import compile_refile, parse_dataset
from mailconf.milter.options import parse_integer, suggest


def conf(text: str, kind: str = "opendkim"):  # type: ignore[no-untyped-def]
    return mailconf.parse(text, kind=kind)


def test_get_typed_last_wins_and_json() -> None:
    doc = conf("Syslog no\nsyslog Yes\nUMask 007\nMode sv # c\nDNSTimeout 0x10\nKeyTable /k\n")
    assert doc.get("SYSLOG") == "Yes" and doc.typed("Syslog") is True
    assert doc.typed("UMask") == 7 and doc.typed("DNSTimeout") == 16 and doc.typed("Mode") == "sv"
    assert doc.get("Nope") is None and doc.typed("Nope") is None
    assert doc.to_json() == {
        "options": {
            "Syslog": True,
            "UMask": "007",
            "Mode": "sv",
            "DNSTimeout": 16,
            "KeyTable": "/k",
        }
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("007", 7),
        ("0x1ff", 511),
        ("08", None),
        ("0x", None),
        ("-0x10", -16),
        ("12abc", None),
        ("99999999999999999999", -1),
        ("4294967297", 1),
    ],
)
def test_integers_are_c_strtol(value: str, expected: int | None) -> None:
    assert parse_integer(value) == expected


@pytest.mark.parametrize(
    ("value", "kind", "path"),
    [
        ("refile:/etc/opendkim/key.table", "refile", "/etc/opendkim/key.table"),
        ("FILE:/x", "file", "/x"),
        ("/etc/opendkim/trusted.hosts", "file", "/etc/opendkim/trusted.hosts"),
        ("/var/db/keys.db", "db", "/var/db/keys.db"),
        ("trusted.hosts", "csl", None),
        ("127.0.0.1,::1", "csl", None),
        ("a,b:c", "csl", None),
        ("dsn:mysql://u@h/db", "dsn", None),
        ("bogus:x", "unknown", None),
    ],
)
def test_dataset_specs(value: str, kind: str, path: str | None) -> None:
    spec = parse_dataset(value)
    assert (spec.kind, spec.path) == (kind, path)


def test_set_keeps_alignment_comments_and_is_idempotent() -> None:
    text = "# head\n\nSyslog\t\t\tyes   # keep\nUMask\t\t\t007\n# tail\n"
    doc = conf(text)
    assert (
        doc.set("syslog", "no") and doc.set("Mode", "sv") and doc.set("Canonicalization", "relaxed")
    )
    assert doc.dump() == (
        "# head\n\nSyslog\t\t\tno   # keep\nUMask\t\t\t007\nMode\t\t\tsv\n"
        "Canonicalization\trelaxed\n# tail\n"
    )
    before = doc.dump()
    assert not doc.set("Mode", "sv") and doc.dump() == before
    assert doc.set("SubDomains", "no", after="Syslog")
    assert doc.dump().splitlines()[3] == "SubDomains\t\tno"


def test_set_space_aligned_crlf_and_no_final_newline() -> None:
    doc = conf("Syslog       yes\r\nUMask        007", "opendmarc")
    assert doc.set("RejectFailures", "true")
    assert doc.dump() == "Syslog       yes\r\nUMask        007\r\nRejectFailures true"
    doc = conf("Syslog yes\n")
    assert doc.set("UMask", "002") and doc.dump() == "Syslog yes\nUMask 002\n"


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("Syslog", "on", "boolean"),
        ("UMask", "08", "integer"),
        ("Mode", "  ", "empty"),
        ("ResolverConfig", "/etc/unbound.conf", "ResolverConfiguration"),
        ("ADSPAction", "discard", "ADSP"),
        ("Socket", "a # b", "#"),
        ("Syslog=yes", "x", "space"),
    ],
)
def test_set_refuses_what_the_daemon_refuses(name: str, value: str, match: str) -> None:
    doc = conf("Syslog yes\n")
    with pytest.raises(mailconf.ValidationError, match=match):
        doc.set(name, value)
    assert doc.dump() == "Syslog yes\n"


def test_unset_removes_every_occurrence_with_its_comments() -> None:
    doc = conf("# heading\n\n# about mode\nMode s\nSyslog yes\nMode v\n")
    assert doc.unset("mode") and not doc.unset("Mode")
    assert doc.dump() == "# heading\n\nSyslog yes\n"
    doc = conf("Syslog yes\nMode v")
    doc.unset("Mode")
    assert doc.dump() == "Syslog yes"


def test_parse_errors_give_the_daemons_reason() -> None:
    with pytest.raises(mailconf.ParseError, match="unrecognized parameter 'Syslog=yes'"):
        conf("Syslog=yes\n")
    with pytest.raises(mailconf.ParseError, match="required value missing"):
        conf("Syslog\n")
    assert suggest("opendkim", "Canonicalisation") == "Canonicalization"


def test_validate_semantics_in_daemon_order() -> None:
    codes = [f.code for f in conf("Mode x\nCanonicalization relaxed/x\n").validate()]
    assert codes == ["milter.bad-canonicalization", "milter.bad-mode"]
    assert conf("Mode v\nSelector s\n").validate() == []
    assert [f.code for f in conf("Selector s\n").validate()] == ["milter.keyfile-selector"]


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("opendkim", "Mode v\nBogusKey reject\n", "unknown key action 'reject'"),
        ("opendkim", "Mode v\nUnprotectedKey tempfail\n", "unknown key action 'tempfail'"),
        ("opendkim", "Mode v\nATPSHashAlgorithm md5\n", 'unknown ATPS hash "md5"'),
        ("opendkim", "Mode v\nMacroList refile:/m\n", "refile:/m: invalid data set type"),
        ("opendmarc", "RejectString rejected\n", "doesn't contain %s"),
        ("opendmarc", "RejectString %s for %s\n", "contains 2 occurrences of %s"),
    ],
)
def test_validate_checks_made_after_reading(kind: str, text: str, message: str) -> None:
    findings = mailconf.parse(text, kind=kind).validate()  # type: ignore[attr-defined]
    assert [f.severity for f in findings] == [Severity.ERROR]
    assert message in findings[0].message
    ok = {"opendkim": "Mode v\nBogusKey Neutral\nATPSHashAlgorithm SHA256\nMacroList csl:a\n"}
    fine = ok.get(kind, "RejectString rejected (100%%) for %s\n")
    assert mailconf.parse(fine, kind=kind).validate() == []  # type: ignore[attr-defined]


def test_lint_conf(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/key.table").write_text("k example.com:s:/keys/s.private\n")
    (tmp_path / "etc/signing.table").write_text("*@example.com k\n*@other.org missing\n")
    (tmp_path / "etc/hosts").write_text("127.0.0.1\nlocahost\n*.example.com\n10.0.0.1/8\n")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "s.private").write_text("x")
    os.chmod(keys / "s.private", 0o644)
    os.chmod(keys, 0o777)
    doc = conf(
        "KeyTable refile:/etc/key.table\nSigningTable refile:/etc/signing.table\n"
        "InternalHosts /etc/hosts\nExternalIgnoreList trusted.hosts\nSocket local:/x.sock\n"
        "ResolverConfiguration /nope\n"
    )
    codes = sorted(f.code for f in doc.lint(root=str(tmp_path)))
    assert codes == sorted(
        [
            "milter.key-mode",
            "milter.key-unsafe-directory",
            "milter.signingtable-unknown-key",
            "milter.host-unresolvable",
            "milter.host-glob",
            "milter.cidr-host-bits",
            "milter.relative-dataset",
        ]
    )


def test_opendmarc_ignorehosts_lint(tmp_path: Path) -> None:
    (tmp_path / "ignore.hosts").write_text("127.0.0.1\n  10.0.0.0/8\n")
    doc = conf(f"IgnoreHosts {tmp_path}/ignore.hosts\nSocket bogus\n", "opendmarc")
    assert doc.dataset("IgnoreHosts").kind == "file"
    assert sorted(f.code for f in doc.lint()) == ["milter.bad-socket", "milter.indented-ignorehost"]


HOSTS = """\
127.0.0.1
localhost
.example.com
!bad.example.com
192.168.0.0/16
!192.168.5.0/24
[10.1.2.3]
2001:db8::/32
::ffff:1.2.3.4
MiXeD.org
"""


@pytest.mark.parametrize(
    ("probe", "listed"),
    [
        ("127.0.0.1", True),
        ("[127.0.0.1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("mail.example.com", True),
        ("example.com", False),
        ("bad.example.com", False),
        ("x.bad.example.com", True),  # only "!.bad.example.com" would exclude subdomains
        ("192.168.1.1", True),
        ("192.168.5.9", False),
        ("10.1.2.3", True),
        ("10.1.2.4", False),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("::ffff:1.2.3.4", True),
        ("mixed.org", True),
        ("", False),
    ],
)
def test_hostlist_match(probe: str, listed: bool) -> None:
    hosts = mailconf.parse(HOSTS, kind="hostlist")
    assert hosts.match(probe) is listed


def test_hostlist_edits() -> None:
    hosts = mailconf.parse("  127.0.0.1\n# c\n  ::1", kind="hostlist")
    assert hosts.add_host("localhost") and not hosts.add_host("LOCALHOST")
    assert hosts.dump() == "  127.0.0.1\n# c\n  ::1\n  localhost"
    assert hosts.remove_host("::1") and not hosts.remove_host("::1")
    assert hosts.dump() == "  127.0.0.1\n  localhost"


def test_keytable_and_signingtable() -> None:
    keys = mailconf.parse(
        "a\texample.com:a:/k/a\nb\texample.com:b:/k/b\na\tother:x:/y\n", kind="keytable"
    )
    assert keys.lookup("a") == "example.com:a:/k/a" and keys.lookup("A") is None
    assert [k.keyname for k in keys.entries_for("EXAMPLE.com", "b")] == ["b"]
    assert keys.add_key("new.org", "s1", "/k/new") and not keys.add_key("new.org", "s1", "/k/new")
    assert keys.dump().endswith("s1._domainkey.new.org\tnew.org:s1:/k/new\n")
    assert keys.remove_entry("a") and keys.lookup("a") is None
    signing = mailconf.parse(
        "joe@example.com  k1\nexample.com      k2\n.example.com     k3\n*                k4\n",
        kind="signingtable",
    )
    assert signing.keyname_for("joe@example.com", regex=False) == "k1"
    assert signing.keyname_for("ann@example.com", regex=False) == "k2"
    assert signing.keyname_for("ann@sub.example.com", regex=False) == "k3"
    assert signing.keyname_for("ann@else.org", regex=False) == "k4"
    assert signing.lookup("JOE@example.com", regex=False) == "k1"
    assert signing.lookup("JOE@example.com", regex=False, icase=False) is None
    assert signing.add_entry("*@new.org", "k5")
    assert signing.dump().endswith("*@new.org        k5\n")


def test_plain_refile_patterns_match_as_their_regex() -> None:
    """refile: patterns of literals and '*' are matched without compiling a regex (a miss in a
    100,000-row SigningTable compiled 100,000 of them): the answers are the regex's."""
    rng = random.Random(10)
    for _ in range(3000):
        pattern = "".join(rng.choice("aA*.+@xK\u212a") for _ in range(rng.randint(1, 6)))
        key = "".join(rng.choice("aA*.+@x-\nK\u212a") for _ in range(rng.randint(0, 7)))
        table = mailconf.parse(f"{pattern} v\n", kind="signingtable")
        for icase in (False, True):
            regex = compile_refile(pattern, icase=icase)
            expected = "v" if regex.search(key) else None
            assert table.lookup_refile(key, icase=icase) == expected, (pattern, key, icase)


def test_shellvars_quoting() -> None:
    doc = mailconf.parse(
        "RUNDIR=/run/x\nexport SOCKET='local:$RUNDIR/s' # note\nA=\"q\"\n", kind="shellvars"
    )
    assert doc.get("SOCKET") == "local:$RUNDIR/s"
    assert mailconf.parse("R=/run/x\nS=local:$R/s\n", kind="shellvars").get("S", expand=True) == (
        "local:/run/x/s"
    )
    assert doc.set("SOCKET", "inet:8891@localhost") and not doc.set("SOCKET", "inet:8891@localhost")
    assert doc.set("A", 'say "hi"') and doc.set("NEW", "x y")
    assert doc.dump() == (
        'RUNDIR=/run/x\nexport SOCKET=\'inet:8891@localhost\' # note\nA="say \\"hi\\""\nNEW="x y"\n'
    )
    assert doc.get("A") == 'say "hi"'
    assert doc.unset("NEW") and doc.get("NEW") is None
    with pytest.raises(mailconf.ValidationError):
        doc.set("1BAD", "x")


def test_daemon_first_error_reads_like_config_load() -> None:
    from mailconf.milter.options import daemon_first_error

    assert daemon_first_error("description x\nrespawn\n", "opendkim") == (
        1,
        "unrecognized parameter",
    )
    assert daemon_first_error("Syslog yes\nUMask 08\n", "opendkim") == (2, "illegal value")
    assert daemon_first_error("UMask 7\r\n", "opendkim") is None
    assert daemon_first_error("UMask 7\r\n", "opendmarc") == (1, "illegal value")
    assert daemon_first_error("  # c\n\nSyslog\n", "opendmarc") == (3, "required value missing")
