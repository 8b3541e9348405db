"""The values OpenDKIM refuses in its conf: the checks ``dkimf_config_load()`` makes.

:class:`~mailconf.milter.conf.OpenDkimConf` calls these: kept apart from :mod:`mailconf.milter.conf`
(what both daemons share) so each module stays small and the checks read as one list, in
OpenDKIM's order.  This module does not import the conf model (it would be an import cycle): it
reads the conf through :class:`ConfOptions`, the three methods it needs.
"""

from __future__ import annotations

import re
from typing import Protocol

from mailconf.milter.datasets import DataSetSpec

__all__ = ["ConfOptions", "config_errors", "value_error"]


class ConfOptions(Protocol):
    """What the checks read of an OpenDKIM conf (:class:`~mailconf.milter.conf.OpenDkimConf`)."""

    @property
    def options(self) -> dict[str, str]: ...

    def get(self, name: str) -> str | None: ...

    def dataset(self, name: str) -> DataSetSpec | None: ...


# dkimf_keyactions[] (BogusKey, UnprotectedKey), matched ignoring case
_KEY_ACTIONS = ("none", "neutral", "fail")
_ALGORITHMS = ("rsa-sha1", "rsa-sha256", "ed25519-sha256")
_CANON = ("relaxed", "simple")
_KEY_OPTIONS = ("KeyTable", "Selector", "KeyFile", "Domain", "SigningTable", "SetupPolicyScript")


def _minimum_ok(value: str) -> bool:
    """``Minimum``: ``strtoul`` base 10 of a non-negative number, then nothing, ``%``
    (at most 100) or ``+``."""
    match = re.match(r"[ \t\n\v\f\r]*\+?([0-9]*)", value)
    assert match is not None
    if value.lstrip(" \t\n\v\f\r").startswith("-"):
        return False
    digits = match.group(1)
    number = int(digits) if digits else 0
    if number > 2**32 - 1:
        return False
    rest = value[match.end() :] if digits else value
    if rest.startswith("%"):
        return number <= 100
    return rest == "" or rest.startswith("+")


def config_errors(conf: ConfOptions) -> list[tuple[str, str]]:
    """The checks ``dkimf_config_load()`` makes after reading the file, in its order (the
    opening of data sets and key files is left to lint: it depends on the machine), each as
    (message, finding code)."""
    errors = [*_table_errors(conf), *_signing_errors(conf)]
    mode = conf.get("Mode")
    if mode is None or "s" in mode:
        errors += _key_errors(conf)
    return errors


def _table_errors(conf: ConfOptions) -> list[tuple[str, str]]:
    """Key actions, data-set types, the ATPS hash, SigningTable without KeyTable."""
    errors: list[tuple[str, str]] = []
    for name in ("BogusKey", "UnprotectedKey"):
        action = conf.get(name)
        if action is not None and action.lower() not in _KEY_ACTIONS:
            errors.append((f"unknown key action '{action}'", "milter.bad-key-action"))
    for name in conf.options:
        data = conf.dataset(name)
        if data is not None and data.kind == "unknown":
            errors.append(
                (f"{data.raw}: dkimf_db_open(): Unknown database type", "milter.dataset-type")
            )
    errors += _value_errors(conf, "ATPSHashAlgorithm")
    if conf.get("SigningTable") is not None and conf.get("KeyTable") is None:
        errors.append(
            ("use of SigningTable requires KeyTable", "milter.signingtable-needs-keytable")
        )
    macros = conf.dataset("MacroList")
    if macros is not None and macros.kind not in ("file", "csl", "unknown"):
        errors.append((f"{macros.raw}: invalid data set type for MacroList", "milter.dataset-type"))
    return errors


def _signing_errors(conf: ConfOptions) -> list[tuple[str, str]]:
    """The algorithm, canonicalization, ``Minimum`` and ``Mode`` values."""
    return _value_errors(conf, "SignatureAlgorithm", "Canonicalization", "Minimum", "Mode")


def _value_errors(conf: ConfOptions, *names: str) -> list[tuple[str, str]]:
    errors = []
    for name in names:
        value = conf.get(name)
        error = None if value is None else value_error(name, value)
        if error is not None:
            errors.append(error)
    return errors


def value_error(name: str, value: str) -> tuple[str, str] | None:
    folded = name.lower()
    if folded == "atpshashalgorithm" and value.lower() not in ("sha256", "sha1", "none"):
        return f'unknown ATPS hash "{value}"', "milter.bad-atps-hash"
    if folded == "signaturealgorithm" and value.lower() not in _ALGORITHMS:
        return f'unknown signing algorithm "{value}"', "milter.bad-algorithm"
    if folded == "canonicalization":
        bad = next((part for part in value.split("/", 1) if part.lower() not in _CANON), None)
        if bad is not None:
            return f'unknown canonicalization algorithm "{bad}"', "milter.bad-canonicalization"
    if folded == "minimum" and not _minimum_ok(value):
        return 'illegal value for "Minimum"', "milter.bad-minimum"
    wrong = next((char for char in value if char not in "sv"), None)
    if folded == "mode" and wrong is not None:
        return f'unknown mode "{wrong}"', "milter.bad-mode"
    return None


def _key_errors(conf: ConfOptions) -> list[tuple[str, str]]:
    """A signer's key: KeyFile + Selector (+ Domain), or a KeyTable with a SigningTable."""
    has = {name: conf.get(name) is not None for name in _KEY_OPTIONS}
    keytable = has["KeyTable"]
    selector = has["Selector"] and not keytable
    keyfile = has["KeyFile"] and not keytable
    if selector != keyfile:
        return [
            (
                "KeyFile and Selector must both be defined or both be undefined",
                "milter.keyfile-selector",
            )
        ]
    if has["Domain"] and not keytable and not (selector and keyfile):
        # measured: with a KeyTable, opendkim -n accepts Domain without KeyFile/Selector
        return [("Domain requires KeyFile and Selector", "milter.domain-needs-key")]
    if keytable and not has["SigningTable"] and not has["SetupPolicyScript"]:
        return [
            (
                "KeyTable requires either SigningTable or SetupPolicyScript",
                "milter.keytable-needs-signingtable",
            )
        ]
    return []
