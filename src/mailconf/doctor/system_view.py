"""The installed configuration as the doctor sees it: every file loaded once, from under a root.

Checks ask this view for documents instead of opening files themselves, so each file is parsed once
and a missing file is one finding, not a crash in every check that wanted it.
"""

from __future__ import annotations

import functools
from typing import TypeVar

import attrs

from mailconf.errors import MailconfError, ParseError
from mailconf.findings import Finding, Severity
from mailconf.milter.conf import MilterConf
from mailconf.milter.shellvars import ShellVars
from mailconf.milter.sockets import SocketSetting, socket_settings
from mailconf.postfix.main import MainCf
from mailconf.syntax.document import Document
from mailconf.syntax.kinds import load_file
from mailconf.system.root import SystemRoot

DocT = TypeVar("DocT", bound=Document)

POSTFIX_QUEUE_DIRECTORY = "/var/spool/postfix"
DAEMON_FILES = {
    "main": ("/etc/postfix/main.cf", "postfix-main"),
    "master": ("/etc/postfix/master.cf", "postfix-master"),
    "opendkim": ("/etc/opendkim.conf", "opendkim"),
    "opendmarc": ("/etc/opendmarc.conf", "opendmarc"),
    "default-opendkim": ("/etc/default/opendkim", "shellvars"),
    "default-opendmarc": ("/etc/default/opendmarc", "shellvars"),
}


@attrs.define
class SystemView:
    root: SystemRoot
    problems: list[Finding] = attrs.field(factory=list)

    @functools.cached_property
    def _documents(self) -> dict[str, Document | None]:
        documents: dict[str, Document | None] = {}
        for key, (system_path, kind) in DAEMON_FILES.items():
            documents[key] = self._load(system_path, kind, required=not key.startswith("default-"))
        return documents

    def _load(self, system_path: str, kind: str, *, required: bool) -> Document | None:
        try:
            host_path = self.root.resolve(system_path)
        except MailconfError as error:
            self.problems.append(
                Finding(Severity.ERROR, "system.path", str(error), path=system_path)
            )
            return None
        if not host_path.exists():
            if required:
                self.problems.append(
                    Finding(
                        Severity.ERROR,
                        "system.file-missing",
                        f"{system_path} does not exist",
                        fix="install the package that provides it, or run `mailconf apply`",
                        path=system_path,
                    )
                )
            return None
        try:
            document = load_file(host_path, kind=kind)
            if isinstance(document, MilterConf):
                document.include_root = str(self.root)  # its Includes are under the root too
            return document
        except ParseError as error:
            self.problems.append(
                Finding(
                    Severity.ERROR,
                    "system.parse-error",
                    error.message,
                    path=system_path,
                    line=error.line or None,
                    column=error.column or None,
                )
            )
            return None

    def document(self, key: str, doc_type: type[DocT]) -> DocT | None:
        """The parsed file (``main``, ``master``, ``opendkim``, ...), or None when unusable;
        ``doc_type`` is its model (``MainCf``), or ``Document`` for any file."""
        document = self._documents[key]
        if document is not None and not isinstance(document, doc_type):
            raise TypeError(f"{key} is a {type(document).__name__}, not a {doc_type.__name__}")
        return document

    def dataset(self, daemon: str, option: str, doc_type: type[DocT]) -> tuple[str, DocT] | None:
        """The text file a data-set option names (``file:``, ``refile:`` or an absolute path, as
        :meth:`~mailconf.milter.conf.MilterConf.dataset` reads the value), parsed as ``doc_type``;
        None for any other data set (a Berkeley DB file, a list, LDAP, ...)."""
        conf = self.document(daemon, MilterConf)
        spec = conf.dataset(option) if conf is not None else None
        if spec is None or spec.kind not in ("file", "refile") or not spec.path:
            return None
        path = spec.path
        if not path.startswith("/"):
            return None
        document = self._load(path, doc_type.kind, required=True)
        if document is None:
            return None
        assert isinstance(document, doc_type)
        return path, document

    @property
    def queue_directory(self) -> str:
        main = self.document("main", MainCf)
        return (
            main.get("queue_directory") if main is not None else None
        ) or POSTFIX_QUEUE_DIRECTORY

    def main_line(self, name: str) -> int | None:
        """The main.cf line of the parameter ``name`` (its last setting), or None."""
        main = self.document("main", MainCf)
        entry = main._last(name) if main is not None else None
        return main.line_of(entry) if main is not None and entry is not None else None

    def milter_socket_settings(self, daemon: str) -> list[SocketSetting]:
        """Each place that sets the daemon's socket, the one it listens on first
        (:func:`mailconf.milter.sockets.socket_settings`, the rule the service layer starts it by).
        """
        return socket_settings(
            daemon,
            self.document(daemon, MilterConf),
            self.document(f"default-{daemon}", ShellVars),
        )

    def milter_socket(self, daemon: str) -> str | None:
        """The socket the daemon listens on (the conf's Socket, else /etc/default's SOCKET)."""
        found = self.milter_socket_settings(daemon)
        return found[0].spec if found else None
