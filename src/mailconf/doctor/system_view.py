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
from mailconf.milter.shellvars import ShellVars, init_script_environment
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
            return load_file(host_path, kind=kind)
        except ParseError as error:
            self.problems.append(
                Finding(
                    Severity.ERROR,
                    "system.parse-error",
                    error.message,
                    path=system_path,
                    line=error.line,
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
        """The file a ``file:``/``refile:``/bare-path data-set option names, parsed as
        ``doc_type``."""
        conf = self.document(daemon, MilterConf)
        value = conf.get(option) if conf is not None else None
        if not value:
            return None
        prefix, colon, rest = value.partition(":")
        path = rest if colon and prefix.lower() in ("file", "refile") else value
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

    def milter_socket_sources(self, daemon: str) -> list[tuple[str, str, int | None]]:
        """``(socket, file, line)`` for each place that sets the daemon's socket, the one the
        daemon uses first.

        Debian's init script passes /etc/default's SOCKET (expanded with ``NAME`` and ``RUNDIR``
        set, as the script does) only when the conf file has no Socket, so the conf's comes first;
        under systemd, SOCKET wins only once ``opendkim.service.generate`` has written an override.
        Two different sockets therefore mean "it depends on the service manager".
        """
        found: list[tuple[str, str, int | None]] = []
        conf = self.document(daemon, MilterConf)
        socket = conf.get("Socket") if conf is not None else None
        if conf is not None and socket:
            found.append((str(socket), f"/etc/{daemon}.conf", conf._last_line("Socket")))
        defaults = self.document(f"default-{daemon}", ShellVars)
        if defaults is not None:
            value = defaults.get(
                "SOCKET", expand=True, environment=init_script_environment(daemon)
            )
            if value:
                entry = defaults._assignments("SOCKET")[-1]
                found.append((str(value), f"/etc/default/{daemon}", defaults.line_of(entry)))
        return found

    def milter_socket_source(self, daemon: str) -> tuple[str, str, int | None] | None:
        """Where the socket the daemon listens on is set (see :meth:`milter_socket_sources`)."""
        found = self.milter_socket_sources(daemon)
        return found[0] if found else None

    def milter_socket(self, daemon: str) -> str | None:
        """The socket the daemon listens on (the conf's Socket, else /etc/default's SOCKET)."""
        found = self.milter_socket_source(daemon)
        return found[0] if found is not None else None
