"""What ``postconf`` answers about a main.cf parameter: ``mailconf get`` and :func:`query`.

The answer depends on the mode, as postconf's options choose it:

* default (``postconf name``): the value main.cf sets, else the built-in default of the Postfix
  that reads the file (:mod:`mailconf.postfix.params`);
* ``defaults`` (``-d``): the built-in default, whatever main.cf says;
* ``no_defaults`` (``-n``): only a value main.cf sets (nothing for a name it leaves alone);
* ``expand`` (``-x``, with any of the above): ``$name`` expanded recursively
  (:mod:`mailconf.postfix.expand`), looking names up the way the mode reads them (``-d``:
  defaults only).  A "raw" parameter (``mailbox_command``...) is never expanded.

Which names postconf knows (and warns "unknown parameter" about otherwise): the built-in and
legacy names, the per-service names of the master.cf services (``maildrop_time_limit``
for a pipe service; their default is the global parameter, ``$command_time_limit``), and, except
with ``-d``, a name main.cf sets that main.cf or master.cf refers to as ``$name`` or that is a
``smtpd_restriction_classes`` class.  A read-only name (``process_id``) set in main.cf is
dropped, as postconf drops it.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable

import attrs

from mailconf.postfix.expand import ExpansionError, expand
from mailconf.postfix.main import SERVICE_PARAMETER_SUFFIXES, MainCf
from mailconf.postfix.master import MasterCf
from mailconf.postfix.params import ParameterTable, parameter_table
from mailconf.postfix.values import list_tokens, references

__all__ = ["Answer", "Mode", "Postconf", "query"]

#: Per-service suffixes whose default is not ``$default<suffix>`` (postconf_service.c).
_SERVICE_DEFAULTS = {
    "_time_limit": "$command_time_limit",
    "_initial_destination_concurrency": "$initial_destination_concurrency",
}


class Mode(enum.Enum):
    """Where a value may come from: postconf's plain, ``-d`` and ``-n``."""

    EFFECTIVE = "effective"
    DEFAULTS = "defaults"
    NO_DEFAULTS = "no-defaults"


@attrs.frozen
class Answer:
    """postconf's answer for one name: ``value`` (None: nothing to print), whether the name is
    ``known`` (else postconf warns "unknown parameter"), and a close known name.

    One difference, on purpose: a name postconf does not know that main.cf sets still has its
    value here (postconf prints nothing), with the warning, so ``get`` shows what the file says
    and that Postfix ignores it."""

    name: str
    value: str | None
    known: bool
    suggestion: str | None = None

    @property
    def warning(self) -> str | None:
        """postconf's warning for the name, with a "did you mean", or None."""
        if self.known:
            return None
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        return f"{self.name}: unknown parameter{hint}"


class Postconf:
    """postconf's view of one main.cf (with the master.cf beside it, when there is one)."""

    def __init__(
        self,
        main: MainCf,
        master: MasterCf | None = None,
        root: str | os.PathLike[str] = "/",
    ) -> None:
        self.main = main
        self.master = master
        self.table: ParameterTable = parameter_table(root)
        explicit = dict(main.parameters)
        for name in self.table.read_only:
            explicit.pop(name, None)
        self._explicit = explicit
        self._defaults = dict(self.table.parameters)
        self._defaults.update(dict.fromkeys(self.table.legacy - self._defaults.keys(), ""))
        self._defaults.update(self._service_defaults())
        self._user = self._user_names()

    def _service_defaults(self) -> dict[str, str]:
        defaults: dict[str, str] = {}
        for service in self.master.services if self.master is not None else ():
            for suffix in SERVICE_PARAMETER_SUFFIXES.get(service.command, ()):
                default = _SERVICE_DEFAULTS.get(suffix, "$default" + suffix)
                defaults[service.name + suffix] = default
        return defaults

    def _user_names(self) -> frozenset[str]:
        """The names main.cf sets that postconf takes as user-defined parameters."""
        referenced: set[str] = set()
        for value in self._explicit.values():
            referenced.update(references(value))
        for name, default in self._defaults.items():
            if name not in self._explicit:
                referenced.update(references(default))
        for service in self.master.services if self.master is not None else ():
            for value in service.overrides.values():
                referenced.update(references(value))
        classes = self._explicit.get("smtpd_restriction_classes", "")
        referenced.update(item.text for item in list_tokens(classes))
        return frozenset(name for name in self._explicit if name in referenced)

    def known(self, name: str, mode: Mode = Mode.EFFECTIVE) -> bool:
        """Whether postconf knows ``name`` in ``mode`` (``-d`` knows no user-defined name)."""
        return name in self._defaults or (mode is not Mode.DEFAULTS and name in self._user)

    def answer(self, name: str, mode: Mode = Mode.EFFECTIVE, *, expanded: bool = False) -> Answer:
        """What ``postconf [-d|-n] [-x] name`` prints for ``name``, as an :class:`Answer`."""
        known = self.known(name, mode)
        if not known and (mode is Mode.DEFAULTS or name not in self._explicit):
            return Answer(name, None, False, self.suggestion(name, mode))
        value = self._value(name, mode)
        if value is not None and expanded and name not in self.table.raw:
            lookup = self._lookup_defaults if mode is Mode.DEFAULTS else self._lookup
            try:
                value = expand(value, lookup)
            except ExpansionError as error:
                raise ExpansionError(
                    f"{self.main.path or 'main.cf'}: {name}: cannot expand it (postconf -x: "
                    f"macro processing error): {error}"
                ) from None
        return Answer(name, value, known, None if known else self.suggestion(name, mode))

    def _value(self, name: str, mode: Mode) -> str | None:
        if mode is Mode.DEFAULTS:
            return self._defaults.get(name)
        if mode is Mode.NO_DEFAULTS:
            return self._explicit.get(name)
        return self._lookup(name)

    def _lookup(self, name: str) -> str | None:
        """A name's value for ``$name``: main.cf's (any name it sets), else the default."""
        found = self._explicit.get(name)
        return found if found is not None else self._defaults.get(name)

    def _lookup_defaults(self, name: str) -> str | None:
        return self._defaults.get(name)

    def suggestion(self, name: str, mode: Mode = Mode.EFFECTIVE) -> str | None:
        """A name known in ``mode`` close to ``name`` (the same "did you mean" as lint)."""
        from mailconf.postfix.lint import Suggestions, service_suffixes

        services = service_suffixes(self.master) if self.master is not None else {}
        names: Iterable[str] = self._defaults.keys()
        if mode is not Mode.DEFAULTS:
            names = self._user | self._defaults.keys()
        guess = Suggestions(names, services).guess(name)
        return guess if guess != name else None


def query(
    main: MainCf,
    name: str,
    mode: Mode = Mode.EFFECTIVE,
    *,
    expanded: bool = False,
    root: str | os.PathLike[str] = "/",
) -> Answer:
    """postconf's answer for ``name`` in ``main`` (read with the master.cf beside it)."""
    return Postconf(main, sibling_master(main), root).answer(name, mode, expanded=expanded)


def sibling_master(main: MainCf) -> MasterCf | None:
    """The master.cf in main.cf's directory (postconf reads both from ``config_directory``)."""
    if not main.path:
        return None
    path = os.path.join(os.path.dirname(main.path), "master.cf")
    return MasterCf.load(path) if os.path.exists(path) else None
