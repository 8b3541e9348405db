"""Milters compared by the endpoint Postfix connects to, the chroot read per service from
master.cf, and non_smtpd_milters kept in step with smtpd_milters (MILTER_README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailconf.errors import EditError
from mailconf.postfix.main import MainCf
from mailconf.postfix.master import MasterCf
from mailconf.postfix.milters import (
    Endpoint,
    add_milter,
    chrooted_services,
    maybe_same_daemon,
    milter_endpoint,
    remove_milter,
    same_milter,
)


@pytest.mark.parametrize(
    ("first", "second", "chrooted", "same"),
    [
        ("unix:opendkim/opendkim.sock", "local:opendkim/opendkim.sock", True, True),
        ("unix:/opendkim/opendkim.sock", "local:opendkim/opendkim.sock", True, True),
        ("unix:/opendkim/opendkim.sock", "local:opendkim/opendkim.sock", False, False),
        ("local:opendkim/./opendkim.sock", "{ local:opendkim/opendkim.sock, x=1 }", True, True),
        ("local:/run/a.sock", "local:/run/a.sock", False, True),
        ("local:/var/spool/postfix/a.sock", "local:a.sock", False, True),
        ("inet:127.0.0.1:8891", "inet:127.0.0.1:8891", True, True),
        ("inet:localhost:8891", "inet:127.0.0.1:8891", True, False),
        ("inet:[::1]:8891", "inet:[::1]:8891", True, True),
        ("inet:127.0.0.1:8891", "inet:127.0.0.1:8893", True, False),
        ("unix:x.sock", "inet:127.0.0.1:8891", True, False),
    ],
)
def test_same_milter_compares_endpoints(
    first: str, second: str, chrooted: bool, same: bool
) -> None:
    assert same_milter(first, second, chrooted=chrooted) is same
    assert same_milter(second, first, chrooted=chrooted) is same


def test_endpoints_and_the_same_daemon_warning() -> None:
    assert milter_endpoint("local:x/y.sock") == Endpoint("unix", "/var/spool/postfix/x/y.sock")
    assert milter_endpoint("inet6:8891") is None  # Postfix's milter client has no inet6
    assert milter_endpoint("opendkim") is None
    localhost = milter_endpoint("inet:localhost:8891")
    loopback = milter_endpoint("inet:127.0.0.1:8891")
    other_port = milter_endpoint("inet:127.0.0.1:8893")
    remote = milter_endpoint("inet:192.0.2.1:8891")
    assert localhost and loopback and other_port and remote
    assert maybe_same_daemon(localhost, loopback)
    assert not maybe_same_daemon(loopback, loopback)
    assert not maybe_same_daemon(localhost, other_port)
    assert not maybe_same_daemon(localhost, remote)


MASTER_Y = "smtp      inet  n       -       y       -       -       smtpd\n"
MASTER_N = "smtp      inet  n       -       n       -       -       smtpd\n"
MASTER_DASH = "smtp      inet  n       -       -       -       -       smtpd\n"
CLEANUP_Y = "cleanup   unix  n       -       y       -       0       cleanup\n"


def test_chroot_is_read_per_service() -> None:
    master = MasterCf.parse(MASTER_Y + MASTER_N.replace("smtp ", "smtps") + CLEANUP_Y)
    assert chrooted_services(master, "smtpd") == ["smtp/inet"]
    assert chrooted_services(master, "cleanup") == ["cleanup/unix"]
    # '-' is the compiled default: n since Postfix 3.0 (master(5)); the suite's Postfix is newer
    assert chrooted_services(MasterCf.parse(MASTER_DASH), "smtpd") == []
    assert chrooted_services(None, "smtpd") == ["(no master.cf)"]


def tree(tmp_path: Path, main: str, master: str, dkim_socket: str) -> Path:
    (tmp_path / "etc/postfix").mkdir(parents=True)
    (tmp_path / "etc/postfix/main.cf").write_text(main)
    (tmp_path / "etc/postfix/master.cf").write_text(master)
    (tmp_path / "etc/opendkim.conf").write_text(f"Socket {dkim_socket}\n")
    (tmp_path / "etc/opendmarc.conf").write_text("Socket local:/run/opendmarc/opendmarc.sock\n")
    return tmp_path


def load(root: Path) -> MainCf:
    return MainCf.load(root / "etc/postfix/main.cf")


def test_add_by_name_finds_the_milter_however_it_is_spelled(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        "smtpd_milters = unix:/opendkim/opendkim.sock\nnon_smtpd_milters = $smtpd_milters\n",
        MASTER_Y + CLEANUP_Y,
        "local:/var/spool/postfix/opendkim/opendkim.sock",
    )
    main = load(root)
    before = main.dump()
    assert add_milter(main, "opendkim", param="smtpd_milters", root=str(root)) is False
    assert (
        add_milter(main, "local:opendkim/opendkim.sock", param="smtpd_milters", root="/") is False
    )
    assert main.dump() == before


def test_add_fills_non_smtpd_milters_and_remove_keeps_both(tmp_path: Path) -> None:
    root = tree(tmp_path, "myhostname = m.example\n", MASTER_Y + CLEANUP_Y, "inet:8891@127.0.0.1")
    main = load(root)
    assert add_milter(main, "opendkim", param="smtpd_milters", root=str(root)) is True
    assert main.get("smtpd_milters") == "inet:127.0.0.1:8891"
    assert main.get("non_smtpd_milters") == "$smtpd_milters"
    assert add_milter(main, "opendkim", param="smtpd_milters", root=str(root)) is False
    # An explicit list of its own gets the milter too, and loses it on removal.
    main.set("non_smtpd_milters", "inet:127.0.0.1:9999")
    assert add_milter(main, "inet:127.0.0.1:8893", param="smtpd_milters", root=str(root))
    assert main.list_items("non_smtpd_milters") == ["inet:127.0.0.1:9999", "inet:127.0.0.1:8893"]
    assert remove_milter(main, "inet:127.0.0.1:8893", param="smtpd_milters", root=str(root))
    assert main.get("non_smtpd_milters") == "inet:127.0.0.1:9999"
    assert main.get("smtpd_milters") == "inet:127.0.0.1:8891"
    # An explicitly empty one is the admin's choice.
    main.set("non_smtpd_milters", "")
    assert add_milter(main, "inet:127.0.0.1:8893", param="smtpd_milters", root=str(root))
    assert main.get("non_smtpd_milters") == ""


def test_a_socket_outside_the_queue_is_fine_when_nothing_runs_chrooted(tmp_path: Path) -> None:
    root = tree(tmp_path, "", MASTER_DASH, "local:/run/opendkim/opendkim.sock")
    main = load(root)
    assert add_milter(main, "opendkim", param="smtpd_milters", root=str(root))
    assert main.get("smtpd_milters") == "local:/run/opendkim/opendkim.sock"
    assert main.get("non_smtpd_milters") == "$smtpd_milters"


def test_refused_naming_the_chrooted_service_and_the_daemons_path(tmp_path: Path) -> None:
    root = tree(tmp_path, "", MASTER_N + CLEANUP_Y, "local:/run/opendkim/opendkim.sock")
    main = load(root)
    with pytest.raises(EditError, match=r"cleanup/unix .*opendmarc/opendmarc\.sock"):
        add_milter(main, "opendmarc", param="smtpd_milters", root=str(root))
    root2 = tree(tmp_path / "b", "", MASTER_Y, "local:/run/opendkim/opendkim.sock")
    with pytest.raises(EditError, match=r"smtp/inet .*/var/spool/postfix/opendkim/opendkim\.sock"):
        add_milter(load(root2), "opendkim", param="smtpd_milters", root=str(root2))


def test_remove_is_always_possible(tmp_path: Path) -> None:
    """The socket moved out of the chroot: the milter that cannot work can still be removed."""
    root = tree(
        tmp_path,
        "smtpd_milters = local:opendkim/opendkim.sock, local:/run/opendmarc/opendmarc.sock\n"
        "non_smtpd_milters = local:/run/opendmarc/opendmarc.sock\n",
        MASTER_Y + CLEANUP_Y,
        "local:/var/spool/postfix/opendkim/opendkim.sock",
    )
    main = load(root)
    assert remove_milter(main, "opendmarc", param="smtpd_milters", root=str(root)) is True
    assert main.get("smtpd_milters") == "local:opendkim/opendkim.sock"
    assert main.get("non_smtpd_milters") == ""
    assert remove_milter(main, "opendkim", param="smtpd_milters", root=str(root)) is True
    assert main.get("smtpd_milters") == ""


def test_remove_by_name_without_a_socket_removes_what_looks_like_it(tmp_path: Path) -> None:
    root = tree(tmp_path, "smtpd_milters = inet:127.0.0.1:8893, unix:/x/opendkim.sock\n", "", "x")
    (root / "etc/opendmarc.conf").write_text("")
    main = load(root)
    assert remove_milter(main, "opendmarc", param="smtpd_milters", root=str(root)) is True
    assert main.get("smtpd_milters") == "unix:/x/opendkim.sock"


def test_remove_through_a_reference_names_the_list(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        "smtpd_milters = inet:127.0.0.1:8891\nnon_smtpd_milters = $smtpd_milters\n",
        MASTER_Y,
        "inet:8891@127.0.0.1",
    )
    main = load(root)
    with pytest.raises(EditError, match=r"\$smtpd_milters"):
        remove_milter(main, "opendkim", param="non_smtpd_milters", root=str(root))
    assert remove_milter(main, "opendkim", param="smtpd_milters", root=str(root))
    assert main.get("non_smtpd_milters") == "$smtpd_milters"


def test_lint_names_a_milter_listed_twice_and_one_daemon_named_two_ways() -> None:
    from mailconf.postfix.lint import lint_main

    text = (
        "smtpd_milters = unix:opendkim/opendkim.sock, local:/opendkim/opendkim.sock,\n"
        "  inet:localhost:8893, inet:127.0.0.1:8893\n"
    )
    master = MasterCf.parse(MASTER_Y)
    codes = [f.code for f in lint_main(MainCf.parse(text), master)]
    assert codes.count("postfix.milter-twice") == 1
    assert codes.count("postfix.milter-same-daemon") == 1
    # Not chrooted, an absolute path is the host's own: two different sockets.
    codes = [f.code for f in lint_main(MainCf.parse(text), MasterCf.parse(MASTER_N))]
    assert "postfix.milter-twice" not in codes
