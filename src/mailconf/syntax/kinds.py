"""The file kinds mailconf knows, their document types, and how a file name tells the kind.

Document types are imported on first use so that ``import mailconf`` stays cheap: a CLI call
that reads one main.cf never loads the OpenDKIM model.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
from pathlib import PurePath

from mailconf.errors import ReadError, UsageError
from mailconf.syntax.document import Document

_DOCUMENT_TYPES = {
    "postfix-main": ("mailconf.postfix.main", "MainCf"),
    "postfix-master": ("mailconf.postfix.master", "MasterCf"),
    "opendkim": ("mailconf.milter.conf", "OpenDkimConf"),
    "opendmarc": ("mailconf.milter.conf", "OpenDmarcConf"),
    "keytable": ("mailconf.milter.tables", "KeyTable"),
    "signingtable": ("mailconf.milter.tables", "SigningTable"),
    "hostlist": ("mailconf.milter.tables", "HostList"),
    "shellvars": ("mailconf.milter.shellvars", "ShellVars"),
}
KINDS = tuple(_DOCUMENT_TYPES)

# (pattern on the file name, case-insensitive, kind); first match wins.
_NAME_PATTERNS = (
    ("main.cf*", "postfix-main"),
    ("master.cf*", "postfix-master"),
    ("opendkim.conf*", "opendkim"),
    ("opendmarc.conf*", "opendmarc"),
    ("key.table*", "keytable"),
    ("keytable*", "keytable"),
    ("*.keytable", "keytable"),
    ("signing.table*", "signingtable"),
    ("signingtable*", "signingtable"),
    ("*.signingtable", "signingtable"),
    ("trusted.hosts*", "hostlist"),
    ("trustedhosts*", "hostlist"),
    ("internalhosts*", "hostlist"),
    ("externalignorelist*", "hostlist"),
    ("ignore.hosts*", "hostlist"),
    ("*.hosts", "hostlist"),
)


def document_type(kind: str) -> type[Document]:
    try:
        module_name, class_name = _DOCUMENT_TYPES[kind]
    except KeyError:
        raise UsageError(f"unknown kind {kind!r}; known kinds: {', '.join(KINDS)}") from None
    doc_type: type[Document] = getattr(importlib.import_module(module_name), class_name)
    return doc_type


def infer_kind(path: str | os.PathLike[str]) -> str:
    """The kind a file's name implies (``/etc/default/opendkim`` is shellvars), or an error."""
    pure = PurePath(path)
    name = pure.name.lower()
    if pure.parent.name == "default" and name in ("opendkim", "opendmarc"):
        return "shellvars"
    for pattern, kind in _NAME_PATTERNS:
        if fnmatch.fnmatchcase(name, pattern):
            return kind
    raise UsageError(
        f"{os.fspath(path)}: cannot tell the file kind from its name; pass kind= (--kind): "
        + ", ".join(KINDS)
    )


def parse_kind(text: str, kind: str, *, path: str | None = None) -> Document:
    """Parse ``text`` as a file of ``kind`` (what :func:`mailconf.parse` does, for the layers
    below the facade: nothing inside the package imports ``mailconf`` itself)."""
    return document_type(kind).parse(text, path)


def load_file(path: str | os.PathLike[str], kind: str | None = None) -> Document:
    """Read and parse ``path``, the kind from its name unless given (:func:`mailconf.load`)."""
    from mailconf import fileio

    resolved_kind = kind or infer_kind(path)
    try:
        text = fileio.read_text(path)
    except OSError as error:
        raise ReadError.from_os_error(path, error) from None
    return parse_kind(text, resolved_kind, path=os.fspath(path))
