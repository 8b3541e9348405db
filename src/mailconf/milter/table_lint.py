"""Lint for OpenDKIM's tables: the KeyTable (``name domain:selector:keypath``, and the key files
it names, which must be private) and the SigningTable (patterns and the key names they give).
Host lists are :mod:`mailconf.milter.host_lint`; the conf files :mod:`mailconf.milter.lint`.

File checks read the machine under ``root``, as the conf lint does.  Also here: what every
table's lint shares (lines too long for the daemons' buffer, an entry's line number).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailconf import fileio
from mailconf.findings import Finding, Severity
from mailconf.milter.datasets import compile_refile
from mailconf.rootpath import under

if TYPE_CHECKING:
    from mailconf.milter.tables import DataSet, KeyTable, SigningTable
    from mailconf.syntax.document import Document, Entry

LINE_LIMIT = 1023  # fgets(line, BUFRSZ) with BUFRSZ 1024: longer lines are split in two


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


def byte_length(line: str) -> int:
    """The length of ``line`` in the file's bytes (a byte that is not UTF-8 counts one)."""
    return len(fileio.encode(line))


def long_lines(doc: DataSet) -> list[Finding]:
    findings = []
    entry_line = line_finder(doc)
    for entry in doc.entries:
        for offset, physical in enumerate(entry.physical_lines):
            if byte_length(physical.rstrip("\n")) > LINE_LIMIT:
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
    unsafe = _writable_directory(keypath, root, modes)
    if unsafe is not None:
        directory, dmode = unsafe
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
    return findings


def _writable_directory(
    keypath: str, root: str, modes: dict[str, int | None]
) -> tuple[str, int] | None:
    """The nearest directory above ``keypath`` that others can write, with its mode, or None
    (the walk up stops at one that cannot be looked at)."""
    directory = os.path.dirname(keypath)
    while True:
        if directory not in modes:
            try:
                modes[directory] = stat.S_IMODE(os.stat(under(root, directory)).st_mode)
            except OSError:
                modes[directory] = None
        dmode = modes[directory]
        if dmode is None:
            return None
        if dmode & 0o022:
            return directory, dmode
        parent = os.path.dirname(directory)
        if parent == directory:  # "/", "" and also "//", which is its own dirname
            return None
        directory = parent


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
            except re.error:
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
