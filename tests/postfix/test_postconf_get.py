"""``mailconf get`` on main.cf answers what ``postconf`` answers (issue 13, "postconf parity").

Every expected value comes from the installed ``postconf`` run on the same files (``-d``, ``-n``,
``-x`` and their combinations), never from one release's known answer: the suite runs on Debian
12 (Postfix 3.7) and Debian 13 (Postfix 3.10), whose defaults differ (``milter_default_action``,
``smtp_tls_dane_insecure_mx_policy``...).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailconf.postfix import params as postfix_params
from mailconf.postfix.expand import ExpansionError, compatibility_level, expand
from mailconf.postfix.main import MainCf
from mailconf.postfix.master import MasterCf
from mailconf.postfix.params import parameter_table, shipped_table, shipped_versions
from mailconf.postfix.postconf import Mode, Postconf, query
from postfix.test_oracle import config_dir, normalise, postconf, postconf_path
from postfix.test_params import installed_defaults

# Defaults that describe the machine that made a table, not the release.
HOST_DEFAULTS = {"myhostname", "mydomain", "mynetworks", "process_id", "myorigin"}

MASTER = """\
smtp      inet  n       -       y       -       -       smtpd
pickup    unix  n       -       y       60      1       pickup
maildrop  unix  -       n       n       -       -       pipe
  flags=DRhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
policyd-spf unix -      n       n       -       0       spawn
  user=policyd-spf argv=/usr/bin/policyd-spf
relay     unix  -       -       y       -       -       smtp
  -o smtp_helo_name=$relay_helo -o syslog_name=$relay_tag
"""

MAIN = """\
myhostname = mail.example.com
mydomain = example.com
relayhost = [$mydomain]:587
smtpd_banner = $myhostname ESMTP $mail_name ($mail_version)
mydestination = $myhostname, localhost.$mydomain, ${mydomain}
compatibility_level = 3.6
my_tag = tag-$(mydomain)
alias_database = ${my_tag?{hash:/etc/$my_tag}:{none}}
home_mailbox = ${nothing_here:{Maildir/}}
header_size_limit = ${{$compatibility_level} <level {3.7} ? {1024} : {2048}}
body_checks_size_limit = ${{10} < {9} ? {a} : {b}}
line_length_limit = ${{abc} < {abd}}
relay_helo = helo.$mydomain
relay_tag = postfix/relay
unused_name = $mydomain
maildrop_time_limit = 3600s
policyd-spf_time_limit = $maildrop_time_limit
process_name = mine
mailbox_command = /usr/bin/procmail -a "$EXTENSION" $$x
smtpd_restriction_classes = my_class
my_class = check_sender_access hash:/etc/postfix/$mydomain
mynetworks = 127.0.0.0/8 $$literal
"""

NAMES = [
    # set, with references of every form
    "relayhost",
    "smtpd_banner",
    "mydestination",
    "alias_database",
    "home_mailbox",
    "header_size_limit",
    "body_checks_size_limit",
    "line_length_limit",
    "mynetworks",
    # user-defined: referenced (known), a restriction class, unreferenced (unknown)
    "my_tag",
    "my_class",
    "relay_helo",
    "unused_name",
    # per-service names of the master.cf services, set and not
    "maildrop_time_limit",
    "policyd-spf_time_limit",
    "maildrop_destination_recipient_limit",
    "relay_initial_destination_concurrency",
    # read-only (dropped from main.cf), raw (never expanded)
    "process_name",
    "mailbox_command",
    # defaults with references, including the ones that differ between releases
    "queue_directory",
    "relay_domains",
    "smtp_tls_dane_insecure_mx_policy",
    "milter_default_action",
    "address_verify_poll_count",
    "tlsproxy_client_security_level",
    "smtpd_relay_restrictions",
    "proxy_read_maps",
    "virtual_maps",  # a legacy name
    # unknown
    "smtpd_milter",
    "bogus_param_xyz",
]


def postconf_answers(directory: Path, *flags: str) -> tuple[dict[str, str], set[str]]:
    """What ``postconf [flags] NAMES`` prints, and the names it calls unknown."""
    result = postconf(directory, *flags, *NAMES)
    answers = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" =")
        answers[name] = value.strip()  # postconf prints words one blank apart
    unknown = {
        line.split(": ")[2]
        for line in result.stderr.splitlines()
        if line.endswith(": unknown parameter")
    }
    return answers, unknown


@pytest.fixture
def files(tmp_path: Path) -> Path:
    postconf_path()
    return config_dir(tmp_path / "etc", main=MAIN, master=MASTER)


@pytest.mark.parametrize(
    "flags",
    [(), ("-x",), ("-n",), ("-n", "-x"), ("-d",), ("-d", "-x")],
    ids=lambda flags: "".join(flags) or "plain",
)
def test_get_answers_as_postconf(files: Path, flags: tuple[str, ...]) -> None:
    expected, unknown = postconf_answers(files, *flags)
    main = MainCf.load(files / "main.cf")
    view = Postconf(main, MasterCf.load(files / "master.cf"))
    mode = Mode.DEFAULTS if "-d" in flags else Mode.NO_DEFAULTS if "-n" in flags else Mode.EFFECTIVE
    answers = {name: view.answer(name, mode, expanded="-x" in flags) for name in NAMES}
    got = {
        name: normalise(a.value)
        for name, a in answers.items()
        if a.known and a.value is not None  # an unknown name set in main.cf: see Answer
    }
    assert got == expected
    assert {name for name, a in answers.items() if not a.known} == unknown


def test_every_default_expands_as_postconf_dx(tmp_path: Path) -> None:
    """``-d -x`` of every built-in name of the installed Postfix (defaults full of ``$name``,
    ``${name?{...}:{...}}`` and ``${{...} <level {...} ? ...}``)."""
    postconf_path()
    empty = config_dir(tmp_path / "empty", main="", master="")
    expanded = dict(line.split(" =", 1) for line in postconf(empty, "-d", "-x").stdout.splitlines())
    view = Postconf(MainCf.parse("", str(empty / "main.cf")))
    del expanded["process_id"]  # postconf's own process
    for name, value in expanded.items():
        ours = view.answer(name, Mode.DEFAULTS, expanded=True).value
        assert ours is not None and normalise(ours) == value.strip(), name


def test_the_cli_prints_the_default_and_warns_about_unknown_names(files: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mailconf.cli", "get", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    main_cf = str(files / "main.cf")
    expected = postconf(files, "-h", "queue_directory").stdout
    result = run(main_cf, "queue_directory")
    assert (result.returncode, result.stdout) == (0, expected)
    result = run("-x", main_cf, "relayhost", "smtpd_banner")
    assert result.stdout == postconf(files, "-x", "-h", "relayhost", "smtpd_banner").stdout
    result = run(main_cf, "smtpd_milter")
    assert (result.returncode, result.stdout) == (1, "")
    assert "smtpd_milter: unknown parameter; did you mean smtpd_milters?" in result.stderr
    result = run(main_cf, "unused_name")  # set, but Postfix ignores it: shown, with the warning
    assert (result.returncode, result.stdout) == (0, "$mydomain\n")
    assert "unused_name: unknown parameter" in result.stderr
    result = run("--no-defaults", main_cf, "queue_directory")
    assert (result.returncode, result.stdout) == (1, "")
    assert "queue_directory is not set" in result.stderr


# ---------------------------------------------------------------------------- expansion
TRICKY = [
    "$$",
    "a$$b$$$$c",
    "${a}${b}$(a)",
    "${a?yes:no}",  # without braces everything after ? is the text, ':' included
    "${a ? {y} : {n}}",
    "${undefined_x?{y}:{n}}",
    "${empty_x?{y}:{n}}",
    "${empty_x:{was empty}}",
    "${a:{not shown}}",
    "${{$a} == {1}}",
    "${{$a} != {1}?{ne}:{eq}}",
    "${{10} > {9}?{num}:{str}}",
    "${{10} > {9x}?{num}:{str}}",
    "${{3.10} >level {3.9}?{newer}:{older}}",
    "${{$b} == {$a two} ? {${a?{nested $a}}} : {no}}",
    "${{}=={}?{both empty}}",
]
ERRORS = [
    "$",
    "a $ b",
    "${a",
    "${{a} ~ {b}}",
    "${a b}",
    "${{1} <level {x}}",
    "${a?{x}junk}",
    "$x",
    "$y",
]


def expand_with_postconf(tmp_path: Path, value: str) -> subprocess.CompletedProcess[str]:
    main = "".join(f"{name} = {text}\n" for name, text in values(value).items())
    return postconf(config_dir(tmp_path, main=main, master=""), "-x", "-h", "x", check=False)


def values(value: str) -> dict[str, str]:
    """The main.cf both sides read: ``x`` is the value under test (it may refer to itself)."""
    return {"a": "1", "b": "1 two", "empty_x": "", "x": value, "y": "$x $a $b $empty_x"}


def ours(value: str) -> str:
    return expand(value, values(value).get)


@pytest.mark.parametrize("value", TRICKY)
def test_expansion_matches_postconf_x(tmp_path: Path, value: str) -> None:
    postconf_path()
    result = expand_with_postconf(tmp_path, value)
    assert result.returncode == 0, result.stderr
    assert normalise(ours(value)) == result.stdout.rstrip("\n")


@pytest.mark.parametrize("value", ERRORS)
def test_what_postconf_cannot_expand_is_an_error(tmp_path: Path, value: str) -> None:
    postconf_path()
    result = expand_with_postconf(tmp_path, value)
    assert result.returncode != 0 and "macro processing error" in result.stderr
    with pytest.raises(ExpansionError):
        ours(value)


PIECES = st.sampled_from(
    [
        *("$a", "${b}", "$(empty_x)", "$$", "x", " ", ",", "{", "}", "${a?{", "${empty_x:{"),
        *("}:{", "${{$a} == {1}?{", "${undefined_x?", ":", "?", "$", "${", "}}", "(", ")"),
        *("$x", "${y?{", "$(x)"),
    ]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(PIECES, min_size=1, max_size=8).map("".join))
def test_generated_values_expand_as_postconf(tmp_path: Path, value: str) -> None:
    postconf_path()
    if "\n" in value or value != value.strip(" \t"):
        return
    result = expand_with_postconf(tmp_path / "g", value)
    try:
        mine: str | None = normalise(ours(value))
    except ExpansionError:
        mine = None
    theirs = result.stdout.rstrip("\n") if result.returncode == 0 else None
    assert mine == theirs, result.stderr


def test_compatibility_levels_compare_as_postfix() -> None:
    assert compatibility_level("3.10") > compatibility_level("3.9") > compatibility_level("3")
    assert compatibility_level("2") == 2 << 20
    for bad in ("", "x", "3.", "3.1.2.4", "-1"):
        with pytest.raises(ExpansionError):
            compatibility_level(bad)


# ---------------------------------------------------------------------------- releases
def test_each_shipped_table_says_where_it_came_from() -> None:
    for major, minor in shipped_versions():
        table = shipped_table(f"{major}.{minor}")
        data = postfix_params._load((major, minor))
        assert data["source"] and data["postfix_version"].startswith(f"{major}.{minor}.")
        assert table.raw and table.read_only and table.legacy


def test_the_four_releases_users_run_are_shipped() -> None:
    assert {(3, 6), (3, 7), (3, 8), (3, 10)} <= set(shipped_versions())


def test_the_shipped_table_of_the_installed_release_has_its_defaults(tmp_path: Path) -> None:
    postconf_path()
    installed = installed_defaults(tmp_path)
    version = installed["mail_version"]
    table = shipped_table(version)
    if table.version.split(".")[:2] != version.split(".")[:2]:
        pytest.skip(f"no table shipped for Postfix {version}")
    differ = {
        name
        for name, value in installed.items()
        if table.parameters.get(name) != value and name not in HOST_DEFAULTS
    }
    assert differ <= {"mail_version", "mail_release_date"}  # a newer point release


TRIXIE = Path(os.environ.get("MAILCONF_CI_CACHE", "/var/cache/mailconf-ci")) / "trixie"


def test_a_root_with_a_runnable_postfix_answers_with_its_own_postconf() -> None:
    """Under --root, the root's own ``postconf -d`` (chrooted, as nobody) when it is safe."""
    if not (TRIXIE / "usr/sbin/postconf").exists() or os.geteuid() != 0:
        pytest.skip(f"no Debian root with Postfix at {TRIXIE}, or not root")
    postfix_params._table_for.cache_clear()
    table = parameter_table(TRIXIE)
    assert f"under {TRIXIE}" in table.source and "chroot" in table.source
    result = subprocess.run(
        [
            "chroot",
            str(TRIXIE),
            "/usr/sbin/postconf",
            "-d",
            "mail_version",
            "milter_default_action",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" = ")
        assert table.parameters[name] == value
    main = MainCf.parse("", str(TRIXIE / "etc/postfix/nothing/main.cf"))
    answer = query(main, "milter_default_action", root=TRIXIE)
    assert answer.value == table.parameters["milter_default_action"]


def test_a_root_others_can_write_is_never_run(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root may chroot")
    sbin = tmp_path / "usr/sbin"
    sbin.mkdir(parents=True)
    (tmp_path / "usr/lib").mkdir()
    (sbin / "postconf").write_text("#!/bin/sh\n")
    (sbin / "postconf").chmod(0o755)
    for directory in (tmp_path, tmp_path / "usr", sbin, tmp_path / "usr/lib"):
        directory.chmod(0o755)
    (tmp_path / "lib").symlink_to("usr/lib")
    assert postfix_params._root_may_run(str(tmp_path))
    sbin.chmod(0o777)
    assert not postfix_params._root_may_run(str(tmp_path))
    sbin.chmod(0o755)
    (sbin / "postconf").chmod(0o775)
    assert not postfix_params._root_may_run(str(tmp_path))
