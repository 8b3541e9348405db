"""Postfix's parameter names and defaults follow the Postfix that reads the file (issue 10 §6).

Run on Debian 12 (Postfix 3.7) and Debian 13 (Postfix 3.10) alike (CI runs both): every check
compares with the installed ``postconf``, never with one release's expected answer. The names
that some shipped table has and another lacks (3.10's ``smtpd_client_ipv6_prefix_length``...)
are the ones where following the wrong release would show.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import mailconf
from mailconf.postfix import params as postfix_params
from mailconf.postfix.main import MainCf
from mailconf.postfix.params import (
    POSTCONF,
    parameter_table,
    parse_postconf,
    shipped_table,
    shipped_versions,
)
from postfix.test_oracle import config_dir, postconf, postconf_path, unused_warnings


@pytest.fixture(autouse=True)
def fresh_tables() -> Iterator[None]:
    """Each test sees the table chosen anew (the process keeps the first one it reads)."""
    for cached in (postfix_params._table_for, postfix_params._run_postconf):
        cached.cache_clear()
    yield
    for cached in (postfix_params._table_for, postfix_params._run_postconf):
        cached.cache_clear()


def installed_defaults(tmp_path: Path) -> dict[str, str]:
    """``postconf -d`` on an empty configuration: the built-in names, without master.cf's."""
    return parse_postconf(postconf(config_dir(tmp_path / "empty", main="", master=""), "-d").stdout)


def version_key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def names_that_differ() -> set[str]:
    """Names some shipped table knows and another does not, and every legacy name."""
    tables = [shipped_table(f"{major}.{minor}") for major, minor in shipped_versions()]
    union = set().union(*(table.parameters for table in tables))
    common = set.intersection(*(set(table.parameters) for table in tables))
    return (union - common) | set().union(*(table.legacy for table in tables))


def test_two_releases_are_shipped_and_differ() -> None:
    assert len(shipped_versions()) >= 2
    assert "smtpd_client_ipv6_prefix_length" in names_that_differ()


def test_live_table_is_the_installed_postconf(tmp_path: Path) -> None:
    postconf_path()
    if not Path(POSTCONF).exists():
        pytest.skip(f"postconf is not at {POSTCONF}")
    table = parameter_table()
    assert table.source == POSTCONF
    installed = installed_defaults(tmp_path)
    assert set(table.parameters) == set(installed)
    assert table.version == installed["mail_version"]
    assert parameter_table() is table  # read once per process


def test_shipped_table_of_the_installed_release_matches_the_binary(tmp_path: Path) -> None:
    """The table shipped for this release is what its binary says (names, legacy, read-only);
    on each CI release this checks that release's table."""
    postconf_path()
    installed = installed_defaults(tmp_path)
    version = installed["mail_version"]
    if version_key(version) not in shipped_versions():
        pytest.skip(f"no table shipped for Postfix {version}: run tools/gen_postfix_params.py")
    table = shipped_table(version)
    assert set(table.parameters) == set(installed)
    legacy = sorted(table.legacy)
    empty = config_dir(tmp_path / "legacy", main="", master="")
    assert set(parse_postconf(postconf(empty, "-d", *legacy).stdout)) == set(legacy)
    assigned = config_dir(
        tmp_path / "ro", main="".join(f"{name} = x\n" for name in installed), master=""
    )
    kept = parse_postconf(postconf(assigned, "-n").stdout)
    assert {name for name in installed if name not in kept} == table.read_only


def test_lint_knows_what_the_installed_postfix_knows(tmp_path: Path) -> None:
    """Unknown-parameter findings equal postconf's "unused parameter" warnings exactly where
    the releases differ."""
    postconf_path()
    names = sorted(names_that_differ())
    text = "".join(f"{name} = x\n" for name in names)
    doc = mailconf.parse(text, "postfix-main")
    assert isinstance(doc, MainCf)
    flagged = {
        finding.message.split()[2]
        for finding in doc.lint()
        if finding.code == "postfix.unknown-parameter"
    }
    result = postconf(config_dir(tmp_path, main=text, master=""), "-n")
    assert flagged == unused_warnings(result.stderr)


@pytest.mark.parametrize("index", range(len(shipped_versions())))
def test_a_root_with_its_own_postfix_gets_its_release(tmp_path: Path, index: int) -> None:
    major, minor = shipped_versions()[index]
    dpkg = tmp_path / "var/lib/dpkg"
    dpkg.mkdir(parents=True)
    (dpkg / "status").write_text(
        f"Package: postfix\nStatus: install ok installed\nVersion: {major}.{minor}.1-1\n"
        "Maintainer: x\nDescription: x\nArchitecture: all\n\n"
    )
    table = parameter_table(tmp_path)
    assert str(tmp_path) in table.source
    assert table.parameters == shipped_table(f"{major}.{minor}").parameters
    # and lint --root says so: a name only some releases know is unknown exactly where the
    # root's release lacks it
    main_cf = tmp_path / "main.cf"
    name = "smtpd_client_ipv6_prefix_length"
    main_cf.write_text(f"{name} = 64\nsmtpd_relay_restrictions = reject_unauth_destination\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailconf.cli",
            "lint",
            "--json",
            "--root",
            str(tmp_path),
            str(main_cf),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout)
    unknown = [f for f in findings if f["code"] == "postfix.unknown-parameter"]
    assert bool(unknown) == (name not in table.parameters), result.stderr


def test_a_root_without_postfix_is_this_machine(tmp_path: Path) -> None:
    (tmp_path / "etc/postfix").mkdir(parents=True)
    assert parameter_table(tmp_path) == parameter_table("/")


def test_without_postconf_the_newest_shipped_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(postfix_params, "POSTCONF", str(tmp_path / "no-postconf"))
    table = parameter_table()
    assert "no Postfix installed" in table.source
    newest = shipped_versions()[-1]
    assert version_key(table.version) == newest
    assert table.parameters == shipped_table("").parameters


def test_a_release_without_a_table_gets_the_nearest_older_one() -> None:
    versions = shipped_versions()

    def chosen(version: str) -> tuple[int, int]:
        name = shipped_table(version).source.rsplit("/", 1)[1]
        return version_key(name.removeprefix("parameters-"))

    oldest, newest = versions[0], versions[-1]
    if oldest[1] > 0:
        assert chosen(f"{oldest[0]}.{oldest[1] - 1}.4") == oldest  # nothing older: the oldest
    assert chosen(f"{newest[0]}.{newest[1] + 1}.0") == newest
    assert chosen("") == newest
    for older, newer in itertools.pairwise(versions):
        assert chosen(f"{older[0]}.{older[1]}.99") == older
        assert chosen(f"{newer[0]}.{newer[1]}.0-1+deb13u1") == newer
        if older[0] == newer[0] and older[1] + 1 < newer[1]:
            assert chosen(f"{older[0]}.{older[1] + 1}.6") == older  # 3.8 gets 3.7's


def test_names_built_in_everywhere_are_built_in_here() -> None:
    """``get`` answers a set name from the file alone when every supported Postfix has it as a
    writable built-in: the installed Postfix must then know it too (and not as read-only)."""
    everywhere = postfix_params.builtin_everywhere()
    assert {"myhostname", "smtpd_milters", "non_smtpd_milters"} <= everywhere
    installed = postfix_params.parameter_table("/")
    assert everywhere <= set(installed.parameters)
    assert not everywhere & installed.read_only
    assert "process_id" not in everywhere  # read-only: postconf drops it from main.cf
