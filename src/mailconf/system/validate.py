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

The path options come from the option tables measured on Debian 12's binaries
(:func:`mailconf.milter.options.path_options`, ``tools/gen_milter_options.py``); see
:data:`OPENDKIM_PATH_OPTIONS`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import attrs

from mailconf.errors import MailconfError, ParseError
from mailconf.fileio import decode, encode
from mailconf.milter.datasets import parse_dataset
from mailconf.milter.options import DATASET, path_options
from mailconf.system.root import SystemRoot
from mailconf.system.run import CommandResult, Runner, run, which

VALIDATE_TIMEOUT = 30.0

#: Options ``opendkim -n`` opens as data sets (values may carry file:/refile:/db: prefixes), and
#: those it opens as plain paths (files or directories): from the measured option tables.
OPENDKIM_DATASET_OPTIONS = frozenset(
    folded for folded, spec in path_options("opendkim").items() if spec.type == DATASET
)
OPENDKIM_FILE_OPTIONS = frozenset(path_options("opendkim")) - OPENDKIM_DATASET_OPTIONS
OPENDKIM_PATH_OPTIONS = OPENDKIM_DATASET_OPTIONS | OPENDKIM_FILE_OPTIONS
#: Options ``opendmarc -n`` opens.
OPENDMARC_FILE_OPTIONS = frozenset(path_options("opendmarc"))


@attrs.frozen
class Validation:
    """The verdict of one validator: ``(ok, message)`` plus what ran and whether it was skipped."""

    tool: str
    ok: bool
    message: str
    skipped: bool = False
    argv: tuple[str, ...] = ()

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


def postfix_check(root: SystemRoot, *, runner: Runner = run) -> Validation:
    """``postfix check`` (live root only: it inspects and repairs the live spool)."""
    if not root.is_live:
        return _skip("postfix check", f"postfix check only runs on / (root is {root})")
    return _run_checked("postfix check", ["postfix", "check"], runner)


def postconf_check(
    root: SystemRoot, config_directory: str = "/etc/postfix", *, runner: Runner = run
) -> Validation:
    """``postconf -c DIR -n`` then ``postconf -c DIR -M``: main.cf and master.cf both parse.

    postconf prints warnings (unused parameters, obsolete names) on stderr with exit 0; they are
    kept in ``message`` of a passing result.
    """
    directory = root.resolve(config_directory)
    if not (directory / "main.cf").is_file():
        return Validation("postconf", ok=False, message=f"{config_directory}/main.cf is missing")
    messages = []
    for flag in ("-n", "-M"):
        check = _run_checked("postconf", ["postconf", "-c", str(directory), flag], runner)
        if check.skipped or not check.ok:
            return check
        if check.message:
            messages.append(check.message)
    argv = ("postconf", "-c", str(directory), "-n")
    return Validation("postconf", ok=True, message="\n".join(messages), argv=argv)


def _rewrite_value(root: SystemRoot, value: str, dataset: bool) -> str:
    """The value with its file path moved under the root (unchanged when it names no local file:
    ``csl:``, ``ldap:``, ``dsn:``..., a relative value, a type OpenDKIM does not know)."""
    path = parse_dataset(value).path if dataset else value
    if path is None or not path.startswith("/"):
        return value
    return value[: len(value) - len(path)] + str(root.resolve(path))


def rewrite_conf_for_root(
    root: SystemRoot,
    text: str,
    path_options: frozenset[str],
    dataset_options: frozenset[str],
    include: Callable[[str], str] | None = None,
    *,
    kind: str = "opendkim",
) -> str:
    """Copy of an opendkim/opendmarc configuration with file paths moved under ``root``.

    The file is read by the same model as everywhere else (the daemon's line rules, names
    case-insensitive); each rewritten option stays on its line, so line numbers in the daemon's
    messages still match the original.  ``include`` maps an ``Include`` value to the path of its
    own rewritten copy.  Text the model refuses is returned as it is: the daemon will refuse it
    too, with its own message.
    """
    from mailconf.milter.conf import Option
    from mailconf.syntax.kinds import parse_kind

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
            new = _rewrite_value(root, value, name in dataset_options)
        else:
            continue
        if new != value:
            doc.replace(entry, f"{entry.name} {new}")
    return doc.dump()


def _scratch_directory(root: SystemRoot) -> tempfile.TemporaryDirectory[str]:
    """A fresh 0700 directory under ``ROOT/run`` for the rewritten copies.

    Not under ``TMPDIR``: the daemon, run as root, reads these copies, and an environment
    variable must not decide where root takes configuration from. ``ROOT/run`` is where the apply
    lock lives too (created 0755 when the tree lacks it)."""
    with root.open("/run", create_parents=0o755) as place:
        if place.lstat() is None:
            place.mkdir(0o755)
    return tempfile.TemporaryDirectory(prefix="mailconf-validate-", dir=root.resolve("/run"))


def _validate_milter_conf(
    tool: str,
    root: SystemRoot,
    conf: str,
    argv_for: Callable[[str], list[str]],
    path_options: frozenset[str],
    dataset_options: frozenset[str],
    runner: Runner,
) -> Validation:
    host = root.resolve(conf)
    if not host.is_file():
        return Validation(tool, ok=False, message=f"{conf} is missing")
    program = argv_for("X")[0]
    if which(program) is None:
        return _skip(tool, f"{program} is not installed; {conf} not validated")
    if root.is_live:
        return _run_checked(tool, argv_for(str(host)), runner)
    if "#" in str(root.path):
        return _skip(tool, f"root path {root} contains '#', which the daemon would cut")
    with _scratch_directory(root) as tmp:
        rename: dict[str, str] = {}
        counter = iter(range(1_000_000))

        def copy(system_path: str, depth: int = 0) -> str:
            if not system_path.startswith("/"):
                return system_path  # relative Include: as the daemon would (cwd-relative)
            if depth > 10:
                raise MailconfError(f"{system_path}: Include nested too deep")
            source = root.resolve(system_path)
            target = Path(tmp) / f"{next(counter)}-{source.name}"
            try:
                text = decode(root.read_bytes(system_path))
            except FileNotFoundError:
                return str(source)  # let the daemon report the missing file
            rewritten = rewrite_conf_for_root(
                root,
                text,
                path_options,
                dataset_options,
                lambda v: copy(v, depth + 1),
                kind=tool,
            )
            target.write_bytes(encode(rewritten))
            rename[str(target)] = system_path
            return str(target)

        try:
            top = copy(conf)
        except MailconfError as exc:
            return Validation(tool, ok=False, message=str(exc))
        result = _run_checked(tool, argv_for(top), runner, rename)
        # Paths under the root read better as system paths too.
        prefix = str(root.path)
        return attrs.evolve(result, message=result.message.replace(prefix + os.sep, os.sep))


def opendkim_check(
    root: SystemRoot, conf: str = "/etc/opendkim.conf", *, runner: Runner = run
) -> Validation:
    """``opendkim -n -x CONF``; under an alternate root on a copy with paths moved into it."""
    return _validate_milter_conf(
        "opendkim",
        root,
        conf,
        lambda path: ["opendkim", "-n", "-x", path],
        OPENDKIM_PATH_OPTIONS,
        OPENDKIM_DATASET_OPTIONS,
        runner,
    )


def opendmarc_check(
    root: SystemRoot, conf: str = "/etc/opendmarc.conf", *, runner: Runner = run
) -> Validation:
    """``opendmarc -n -c CONF``; under an alternate root on a copy with paths moved into it."""
    return _validate_milter_conf(
        "opendmarc",
        root,
        conf,
        lambda path: ["opendmarc", "-n", "-c", path],
        OPENDMARC_FILE_OPTIONS,
        frozenset(),
        runner,
    )
