"""`mailconf get/show/edit/lint/lookup` on every kind, through the real command line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from support import require_binary


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailconf", *argv], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def system(tmp_path: Path) -> Path:
    """A small tree with the milters' sockets configured the walkthrough's way."""
    (tmp_path / "etc/postfix").mkdir(parents=True)
    (tmp_path / "etc/default").mkdir()
    (tmp_path / "etc/postfix/main.cf").write_text(
        "myhostname = mail.example.com\n"
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
        "smtpd_recipient_restrictions =\n"
        "    permit_mynetworks,\n"
        "    reject_unauth_destination\n"
    )
    (tmp_path / "etc/postfix/master.cf").write_text(
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "policyd-spf  unix  -       n       n       -       0       spawn\n"
        "  user=policyd-spf argv=/usr/bin/policyd-spf\n"
    )
    (tmp_path / "etc/opendkim.conf").write_text(
        "Socket\t\t\tlocal:/var/spool/postfix/opendkim/opendkim.sock\n"
    )
    (tmp_path / "etc/opendmarc.conf").write_text("Socket inet:8893@localhost\n")
    (tmp_path / "etc/default/opendkim").write_text(
        'RUNDIR=/run/opendkim\nSOCKET="local:/var/spool/postfix/opendkim/opendkim.sock"\n'
    )
    return tmp_path


def test_add_milter_by_daemon_name_resolves_the_local_sockets(system: Path) -> None:
    main = system / "etc/postfix/main.cf"
    os.chmod(main, 0o640)
    for name in ("opendmarc", "opendkim", "opendkim"):
        result = run("edit", str(main), "--root", str(system), "--add-milter", name)
        assert result.returncode == 0, result.stderr
    assert run("get", str(main), "smtpd_milters").stdout == (
        "local:opendkim/opendkim.sock, inet:localhost:8893\n"
    )
    assert stat.S_IMODE(main.stat().st_mode) == 0o640


def test_add_restriction_after_relay_check_and_refusal_exit_1(system: Path) -> None:
    main = system / "etc/postfix/main.cf"
    policy = "check_policy_service unix:private/policyd-spf"
    result = run(
        "edit", str(main), "--add-restriction", "smtpd_recipient_restrictions", policy, "--last"
    )
    assert result.returncode == 0, result.stderr
    assert main.read_text().endswith("    reject_unauth_destination,\n    " + policy + "\n")
    before = main.read_text()
    refused = run(
        "edit",
        str(main),
        "--add-restriction",
        "smtpd_recipient_restrictions",
        "permit",
        "--after",
        "permit_mynetworks",
    )
    assert refused.returncode == 1
    assert "relay" in refused.stderr
    assert main.read_text() == before


def test_add_service_and_master_json(system: Path) -> None:
    master = system / "etc/postfix/master.cf"
    line = "policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf"
    assert run("edit", str(master), "--add-service", line).returncode == 0
    assert run("edit", str(master), "--add-service", line).returncode == 0  # idempotent
    services = json.loads(run("show", str(master), "--json").stdout)["services"]
    assert [s["name"] for s in services] == ["smtp", "policyd-spf"]
    spf = services[1]
    assert (spf["type"], spf["unpriv"], spf["maxproc"], spf["command"]) == (
        "unix",
        "n",
        "0",
        "spawn",
    )
    assert spf["args"] == ["user=policyd-spf", "argv=/usr/bin/policyd-spf"]


def test_diff_shows_the_change_and_writes_nothing(system: Path) -> None:
    conf = system / "etc/opendkim.conf"
    before = conf.read_text()
    result = run("edit", str(conf), "--set", "Mode=sv", "--diff")
    assert result.returncode == 0
    assert "+Mode" in result.stdout
    assert conf.read_text() == before


def test_opendkim_show_is_typed_and_bad_values_are_refused(system: Path) -> None:
    conf = system / "etc/opendkim.conf"
    assert run("edit", str(conf), "--set", "SubDomains=no", "--set", "UMask=007").returncode == 0
    options = json.loads(run("show", str(conf), "--json").stdout)["options"]
    assert options["SubDomains"] is False
    assert options["UMask"] == "007"  # a file mode: as written, as `show` and `get` print it
    refused = run("edit", str(conf), "--set", "SubDomains=off")
    assert refused.returncode == 2  # a value that is not a boolean: a bad argument
    assert "Traceback" not in refused.stderr


def test_tables_edit_show_and_lookup(tmp_path: Path) -> None:
    keys = tmp_path / "key.table"
    signing = tmp_path / "signing.table"
    hosts = tmp_path / "trusted.hosts"
    for path in (keys, signing, hosts):
        path.write_text("")
    keypath = "/etc/opendkim/keys/example.com/default.private"
    row = f"default._domainkey.example.com example.com:default:{keypath}"
    assert run("edit", str(keys), "--add-entry", row).returncode == 0
    assert (
        run(
            "edit", str(signing), "--add-entry", "*@example.com default._domainkey.example.com"
        ).returncode
        == 0
    )
    assert (
        run("edit", str(hosts), "--add-host", "127.0.0.1", "--add-host", ".example.com").returncode
        == 0
    )
    assert json.loads(run("show", str(hosts), "--json").stdout) == {
        "hosts": ["127.0.0.1", ".example.com"]
    }
    found = run("lookup", str(signing), "user@example.com")
    assert (found.returncode, found.stdout) == (0, "default._domainkey.example.com\n")
    assert run("lookup", str(signing), "user@example.org").returncode == 1
    answer = run("lookup", str(keys), "default._domainkey.example.com").stdout.strip()
    assert answer == "example.com:default:/etc/opendkim/keys/example.com/default.private"
    assert run("lookup", str(hosts), "mail.example.com").stdout == "match\n"
    assert run("lookup", str(hosts), "example.org").returncode == 1
    assert run("edit", str(hosts), "--remove-host", ".example.com").returncode == 0
    assert hosts.read_text() == "127.0.0.1\n"


@pytest.mark.parametrize(
    "body",
    [
        "Mode sv\n",
        "Mode sv\nSubDomains off\n",
        "Mode sv\nBogusOption 1\n",
        "Mode sv\nKeyTable file:{dir}/missing\nSigningTable refile:{dir}/signing\n",
        "Mode sv\nKeyTable file:{dir}/keys\nSigningTable refile:{dir}/signing\n",
        "Mode sv\nUMask 08\n",
    ],
)
def test_lint_exit_status_agrees_with_opendkim_n(tmp_path: Path, body: str) -> None:
    opendkim = require_binary("opendkim")
    (tmp_path / "keys").write_text("")
    (tmp_path / "signing").write_text("")
    conf = tmp_path / "opendkim.conf"
    conf.write_text(body.format(dir=tmp_path))
    daemon = subprocess.run([opendkim, "-n", "-x", str(conf)], capture_output=True, timeout=30)
    ours = run("lint", str(conf))
    assert (ours.returncode == 0) == (daemon.returncode == 0), ours.stdout + ours.stderr


@pytest.mark.parametrize(
    ("name", "text", "shown"),
    [
        ("main.cf", "# c\nmynetworks =\n  127.0.0.0/8\nbiff=no\nmyhostname = a.example\n", None),
        ("opendkim.conf", "UMask\t\t022\nMode sv # comment\n", "UMask 022\nMode sv\n"),
        ("key.table", "k  d:s:/p\n# c\n", "k d:s:/p\n"),
        ("trusted.hosts", "# c\n127.0.0.1\n  localhost\n", "127.0.0.1\nlocalhost\n"),
        ("default/opendkim", 'SOCKET="local:/x"\n', "SOCKET=local:/x\n"),
        (
            "master.cf",
            "smtp inet n - y - - smtpd\n  -o smtpd_milters=\n",
            "smtp       inet  n       -       y       -       -       smtpd -o smtpd_milters=\n",
        ),
    ],
)
def test_show_prints_a_human_view(tmp_path: Path, name: str, text: str, shown: str) -> None:
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    result = run("show", str(path))
    assert result.returncode == 0, result.stderr
    if shown is None:  # main.cf: what postconf -n prints
        postconf = require_binary("postconf")
        shown = subprocess.run(
            [postconf, "-c", str(tmp_path), "-n"], capture_output=True, text=True, check=True
        ).stdout
        expected = [line for line in shown.splitlines() if not line.startswith("config_dir")]
        assert result.stdout.splitlines() == expected
    else:
        assert result.stdout == shown


@pytest.mark.parametrize(
    ("name", "text"),
    [("key.table", "k d:s:/p\n"), ("signing.table", "*@a.example k\n"), ("trusted.hosts", "::1\n")],
)
def test_lookup_says_no_match_for_every_kind(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = run("lookup", str(path), "nothing@b.example")
    assert (result.returncode, result.stdout) == (1, "no match\n")


def test_milter_edits_follow_the_chroot_and_removal_always_works(system: Path) -> None:
    main = system / "etc/postfix/main.cf"
    (system / "etc/opendmarc.conf").write_text("Socket local:/run/opendmarc/opendmarc.sock\n")
    refused = run("edit", str(main), "--root", str(system), "--add-milter", "opendmarc")
    assert refused.returncode == 1
    assert "smtp/inet run(s) chrooted" in refused.stderr
    assert "opendmarc/opendmarc.sock" in refused.stderr and "opendkim.sock" not in refused.stderr
    master = system / "etc/postfix/master.cf"
    master.write_text(
        master.read_text().replace(
            "y       -       -       smtpd", "n" + " " * 7 + "-       -       smtpd"
        )
    )
    added = run("edit", str(main), "--root", str(system), "--add-milter", "opendmarc")
    assert added.returncode == 0, added.stderr
    assert run("get", str(main), "smtpd_milters").stdout == "local:/run/opendmarc/opendmarc.sock\n"
    assert run("get", str(main), "non_smtpd_milters").stdout == "$smtpd_milters\n"
    master.write_text(
        master.read_text().replace("n       -       -       smtpd", "y       -       -       smtpd")
    )
    removed = run("edit", str(main), "--root", str(system), "--remove-milter", "opendmarc")
    assert removed.returncode == 0, removed.stderr
    assert run("get", str(main), "smtpd_milters").stdout == "\n"


def test_fmt_aligns_the_values_and_the_daemon_reads_the_same(tmp_path: Path) -> None:
    conf = tmp_path / "opendkim.conf"
    original = (
        "Syslog yes\n"
        "  UMask\t007\n"
        "# Canonicalization simple\n"
        "Canonicalization   relaxed/simple # trailing comment\n"
        "Socket inet:8891@localhost\n"
    )
    conf.write_text(original)
    os.chmod(conf, 0o640)
    check = run("fmt", "--check", str(conf))
    assert check.returncode == 1 and "+Canonicalization relaxed/simple" in check.stdout
    assert conf.read_text() == original
    assert run("fmt", str(conf)).returncode == 0
    assert conf.read_text() == (
        "Syslog           yes\n"
        "  UMask          007\n"
        "# Canonicalization simple\n"
        "Canonicalization relaxed/simple # trailing comment\n"
        "Socket           inet:8891@localhost\n"
    )
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert run("fmt", "--check", str(conf)).returncode == 0
    opendkim = require_binary("opendkim")
    for text in (original, conf.read_text()):  # the daemon accepts both alike
        conf.write_text(text)
        result = subprocess.run([opendkim, "-n", "-x", str(conf)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    table = tmp_path / "key.table"
    table.write_text("a._domainkey.a.example\ta.example:a:/k/a\nb\tb.example:b:/k/b\n")
    assert run("fmt", str(table)).returncode == 0
    assert table.read_text() == (
        "a._domainkey.a.example\ta.example:a:/k/a\nb\t\t\tb.example:b:/k/b\n"
    )


@pytest.mark.parametrize("kind", ["opendkim", "opendmarc"])
@pytest.mark.parametrize("written", ["022", "0027", "18"])
def test_a_file_mode_reads_the_same_in_show_json_and_get(
    tmp_path: Path, kind: str, written: str
) -> None:
    """``UMask 022``: one truth, the value as written, in the human view, JSON and ``get``
    (the daemon's integer, 18, is what the model's ``typed`` gives)."""
    from mailconf.milter.options import MODE_OPTIONS, option_spec

    conf = tmp_path / f"{kind}.conf"
    conf.write_text(f"Syslog yes\nUMask\t{written}\n")
    for name in MODE_OPTIONS:  # each mode option is a known integer option of both daemons
        spec = option_spec(kind, name)
        assert spec is not None and spec.type == "integer", name
    human = run("show", str(conf)).stdout.splitlines()
    options = json.loads(run("show", str(conf), "--json").stdout)["options"]
    got = run("get", str(conf), "UMask").stdout.strip()
    assert f"UMask {written}" in human and options["UMask"] == written and got == written
    assert options["Syslog"] is True  # the other options stay typed
