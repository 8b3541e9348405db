"""What a server already has, read before anything is planned: the planner adopts it instead of
overwriting it, and the doctor compares it with the spec.

Most servers mailconf meets already run Postfix, often with a half-done DKIM setup from an older
guide: OpenDKIM on ``inet:8891@localhost``, a ``KeyTable`` with a selector that is published in
DNS, ``milter_default_action = tempfail``, rspamd as another milter, an SPF policy service under
some name.  Overwriting any of it breaks mail that works today (a new selector nobody published,
a stale milter entry that defers every message under ``tempfail``), so the plan starts from this
reading (:func:`read_existing`): the tables OpenDKIM's conf names, the key each domain signs with,
each daemon's socket settings, ``milter_default_action``, and the SPF policy checks.

Everything is read with the file models the rest of mailconf uses; nothing here writes.
"""

from __future__ import annotations

import posixpath
import re
from typing import TypeVar

import attrs

from mailconf import fileio
from mailconf.milter.conf import MilterConf, OpenDkimConf, OpenDmarcConf
from mailconf.milter.datasets import DataSetSpec, compile_refile
from mailconf.milter.shellvars import ShellVars
from mailconf.milter.sockets import SocketSetting, socket_settings
from mailconf.milter.tables import KeyEntry, KeyTable, SigningTable
from mailconf.postfix.main import MainCf
from mailconf.postfix.master import MasterCf
from mailconf.syntax.document import Document
from mailconf.syntax.kinds import parse_kind
from mailconf.system.root import SystemRoot

DocT = TypeVar("DocT", bound=Document)

__all__ = [
    "SPF_PROGRAMS",
    "Existing",
    "SpfCheck",
    "TableFile",
    "read_existing",
    "spf_checks",
]

#: The SPF policy daemons Debian packages (python's and perl's), by the program master.cf runs.
SPF_PROGRAMS = ("policyd-spf", "postfix-policyd-spf-perl")
#: The restriction lists a policy check may sit in.
RESTRICTION_LISTS = (
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
    "smtpd_data_restrictions",
    "smtpd_end_of_data_restrictions",
)
POLICY_CHECK = "check_policy_service"


@attrs.frozen
class SpfCheck:
    """A ``check_policy_service`` item that runs an SPF policy daemon: the main.cf list it is in,
    the item as written, the master.cf service it names and the program that service runs."""

    parameter: str
    item: str
    service: str
    program: str

    def describe(self) -> str:
        return f"{self.parameter}: {self.item} (master.cf {self.service} runs {self.program})"


@attrs.frozen
class TableFile:
    """A data set of OpenDKIM's conf that is a text file mailconf can edit: the conf's value as
    written, the file's system path, whether rows are ``refile:`` patterns."""

    raw: str
    path: str
    regex: bool


@attrs.define
class Existing:
    """The parts of the current configuration a plan must keep or knowingly change."""

    key_table: TableFile | None = None
    signing_table: TableFile | None = None
    #: A data set the conf names that is not a file mailconf edits (db:, ldap:, csl:, ...).
    unusable_tables: dict[str, str] = attrs.field(factory=dict)
    keytable: KeyTable | None = None
    signingtable: SigningTable | None = None
    sockets: dict[str, list[SocketSetting]] = attrs.field(factory=dict)
    milter_default_action: str | None = None
    spf: list[SpfCheck] = attrs.field(factory=list)

    def signing_keys(self, domain: str) -> list[KeyEntry]:
        """The KeyTable rows OpenDKIM signs mail from ``domain`` with (every SigningTable row that
        matches ``postmaster@DOMAIN``: with MultipleSignatures, one per key), in table order."""
        if self.keytable is None or self.signingtable is None or self.signing_table is None:
            return []
        address = f"postmaster@{domain}"
        regex = self.signing_table.regex
        wanted = (
            {address.lower(), domain.lower()}
            if not regex
            else set()  # refile: matched row by row below
        )
        result: list[KeyEntry] = []
        table = self.keytable.keys()
        for row in self.signingtable.rows:
            if regex:
                try:
                    if not compile_refile(row.key, icase=True).match(address):
                        continue
                except re.error:  # a pattern the daemon cannot compile signs nothing
                    continue
            elif row.key.lower() not in wanted:
                continue
            keyname = row.value.split(":", 1)[0]
            for entry in table:
                if entry.keyname == keyname and entry not in result:
                    result.append(_for_domain(entry, domain))
        return result

    def table_keys(self, domain: str) -> list[KeyEntry]:
        """Every KeyTable row for ``domain``, signing or not (staged and retiring keys too)."""
        if self.keytable is None:
            return []
        table = self.keytable.keys()
        return [entry for entry in table if entry.domain.lower() in (domain.lower(), "%")]

    def socket(self, daemon: str) -> str | None:
        """The socket ``daemon`` listens on (its conf's Socket first, see
        :mod:`mailconf.milter.sockets`), or None."""
        settings = self.sockets.get(daemon) or []
        return settings[0].spec if settings else None


def _for_domain(entry: KeyEntry, domain: str) -> KeyEntry:
    """A ``%`` domain field (the sender's domain) made concrete."""
    return entry if entry.domain != "%" else attrs.evolve(entry, domain=domain)


def read_existing(root: SystemRoot) -> Existing:
    """Read the current setup under ``root``; files that are missing are simply not there."""
    existing = Existing()
    dkim = _load(root, "/etc/opendkim.conf", OpenDkimConf)
    dmarc = _load(root, "/etc/opendmarc.conf", OpenDmarcConf)
    for daemon, conf in (("opendkim", dkim), ("opendmarc", dmarc)):
        defaults = _load(root, f"/etc/default/{daemon}", ShellVars)
        existing.sockets[daemon] = socket_settings(daemon, conf, defaults)
    if dkim is not None:
        existing.key_table = _table_file(dkim, "KeyTable", existing)
        existing.signing_table = _table_file(dkim, "SigningTable", existing)
        if existing.key_table is not None:
            existing.keytable = _load(root, existing.key_table.path, KeyTable)
        if existing.signing_table is not None:
            existing.signingtable = _load(root, existing.signing_table.path, SigningTable)
    main = _load(root, "/etc/postfix/main.cf", MainCf)
    master = _load(root, "/etc/postfix/master.cf", MasterCf)
    if main is not None:
        existing.milter_default_action = main.get("milter_default_action")
        if master is not None:
            existing.spf = spf_checks(main, master)
    return existing


def spf_checks(main: MainCf, master: MasterCf) -> list[SpfCheck]:
    """The ``check_policy_service`` items of main.cf's restriction lists whose master.cf service
    runs an SPF policy daemon (:data:`SPF_PROGRAMS`), whatever the service is called."""
    programs: dict[str, str] = {}
    for service in master.services:
        for arg in service.args:
            if arg.startswith("argv="):
                program = posixpath.basename(arg[len("argv=") :])
                if program in SPF_PROGRAMS:
                    programs[service.name] = program
    found = []
    for parameter in RESTRICTION_LISTS:
        for item in main.list_items(parameter):
            words = item.split(None, 1)
            if len(words) != 2 or words[0] != POLICY_CHECK:
                continue
            target = words[1].strip("{} \t").split(",", 1)[0].strip()
            scheme, _, path = target.rpartition(":")
            if scheme not in ("", "unix") or not path.startswith("private/"):
                continue
            name = path[len("private/") :]
            if name in programs:
                found.append(SpfCheck(parameter, item, name, programs[name]))
    return found


def _table_file(conf: MilterConf, option: str, existing: Existing) -> TableFile | None:
    spec: DataSetSpec | None = conf.dataset(option)
    if spec is None:
        return None
    if spec.kind in ("file", "refile") and spec.path and spec.path.startswith("/"):
        return TableFile(spec.raw, spec.path, spec.kind == "refile")
    existing.unusable_tables[option] = spec.raw
    return None


def _load(root: SystemRoot, path: str, doc_type: type[DocT]) -> DocT | None:
    data = root.read_if_present(path)
    return None if data is None else parse_under(root, data, path, doc_type)


def parse_under(root: SystemRoot, data: bytes, path: str, doc_type: type[DocT]) -> DocT:
    """``data`` (the file at ``path`` under ``root``) parsed as ``doc_type``; a milter conf reads
    its ``Include``s in place, under the same root, as the daemon would (edits still change only
    the file's own lines)."""
    doc = parse_kind(fileio.decode(data), doc_type.kind, path=path)
    assert isinstance(doc, doc_type)
    if isinstance(doc, MilterConf):
        doc.include_root = str(root)
    return doc
