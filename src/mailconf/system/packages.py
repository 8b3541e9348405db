"""Debian packages: which are installed, and installing only the missing ones.

``dpkg-query`` is the authority (``apt`` caches can be stale; ``dpkg -l`` output is for humans).
A package counts as installed only with the status ``install ok installed``: ``deinstall ok
config-files`` (removed, conffiles left) or a half-configured package are not usable daemons.

Under an alternate root nothing is installed: installing into a directory tree needs a chroot,
maintainer scripts and a matching architecture, which is a job for debootstrap/mmdebstrap, not for
mailconf. The plan reports the ``apt-get`` command that would run. When the root has its own dpkg
database (``ROOT/var/lib/dpkg/status``) it is queried with ``--admindir``; otherwise the state is
unknown and every package is reported as to be installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from mailconf.errors import MailconfError, ValidationError
from mailconf.system.root import SystemRoot
from mailconf.system.run import Runner, run

QUERY_TIMEOUT = 60.0
INSTALL_TIMEOUT = 1800.0
INSTALLED = "install ok installed"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}


@attrs.frozen
class PackageState:
    """dpkg's view of one package; ``status`` is empty when dpkg has never heard of it."""

    name: str
    status: str

    @property
    def installed(self) -> bool:
        """Fully installed and configured."""
        return self.status == INSTALLED


@attrs.frozen
class InstallReport:
    """What :func:`ensure_packages` found and did (or would do under an alternate root)."""

    requested: tuple[str, ...]
    already_installed: tuple[str, ...]
    missing: tuple[str, ...]
    command: tuple[str, ...] | None
    performed: bool
    reason: str = ""

    @property
    def changed(self) -> bool:
        """Whether packages were installed."""
        return self.performed and bool(self.missing)


def _check_names(names: Iterable[str]) -> tuple[str, ...]:
    checked = tuple(dict.fromkeys(names))
    for name in checked:
        # Debian policy 5.6.1, plus ":arch"; refusing options ("-y") keeps argv unambiguous.
        head, _, arch = name.partition(":")
        if (
            len(head) < 2
            or not head[0].isalnum()
            or not all(c.islower() or c.isdigit() or c in "+-." for c in head)
            or (arch and not arch.replace("-", "").isalnum())
        ):
            raise ValidationError(f"{name!r} is not a valid Debian package name")
    return checked


def _admindir(root: SystemRoot) -> str | None:
    if root.is_live:
        return None
    status = root.resolve("/var/lib/dpkg/status")
    return str(status.parent) if status.is_file() else ""


def parse_status_output(text: str) -> dict[str, str]:
    """Parse ``${Status}\\t${Package}\\n`` lines into {package: status}.

    dpkg-query prints one line per matching package and architecture; for a multi-arch package
    any installed instance counts.
    """
    states: dict[str, str] = {}
    for line in text.splitlines():
        status, sep, package = line.partition("\t")
        if not sep:
            continue
        package = package.strip()
        status = " ".join(status.split())
        if states.get(package) != INSTALLED:
            states[package] = status
    return states


def query_packages(
    root: SystemRoot, names: Iterable[str], *, runner: Runner = run
) -> dict[str, PackageState] | None:
    """dpkg's state of each package, or None when the root has no dpkg database."""
    checked = _check_names(names)
    admindir = _admindir(root)
    if admindir == "":
        return None
    if not checked:
        return {}
    argv = ["dpkg-query"]
    if admindir:
        argv.append(f"--admindir={admindir}")
    argv += ["-W", "-f=${Status}\t${Package}\n", "--", *checked]
    result = runner(argv, timeout=QUERY_TIMEOUT)
    # Exit status 1 just means "some names matched nothing": those are simply not installed.
    if result.returncode not in (0, 1):
        raise MailconfError(f"dpkg-query failed: {result.output}")
    states = parse_status_output(result.stdout)
    # "pkg:arch" queries are reported by dpkg-query under the bare name.
    return {
        name: PackageState(name, states.get(name, states.get(name.partition(":")[0], "")))
        for name in checked
    }


def install_command(names: Sequence[str]) -> tuple[str, ...]:
    """The apt-get command line for ``names`` (run with :data:`APT_ENV`)."""
    return ("apt-get", "install", "-y", "--no-remove", "--", *names)


def ensure_packages(
    root: SystemRoot, names: Iterable[str], *, runner: Runner = run, dry_run: bool = False
) -> InstallReport:
    """Install the packages that are not installed; never touches installed ones.

    Live root: ``apt-get install -y`` with ``DEBIAN_FRONTEND=noninteractive``, then dpkg is asked
    again, so a package apt silently skipped is an error rather than a surprise at restart time.
    Alternate root or ``dry_run``: nothing runs; the report says what would.
    """
    requested = _check_names(names)
    states = query_packages(root, requested, runner=runner)
    if states is None:
        return InstallReport(
            requested,
            (),
            requested,
            install_command(requested) if requested else None,
            performed=False,
            reason=f"no dpkg database under {root}: package state unknown, nothing installed",
        )
    installed = tuple(n for n in requested if states[n].installed)
    missing = tuple(n for n in requested if not states[n].installed)
    command = install_command(missing) if missing else None
    if not missing:
        return InstallReport(requested, installed, (), None, performed=False, reason="")
    if not root.is_live or dry_run:
        why = "dry run" if dry_run else f"alternate root {root}: packages are not installed"
        return InstallReport(requested, installed, missing, command, performed=False, reason=why)
    assert command is not None
    result = runner(command, timeout=INSTALL_TIMEOUT, env=APT_ENV)
    if not result.ok:
        raise MailconfError(f"{' '.join(command)} failed ({result.returncode}): {result.output}")
    after = query_packages(root, missing, runner=runner) or {}
    still = [n for n in missing if not after.get(n, PackageState(n, "")).installed]
    if still:
        raise MailconfError(f"apt-get finished but these are not installed: {', '.join(still)}")
    return InstallReport(requested, installed, missing, command, performed=True)
