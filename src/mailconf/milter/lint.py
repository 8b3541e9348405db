"""Lint for the milters' files: what OpenDKIM and OpenDMARC accept but that does not do what was
meant, or that makes them fail once they run (missing files, unsafe key permissions).

Every check returns :class:`~mailconf.findings.Finding` objects with a stable ``code``; none of
them raises.  File checks read the machine under ``root`` (``/`` normally, a staging directory in
tests): ``/etc/opendkim/key.table`` is looked up as ``root + /etc/opendkim/key.table``.

Each model names its entry point here (``linter``), so ``doc.lint(root)`` runs it without the
model importing this module: :func:`lint_milter_conf`, :func:`lint_keytable`,
:func:`lint_signingtable` and :func:`lint_hostlist`, each ``(doc, root)`` with the defaults a
file on its own gets.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailconf import fileio
from mailconf.errors import ParseError
from mailconf.findings import Finding, Severity
from mailconf.milter import options as mo
from mailconf.milter.datasets import DataSetSpec
from mailconf.milter.sockets import is_daemon_socket
from mailconf.rootpath import under

if TYPE_CHECKING:
    from mailconf.milter.conf import MilterConf, Option
    from mailconf.milter.tables import DataSet, HostList, KeyTable, SigningTable
    from mailconf.syntax.document import Document, Entry

LINE_LIMIT = 1023  # fgets(line, BUFRSZ) with BUFRSZ 1024: longer lines are split in two
_FILE_LIKE = re.compile(r"(?:/|\.(?:hosts?|table|txt|conf|cfg|list|lst|keys?)$)", re.I)
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")

# OpenDMARC files read only once mail flows (``opendmarc -n`` ignores them): a missing one is
# silently ignored.  What the daemons open at start is in the option tables (``opens``).
_OPENDMARC_LATE_FILES = ("ignorehosts", "publicsuffixlist")


def line_finder(doc: Document) -> Callable[[Entry], int]:
    """``entry -> line``: the line it was parsed from, else (an entry an edit added) its line in
    the current text, from one numbering of the whole document made the first time it is needed
    (``doc.line_of`` for each entry would be quadratic)."""
    numbers: dict[Entry, int] = {}

    def line(entry: Entry) -> int:
        if entry.lineno:
            return entry.lineno
        if not numbers:
            numbers.update(doc.line_numbers())
        return numbers[entry]

    return line


# ---------------------------------------------------------------------- conf files
def lint_milter_conf(conf: MilterConf, root: str = "/") -> list[Finding]:
    """What ``MilterConf.lint`` runs: :meth:`~mailconf.milter.conf.MilterConf.validate`'s errors
    (what the daemon refuses), then :func:`lint_conf`'s findings."""
    return conf.validate() + lint_conf(conf, root)


def lint_conf(conf: MilterConf, root: str = "/", depth: int = 0) -> list[Finding]:
    findings: list[Finding] = []
    path = conf.path
    options = conf._options
    entry_line = line_finder(conf)
    # The occurrence that wins, by name ignoring case: conf.get() and conf.occurrences() are a
    # pass over the file each, too slow to call once per option.
    last: dict[str, Option] = {entry.name.lower(): entry for entry in options}

    def warn(code: str, message: str, fix: str = "", line: int | None = None) -> None:
        findings.append(Finding(Severity.WARNING, code, message, fix, path, line))

    for entry in options:
        if conf.kind == "opendmarc" and _byte_length(entry.text.rstrip("\n")) > LINE_LIMIT:
            warn(
                "milter.long-line",
                "line longer than ~1 KiB: OpenDMARC reads it as two lines",
                "",
                entry_line(entry),
            )
    seen: dict[str, int] = {}
    for entry in options:
        folded = entry.name.lower()
        if folded in seen:
            warn(
                "milter.duplicate-option",
                f"{entry.name} is set more than once; the last one (line "
                f"{last[folded].lineno}) wins",
                "remove the earlier lines",
                seen[folded],
            )
        seen[folded] = entry.lineno

    def value_of(name: str) -> str | None:
        found = last.get(name.lower())
        return found.value if found is not None else None

    def line_of(name: str) -> int | None:
        found = last.get(name.lower())
        return entry_line(found) if found is not None else None

    if conf.kind == "opendkim":
        if value_of("ReplaceHeaders") is not None and value_of("ReplaceRules") is None:
            warn(
                "milter.replaceheaders-alone",
                "ReplaceHeaders (experimental) does nothing without ReplaceRules",
                "remove it or add ReplaceRules",
                line_of("ReplaceHeaders"),
            )
        for name in conf.options:
            spec = mo.option_spec("opendkim", name)
            if spec is None or spec.type != mo.DATASET:
                continue
            data = conf.dataset(name)
            assert data is not None
            findings.extend(_lint_dataset_value(conf, spec.name, data, root, line_of(name)))
        findings.extend(_lint_tables(conf, root))
    for name in conf.options:
        spec = mo.option_spec(conf.kind, name)
        ignored = conf.kind == "opendmarc" and name.lower() in _OPENDMARC_LATE_FILES
        want = "file" if ignored else spec.opens if spec is not None else ""
        value = value_of(name)
        if not want or value is None:
            continue
        target = under(root, value)
        ok = os.path.isdir(target) if want == "directory" else os.path.isfile(target)
        if not ok:
            what = want
            consequence = "it is silently ignored" if ignored else "the daemon will not start"
            # What stops the daemon is an error (`mailconf lint` then exits 1, as `-n` exits 78).
            findings.append(
                Finding(
                    Severity.WARNING if ignored else Severity.ERROR,
                    "milter.missing-file",
                    f"{mo.canonical_name(conf.kind, name)}: {what} {value} does not exist "
                    f"({consequence})",
                    "",
                    path,
                    line_of(name),
                )
            )
    if conf.kind == "opendmarc":
        ignore = conf.get("IgnoreHosts")
        if ignore is not None and os.path.isfile(under(root, ignore)):
            findings.extend(_lint_hostlist_file(under(root, ignore), ignore, opendmarc=True))
    socket = conf.get("Socket")
    if socket is not None and not is_daemon_socket(socket):
        warn(
            "milter.bad-socket",
            f"Socket {socket!r} is not local:/path, unix:/path, inet:port@host or inet6:port@host",
            "e.g. local:/var/spool/postfix/opendkim/opendkim.sock or inet:8891@127.0.0.1",
            line_of("Socket"),
        )
    if conf.kind == "opendkim":
        findings.extend(_lint_includes(conf, root, depth))
    return findings


# opendkim/config.c refuses nesting deeper than this (MAXLEVEL).
INCLUDE_DEPTH = 5


def _lint_includes(conf: MilterConf, root: str, depth: int) -> list[Finding]:
    """OpenDKIM reads an ``Include``d file as part of its configuration: what it would refuse
    there stops the daemon as surely as in the main file, so it is validated and linted too."""
    from mailconf.milter.conf import OpenDkimConf

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
        findings.extend(included.validate())
        findings.extend(lint_conf(included, root, depth + 1))
    return findings


def _lint_dataset_value(
    conf: MilterConf, name: str, data: DataSetSpec, root: str, line: int | None
) -> list[Finding]:
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
                Severity.ERROR,
                "milter.missing-file",
                f"{name}: {data.path} does not exist (opendkim refuses to start)",
                "",
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


def _lint_hostlist_file(real_path: str, shown: str, *, opendmarc: bool) -> list[Finding]:
    from mailconf.milter.tables import HostList

    loaded = _load_table(real_path, "hostlist")
    if not isinstance(loaded, HostList):
        return []
    loaded.path = shown
    return lint_hostlist(loaded, opendmarc=opendmarc)


# ---------------------------------------------------------------------- tables
def _byte_length(line: str) -> int:
    """The length of ``line`` in the file's bytes (a byte that is not UTF-8 counts one)."""
    return len(fileio.encode(line))


def long_lines(doc: DataSet) -> list[Finding]:
    findings = []
    entry_line = line_finder(doc)
    for entry in doc.entries:
        for offset, physical in enumerate(entry.physical_lines):
            if _byte_length(physical.rstrip("\n")) > LINE_LIMIT:
                findings.append(
                    Finding(
                        Severity.WARNING,
                        "milter.long-line",
                        "line longer than ~1 KiB: OpenDKIM reads it as two entries",
                        "shorten it",
                        doc.path,
                        entry_line(entry) + offset,
                    )
                )
    return findings


def key_file_findings(
    keypath: str,
    root: str,
    where: tuple[str | None, int | None],
    directory_modes: dict[str, int | None] | None = None,
) -> list[Finding]:
    """A KeyTable key file: missing, readable by others, or under a directory others can write.

    ``directory_modes`` remembers the mode of each directory looked at (None: cannot stat) across
    the rows of one table, whose keys share their parent directories."""
    modes = directory_modes if directory_modes is not None else {}
    path, line = where
    real = under(root, keypath)
    if not keypath.startswith("/"):
        return [
            Finding(
                Severity.WARNING,
                "milter.key-relative",
                f"key path {keypath!r} is not absolute",
                "",
                path,
                line,
            )
        ]
    try:
        info = os.stat(real)
    except OSError:
        return [
            Finding(
                Severity.WARNING,
                "milter.key-missing",
                f"key file {keypath} does not exist (signing fails for this key)",
                "generate it with opendkim-genkey or fix the path",
                path,
                line,
            )
        ]
    findings = []
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 or not mode & 0o400:
        findings.append(
            Finding(
                Severity.WARNING,
                "milter.key-mode",
                f"key file {keypath} has mode {mode:04o}; OpenDKIM wants 0600 or 0400",
                f"chmod 600 {keypath}",
                path,
                line,
            )
        )
    directory = os.path.dirname(keypath)
    while True:
        if directory not in modes:
            try:
                modes[directory] = stat.S_IMODE(os.stat(under(root, directory)).st_mode)
            except OSError:
                modes[directory] = None
        dmode = modes[directory]
        if dmode is None:
            break
        if dmode & 0o022:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "milter.key-unsafe-directory",
                    f"key file {keypath} is under {directory} (mode {dmode:04o}), "
                    "which other users can write: OpenDKIM refuses the key and "
                    "every message gets 451",
                    f"chmod go-w {directory} or move the key",
                    path,
                    line,
                )
            )
            break
        parent = os.path.dirname(directory)
        if parent == directory:  # "/", "" and also "//", which is its own dirname
            break
        directory = parent
    return findings


def host_entry_problem(entry: str, *, regex: bool = False) -> tuple[str, str, str] | None:
    """``(code, message, fix)`` when a host-list entry cannot match what was meant."""
    item = entry[1:] if entry.startswith("!") else entry
    if not item:
        return "milter.host-invalid", f"{entry!r} is not a host, address or network", ""
    if "*" in item and not regex:
        suggestion = "." + item.lstrip("*.") if item.startswith("*.") else ""
        fix = f"write {suggestion!r} to match every subdomain" if suggestion else "remove the '*'"
        return (
            "milter.host-glob",
            f"{entry!r} is a literal in a plain host list and never matches "
            "(there are no wildcards)",
            fix,
        )
    bare = item
    prefix = None
    if "/" in bare:
        bare, _, prefix = bare.partition("/")
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        address = None
    if address is not None:
        if prefix is not None:
            if not prefix.isdigit() or int(prefix) > address.max_prefixlen:
                return "milter.host-invalid", f"{entry!r}: bad prefix length", ""
            network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
            if network.network_address != address:
                return (
                    "milter.cidr-host-bits",
                    f"{entry!r} has host bits set and never matches",
                    f"write {network.network_address}/{prefix}",
                )
        if address.version == 6 and bare != bare.lower():
            return (
                "milter.host-case",
                f"{entry!r}: OpenDKIM compares IPv6 addresses in lower case",
                "",
            )
        if (
            address.version == 6
            and str(address) != bare.lower()
            and not bare.lower().startswith("::ffff:")
        ):
            return (
                "milter.ipv6-form",
                f"{entry!r} is not in the compressed form OpenDKIM compares ({address})",
                f"write {address}",
            )
        return None
    if prefix is not None:
        return "milter.host-invalid", f"{entry!r}: a prefix length needs an IP address", ""
    name = bare[1:] if bare.startswith(".") else bare
    labels = name.rstrip(".").split(".")
    if not name or not all(_LABEL.match(label) for label in labels):
        return "milter.host-invalid", f"{entry!r} is not a valid host name, address or network", ""
    if len(labels) == 1 and not bare.startswith(".") and name.lower() != "localhost":
        close = difflib.get_close_matches(name.lower(), ["localhost"], n=1, cutoff=0.7)
        fix = "did you mean 'localhost'?" if close else "use a fully qualified name or an address"
        return (
            "milter.host-unresolvable",
            f"{entry!r} is a single-label name that will not resolve",
            fix,
        )
    return None


def lint_hostlist(
    doc: HostList,
    root: str = "/",
    *,
    opendmarc: bool = False,
    resolver: Callable[[str], bool] | None = None,
) -> list[Finding]:
    """Entries that never match what was meant (``*.example.com``, ``locahost``, host bits in a
    CIDR, ...); ``opendmarc`` adds OpenDMARC's IgnoreHosts rules; ``resolver`` (name ->
    resolves?) adds a DNS check of host names.  ``root`` is not needed (no file is named)."""
    findings = long_lines(doc)
    entry_line = line_finder(doc)
    for row in doc.rows:
        line = entry_line(row)
        if opendmarc and row.text[:1] in " \t\v\f\r":
            findings.append(
                Finding(
                    Severity.WARNING,
                    "milter.indented-ignorehost",
                    f"indented line {row.key!r}: OpenDMARC never matches an indented "
                    "IgnoreHosts line",
                    "remove the indentation",
                    doc.path,
                    line,
                )
            )
            continue
        problem = host_entry_problem(row.key)
        if problem is None and resolver is not None:
            bare = row.key.lstrip("!")
            if (
                not bare.startswith((".", "["))
                and "/" not in bare
                and not _is_ip(bare)
                and not resolver(bare)
            ):
                problem = ("milter.host-unresolvable", f"{row.key!r} does not resolve", "")
        if problem is not None:
            code, message, fix = problem
            findings.append(Finding(Severity.WARNING, code, message, fix, doc.path, line))
    return findings


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def lint_keytable(doc: KeyTable, root: str = "/") -> list[Finding]:
    """Rows that are not ``domain:selector:keypath``, and key files missing or unsafe under
    ``root``."""
    findings = long_lines(doc)
    entry_line = line_finder(doc)
    directory_modes: dict[str, int | None] = {}
    for row in doc.rows:
        line = entry_line(row)
        parts = row.value.split(":", 2)
        if len(parts) != 3 or not all(parts):
            findings.append(
                Finding(
                    Severity.WARNING,
                    "milter.keytable-value",
                    f"KeyTable entry {row.key!r}: the value must be domain:selector:keypath",
                    "",
                    doc.path,
                    line,
                )
            )
            continue
        findings.extend(key_file_findings(parts[2], root, (doc.path, line), directory_modes))
    return findings


def lint_signingtable(
    doc: SigningTable,
    root: str = "/",
    *,
    keytable: KeyTable | None = None,
    regex: bool = True,
) -> list[Finding]:
    """Patterns OpenDKIM refuses (read as ``refile:`` with ``regex``, the usual setup), rows
    without a key name, and key names not in ``keytable`` (when given).  ``root`` is not needed
    (the KeyTable is given, not looked up)."""
    import re as _re

    from mailconf.milter.datasets import compile_refile
    from mailconf.milter.tables import refile_glob

    findings = long_lines(doc)
    entry_line = line_finder(doc)
    # file: lookups by key name, each a pass over the KeyTable: one set instead.
    keynames = {row.key for row in keytable.rows} if keytable is not None else set()
    for row in doc.rows:
        line = entry_line(row)
        pattern = doc.refile_parts(row)[0] if regex else ""
        if regex and refile_glob(pattern) is None:  # a plain pattern always compiles
            try:
                compile_refile(pattern, icase=True)
            except _re.error:
                findings.append(
                    Finding(
                        Severity.ERROR,
                        "milter.bad-pattern",
                        f"pattern {row.key!r} is not a valid regular expression: "
                        "opendkim refuses the table",
                        "escape or remove the special characters",
                        doc.path,
                        line,
                    )
                )
        if not row.value:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "milter.signingtable-value",
                    f"{row.key!r} has no key name",
                    "",
                    doc.path,
                    line,
                )
            )
            continue
        keyname = row.value.split(":", 1)[0] if not row.value.startswith("%") else row.value
        if keytable is not None and keyname != "%" and keyname not in keynames:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "milter.signingtable-unknown-key",
                    f"SigningTable key name {keyname!r} is not in the KeyTable "
                    f"(mail from {row.key!r} is "
                    "not signed)",
                    "add it to the KeyTable or fix the name",
                    doc.path,
                    line,
                )
            )
    return findings
