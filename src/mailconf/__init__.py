"""mailconf: configure Postfix, OpenDKIM and OpenDMARC (SPF, DKIM, DMARC) the way the daemons read
their files, without losing a byte of what the administrator wrote.

>>> import mailconf
>>> doc = mailconf.parse("myhostname = mail.example.com\\n", kind="postfix-main")
>>> doc.dump()
'myhostname = mail.example.com\\n'
>>> doc["myhostname"], "biff" in doc
('mail.example.com', False)

The facade, like tomlkit's ``api``: :func:`parse` and :func:`load` return the kind's model
(``kind="postfix-main"`` gives a :class:`MainCf`, typed as one), :func:`plan` plans a setup.  The
models and the setup spec are named here but imported on first use, so ``import mailconf`` stays
cheap; nothing inside the package imports this module.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Literal, overload

from mailconf._version import __version__
from mailconf.errors import EditError, MailconfError, ParseError, ReadError, ValidationError
from mailconf.syntax.document import Document, Entry
from mailconf.syntax.kinds import KINDS, load_file, parse_kind

if TYPE_CHECKING:
    from mailconf.milter.conf import OpenDkimConf, OpenDmarcConf
    from mailconf.milter.shellvars import ShellVars
    from mailconf.milter.tables import HostList, KeyTable, SigningTable
    from mailconf.postfix.main import MainCf
    from mailconf.postfix.master import MasterCf
    from mailconf.setup.plan import Plan
    from mailconf.setup.spec import Domain, Setup

__all__ = [
    "KINDS",
    "Document",
    "Domain",
    "EditError",
    "Entry",
    "HostList",
    "KeyTable",
    "Kind",
    "MailconfError",
    "MainCf",
    "MasterCf",
    "OpenDkimConf",
    "OpenDmarcConf",
    "ParseError",
    "Plan",
    "ReadError",
    "Setup",
    "ShellVars",
    "SigningTable",
    "ValidationError",
    "__version__",
    "load",
    "parse",
    "plan",
]

#: A file kind, as ``kind=`` takes it (the same names as :data:`KINDS`).
Kind = Literal[
    "postfix-main",
    "postfix-master",
    "opendkim",
    "opendmarc",
    "keytable",
    "signingtable",
    "hostlist",
    "shellvars",
]

#: The names this module exports without importing them at ``import mailconf``: each comes from
#: its module on first use.
_LAZY = {
    "MainCf": "mailconf.postfix.main",
    "MasterCf": "mailconf.postfix.master",
    "OpenDkimConf": "mailconf.milter.conf",
    "OpenDmarcConf": "mailconf.milter.conf",
    "KeyTable": "mailconf.milter.tables",
    "SigningTable": "mailconf.milter.tables",
    "HostList": "mailconf.milter.tables",
    "ShellVars": "mailconf.milter.shellvars",
    "Setup": "mailconf.setup.spec",
    "Domain": "mailconf.setup.spec",
    "Plan": "mailconf.setup.planner",
}


def __getattr__(name: str) -> object:
    """``mailconf.MainCf``, ``mailconf.Setup``...: imported when first asked for, so a parse does
    not pay for every model and the planner."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mailconf' has no attribute {name!r}")
    value: object = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


@overload
def parse(text: str, kind: Literal["postfix-main"], *, path: str | None = None) -> MainCf: ...
@overload
def parse(text: str, kind: Literal["postfix-master"], *, path: str | None = None) -> MasterCf: ...
@overload
def parse(text: str, kind: Literal["opendkim"], *, path: str | None = None) -> OpenDkimConf: ...
@overload
def parse(text: str, kind: Literal["opendmarc"], *, path: str | None = None) -> OpenDmarcConf: ...
@overload
def parse(text: str, kind: Literal["keytable"], *, path: str | None = None) -> KeyTable: ...
@overload
def parse(text: str, kind: Literal["signingtable"], *, path: str | None = None) -> SigningTable: ...
@overload
def parse(text: str, kind: Literal["hostlist"], *, path: str | None = None) -> HostList: ...
@overload
def parse(text: str, kind: Literal["shellvars"], *, path: str | None = None) -> ShellVars: ...
@overload
def parse(text: str, kind: str, *, path: str | None = None) -> Document: ...
def parse(text: str, kind: str, *, path: str | None = None) -> Document:
    """Parse ``text`` as a file of ``kind``; ``dump()`` of the result returns ``text`` exactly.

    The result is the kind's model (a :class:`MainCf` for ``"postfix-main"``, typed as one when
    ``kind`` is a literal).  Raises :class:`ParseError` for input the daemon would refuse.
    """
    return parse_kind(text, kind, path=path)


@overload
def load(path: str | os.PathLike[str], kind: Literal["postfix-main"]) -> MainCf: ...
@overload
def load(path: str | os.PathLike[str], kind: Literal["postfix-master"]) -> MasterCf: ...
@overload
def load(path: str | os.PathLike[str], kind: Literal["opendkim"]) -> OpenDkimConf: ...
@overload
def load(path: str | os.PathLike[str], kind: Literal["opendmarc"]) -> OpenDmarcConf: ...
@overload
def load(path: str | os.PathLike[str], kind: Literal["keytable"]) -> KeyTable: ...
@overload
def load(path: str | os.PathLike[str], kind: Literal["signingtable"]) -> SigningTable: ...
@overload
def load(path: str | os.PathLike[str], kind: Literal["hostlist"]) -> HostList: ...
@overload
def load(path: str | os.PathLike[str], kind: Literal["shellvars"]) -> ShellVars: ...
@overload
def load(path: str | os.PathLike[str], kind: str | None = None) -> Document: ...
def load(path: str | os.PathLike[str], kind: str | None = None) -> Document:
    """Read and parse a file (any bytes round-trip); the kind comes from the name unless given.

    With ``kind`` the result is typed as the kind's model; without it, the file name decides at
    run time and the result is a :class:`Document` (the protocol every kind implements).
    """
    return load_file(path, kind)


def plan(setup: Setup, root: str | os.PathLike[str] = "/", *, stage_only: bool = False) -> Plan:
    """The steps that bring the system under ``root`` (a directory; ``/`` is the live system) to
    ``setup``, with the diff of every file and the real daemons' verdict on the planned files;
    nothing is changed (``mailconf plan``).  ``stage_only`` (``mailconf plan --stage-only``): a
    domain's first key is staged, not signing, until ``mailconf dkim activate`` finds it in
    DNS."""
    from mailconf.setup.validation import checked_plan
    from mailconf.system.root import SystemRoot

    return checked_plan(setup, SystemRoot(root), stage_only=stage_only)
