"""What an apply's validation would refuse, found while planning: ``plan`` shows it and exits 1,
``apply`` stops before writing anything.

``opendkim -n`` and ``opendmarc -n`` (phase 5 of an apply) open every file their configuration
names at start: the data sets (KeyTable, SigningTable, TrustedHosts...), KeyFile,
TrustAnchorFile (Debian's ``/usr/share/dns/root.key``)... and refuse to start when one is
missing.  Such a file is checked here against the tree under the root and the plan's own steps
(a file, key or directory the plan makes counts as present), so the admin learns it from
``plan``, not from an apply that writes, fails and restores.  The options are the ones the
validation itself rewrites under ``--root`` (:mod:`mailconf.system.validate`), so the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from mailconf.errors import ParseError
from mailconf.fileio import decode
from mailconf.findings import Finding, Severity
from mailconf.milter.conf import MilterConf, OpenDkimConf, OpenDmarcConf
from mailconf.milter.datasets import parse_dataset
from mailconf.setup.plan import Step
from mailconf.system.root import SystemRoot
from mailconf.system.validate import (
    OPENDKIM_DATASET_OPTIONS,
    OPENDKIM_PATH_OPTIONS,
    OPENDMARC_FILE_OPTIONS,
)

#: The code of :func:`missing_referenced_files`' findings.
MISSING_FILE = "setup.missing-file"

#: Each milter's configuration, and the options its ``-n`` opens (all, those read as data sets).
_CONFS: dict[str, tuple[type[MilterConf], str, frozenset[str], frozenset[str]]] = {
    "opendkim": (
        OpenDkimConf,
        "/etc/opendkim.conf",
        OPENDKIM_PATH_OPTIONS,
        OPENDKIM_DATASET_OPTIONS,
    ),
    "opendmarc": (OpenDmarcConf, "/etc/opendmarc.conf", OPENDMARC_FILE_OPTIONS, frozenset()),
}


@attrs.frozen
class MissingFile:
    """A file a milter's configuration (``conf``, its option ``option``) opens at start that is
    neither under the root nor made by the plan."""

    daemon: str
    conf: str
    option: str
    path: str


def missing_references(root: SystemRoot, steps: Sequence[Step]) -> list[MissingFile]:
    """The files the milters' configurations (as ``steps`` leave them) open at start that are
    neither under ``root`` nor made by one of ``steps``."""
    made = {step.target for step in steps if step.kind in ("file", "directory")}
    for step in steps:
        if step.key is not None:
            made |= {step.key.private_path, step.key.txt_path, step.key.directory}
    missing: list[MissingFile] = []
    for kind, (conf_type, conf_path, opened, datasets) in _CONFS.items():
        planned = [s.content for s in steps if s.kind == "file" and s.target == conf_path]
        content = planned[-1] if planned else root.read_if_present(conf_path)
        if content is None:
            continue
        try:
            conf = conf_type.parse(decode(content), conf_path)
        except ParseError:
            continue  # the validation reports it, with the daemon's own words
        for name, value in conf.options.items():
            folded = name.lower()
            if folded not in opened:
                continue
            path = parse_dataset(value).path if folded in datasets else value
            if path is None or not path.startswith("/") or path in made or root.exists(path):
                continue
            missing.append(MissingFile(kind, conf_path, name, path))
    return missing


def missing_referenced_files(root: SystemRoot, steps: Sequence[Step]) -> list[Finding]:
    """An error for each of :func:`missing_references`; a warning while the plan still installs
    packages, which may bring it (opendkim depends on dns-root-data)."""
    installing = [step.target for step in steps if step.kind == "package"]
    unless = f" unless {', '.join(installing)} bring(s) it" if installing else ""
    return [
        Finding(
            Severity.WARNING if installing else Severity.ERROR,
            MISSING_FILE,
            f"{item.option} names {item.path}, which does not exist under {root}: {item.daemon} "
            f"-n (the apply's validation) and the daemon would refuse to start{unless}",
            f"install what provides {item.path} (dns-root-data for /usr/share/dns/root.key) "
            f"or change {item.option}",
            item.conf,
        )
        for item in missing_references(root, steps)
    ]


def root_needs(root: SystemRoot, queue_directory: str) -> list[Finding]:
    """Under ``--root``: what the tree lacks that a real system has and the apply needs, said up
    front (the dpkg database and the accounts have their own notes): Postfix's queue directory,
    where the milters' sockets go and which Postfix's package makes."""
    if root.is_live or root.exists(queue_directory):
        return []
    return [
        Finding(
            Severity.WARNING,
            "setup.root-incomplete",
            f"{root} has no {queue_directory} (Postfix's queue directory, made by the postfix "
            "package): the milters' socket directories would be made in an empty one, unlike "
            "on the system this tree stands for",
            "copy the system's /var/spool/postfix layout into the root, or install postfix there",
        )
    ]
