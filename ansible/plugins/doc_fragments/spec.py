"""The documentation of the spec options that mailconf.mailconf.setup and .check share."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  config:
    description:
      - Path of a C(mailconf.toml) on the managed host with the whole setup (the file
        C(mailconf plan --config) reads).
      - Give either O(config) or O(domains) with the other spec options, not both.
    type: path
  domains:
    description:
      - The mail domains to sign for, the spec file's C([[domain]]) tables.
    type: list
    elements: dict
    suboptions:
      name:
        description: The domain, for example V(example.com).
        type: str
        required: true
      selector:
        description: Its DKIM selector; the library's default is V(default).
        type: str
      ed25519_selector:
        description: The selector of an additional ed25519 key of this domain.
        type: str
      ed25519:
        description:
          - Also an ed25519 key for this domain, with the selector C(SELECTOR-ed25519) unless
            O(domains[].ed25519_selector) names it.
        type: bool
  ips:
    description:
      - The server's public IPv4 and IPv6 addresses (what the SPF record authorises).
    type: list
    elements: str
  hostname:
    description:
      - The host's fully qualified name (OpenDMARC's C(TrustedAuthservIDs)); by default Postfix's
        C(myhostname) from main.cf, then C(/etc/mailname).
    type: str
  dmarc:
    description: The DMARC record, the spec file's C([dmarc]) table.
    type: dict
    suboptions:
      policy:
        description: V(none) (the default), V(quarantine) or V(reject).
        type: str
      report:
        description: The address aggregate reports go to (C(rua=mailto:...)).
        type: str
  dkim:
    description: The DKIM keys, the spec file's C([dkim]) table.
    type: dict
    suboptions:
      rsa_bits:
        description: RSA key size; 2048 by default, 1024 allowed with a warning, less refused.
        type: int
      ed25519:
        description: Also an ed25519 key for every domain (C(SELECTOR-ed25519)).
        type: bool
  sockets:
    description: How Postfix reaches the milters, the spec file's C([sockets]) table.
    type: dict
    suboptions:
      style:
        description:
          - V(unix) (the default) puts the sockets inside Postfix's queue directory, V(inet)
            uses loopback TCP ports.
        type: str
      opendkim_port:
        description: OpenDKIM's port with O(sockets.style=inet) (8891 by default).
        type: int
      opendmarc_port:
        description: OpenDMARC's port with O(sockets.style=inet) (8893 by default).
        type: int
  opendkim:
    description: OpenDKIM's own settings, the spec file's C([opendkim]) table.
    type: dict
    suboptions:
      resolver_configuration:
        description: An unbound.conf path for OpenDKIM's C(ResolverConfiguration).
        type: str
  root:
    description:
      - The system tree to work on, like C(mailconf --root); V(/) is the live system.
      - Under another root, packages and restarts are reported, not run.
    type: path
    default: /
requirements:
  - The mailconf Python library on the managed host, for the Python Ansible runs there
    (C(python3 -m pip install mailconf-VERSION-py3-none-any.whl), or C(python3 -m pip install .)
    in a checkout; it is not on the package index).
"""
