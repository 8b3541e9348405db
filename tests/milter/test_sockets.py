"""Milter sockets: one parser for both dialects, and one rule for which setting the daemon uses."""

from __future__ import annotations

import re

import pytest

from mailconf.errors import EditError
from mailconf.milter.conf import OpenDkimConf
from mailconf.milter.shellvars import ShellVars
from mailconf.milter.sockets import (
    MilterSocket,
    SocketError,
    daemon_socket,
    is_daemon_socket,
    parse_socket,
    socket_settings,
)
from mailconf.postfix.values import milter_socket_for_postfix
from mailconf.syntax.kinds import parse_kind
from mailconf.system.daemons import Endpoint


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        (
            "local:/run/opendkim/opendkim.sock",
            MilterSocket("local", path="/run/opendkim/opendkim.sock"),
        ),
        ("unix:/x.sock", MilterSocket("unix", path="/x.sock")),
        ("LOCAL:/x.sock", MilterSocket("local", path="/x.sock")),  # libmilter: strcasecmp
        ("/x.sock", MilterSocket("", path="/x.sock")),
        ("unix:opendkim/opendkim.sock", MilterSocket("unix", path="opendkim/opendkim.sock")),
        ("inet:8891", MilterSocket("inet", port=8891)),
        ("inet:8891@localhost", MilterSocket("inet", host="localhost", port=8891)),
        ("inet6:8891@[::1]", MilterSocket("inet6", host="::1", port=8891)),
        (
            "inet:127.0.0.1:8891",
            MilterSocket("inet", host="127.0.0.1", port=8891, postfix_form=True),
        ),
        ("inet:[::1]:8891", MilterSocket("inet", host="::1", port=8891, postfix_form=True)),
    ],
)
def test_both_dialects_parse(spec: str, parsed: MilterSocket) -> None:
    assert parse_socket(spec) == parsed


@pytest.mark.parametrize(
    "spec",
    [
        "bogus",
        "local:",
        "tcp:8891",
        "inet:",
        "inet:8891@",
        "inet:smtp@localhost",
        "inet:70000",
        "inet:0",
        "inet:localhost",
    ],
)
def test_what_is_no_socket_is_refused(spec: str) -> None:
    with pytest.raises(SocketError, match="^" + re.escape(spec) + ": "):
        parse_socket(spec)
    assert not is_daemon_socket(spec)


def test_a_milter_must_not_be_given_postfix_form_or_a_relative_path() -> None:
    # libmilter reads inet:127.0.0.1:8891 as port 127 on every address.
    with pytest.raises(SocketError, match="Postfix's form"):
        daemon_socket("inet:127.0.0.1:8891")
    with pytest.raises(SocketError, match="absolute"):
        daemon_socket("local:opendkim/opendkim.sock")
    assert is_daemon_socket("inet6:8891") and is_daemon_socket("/run/x.sock")


@pytest.mark.parametrize(
    "spec",
    [
        "local:/var/spool/postfix/a/b.sock",
        "inet:8891@127.0.0.1",
        "inet6:8891",
        "bogus",
        "inet:127.0.0.1:8891",
        "unix:rel.sock",
        "inet:x@y",
    ],
)
def test_the_three_readers_agree(spec: str) -> None:
    """What lint accepts as a milter's Socket is what the service layer can reach and what Postfix
    can be told (one parser behind all three)."""
    lint_accepts = is_daemon_socket(spec)
    try:
        Endpoint.parse(spec)
        services_accept = True
    except SocketError:
        services_accept = False
    try:
        milter_socket_for_postfix(spec)
        postfix_form = True
    except EditError:
        postfix_form = False
    assert services_accept == lint_accepts
    assert postfix_form or not lint_accepts


def _documents(conf: str, default: str | None) -> tuple[OpenDkimConf, ShellVars | None]:
    document = parse_kind(conf, "opendkim", path="/etc/opendkim.conf")
    assert isinstance(document, OpenDkimConf)
    if default is None:
        return document, None
    shell = parse_kind(default, "shellvars", path="/etc/default/opendkim")
    assert isinstance(shell, ShellVars)
    return document, shell


def test_the_conf_socket_comes_first_as_the_init_script_decides() -> None:
    conf, default = _documents(
        "Mode sv\nSocket inet:8891@localhost\n",
        'RUNDIR=/run/x\nSOCKET="local:$RUNDIR/$NAME.sock"\n',
    )
    first, second = socket_settings("opendkim", conf, default)
    assert (first.spec, first.name, first.file, first.line) == (
        "inet:8891@localhost",
        "Socket",
        "/etc/opendkim.conf",
        2,
    )
    # Expanded as the init script expands it: NAME set by the script, RUNDIR by the file.
    assert (second.spec, second.name, second.file, second.line) == (
        "local:/run/x/opendkim.sock",
        "SOCKET",
        "/etc/default/opendkim",
        2,
    )


def test_without_a_conf_socket_the_default_file_decides() -> None:
    conf, default = _documents("Mode sv\n", "SOCKET=local:$RUNDIR/opendkim.sock\n")
    (only,) = socket_settings("opendkim", conf, default)
    assert (only.spec, only.name) == ("local:/run/opendkim/opendkim.sock", "SOCKET")
    assert socket_settings("opendkim", *_documents("Mode sv\n", None)) == []
