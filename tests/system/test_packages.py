"""Package state from dpkg-query and installing only what is missing."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from mailconf.errors import ValidationError
from mailconf.system.packages import (
    APT_ENV,
    ensure_packages,
    parse_status_output,
    query_packages,
)
from mailconf.system.root import SystemRoot
from mailconf.system.run import CommandResult


class FakeDpkg:
    """Answers dpkg-query from a dict and records apt-get calls (which 'install' packages)."""

    def __init__(self, installed: set[str]) -> None:
        self.installed = installed
        self.calls: list[tuple[tuple[str, ...], Mapping[str, str] | None]] = []

    def __call__(
        self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> CommandResult:
        argv = tuple(argv)
        self.calls.append((argv, env))
        if argv[0] == "dpkg-query":
            names = argv[argv.index("--") + 1 :]
            lines = [
                f"install ok installed\t{n}\n"
                if n in self.installed
                else f"deinstall ok config-files\t{n}\n"
                for n in names
                if n != "never-heard"
            ]
            return CommandResult(argv, 0 if len(lines) == len(names) else 1, "".join(lines), "")
        if argv[0] == "apt-get":
            self.installed.update(argv[argv.index("--") + 1 :])
            return CommandResult(argv, 0, "", "")
        raise AssertionError(argv)


def test_parse_status_output() -> None:
    text = (
        "install ok installed\tpostfix\n"
        "deinstall ok config-files\topendmarc\n"
        "install ok installed\tlibc6\n"
        "unknown ok not-installed\tlibc6\n"
    )
    assert parse_status_output(text) == {
        "postfix": "install ok installed",
        "opendmarc": "deinstall ok config-files",
        "libc6": "install ok installed",
    }


def test_installs_only_missing_packages_on_live_root() -> None:
    fake = FakeDpkg({"postfix"})
    report = ensure_packages(
        SystemRoot.live(), ["postfix", "opendkim", "opendkim-tools", "postfix"], runner=fake
    )
    assert report.missing == ("opendkim", "opendkim-tools")
    assert report.already_installed == ("postfix",)
    assert report.performed and report.changed
    apt = [c for c in fake.calls if c[0][0] == "apt-get"]
    assert apt == [
        (("apt-get", "install", "-y", "--no-remove", "--", "opendkim", "opendkim-tools"), APT_ENV)
    ]
    assert APT_ENV["DEBIAN_FRONTEND"] == "noninteractive"


def test_nothing_to_do_runs_no_apt() -> None:
    fake = FakeDpkg({"postfix", "opendkim"})
    report = ensure_packages(SystemRoot.live(), ["postfix", "opendkim"], runner=fake)
    assert not report.performed and report.missing == ()
    assert all(c[0][0] == "dpkg-query" for c in fake.calls)


def test_alternate_root_reports_and_installs_nothing(tmp_path: Path) -> None:
    fake = FakeDpkg(set())
    report = ensure_packages(SystemRoot(tmp_path), ["opendmarc"], runner=fake)
    assert not report.performed
    assert report.command == ("apt-get", "install", "-y", "--no-remove", "--", "opendmarc")
    assert "no dpkg database" in report.reason
    assert fake.calls == []

    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text("")
    report = ensure_packages(SystemRoot(tmp_path), ["opendmarc"], runner=fake)
    assert not report.performed and report.missing == ("opendmarc",)
    assert fake.calls[0][0][1] == f"--admindir={status.parent}"
    assert all(c[0][0] != "apt-get" for c in fake.calls)


@pytest.mark.parametrize("bad", ["-y", "Postfix", "a", "foo bar", "x;rm"])
def test_bad_package_names_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        ensure_packages(SystemRoot.live(), [bad], runner=FakeDpkg(set()))


def test_real_dpkg_query() -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query not installed (not a Debian system)")
    states = query_packages(SystemRoot.live(), ["dpkg", "mailconf-no-such-package"])
    assert states is not None
    assert states["dpkg"].installed
    assert not states["mailconf-no-such-package"].installed
    assert states["mailconf-no-such-package"].status == ""


def test_real_dpkg_query_with_an_empty_admindir(tmp_path: Path) -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query not installed (not a Debian system)")
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text("")
    states = query_packages(SystemRoot(tmp_path), ["dpkg"])
    assert states is not None and not states["dpkg"].installed
