"""The real validators, run against the installed postconf, opendkim and opendmarc."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from mailconf.system.root import SystemRoot
from mailconf.system.run import CommandResult, run
from mailconf.system.validate import (
    OPENDKIM_DATASET_OPTIONS,
    OPENDKIM_PATH_OPTIONS,
    opendkim_check,
    opendmarc_check,
    postconf_check,
    postfix_check,
    rewrite_conf_for_root,
)


def need(program: str) -> None:
    if shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        pytest.skip(f"{program} is not installed on this machine")


def write(root: Path, system_path: str, text: str) -> None:
    path = root / system_path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


DKIM_CONF = """Syslog yes
Socket local:/var/spool/postfix/opendkim/opendkim.sock   # comment
KeyTable refile:/etc/opendkim/key.table
SigningTable refile:/etc/opendkim/signing.table
ExternalIgnoreList /etc/opendkim/trusted.hosts
InternalHosts\t/etc/opendkim/trusted.hosts
OversignHeaders From
"""


def dkim_root(tmp_path: Path) -> SystemRoot:
    write(tmp_path, "/etc/opendkim.conf", DKIM_CONF)
    write(tmp_path, "/etc/opendkim/key.table", "k example.test:default:/etc/opendkim/k.private\n")
    write(tmp_path, "/etc/opendkim/signing.table", "*@example.test k\n")
    write(tmp_path, "/etc/opendkim/trusted.hosts", "127.0.0.1\nlocalhost\n")
    return SystemRoot(tmp_path)


def postfix_root(tmp_path: Path) -> SystemRoot:
    write(tmp_path, "/etc/postfix/main.cf", "myhostname = mail.example.test\n")
    write(tmp_path, "/etc/postfix/master.cf", "smtp inet n - y - - smtpd\n")
    return SystemRoot(tmp_path)


def test_opendkim_alternate_root_validates_the_root_data_sets(tmp_path: Path) -> None:
    need("opendkim")
    root = dkim_root(tmp_path)
    check = opendkim_check(root)
    assert check.ok and not check.skipped, check.message
    ok, message = check
    assert ok and message == ""

    # The real /etc/opendkim/key.table is not what is checked: remove the root's copy.
    (tmp_path / "etc/opendkim/key.table").unlink()
    check = opendkim_check(root)
    assert not check.ok
    assert "/etc/opendkim/key.table" in check.message
    assert str(tmp_path) not in check.message  # reported with system paths
    assert "mailconf-validate" not in check.message


def test_opendkim_rejects_unknown_option(tmp_path: Path) -> None:
    need("opendkim")
    root = dkim_root(tmp_path)
    write(tmp_path, "/etc/opendkim.conf", DKIM_CONF + "NoSuchOption yes\n")
    check = opendkim_check(root)
    assert not check.ok
    assert "/etc/opendkim.conf" in check.message and "line 8" in check.message


def test_opendkim_include_is_followed_inside_the_root(tmp_path: Path) -> None:
    need("opendkim")
    root = dkim_root(tmp_path)
    write(tmp_path, "/etc/opendkim.conf", "Include /etc/opendkim/extra.conf\n" + DKIM_CONF)
    write(tmp_path, "/etc/opendkim/extra.conf", "PeerList /etc/opendkim/peers\n")
    assert not opendkim_check(root).ok
    write(tmp_path, "/etc/opendkim/peers", "10.0.0.1\n")
    check = opendkim_check(root)
    assert check.ok, check.message


def test_rewrite_keeps_lines_and_leaves_non_files_alone(tmp_path: Path) -> None:
    root = SystemRoot(tmp_path)
    text = (
        "KeyTable file:/etc/k # c\r\n"
        "SigningTable csl:a=b\n"
        "OversignHeaders From\n"
        "MTA ldap://x/y\n"
        "Domain /etc/domains.db\n"
        "KeyFile /etc/dkim.key\n"
    )
    out = rewrite_conf_for_root(root, text, OPENDKIM_PATH_OPTIONS, OPENDKIM_DATASET_OPTIONS)
    lines = out.splitlines()
    assert lines[0] == f"KeyTable file:{tmp_path}/etc/k"
    assert lines[1:4] == ["SigningTable csl:a=b", "OversignHeaders From", "MTA ldap://x/y"]
    assert lines[4] == f"Domain {tmp_path}/etc/domains.db"
    assert lines[5] == f"KeyFile {tmp_path}/etc/dkim.key"


def test_rewrite_follows_the_option_tables_and_dataset_types(tmp_path: Path) -> None:
    """Every path option of the measured tables is moved, every data-set type naming a local
    file (``lua:`` too), and a value OpenDKIM reads as an unknown type is left as written."""
    root = SystemRoot(tmp_path)
    text = (
        "InternalHosts LUA:/etc/hosts.lua\n"
        "ReplaceHeaders /etc/replace.hosts\n"
        "ExternalIgnoreList /etc/a:b\n"
        "PeerList refile:peers\n"
    )
    out = rewrite_conf_for_root(root, text, OPENDKIM_PATH_OPTIONS, OPENDKIM_DATASET_OPTIONS)
    assert out.splitlines() == [
        f"InternalHosts LUA:{tmp_path}/etc/hosts.lua",
        f"ReplaceHeaders {tmp_path}/etc/replace.hosts",
        "ExternalIgnoreList /etc/a:b",
        "PeerList refile:peers",
    ]


def test_opendkim_alternate_root_opens_the_roots_replaceheaders(tmp_path: Path) -> None:
    need("opendkim")
    root = SystemRoot(tmp_path)
    write(tmp_path, "/etc/opendkim.conf", "Mode v\nReplaceHeaders /etc/mailconf-rh.list\n")
    assert not opendkim_check(root).ok  # neither the root's file nor the real one exists
    write(tmp_path, "/etc/mailconf-rh.list", "subject\n")
    check = opendkim_check(root)
    assert check.ok, check.message


def test_opendmarc_validates(tmp_path: Path) -> None:
    need("opendmarc")
    root = SystemRoot(tmp_path)
    write(tmp_path, "/etc/opendmarc.conf", "Socket local:/x\nRejectFailures true\n")
    assert opendmarc_check(root).ok
    write(tmp_path, "/etc/opendmarc.conf", "Socket local:/x\nRejectFailures on\n")
    check = opendmarc_check(root)
    assert not check.ok and "illegal value" in check.message
    write(tmp_path, "/etc/opendmarc.conf", "Socket local:/x\nDomainWhitelistFile /etc/wl\n")
    assert not opendmarc_check(root).ok  # the root's /etc/wl is missing
    write(tmp_path, "/etc/wl", "example.test\n")
    assert opendmarc_check(root).ok


def test_postconf_on_an_alternate_directory(tmp_path: Path) -> None:
    need("postconf")
    root = postfix_root(tmp_path)
    check = postconf_check(root)
    assert check.ok, check.message
    write(tmp_path, "/etc/postfix/main.cf", "myhostname mail.example.test\n")
    check = postconf_check(root)
    assert not check.ok and "missing '='" in check.message


def test_postconf_does_not_wait_for_a_main_cf_just_written(tmp_path: Path) -> None:
    """postconf waits for a main.cf changed in the last second or two to cool down (its own
    verbose log says so); the check of the files in place, as an apply runs it just after
    writing them, hands postconf aged private copies of the same bytes: no wait, and the real
    files keep their mtime."""
    need("postconf")
    root = SystemRoot(tmp_path)
    write(tmp_path, "/etc/postfix/master.cf", "smtp inet n - y - - smtpd\n")
    main = tmp_path / "etc/postfix/main.cf"
    write(tmp_path, "/etc/postfix/main.cf", "myhostname = mail.example.test\n")
    hot = run(["postconf", "-v", "-v", "-c", str(main.parent), "-n"], timeout=30)
    assert "cool down" in hot.stderr  # the daemon itself waits on the file in place
    write(tmp_path, "/etc/postfix/main.cf", "myhostname = mail2.example.test\n")
    written = main.stat().st_mtime_ns
    seen: list[str] = []

    def verbose(
        argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        copy = Path(argv[2]) / "main.cf"
        assert copy.read_bytes() == main.read_bytes()
        logged = run([argv[0], "-v", "-v", *argv[1:]], timeout=timeout, env=env)
        seen.append(logged.stderr)
        return run(argv, timeout=timeout, env=env)

    check = postconf_check(root, runner=verbose)
    assert check.ok, check.message
    assert len(seen) == 2 and not [log for log in seen if "cool down" in log]
    assert main.stat().st_mtime_ns == written


def test_postconf_missing_main_cf(tmp_path: Path) -> None:
    check = postconf_check(SystemRoot(tmp_path))
    assert not check.ok and "main.cf is missing" in check.message


def test_postfix_check_is_skipped_under_an_alternate_root(tmp_path: Path) -> None:
    check = postfix_check(SystemRoot(tmp_path))
    assert check.skipped and check.ok and "only runs on /" in check.message


# ------------------------------------------------------------------ planned (staged) content
BAD_SIGNING = b"*@[bad x\n"


def test_staged_content_is_what_the_daemon_reads(tmp_path: Path) -> None:
    """The planned file is checked, not the one in place, and the one in place is untouched."""
    need("opendkim")
    root = dkim_root(tmp_path)
    real = tmp_path / "etc/opendkim/signing.table"
    planned = {"/etc/opendkim/signing.table": BAD_SIGNING}
    check = opendkim_check(root, staged=planned)
    assert not check.ok and "regular expression" in check.message
    assert "/etc/opendkim/signing.table" in check.message  # the file, by its system path
    assert "mailconf-validate" not in check.message and str(tmp_path) not in check.message
    assert check.conf == "/etc/opendkim.conf"
    assert real.read_text() == "*@example.test k\n"
    # And the other way round: the file in place is bad, the planned one is good.
    real.write_bytes(BAD_SIGNING)
    assert not opendkim_check(root).ok
    check = opendkim_check(root, staged={"/etc/opendkim/signing.table": b"*@example.test k\n"})
    assert check.ok, check.message
    assert real.read_bytes() == BAD_SIGNING


def test_staged_configuration_and_removed_file(tmp_path: Path) -> None:
    need("opendkim")
    root = dkim_root(tmp_path)
    conf = DKIM_CONF + "NoSuchOption yes\n"
    check = opendkim_check(root, staged={"/etc/opendkim.conf": conf.encode()})
    assert not check.ok and "/etc/opendkim.conf" in check.message and "line 8" in check.message
    # A data set the plan removes is missing for the daemon, though it is still in place.
    check = opendkim_check(root, staged={"/etc/opendkim/key.table": None})
    assert not check.ok and "/etc/opendkim/key.table" in check.message


def test_staged_opendmarc_conf(tmp_path: Path) -> None:
    need("opendmarc")
    root = SystemRoot(tmp_path)
    write(tmp_path, "/etc/opendmarc.conf", "Socket local:/x\nRejectFailures true\n")
    staged = {"/etc/opendmarc.conf": b"Socket local:/x\nRejectFailures on\n"}
    check = opendmarc_check(root, staged=staged)
    assert not check.ok and "illegal value" in check.message
    assert opendmarc_check(root).ok


def test_staged_master_cf_refused_by_postconf(tmp_path: Path) -> None:
    need("postconf")
    root = postfix_root(tmp_path)
    staged = {"/etc/postfix/master.cf": b"smtp inet n - y - - smtpd\nbad inet n - n\n"}
    check = postconf_check(root, staged=staged)
    assert not check.ok and "bad field count" in check.message
    assert "/etc/postfix/master.cf" in check.message and "mailconf-validate" not in check.message
    assert postconf_check(root).ok  # the files in place are untouched and fine
    # A planned main.cf is read with the master.cf in place (postconf reads the two together).
    staged = {"/etc/postfix/main.cf": b"myhostname mail.example.test\n"}
    check = postconf_check(root, staged=staged)
    assert not check.ok and "missing '='" in check.message


def test_staged_check_on_the_live_root_writes_nothing_there() -> None:
    """On ``/`` too the planned files go to a private scratch directory, never to /etc."""
    need("postconf")
    if os.geteuid() != 0 or not Path("/etc/postfix/main.cf").is_file():
        pytest.skip("needs root and an installed Postfix configuration")
    before = Path("/etc/postfix/master.cf").read_bytes()
    seen: list[tuple[str, int, int]] = []

    def spy(
        argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        directory = Path(argv[2])
        info = directory.stat()
        seen.append((str(directory.parent), stat.S_IMODE(info.st_mode), info.st_uid))
        return run(argv, timeout=timeout, env=env)

    staged = {"/etc/postfix/master.cf": before + b"bad inet n - n\n"}
    check = postconf_check(SystemRoot.live(), staged=staged, runner=spy)
    assert not check.ok and "bad field count" in check.message
    assert "/etc/postfix/master.cf" in check.message
    assert Path("/etc/postfix/master.cf").read_bytes() == before
    assert seen and all(place == ("/run", 0o700, 0) for place in seen)
    scratch = Path(check.argv[2]) if check.argv else None
    assert scratch is not None and not scratch.exists()  # removed afterwards


def test_postfix_check_never_runs_on_planned_files() -> None:
    """Even for a plan that changes no file (directories only): it would check, and repair, the
    live spool before the apply wrote anything."""
    for staged in ({"/etc/postfix/main.cf": b""}, {}):
        check = postfix_check(SystemRoot.live(), staged=staged)
        assert check.skipped and check.ok and "once written" in check.message
