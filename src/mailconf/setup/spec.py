"""The declarative spec: what the finished SPF + DKIM + DMARC setup must look like.

One :class:`Setup` object is built three ways, all validated the same way before anything reaches
the file system (domain names and selectors end up in paths and in OpenDKIM's tables):

* in Python: ``mailconf.Setup(domains=["hogehoge.com"], ips=["192.0.2.10"])``;
* from ``mailconf.toml`` (:meth:`Setup.from_toml`, read with ``tomllib`` or ``tomli`` on 3.10);
* from the one-domain CLI flags (:meth:`Setup.from_flags`).

The spec says *what*, never *how*: paths, file layouts and the order of steps are the planner's.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

import attrs

from mailconf.errors import ValidationError
from mailconf.findings import Finding
from mailconf.keys import DEFAULT_RSA_BITS, check_rsa_bits
from mailconf.names import validate_domain, validate_email, validate_selector

__all__ = ["DKIM_KEY_DIRECTORY", "Domain", "KeySpec", "Setup", "SocketStyle", "setting_or_flag"]

SocketStyle = Literal["unix", "inet"]
DmarcPolicy = Literal["none", "quarantine", "reject"]
DMARC_POLICIES = ("none", "quarantine", "reject")
SOCKET_STYLES = ("unix", "inet")
SPF_ALL = ("~all", "-all")
DKIM_KEY_DIRECTORY = "/etc/opendkim/keys"
DEFAULT_SELECTOR = "default"
ED25519_SUFFIX = "-ed25519"


def _optional_selector(value: str | None) -> str | None:
    return None if value is None else validate_selector(value)


def _effective_selector(value: str | None) -> str:
    return DEFAULT_SELECTOR if value is None else value


@attrs.frozen
class Domain:
    """A mail domain we sign for, with its DKIM selector (``default`` as in the walkthrough).

    A selector the spec does not name (:attr:`selector_given` False) is the one the domain
    already signs with when the server has one (the planner adopts it, see
    :mod:`mailconf.setup.existing`), else ``default``; a named one that differs from the
    configured one is a conflict the planner refuses.  ``ed25519_selector`` names an additional
    ed25519 key; when :attr:`Setup.ed25519` is set and this is None, ``SELECTOR-ed25519`` is used.
    """

    name: str = attrs.field(converter=validate_domain)
    # Compared as the selector it stands for: Domain("a") == Domain("a", "default").
    _selector: str | None = attrs.field(
        default=None, converter=_optional_selector, eq=_effective_selector
    )
    ed25519_selector: str | None = attrs.field(default=None, converter=_optional_selector)

    @property
    def selector(self) -> str:
        return _effective_selector(self._selector)

    @property
    def selector_given(self) -> bool:
        """Whether the spec names the selector (else the configured one may be adopted)."""
        return self._selector is not None

    def __attrs_post_init__(self) -> None:
        if self.ed25519_selector == self.selector:
            raise ValidationError(
                f"domain {self.name}: the ed25519 key needs its own selector, not {self.selector!r}"
            )


@attrs.frozen
class KeySpec:
    """One DKIM key the setup needs: ``SELECTOR._domainkey.DOMAIN``.

    ``path`` and ``keyname`` are those of an adopted KeyTable row (the admin's file, wherever it
    is, and the row's name); None for mailconf's own layout,
    ``/etc/opendkim/keys/DOMAIN/SELECTOR.private`` named ``SELECTOR._domainkey.DOMAIN``."""

    domain: str
    selector: str
    algorithm: Literal["rsa", "ed25519"]
    bits: int
    path: str | None = None
    keyname: str | None = None

    @property
    def adopted(self) -> bool:
        return self.path is not None

    @property
    def key_name(self) -> str:
        """The KeyTable key of this key: the adopted row's, else the walkthrough's name (which is
        also the key's DNS name)."""
        return self.keyname or f"{self.selector}._domainkey.{self.domain}"

    @property
    def directory(self) -> str:
        if self.path is not None:
            return self.path.rsplit("/", 1)[0] or "/"
        return f"{DKIM_KEY_DIRECTORY}/{self.domain}"

    @property
    def private_path(self) -> str:
        return self.path if self.path is not None else f"{self.directory}/{self.selector}.private"

    @property
    def txt_path(self) -> str:
        return f"{self.directory}/{self.selector}.txt"

    @property
    def standard_name(self) -> bool:
        """Whether the private key is ``SELECTOR.private`` in its directory, the layout
        :func:`mailconf.keys.ensure_key_pair` works on (an adopted key may be named otherwise)."""
        return self.private_path == f"{self.directory}/{self.selector}.private"


def _domains(value: Iterable[Domain | str | Mapping[str, Any]]) -> tuple[Domain, ...]:
    if isinstance(value, str | Domain):
        value = [value]
    result = []
    for item in value:
        if isinstance(item, Domain):
            result.append(item)
        elif isinstance(item, str):
            result.append(Domain(item))
        elif isinstance(item, Mapping):
            result.append(_domain_from_mapping(item))
        else:
            raise ValidationError(f"a domain must be a name or a table, not {item!r}")
    return tuple(result)


def _domain_from_mapping(table: Mapping[str, Any]) -> Domain:
    _no_unknown(table, ("name", "selector", "ed25519_selector"), "[[domain]]")
    if "name" not in table:
        raise ValidationError("a [[domain]] table needs a name")
    return Domain(
        _text(table["name"], "domain name"),
        _optional_text(table.get("selector"), "selector"),
        None
        if table.get("ed25519_selector") is None
        else _text(table["ed25519_selector"], "ed25519_selector"),
    )


def _ips(
    value: Iterable[str | ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    if isinstance(value, str):
        value = [value]
    result = []
    for item in value:
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise ValidationError(f"{item!r} is not an IPv4 or IPv6 address") from None
        if address not in result:
            result.append(address)
    return tuple(result)


def _hostname(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_domain(value)
    except ValidationError as exc:
        raise ValidationError(
            f"hostname: {exc} (the host's fully qualified name is needed)"
        ) from None


def _policy(value: str) -> DmarcPolicy:
    if value not in DMARC_POLICIES:
        raise ValidationError(f"DMARC policy {value!r} is not one of {', '.join(DMARC_POLICIES)}")
    return cast("DmarcPolicy", value)


def _report(value: str | None) -> str | None:
    return None if value is None else validate_email(value)


def _spf_includes(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    result = []
    for item in value:
        if not isinstance(item, str):
            raise ValidationError(f"[spf] include: {item!r} is not a domain name")
        name = validate_domain(item.removeprefix("include:"), allow_underscore=True)
        if name not in result:
            result.append(name)
    return tuple(result)


def _spf_all(value: str) -> str:
    if value not in SPF_ALL:
        raise ValidationError(
            f"[spf] all = {value!r}: use {' or '.join(map(repr, SPF_ALL))} (softfail or fail; "
            "?all says nothing and +all authorises the whole Internet)"
        )
    return value


def _socket_style(value: str) -> str:
    if value not in SOCKET_STYLES:
        raise ValidationError(
            f"socket style {value!r} is not one of {', '.join(SOCKET_STYLES)} "
            "(unix: sockets inside Postfix's queue directory; inet: loopback TCP ports)"
        )
    return value


def _port(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValidationError(f"port {value!r} is not a TCP port number (1-65535)")
    return value


def _bits(value: int) -> int:
    check_rsa_bits(value)
    return value


def _absolute_path(value: str | None) -> str | None:
    """A system path that is safe to write into opendkim.conf (no ``#``, blanks, ``..``)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValidationError(f"{value!r}: an absolute path is needed")
    if ".." in PurePosixPath(value).parts:
        raise ValidationError(f"{value!r}: '..' is not allowed in a path")
    bad = sorted({c for c in value if c in "#\0\n\r\t ;" or not c.isprintable()})
    if bad:
        raise ValidationError(
            f"{value!r}: path contains {', '.join(map(repr, bad))}, which the daemon would cut "
            "or misread"
        )
    return value


def setting_or_flag(by_flags: bool, setting: str, flag: str) -> str:
    """How a user changes a setting, said the way that works for where the settings come from:
    ``flag`` (``--selector s1``) for the CLI's one-domain flags, else ``setting``
    (``selector = "s1"``) in the spec file, since the CLI refuses those flags beside a spec file.
    The refusals of the setup and the doctor's fixes share it."""
    return flag if by_flags else f"{setting} in the spec"


@attrs.frozen
class Setup:
    """The desired SPF + DKIM + DMARC setup of one Postfix host.

    ``domains``: the mail domains to sign for, each with its selector. ``ips``: the server's
    IPv4/IPv6 addresses (what the SPF record authorises; DNS records are built from the spec
    elsewhere). ``hostname``: the host's FQDN, used for ``TrustedAuthservIDs``; by default
    Postfix's ``myhostname`` from main.cf, then ``/etc/mailname``. ``rsa_bits``: 2048 by default,
    1024 allowed with a warning, less refused. ``ed25519``: also make an ed25519 key per domain.
    ``socket_style``: ``unix`` (sockets inside Postfix's queue directory, as the walkthrough does)
    or ``inet`` (loopback TCP, ``opendkim_port``/``opendmarc_port``).
    ``resolver_configuration``: an unbound.conf path for OpenDKIM's ``ResolverConfiguration``
    (the option the binary reads; the man page's ``ResolverConfig`` is refused by it).
    ``spf_include``: domains whose SPF policy the record includes (a provider that also sends
    the domain's mail); ``spf_all``: how the record ends, ``~all`` (softfail) or ``-all``.
    """

    domains: tuple[Domain, ...] = attrs.field(converter=_domains)
    ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = attrs.field(
        default=(), converter=_ips
    )
    hostname: str | None = attrs.field(default=None, converter=_hostname)
    dmarc_policy: DmarcPolicy = attrs.field(default="none", converter=_policy)
    dmarc_report: str | None = attrs.field(default=None, converter=_report)
    rsa_bits: int = attrs.field(default=DEFAULT_RSA_BITS, converter=_bits)
    ed25519: bool = False
    socket_style: str = attrs.field(default="unix", converter=_socket_style)
    opendkim_port: int = attrs.field(default=8891, converter=_port)
    opendmarc_port: int = attrs.field(default=8893, converter=_port)
    resolver_configuration: str | None = attrs.field(default=None, converter=_absolute_path)
    spf_include: tuple[str, ...] = attrs.field(default=(), converter=_spf_includes)
    spf_all: str = attrs.field(default="~all", converter=_spf_all)
    #: Keys the server already signs with, adopted by :func:`mailconf.setup.adopt.adopt_setup`
    #: (the spec itself never names key files): ``(domain, selector, keyname, path)``.
    adopted_keys: tuple[tuple[str, str, str, str], ...] = ()
    #: Made from the CLI's one-domain flags (:meth:`from_flags`): a refusal names the flag that
    #: changes a setting, not the spec's setting (the CLI refuses those flags beside a spec file).
    #: Where the setup came from, not what it is: left out of equality.
    by_flags: bool = attrs.field(default=False, kw_only=True, eq=False)

    def __attrs_post_init__(self) -> None:
        if not self.domains:
            raise ValidationError("the setup needs at least one domain")
        seen: set[str] = set()
        for domain in self.domains:
            if domain.name in seen:
                raise ValidationError(f"domain {domain.name} is listed twice")
            seen.add(domain.name)
        if self.socket_style == "inet" and self.opendkim_port == self.opendmarc_port:
            raise ValidationError("OpenDKIM and OpenDMARC cannot listen on the same port")

    # ----------------------------------------------------------------------------- derived
    @property
    def keys(self) -> tuple[KeySpec, ...]:
        """Every key: the RSA key of each domain, then its ed25519 key when asked for."""
        adopted = {(d, s): (name, path) for d, s, name, path in self.adopted_keys}
        result = []
        for domain in self.domains:
            name, path = adopted.get((domain.name, domain.selector), (None, None))
            result.append(KeySpec(domain.name, domain.selector, "rsa", self.rsa_bits, path, name))
            ed_selector = domain.ed25519_selector
            if ed_selector is None and self.ed25519:
                ed_selector = validate_selector(domain.selector + ED25519_SUFFIX)
            if ed_selector is not None:
                name, path = adopted.get((domain.name, ed_selector), (None, None))
                result.append(KeySpec(domain.name, ed_selector, "ed25519", 256, path, name))
        return tuple(result)

    @property
    def multiple_signatures(self) -> bool:
        """Whether a domain has two keys (OpenDKIM then needs ``MultipleSignatures yes``)."""
        return len(self.keys) > len(self.domains)

    def findings(self) -> list[Finding]:
        """Warnings about the spec itself (a 1024-bit key)."""
        return list(check_rsa_bits(self.rsa_bits))

    def to_json(self) -> dict[str, Any]:
        return {
            "domains": [
                {"name": d.name, "selector": d.selector, "ed25519_selector": d.ed25519_selector}
                for d in self.domains
            ],
            "ips": [str(ip) for ip in self.ips],
            "hostname": self.hostname,
            "dmarc": {"policy": self.dmarc_policy, "report": self.dmarc_report},
            "rsa_bits": self.rsa_bits,
            "ed25519": self.ed25519,
            "sockets": {
                "style": self.socket_style,
                "opendkim_port": self.opendkim_port,
                "opendmarc_port": self.opendmarc_port,
            },
            "opendkim": {"resolver_configuration": self.resolver_configuration},
            "spf": {"include": list(self.spf_include), "all": self.spf_all},
        }

    # ------------------------------------------------------------------------ constructors
    @classmethod
    def from_flags(
        cls,
        *,
        domain: str,
        ip: Iterable[str] = (),
        selector: str | None = None,
        dmarc_policy: str = "none",
        dmarc_report: str | None = None,
        hostname: str | None = None,
        rsa_bits: int = DEFAULT_RSA_BITS,
        ed25519: bool = False,
        socket_style: str = "unix",
        resolver_configuration: str | None = None,
    ) -> Setup:
        """The one-domain case of the CLI (``--domain --ip [--selector] ...``)."""
        return cls(
            domains=(Domain(domain, selector),),
            ips=tuple(ip),
            hostname=hostname,
            dmarc_policy=dmarc_policy,
            dmarc_report=dmarc_report,
            rsa_bits=rsa_bits,
            ed25519=ed25519,
            socket_style=socket_style,
            resolver_configuration=resolver_configuration,
            by_flags=True,
        )

    def how_to_set(self, setting: str, flag: str) -> str:
        """The way to change a setting that works for this spec (:func:`setting_or_flag`)."""
        return setting_or_flag(self.by_flags, setting, flag)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Setup:
        """Read ``mailconf.toml``; errors name the file."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ValidationError(f"{os.fspath(path)}: {exc.strerror or exc}") from None
        try:
            return cls.from_toml_text(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise ValidationError(f"{os.fspath(path)}: not UTF-8 text") from None
        except ValidationError as exc:
            raise ValidationError(f"{os.fspath(path)}: {exc}") from None

    @classmethod
    def from_toml_text(cls, text: str) -> Setup:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"not valid TOML: {exc}") from None
        return cls.from_mapping(table)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Setup:
        """Build from the parsed TOML document (see ``examples/mailconf.toml``)."""
        _no_unknown(
            table,
            ("domain", "ips", "hostname", "dmarc", "dkim", "sockets", "opendkim", "spf"),
            "the top level",
        )
        spf = _table(table, "spf")
        _no_unknown(spf, ("include", "all"), "[spf]")
        include = spf.get("include", [])
        if not isinstance(include, list):
            raise ValidationError("[spf] include must be a list of domain names")
        dmarc = _table(table, "dmarc")
        _no_unknown(dmarc, ("policy", "report"), "[dmarc]")
        dkim = _table(table, "dkim")
        _no_unknown(dkim, ("rsa_bits", "ed25519"), "[dkim]")
        sockets = _table(table, "sockets")
        _no_unknown(sockets, ("style", "opendkim_port", "opendmarc_port"), "[sockets]")
        opendkim = _table(table, "opendkim")
        _no_unknown(opendkim, ("resolver_configuration",), "[opendkim]")
        domains = table.get("domain")
        if not isinstance(domains, list) or not domains:
            raise ValidationError("at least one [[domain]] table is needed")
        ips = table.get("ips", [])
        if not isinstance(ips, list):
            raise ValidationError("ips must be a list of addresses")
        ed25519 = dkim.get("ed25519", False)
        if not isinstance(ed25519, bool):
            raise ValidationError("[dkim] ed25519 must be true or false")
        setup = cls(
            domains=_domains(domains),
            ips=tuple(_text(ip, "ips entry") for ip in ips),
            hostname=_optional_text(table.get("hostname"), "hostname"),
            dmarc_policy=_text(dmarc.get("policy", "none"), "[dmarc] policy"),
            dmarc_report=_optional_text(dmarc.get("report"), "[dmarc] report"),
            rsa_bits=_integer(dkim.get("rsa_bits", DEFAULT_RSA_BITS), "[dkim] rsa_bits"),
            ed25519=ed25519,
            socket_style=_text(sockets.get("style", "unix"), "[sockets] style"),
            opendkim_port=_integer(sockets.get("opendkim_port", 8891), "opendkim_port"),
            opendmarc_port=_integer(sockets.get("opendmarc_port", 8893), "opendmarc_port"),
            resolver_configuration=_optional_text(
                opendkim.get("resolver_configuration"), "[opendkim] resolver_configuration"
            ),
            spf_include=tuple(include),
            spf_all=_text(spf.get("all", "~all"), "[spf] all"),
        )
        if not setup.ips:  # checked last: the other mistakes of a spec are named first
            raise ValidationError(
                'ips is required: the server\'s public addresses, e.g. ips = ["192.0.2.10"] '
                "(the SPF record authorises them; `mailconf dns` cannot do without)"
            )
        return setup


def _no_unknown(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValidationError(
            f"unknown key(s) in {where}: {', '.join(unknown)} (known: {', '.join(known)})"
        )


def _table(table: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = table.get(name, {})
    if not isinstance(value, Mapping):
        raise ValidationError(f"{name} must be a table ([{name}])")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, not {value!r}")
    return value


def _optional_text(value: object, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be an integer, not {value!r}")
    return value
