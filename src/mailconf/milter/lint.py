"""Lint for the milters' conf files: what OpenDKIM and OpenDMARC accept but that does not do what
was meant, or that makes them fail once they run (missing files, unsafe key permissions).

Every check returns :class:`~mailconf.findings.Finding` objects with a stable ``code``; none of
them raises.  File checks read the machine under ``root`` (``/`` normally, a staging directory in
tests): ``/etc/opendkim/key.table`` is looked up as ``root + /etc/opendkim/key.table``.

Each model names its entry point (``linter``), so ``doc.lint(root)`` runs it without the model
importing its lint: :func:`lint_milter_conf` here, :func:`~mailconf.milter.table_lint.lint_keytable`
and :func:`~mailconf.milter.table_lint.lint_signingtable` in :mod:`mailconf.milter.table_lint`,
:func:`~mailconf.milter.host_lint.lint_hostlist` in :mod:`mailconf.milter.host_lint`, each
``(doc, root)`` with the defaults a file on its own gets.  The conf lint runs the tables' lint
too, on the tables the conf names.

What only one daemon does is in :data:`KIND_CHECKS`, by model class, not by comparing kind names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from mailconf.errors import ParseError
from mailconf.findings import Finding, Severity
from mailconf.milter import options as mo
from mailconf.milter.conf import INCLUDE_DEPTH, MilterConf, OpenDkimConf, OpenDmarcConf
from mailconf.milter.datasets import DataSetSpec
from mailconf.milter.host_lint import lint_hostlist
from mailconf.milter.sockets import is_daemon_socket
from mailconf.milter.table_lint import (
    LINE_LIMIT,
    byte_length,
    line_finder,
    lint_keytable,
    lint_signingtable,
)
from mailconf.rootpath import under

if TYPE_CHECKING:
    from mailconf.milter.conf import Option
    from mailconf.milter.tables import DataSet, KeyTable

_FILE_LIKE = re.compile(r"(?:/|\.(?:hosts?|table|txt|conf|cfg|list|lst|keys?)$)", re.I)


def lint_milter_conf(conf: MilterConf, root: str = "/") -> list[Finding]:
    """What ``MilterConf.lint`` runs: :meth:`~mailconf.milter.conf.MilterConf.validate`'s errors
    (what the daemon refuses), then :func:`lint_conf`'s findings."""
    whole = attrs.evolve(conf, include_root=root)  # the daemon reads the Includes in place
    return whole.validate() + lint_conf(attrs.evolve(conf, include_root=None), root)


def lint_conf(conf: MilterConf, root: str = "/", depth: int = 0) -> list[Finding]:
    """The warnings (and the errors about missing files) for ``conf``: lines the daemon cuts,
    duplicates, then the daemon's own option checks (:data:`KIND_CHECKS`), files that do not
    exist, the socket, and last the files the conf brings in (``depth``: how deep inside
    ``Include`` this file is)."""
    lint = ConfLint(conf, root, depth)
    kind = KIND_CHECKS.get(type(conf), KindChecks())
    lint.long_lines()
    lint.duplicates()
    kind.options(lint)
    lint.missing_files()
    lint.socket()
    kind.files(lint)
    return lint.findings


class ConfLint:
    """One run of :func:`lint_conf`: the conf, the winning occurrence of each option, the
    findings so far."""

    def __init__(self, conf: MilterConf, root: str, depth: int) -> None:
        self.conf, self.root, self.depth = conf, root, depth
        self.findings: list[Finding] = []
        self.entry_line = line_finder(conf)
        # The occurrence that wins, by name ignoring case: conf.get() and conf.occurrences() are
        # a pass over the file each, too slow to call once per option.
        self.last: dict[str, Option] = {entry.name.lower(): entry for entry in conf._options}

    def warn(self, code: str, message: str, fix: str = "", line: int | None = None) -> None:
        self.findings.append(Finding(Severity.WARNING, code, message, fix, self.conf.path, line))

    def value_of(self, name: str) -> str | None:
        found = self.last.get(name.lower())
        return found.value if found is not None else None

    def line_of(self, name: str) -> int | None:
        found = self.last.get(name.lower())
        return self.entry_line(found) if found is not None else None

    def long_lines(self) -> None:
        if not self.conf.splits_long_lines:
            return
        for entry in self.conf._options:
            if byte_length(entry.text.rstrip("\n")) > LINE_LIMIT:
                self.warn(
                    "milter.long-line",
                    f"line longer than ~1 KiB: {self.conf.daemon} reads it as two lines",
                    "",
                    self.entry_line(entry),
                )

    def duplicates(self) -> None:
        seen: dict[str, int] = {}
        for entry in self.conf._options:
            folded = entry.name.lower()
            if folded in seen:
                self.warn(
                    "milter.duplicate-option",
                    f"{entry.name} is set more than once; the last one (line "
                    f"{self.last[folded].lineno}) wins",
                    "remove the earlier lines",
                    seen[folded],
                )
            seen[folded] = entry.lineno

    def missing_files(self) -> None:
        """Files and directories the daemon opens at start (it does not start without them);
        those it reads only once mail flows are warned about (it ignores them)."""
        conf = self.conf
        for name in conf.options:
            spec = mo.option_spec(conf.kind, name)
            ignored = name.lower() in conf.late_files
            want = "file" if ignored else spec.opens if spec is not None else ""
            value = self.value_of(name)
            if not want or value is None:
                continue
            target = under(self.root, value)
            if os.path.isdir(target) if want == "directory" else os.path.isfile(target):
                continue
            consequence = "it is silently ignored" if ignored else "the daemon will not start"
            # What stops the daemon is an error (`mailconf lint` then exits 1, as `-n` exits 78).
            self.findings.append(
                Finding(
                    Severity.WARNING if ignored else Severity.ERROR,
                    "milter.missing-file",
                    f"{mo.canonical_name(conf.kind, name)}: {want} {value} does not exist "
                    f"({consequence})",
                    "",
                    conf.path,
                    self.line_of(name),
                )
            )

    def socket(self) -> None:
        socket = self.conf.get("Socket")
        if socket is not None and not is_daemon_socket(socket):
            self.warn(
                "milter.bad-socket",
                f"Socket {socket!r} is not local:/path, unix:/path, inet:port@host or "
                "inet6:port@host",
                "e.g. local:/var/spool/postfix/opendkim/opendkim.sock or inet:8891@127.0.0.1",
                self.line_of("Socket"),
            )


def _nothing(lint: ConfLint) -> None:
    """No check of this kind for this daemon."""


@attrs.frozen
class KindChecks:
    """What one daemon's lint adds: ``options`` runs after the duplicates (checks of the
    options' values), ``files`` last (the files the conf brings in, linted as their kind)."""

    options: Callable[[ConfLint], None] = _nothing
    files: Callable[[ConfLint], None] = _nothing


# ---------------------------------------------------------------------- OpenDKIM
def _opendkim_options(lint: ConfLint) -> None:
    if lint.value_of("ReplaceHeaders") is not None and lint.value_of("ReplaceRules") is None:
        lint.warn(
            "milter.replaceheaders-alone",
            "ReplaceHeaders (experimental) does nothing without ReplaceRules",
            "remove it or add ReplaceRules",
            lint.line_of("ReplaceHeaders"),
        )
    conf = lint.conf
    # Measured with opendkim -n: Domain's data set is opened only when there is no KeyTable
    # (signing by Domain/Selector/KeyFile, or verifying); with a KeyTable it is never read.
    unopened = {"Domain"} if conf.get("KeyTable") is not None else set()
    for name in conf.options:
        spec = mo.option_spec(conf.kind, name)
        if spec is None or spec.type != mo.DATASET:
            continue
        data = conf.dataset(name)
        assert data is not None
        lint.findings.extend(
            _lint_dataset_value(
                conf,
                spec.name,
                data,
                lint.root,
                lint.line_of(name),
                opened=spec.name not in unopened,
            )
        )
    lint.findings.extend(_lint_tables(conf, lint.root))


def _opendkim_files(lint: ConfLint) -> None:
    lint.findings.extend(_lint_includes(lint.conf, lint.root, lint.depth))


def _lint_includes(conf: MilterConf, root: str, depth: int) -> list[Finding]:
    """OpenDKIM reads an ``Include``d file as part of its configuration: what it would refuse
    there stops the daemon as surely as in the main file, so it is validated and linted too."""
    findings: list[Finding] = []
    entry_line = line_finder(conf)
    linted: set[str] = set()
    for entry in conf.occurrences("Include"):
        target = under(root, entry.value)
        if not os.path.isfile(target):
            continue  # reported above as milter.missing-file
        line = entry_line(entry)
        if depth >= INCLUDE_DEPTH:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "milter.include-depth",
                    f"Include nests deeper than {INCLUDE_DEPTH} levels (opendkim refuses it)",
                    "",
                    conf.path,
                    line,
                )
            )
            continue
        if target in linted:
            # The same file again: its findings are already in (the daemon reads it again, but
            # linting it once per Include line would multiply the work at every level of nesting).
            continue
        linted.add(target)
        try:
            included = OpenDkimConf.load(target)
        except ParseError as error:
            findings.append(
                Finding(Severity.ERROR, "milter.include-invalid", str(error), "", conf.path, line)
            )
            continue
        # its lines; the checks on the whole configuration ran on the including file, which
        # reads this one in place (validate() of the file that includes it)
        findings.extend(included.validate_lines())
        findings.extend(lint_conf(attrs.evolve(included, include_root=None), root, depth + 1))
    return findings


def _lint_dataset_value(
    conf: MilterConf,
    name: str,
    data: DataSetSpec,
    root: str,
    line: int | None,
    *,
    opened: bool = True,
) -> list[Finding]:
    """A data-set value's problems; a missing file is an error only when the daemon ``opened``
    it at start (else a warning: the value is unused, the file may be a leftover)."""
    findings: list[Finding] = []
    if (
        data.kind == "csl"
        and not data.explicit
        and len(data.items) == 1
        and _FILE_LIKE.search(data.items[0])
    ):
        findings.append(
            Finding(
                Severity.WARNING,
                "milter.relative-dataset",
                f"{name} {data.raw!r} is read as a one-item literal list, not as a file "
                "(a data set without a prefix is a file only when it starts with /)",
                f"write {name} file:/absolute/path (or refile: for patterns)",
                conf.path,
                line,
            )
        )
    if data.path is not None and not os.path.isfile(under(root, data.path)):
        findings.append(
            Finding(
                Severity.ERROR if opened else Severity.WARNING,
                "milter.missing-file",
                f"{name}: {data.path} does not exist ("
                + (
                    "opendkim refuses to start)"
                    if opened
                    else "opendkim does not read it while a KeyTable is set)"
                ),
                "" if opened else f"remove {name}: the KeyTable and SigningTable decide",
                conf.path,
                line,
            )
        )
    return findings


def _load_table(path: str, kind: str) -> DataSet | None:
    from mailconf.errors import MailconfError
    from mailconf.milter.tables import DataSet
    from mailconf.syntax.kinds import load_file

    try:
        doc = load_file(path, kind)
    except MailconfError:
        return None
    assert isinstance(doc, DataSet)
    return doc


def _lint_tables(conf: MilterConf, root: str) -> list[Finding]:
    """Cross-file checks: SigningTable keys in the KeyTable, key files, host lists."""
    from mailconf.milter.tables import HostList, KeyTable, SigningTable

    findings: list[Finding] = []
    keyspec = conf.dataset("KeyTable")
    signspec = conf.dataset("SigningTable")
    keytable: KeyTable | None = None
    if keyspec is not None and keyspec.kind in ("file", "refile") and keyspec.path is not None:
        loaded = _load_table(under(root, keyspec.path), "keytable")
        if isinstance(loaded, KeyTable):
            keytable = loaded
            findings.extend(lint_keytable(keytable, root))
    if signspec is not None and signspec.kind in ("file", "refile") and signspec.path is not None:
        loaded = _load_table(under(root, signspec.path), "signingtable")
        if isinstance(loaded, SigningTable):
            findings.extend(
                lint_signingtable(loaded, keytable=keytable, regex=signspec.kind == "refile")
            )
    for name in ("InternalHosts", "ExternalIgnoreList", "TrustedHosts", "PeerList"):
        spec = conf.dataset(name)
        if spec is None or spec.path is None or spec.kind != "file":
            continue
        loaded = _load_table(under(root, spec.path), "hostlist")
        if isinstance(loaded, HostList):
            findings.extend(lint_hostlist(loaded))
    return findings


# ---------------------------------------------------------------------- OpenDMARC
def _opendmarc_files(lint: ConfLint) -> None:
    """IgnoreHosts is a host list with OpenDMARC's own rules (no indented lines)."""
    from mailconf.milter.tables import HostList

    ignore = lint.conf.get("IgnoreHosts")
    if ignore is None or not os.path.isfile(under(lint.root, ignore)):
        return
    loaded = _load_table(under(lint.root, ignore), "hostlist")
    if isinstance(loaded, HostList):
        loaded.path = ignore
        lint.findings.extend(lint_hostlist(loaded, opendmarc=True))


#: Each daemon's own checks, by its conf model.
KIND_CHECKS: dict[type[MilterConf], KindChecks] = {
    OpenDkimConf: KindChecks(options=_opendkim_options, files=_opendkim_files),
    OpenDmarcConf: KindChecks(files=_opendmarc_files),
}
