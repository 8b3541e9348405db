"""Ask the real programs whether a configuration would be accepted.

Every check returns a :class:`Validation` instead of raising, so a plan can show all problems at
once. ``ok`` is False only when a validator ran and refused the configuration; a validator that
cannot run (program not installed, a check that only means something on the live system) gives
``skipped=True, ok=True`` with the reason in ``message``, so it never blocks an apply silently
*and* never pretends to have passed: callers that care look at ``skipped``.

Alternate roots (``--root DIR``):

* ``postconf -c DIR/etc/postfix -n`` and ``-M`` read only the directory given: run as is.
* ``postfix check`` inspects the live queue and daemon directories and even fixes them: skipped.
* ``opendkim -n`` opens the data sets (KeyTable, SigningTable, InternalHosts, ...), KeyFile,
  TrustAnchorFile, the Lua scripts, BaseDirectory and Include files named in the configuration,
  by absolute path; under an alternate root those paths name the real system's files. We
  therefore validate a temporary copy of the configuration in which every such path is rewritten
  to its place under the root (recursively for ``Include``), and map the temporary names back to
  the original ones in the message. Non-file data sets (``csl:``, ``ldap:``, ``dsn:``...) and
  relative values (literal lists for OpenDKIM) are left alone.
* ``opendmarc -n`` opens only BaseDirectory, DomainWhitelistFile and TestDNSData (measured against
  opendmarc 1.4.2; it ignores IgnoreHosts, PublicSuffixList, HistoryFile): same rewriting.

Planned content (``staged``): ``plan`` and an apply before its first write ask the same programs
about the files as the plan leaves them.  Every validator takes ``staged``, a mapping from system
path to planned content (None: the plan removes the file); a configuration with a planned file is
checked on copies in a private scratch directory (:func:`scratch_directory`), each planned file
(the configuration, its Includes, the data sets it opens) copied there and its path rewritten, so
nothing is written to the real files and the daemon reads what the apply would write.

The path options come from the option tables measured on Debian 12's binaries
(:func:`mailconf.milter.options.path_options`, ``tools/gen_milter_options.py``); see
:data:`OPENDKIM_PATH_OPTIONS`.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from mailconf.errors import MailconfError, ParseError
from mailconf.fileio import decode, encode
from mailconf.milter.datasets import parse_dataset
from mailconf.milter.options import DATASET, path_options
from mailconf.system.root import SystemRoot
from mailconf.system.run import CommandResult, Runner, run, which

VALIDATE_TIMEOUT = 30.0

#: Planned content by system path (None: the plan removes the file); see the module docstring.
#: A validator given ``staged=None`` checks the files in place (an apply's check once written),
#: given a mapping, even an empty one, the files as a plan leaves them.
Staged = Mapping[str, "bytes | None"]

#: Options ``opendkim -n`` opens as data sets (values may carry file:/refile:/db: prefixes), and
#: those it opens as plain paths (files or directories): from the measured option tables.
OPENDKIM_DATASET_OPTIONS = frozenset(
    folded for folded, spec in path_options("opendkim").items() if spec.type == DATASET
)
OPENDKIM_FILE_OPTIONS = frozenset(path_options("opendkim")) - OPENDKIM_DATASET_OPTIONS
OPENDKIM_PATH_OPTIONS = OPENDKIM_DATASET_OPTIONS | OPENDKIM_FILE_OPTIONS
#: Options ``opendmarc -n`` opens.
OPENDMARC_FILE_OPTIONS = frozenset(path_options("opendmarc"))
#: Per milter, the options its ``-n`` opens: (every path option, those read as data sets).
_OPENS = {
    "opendkim": (OPENDKIM_PATH_OPTIONS, OPENDKIM_DATASET_OPTIONS),
    "opendmarc": (OPENDMARC_FILE_OPTIONS, frozenset[str]()),
}
#: How each milter is told its configuration file (``opendkim -x FILE``, ``opendmarc -c FILE``).
CONF_FLAGS = {"opendkim": "-x", "opendmarc": "-c"}


@attrs.frozen
class Validation:
    """The verdict of one validator: ``(ok, message)`` plus what ran and whether it was skipped."""

    tool: str
    ok: bool
    message: str
    skipped: bool = False
    argv: tuple[str, ...] = ()
    #: The configuration checked (system path: a file, or Postfix's configuration directory).
    conf: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "ok": self.ok, "skipped": self.skipped, "message": self.message}

    def __iter__(self) -> Iterator[bool | str]:
        """Allows ``ok, message = check(...)``."""
        return iter((self.ok, self.message))


def _skip(tool: str, reason: str) -> Validation:
    return Validation(tool, ok=True, message=reason, skipped=True)


def _from_result(tool: str, result: CommandResult, rename: Mapping[str, str]) -> Validation:
    # On success stdout is just the dump (postconf -n); only stderr (warnings) is worth keeping.
    message = result.output if not result.ok else result.stderr.strip()
    for temporary, original in rename.items():
        message = message.replace(temporary, original)
    return Validation(tool, ok=result.ok, message=message, argv=result.argv)


def _run_checked(
    tool: str, argv: list[str], runner: Runner, rename: Mapping[str, str] | None = None
) -> Validation:
    if which(argv[0]) is None:
        return _skip(tool, f"{argv[0]} is not installed; not validated")
    try:
        result = runner(argv, timeout=VALIDATE_TIMEOUT)
    except MailconfError as exc:
        return Validation(tool, ok=False, message=str(exc), argv=tuple(argv))
    return _from_result(tool, result, rename or {})


def postfix_check(
    root: SystemRoot, *, runner: Runner = run, staged: Staged | None = None
) -> Validation:
    """``postfix check`` (live root only: it inspects and repairs the live spool and daemon
    directories, so it checks the files in place, after an apply wrote them, never a plan's)."""
    if staged is not None:
        return _skip("postfix check", "it inspects the files in place, once written")
    if not root.is_live:
        return _skip("postfix check", f"postfix check only runs on / (root is {root})")
    return _run_checked("postfix check", ["postfix", "check"], runner)


def postconf_check(
    root: SystemRoot,
    config_directory: str = "/etc/postfix",
    *,
    runner: Runner = run,
    staged: Staged | None = None,
) -> Validation:
    """``postconf -c DIR -n`` then ``postconf -c DIR -M``: main.cf and master.cf both parse.

    postconf prints warnings (unused parameters, obsolete names) on stderr with exit 0; they are
    kept in ``message`` of a passing result.  Both files, as planned or as they are in place, are
    copied to a scratch directory (postconf reads the two together: master.cf names the services
    whose parameters main.cf may set) and ``-c`` names that directory: postconf reads nothing
    else there, so it judges the same bytes, and the copies are old enough that it does not wait
    for them to cool down (:func:`_write_aged`), even just after an apply wrote main.cf.
    """
    staged = staged or {}
    names = {name: f"{config_directory.rstrip('/')}/{name}" for name in ("main.cf", "master.cf")}
    with scratch_directory() as scratch:
        directory = Path(scratch)
        rename = {str(directory): config_directory.rstrip("/")}
        for name, path in names.items():
            data = _content(root, staged, path)
            if data is not None:
                _write_aged(directory / name, data)
        if not (directory / "main.cf").is_file():
            return Validation(
                "postconf",
                ok=False,
                message=f"{names['main.cf']} is missing",
                conf=names["main.cf"],
            )
        messages = []
        for flag in ("-n", "-M"):
            argv = ["postconf", "-c", str(directory), flag]
            check = _run_checked("postconf", argv, runner, rename)
            if check.skipped or not check.ok:
                return attrs.evolve(check, conf=config_directory)
            if check.message:
                messages.append(check.message)
    argv_n = ("postconf", "-c", str(directory), "-n")
    return Validation(
        "postconf", ok=True, message="\n".join(messages), argv=argv_n, conf=config_directory
    )


def _write_aged(path: Path, data: bytes) -> None:
    """Write a copy for postconf dated a minute back.  postconf reads main.cf again, 0.3 s at a
    time, until its mtime is more than a second older than the start of the read (Postfix's
    ``dict_load_file_xt``: a guard against reading a file someone is still writing), up to two
    seconds after a file is written: every plan, and the check after an apply wrote main.cf,
    would pay it.  The copy is complete and closed before postconf starts, in a directory only
    we can write, so nothing can still be writing it: the guard has nothing to protect.  The
    real files keep their true mtime (on ``/`` ``postfix check`` reads them in place, and waits
    there once)."""
    path.write_bytes(data)
    past = time.time() - 60
    os.utime(path, (past, past))


def _content(root: SystemRoot, staged: Staged, system_path: str) -> bytes | None:
    """A file as the plan leaves it: its planned content, else what is there."""
    if system_path in staged:
        return staged[system_path]
    return root.read_if_present(system_path)


def _rewrite_value(place: Callable[[str], str], value: str, dataset: bool) -> str:
    """The value with its file path replaced by ``place(path)`` (unchanged when it names no local
    file: ``csl:``, ``ldap:``, ``dsn:``..., a relative value, a type OpenDKIM does not know)."""
    path = parse_dataset(value).path if dataset else value
    if path is None or not path.startswith("/"):
        return value
    return value[: len(value) - len(path)] + place(path)


def rewrite_conf_for_root(
    root: SystemRoot,
    text: str,
    path_options: frozenset[str],
    dataset_options: frozenset[str],
    include: Callable[[str], str] | None = None,
    *,
    kind: str = "opendkim",
    place: Callable[[str], str] | None = None,
) -> str:
    """Copy of an opendkim/opendmarc configuration with file paths moved under ``root``.

    The file is read by the same model as everywhere else (the daemon's line rules, names
    case-insensitive); each rewritten option stays on its line, so line numbers in the daemon's
    messages still match the original.  ``include`` maps an ``Include`` value to the path of its
    own rewritten copy; ``place`` maps every other absolute path (default: its place under the
    root).  Text the model refuses is returned as it is: the daemon will refuse it too, with its
    own message.
    """
    from mailconf.milter.conf import Option
    from mailconf.syntax.kinds import parse_kind

    def under_root(path: str) -> str:
        return str(root.resolve(path))

    try:
        doc = parse_kind(text, kind)
    except ParseError:
        return text
    for entry in list(doc.entries):
        assert isinstance(entry, Option)
        name, value = entry.name.lower(), entry.value
        if name == "include" and include is not None:
            new = include(value)
        elif name in path_options:
            new = _rewrite_value(place or under_root, value, name in dataset_options)
        else:
            continue
        if new != value:
            doc.replace(entry, f"{entry.name} {new}")
    return doc.dump()


def scratch_directory() -> tempfile.TemporaryDirectory[str]:
    """A fresh private (0700) directory for the copies a validation hands to the daemons.

    As root, in ``/run``, checked to be root's own and writable by nobody else: the daemon, run
    as root, reads its configuration from these copies, so neither an environment variable
    (``TMPDIR``) nor another account may decide where they are.  As another user (a rehearsal
    under ``--root``), in that user's temporary directory.  Never in the tree under ``--root``:
    ``plan`` writes nothing there (the example tree is part of the project)."""
    if os.geteuid() != 0:
        return tempfile.TemporaryDirectory(prefix="mailconf-validate-")
    info = os.lstat("/run")
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise MailconfError("/run is not a directory only root can write: no place to validate")
    return tempfile.TemporaryDirectory(prefix="mailconf-validate-", dir="/run")


def milter_check(
    daemon: str,
    root: SystemRoot,
    conf: str | None = None,
    *,
    runner: Runner = run,
    staged: Staged | None = None,
) -> Validation:
    """``DAEMON -n`` on its configuration (``/etc/DAEMON.conf`` by default): ``opendkim -n -x``,
    ``opendmarc -n -c``; under an alternate root, or with planned files, on copies."""
    conf = conf or f"/etc/{daemon}.conf"
    verdict = _validate_milter_conf(daemon, root, conf, runner, staged or {})
    return attrs.evolve(verdict, conf=conf)


def opendkim_check(
    root: SystemRoot,
    conf: str = "/etc/opendkim.conf",
    *,
    runner: Runner = run,
    staged: Staged | None = None,
) -> Validation:
    """``opendkim -n -x CONF`` (:func:`milter_check`)."""
    return milter_check("opendkim", root, conf, runner=runner, staged=staged)


def opendmarc_check(
    root: SystemRoot,
    conf: str = "/etc/opendmarc.conf",
    *,
    runner: Runner = run,
    staged: Staged | None = None,
) -> Validation:
    """``opendmarc -n -c CONF`` (:func:`milter_check`)."""
    return milter_check("opendmarc", root, conf, runner=runner, staged=staged)


def _validate_milter_conf(
    tool: str, root: SystemRoot, conf: str, runner: Runner, staged: Staged
) -> Validation:
    path_options, dataset_options = _OPENS[tool]

    def argv_for(path: str) -> list[str]:
        return [tool, "-n", CONF_FLAGS[tool], path]

    if _content(root, staged, conf) is None:
        return Validation(tool, ok=False, message=f"{conf} is missing")
    program = argv_for("X")[0]
    if which(program) is None:
        return _skip(tool, f"{program} is not installed; {conf} not validated")
    if root.is_live and not staged:  # resolve: the symlink checks, as for every file read
        return _run_checked(tool, argv_for(str(root.resolve(conf))), runner)
    if "#" in str(root.path):
        return _skip(tool, f"root path {root} contains '#', which the daemon would cut")
    with scratch_directory() as tmp:
        rename: dict[str, str] = {}
        placed: dict[str, str] = {}
        counter = iter(range(1_000_000))

        def scratch_name(system_path: str) -> str:
            target = str(Path(tmp) / f"{next(counter)}-{Path(system_path).name}")
            rename[target] = system_path
            return target

        def place(system_path: str) -> str:
            """Where the daemon opens a path option's file: a planned file's copy, else the
            file under the root (a file the plan removes: a name nothing is at)."""
            if system_path not in staged:
                return str(root.resolve(system_path))
            if system_path not in placed:
                placed[system_path] = scratch_name(system_path)
                data = staged[system_path]
                if data is not None:
                    Path(placed[system_path]).write_bytes(data)
            return placed[system_path]

        def copy(system_path: str, depth: int = 0) -> str:
            if not system_path.startswith("/"):
                return system_path  # relative Include: as the daemon would (cwd-relative)
            if depth > 10:
                raise MailconfError(f"{system_path}: Include nested too deep")
            data = _content(root, staged, system_path)
            if data is None:
                return place(system_path)  # let the daemon report the missing file
            rewritten = rewrite_conf_for_root(
                root,
                decode(data),
                path_options,
                dataset_options,
                lambda v: copy(v, depth + 1),
                kind=tool,
                place=place,
            )
            target = scratch_name(system_path)
            Path(target).write_bytes(encode(rewritten))
            return target

        try:
            top = copy(conf)
        except MailconfError as exc:
            return Validation(tool, ok=False, message=str(exc))
        result = _run_checked(tool, argv_for(top), runner, rename)
        if root.is_live:
            return result
        # Paths under the root read better as system paths too.
        prefix = str(root.path)
        return attrs.evolve(result, message=result.message.replace(prefix + os.sep, os.sep))
