"""Postfix's parameter names and defaults, as the Postfix that reads the configuration knows them.

Why not one table in the package: every release adds names and changes defaults (3.10 knows
``smtpd_client_ipv6_prefix_length``, 3.7 calls it unused), and lint's "unknown parameter",
``mailconf get`` (postconf's answers) or :meth:`MainCf.effective` must mean what the Postfix on
the target system means. So the table is:

* on the live system (``/``) with Postfix installed: ``postconf -d``, run once per process and
  only when something needs the table, by its absolute path (mailconf runs as root and takes no
  program from ``PATH``) and with ``-c /dev/null``: a configuration directory that can hold no
  files, so neither this machine's master.cf services (whose per-service names ``-d`` would
  list) nor a directory someone else could write count;
* under an alternate root (``--root DIR``) that has a Postfix of its own: that Postfix's
  ``postconf -d``, when it can be run safely (:func:`_root_may_run`: we are root, the tree down
  to the binary and its libraries belongs to root and nobody else can write it), in a chroot
  and as ``nobody`` with no groups, so a binary that is not what it claims can neither write the
  tree nor read what only root may; otherwise the shipped table for the version the root's dpkg
  database records. A root without Postfix is taken as a rehearsal copy of this machine's
  ``/etc``, so the live system's Postfix counts;
* without any Postfix: the shipped table of the newest version.

The shipped tables (``data/postfix/parameters-MAJOR.MINOR.json``, made from real binaries by
``tools/gen_postfix_params.py``, each saying in its ``source`` which binary) are there for the
releases users run: 3.6 (Ubuntu 22.04), 3.7 (Debian 12), 3.8 (Ubuntu 24.04), 3.10 (Debian 13).
They also hold what ``postconf -d`` cannot say: the legacy names postconf still accepts, the
read-only ones and the raw ones (never ``$``-expanded); those always come from a shipped table.
A version without a table of its own gets the newest table not newer than it, else the oldest.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Mapping
from typing import Any

import attrs

from mailconf._data import DATA_DIRECTORY
from mailconf.errors import MailconfError
from mailconf.rootpath import resolve_under

POSTCONF = "/usr/sbin/postconf"
CHROOT = "/usr/sbin/chroot"
NOBODY = 65534
DPKG_STATUS = "/var/lib/dpkg/status"
POSTCONF_TIMEOUT = 30.0
_TABLES = DATA_DIRECTORY / "postfix"
_TABLE_NAME = re.compile(r"parameters-(\d+)\.(\d+)\.json\Z")
_VERSION = re.compile(r"(\d+)\.(\d+)")


@attrs.frozen
class ParameterTable:
    """One Postfix's view: ``parameters`` maps every built-in name to its default."""

    version: str  #: ``mail_version`` ("3.10.13"); empty when nobody could tell
    source: str  #: where the names and defaults came from, for messages and tests
    parameters: Mapping[str, str]
    legacy: frozenset[str]  #: old names postconf accepts (their default is empty)
    read_only: frozenset[str]  #: names postconf drops from main.cf
    raw: frozenset[str]  #: names whose value postconf never expands (``mailbox_command``...)


def parse_postconf(output: str) -> dict[str, str]:
    """``name = value`` lines as postconf prints them (an empty value is printed ``name =``)."""
    values: dict[str, str] = {}
    for line in output.split("\n"):  # not splitlines(): a value may hold \v or \f
        name, equals, value = line.partition(" =")
        if equals:
            values[name] = value.strip()
    return values


def parameter_table(root: str | os.PathLike[str] = "/") -> ParameterTable:
    """The table for the Postfix that reads the configuration under ``root`` (see the module)."""
    return _table_for(os.path.realpath(os.fspath(root)))


@functools.cache
def _table_for(root: str) -> ParameterTable:
    if root != "/":
        has_postfix, version = _root_postfix(root)
        if has_postfix:
            ran = _run_postconf(root) if _root_may_run(root) else None
            return ran or shipped_table(version, f"the Postfix under {root}")
    if os.access(POSTCONF, os.X_OK):
        live = _run_postconf("/")
        if live is not None:
            return live
    return shipped_table("", "no Postfix installed")


@functools.cache
def _run_postconf(root: str) -> ParameterTable | None:
    """``postconf -d`` of the Postfix under ``root`` (``/``: this system's), or None when it
    cannot tell (not runnable, an error, no ``mail_version``)."""
    # subprocess, not mailconf.system.run: importing the apply layer would cost every lint
    # ~0.1 s, and postconf -d starts no daemon that could hold the pipes open.
    import subprocess

    command = [POSTCONF, "-c", "/dev/null", "-d"]
    if root != "/":
        command = [CHROOT, f"--userspec={NOBODY}:{NOBODY}", "--groups=", root, *command]
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=POSTCONF_TIMEOUT,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parameters = parse_postconf(result.stdout.decode("utf-8", "surrogateescape"))
    if result.returncode != 0 or "mail_version" not in parameters:
        return None
    version = parameters["mail_version"]
    shipped = shipped_table(version)
    source = POSTCONF if root == "/" else f"{POSTCONF} under {root} (chroot, as nobody)"
    return attrs.evolve(shipped, version=version, source=source, parameters=parameters)


def _root_may_run(root: str) -> bool:
    """Whether running the root's ``postconf`` (chrooted, as nobody) is safe: we are root (the
    chroot needs it), and the root, the binary, the directories leading to it and those its
    libraries come from are root's and writable by no one else, so the program is what whoever
    installed the tree put there, not something a user or a daemon account left."""
    if os.geteuid() != 0 or not os.access(CHROOT, os.X_OK):
        return False
    checked = ["/", POSTCONF, "/usr", "/usr/sbin", "/usr/lib", "/lib"]
    try:
        for system_path in checked:
            path = resolve_under(root, system_path) if system_path != "/" else root
            status = os.stat(path)
            if status.st_uid != 0 or status.st_mode & 0o022:
                return False
        return stat.S_ISREG(os.stat(resolve_under(root, POSTCONF)).st_mode)
    except (MailconfError, OSError):
        return False


def _root_postfix(root: str) -> tuple[bool, str]:
    """Whether the tree at ``root`` has a Postfix, and its version when dpkg records one.

    Read from the root's dpkg status file (what ``dpkg-query --admindir`` reads), never by
    running anything from the root: the model layer only reads files, mapped by
    :func:`~mailconf.rootpath.resolve_under` like every other path under a root."""
    try:
        with open(resolve_under(root, DPKG_STATUS), encoding="utf-8", errors="replace") as status:
            version = installed_version(status.read(), "postfix")
        if version is not None:
            return True, version
        return os.path.isfile(resolve_under(root, POSTCONF)), ""
    except FileNotFoundError:
        try:
            return os.path.isfile(resolve_under(root, POSTCONF)), ""
        except (MailconfError, OSError):
            return False, ""
    except (MailconfError, OSError):  # unreadable: nothing says it has a Postfix
        return False, ""


def installed_version(status: str, package: str) -> str | None:
    """The version of ``package`` in the text of a dpkg status file, when it is installed."""
    for stanza in status.split("\n\n"):
        fields = dict(
            line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[:1].strip()
        )
        if (
            fields.get("Package", "").strip() == package
            and fields.get("Status", "").split()[-1:] == ["installed"]
            and "Version" in fields
        ):
            return fields["Version"].strip()
    return None


def shipped_versions() -> list[tuple[int, int]]:
    """(major, minor) of every shipped table, oldest first."""
    found = (_TABLE_NAME.match(name) for name in os.listdir(_TABLES))
    return sorted((int(m[1]), int(m[2])) for m in found if m)


def shipped_table(version: str, why: str = "") -> ParameterTable:
    """The shipped table for Postfix ``version`` ("3.8.6"; empty: the newest); ``why`` tells
    the reason in :attr:`ParameterTable.source`."""
    available = shipped_versions()
    if not available:
        raise MailconfError(f"no Postfix parameter table in {_TABLES}")
    wanted = _VERSION.search(version)
    chosen = available[-1]
    if wanted:
        key = (int(wanted[1]), int(wanted[2]))
        chosen = max((v for v in available if v <= key), default=available[0])
    data = _load(chosen)
    name = f"parameters-{chosen[0]}.{chosen[1]}.json"
    return ParameterTable(
        version=version or data["postfix_version"],
        source=f"data/postfix/{name} ({why})" if why else f"data/postfix/{name}",
        parameters=data["parameters"],
        legacy=frozenset(data["legacy"]),
        read_only=frozenset(data["read_only"]),
        raw=frozenset(data["raw"]),
    )


@functools.cache
def builtin_everywhere() -> frozenset[str]:
    """The names every shipped table (every supported Postfix, 3.6 to 3.10) has as a built-in,
    writable parameter.  Such a name is known to whichever Postfix reads the file, so a plain
    ``get`` of a value main.cf sets needs no ``postconf -d`` run to tell (about 25 ms)."""
    tables = [_load(version) for version in shipped_versions()]
    names = frozenset.intersection(*(frozenset(table["parameters"]) for table in tables))
    return names - frozenset().union(*(frozenset(table["read_only"]) for table in tables))


@functools.cache
def _load(version: tuple[int, int]) -> dict[str, Any]:
    import json  # only the commands that need the table pay for it

    path = _TABLES / f"parameters-{version[0]}.{version[1]}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
