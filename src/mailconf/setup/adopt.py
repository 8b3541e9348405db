"""The spec made concrete against what the server already signs with: adopt, never clobber.

A domain OpenDKIM already signs (its SigningTable maps the domain to a KeyTable row whose key
exists) keeps that key, selector, row name and file: the spec's selector, when the spec names
none, is the configured one.  A spec that names something else (another selector, another RSA key
size, an RSA key where the domain signs with ed25519 only) is refused with :class:`ConflictError`
before anything is planned, naming what is there and the two ways on: adopt it (say so in the
spec) or rotate (``mailconf dkim rotate``, which stages the new key so DNS can catch up before it
signs).  Replacing a published selector in place would make every receiver see
``dkim=fail (no key)`` until the new record is published.
"""

from __future__ import annotations

import attrs

from mailconf import keys
from mailconf.errors import EditError
from mailconf.findings import Finding, Severity
from mailconf.milter.tables import KeyEntry
from mailconf.setup.existing import Existing
from mailconf.setup.spec import Domain, KeySpec, Setup
from mailconf.system.root import SystemRoot

__all__ = ["ConflictError", "adopt_setup", "signing_key_info"]


class ConflictError(EditError):
    """The spec asks for something other than what the server is configured with; nothing is
    planned or written (exit status 1, a refused edit)."""


@attrs.frozen
class ConfiguredKey:
    """A KeyTable row a domain signs with, and what its key is (None when it cannot be read)."""

    entry: KeyEntry
    algorithm: str | None
    bits: int | None


def signing_key_info(existing: Existing, domain: str, root: SystemRoot) -> list[ConfiguredKey]:
    """The keys ``domain`` signs with now, each with its algorithm and size."""
    result = []
    for entry in existing.signing_keys(domain):
        try:
            key = keys.load_public_key(root.resolve(entry.keypath))
        except FileNotFoundError:
            result.append(ConfiguredKey(entry, None, None))
            continue
        result.append(ConfiguredKey(entry, key.algorithm, key.bits))
    return result


def adopt_setup(
    setup: Setup, existing: Existing, root: SystemRoot, *, strict: bool = True
) -> tuple[Setup, list[Finding]]:
    """``setup`` with each domain's configured signing keys adopted, and notes saying so.

    ``strict`` (the planner) raises :class:`ConflictError` for a spec that contradicts the
    configuration; without it (``mailconf check`` and ``mailconf dns``, which report rather than
    refuse) the spec's own choice is kept where they disagree and the doctor reports it."""
    domains: list[Domain] = []
    adopted: list[tuple[str, str, str, str]] = []
    notes: list[Finding] = []
    for domain in setup.domains:
        configured = signing_key_info(existing, domain.name, root)
        rsa = [k for k in configured if k.algorithm == "rsa"]
        ed = [k for k in configured if k.algorithm == "ed25519"]
        missing = [k for k in configured if k.algorithm is None]
        # mailconf's own row whose key an interrupted apply did not write yet: generated again.
        unfinished = [k for k in missing if _own_layout(k.entry, domain.name)]
        missing = [k for k in missing if k not in unfinished]
        if strict and missing:
            entry = missing[0].entry
            raise ConflictError(
                f"{domain.name} signs with KeyTable row {entry.keyname} (selector "
                f"{entry.selector}), whose key {entry.keypath} does not exist: OpenDKIM cannot "
                "sign with it; restore the key, or remove the row and its SigningTable row"
            )
        selector = domain.selector
        ed_selector = domain.ed25519_selector
        if rsa:
            selector = _adopt_selector(setup, domain, rsa[0], strict)
            if strict and rsa[0].bits != setup.rsa_bits and selector == rsa[0].entry.selector:
                _refuse_size(setup, domain.name, rsa[0])
        elif unfinished and not domain.selector_given:
            selector = unfinished[0].entry.selector
        elif ed and strict and not domain.selector_given:
            entry = ed[0].entry
            raise ConflictError(
                f"{domain.name} signs with an ed25519 key only ({entry.keyname}, selector "
                f"{entry.selector}), and the spec asks for an RSA key; ways on: rotate "
                f"(mailconf dkim rotate --domain {domain.name}) to stage an RSA key next to it"
            )
        if ed and (setup.ed25519 or ed_selector is not None):
            ed_selector = _adopt_ed25519(domain, ed[0], strict)
        kept = [k for k in rsa[:1] if k.entry.selector == selector]
        kept += [k for k in ed[:1] if k.entry.selector == ed_selector]
        for key in kept:
            entry = key.entry
            adopted.append((domain.name, entry.selector, entry.keyname, entry.keypath))
            if domain.selector_given and _own_layout(entry, domain.name):
                continue  # what mailconf itself made: no note on every later plan
            notes.append(
                Finding(
                    Severity.INFO,
                    "setup.key-adopted",
                    f"{domain.name} already signs with {entry.keyname} (selector "
                    f"{entry.selector}, {entry.keypath}): key, selector and tables kept",
                )
            )
        domains.append(Domain(domain.name, selector, ed_selector))
    effective = attrs.evolve(setup, domains=tuple(domains), adopted_keys=tuple(adopted))
    return effective, notes


def _own_layout(entry: KeyEntry, domain: str) -> bool:
    """Whether a row is named and placed as mailconf makes its own keys."""
    own = KeySpec(domain, entry.selector, "rsa", 0)  # the paths do not depend on the key type
    return (entry.keyname, entry.keypath) == (own.key_name, own.private_path)


def _adopt_selector(setup: Setup, domain: Domain, key: ConfiguredKey, strict: bool) -> str:
    configured = key.entry.selector
    if not domain.selector_given or domain.selector == configured:
        return configured
    if strict:
        adopt = setup.how_to_set(f'selector = "{configured}"', f"--selector {configured}")
        raise ConflictError(
            f"{domain.name} already signs with selector {configured!r} ({key.entry.keyname}, "
            f"{key.entry.keypath}, a {key.bits}-bit RSA key) but the spec asks for "
            f"{domain.selector!r}; nothing was changed. Ways on: adopt it ({adopt}, or leave "
            f"the selector out), or rotate to the new selector (mailconf dkim rotate --domain "
            f"{domain.name} --selector {domain.selector}), which stages the key until DNS "
            "serves it"
        )
    return domain.selector


def _adopt_ed25519(domain: Domain, key: ConfiguredKey, strict: bool) -> str:
    configured = key.entry.selector
    wanted = domain.ed25519_selector
    if wanted is None or wanted == configured:
        return configured
    if strict:
        raise ConflictError(
            f"{domain.name} already signs with the ed25519 selector {configured!r} "
            f"({key.entry.keypath}) but the spec asks for {wanted!r}; ways on: adopt it "
            f'(ed25519_selector = "{configured}"), or rotate (mailconf dkim rotate --domain '
            f"{domain.name} --selector {wanted} --ed25519)"
        )
    return wanted


def _refuse_size(setup: Setup, domain: str, key: ConfiguredKey) -> None:
    entry = key.entry
    bits = setup.rsa_bits
    adopt = setup.how_to_set(f"rsa_bits = {key.bits} under [dkim]", f"--rsa-bits {key.bits}")
    raise ConflictError(
        f"{domain} signs with a {key.bits}-bit RSA key ({entry.keyname}, {entry.keypath}) but "
        f"the spec asks for {bits} bits; nothing was changed. Ways on: adopt it ({adopt}), or "
        f"rotate to a new key (mailconf dkim rotate --domain {domain} --rsa-bits {bits}), which "
        "stages it until DNS serves it"
    )
