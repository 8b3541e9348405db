"""The real validators, run against the installed postconf, opendkim and opendmarc."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailconf.system.root import SystemRoot
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
    root = SystemRoot(tmp_path)
    write(tmp_path, "/etc/postfix/main.cf", "myhostname = mail.example.test\n")
    write(tmp_path, "/etc/postfix/master.cf", "smtp inet n - y - - smtpd\n")
    check = postconf_check(root)
    assert check.ok, check.message
    write(tmp_path, "/etc/postfix/main.cf", "myhostname mail.example.test\n")
    check = postconf_check(root)
    assert not check.ok and "missing '='" in check.message


def test_postconf_missing_main_cf(tmp_path: Path) -> None:
    check = postconf_check(SystemRoot(tmp_path))
    assert not check.ok and "main.cf is missing" in check.message


def test_postfix_check_is_skipped_under_an_alternate_root(tmp_path: Path) -> None:
    check = postfix_check(SystemRoot(tmp_path))
    assert check.skipped and check.ok and "only runs on /" in check.message
