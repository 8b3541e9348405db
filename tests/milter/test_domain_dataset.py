"""OpenDKIM's ``Domain`` data set: opened at start only without a KeyTable (issue 13).

``Domain file:/nonexistent`` stops ``opendkim -n`` when signing is configured by
Domain/Selector/KeyFile (or nothing signs), and not when a KeyTable is set (with a SigningTable or
a SetupPolicyScript): there it is never read.  Each case is checked against the real
``opendkim -n``, and lint must fail exactly when the daemon does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from support import require_binary

CASES = {
    "keytable and signingtable": "KeyTable file:{d}/key.table\nSigningTable refile:{d}/signing",
    "keytable and a policy script": "KeyTable file:{d}/key.table\nSetupPolicyScript {d}/p.lua",
    "keytable and selector/keyfile": "KeyTable file:{d}/key.table\nSigningTable "
    "refile:{d}/signing\nSelector sel\nKeyFile {d}/k.private",
    "selector and keyfile": "Selector sel\nKeyFile {d}/k.private",
    "domain alone": "",
    "verify only": "Mode v",
}


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "k.private").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "k.private").chmod(0o600)
    (tmp_path / "key.table").write_text(
        f"sel._domainkey.example.com example.com:sel:{tmp_path}/k.private\n"
    )
    (tmp_path / "signing").write_text("*@example.com sel._domainkey.example.com\n")
    (tmp_path / "p.lua").write_text("return\n")
    return tmp_path


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("domain", ["file:/nonexistent/domains", "/nonexistent/domains"])
def test_a_missing_domain_file_is_an_error_where_opendkim_opens_it(
    directory: Path, case: str, domain: str
) -> None:
    opendkim = require_binary("opendkim")
    conf = directory / "opendkim.conf"
    lines = CASES[case].format(d=directory)
    mode = "" if lines.startswith("Mode") else "Mode sv\n"
    conf.write_text(f"{mode}{lines}\nDomain {domain}\n")
    daemon = subprocess.run([opendkim, "-n", "-x", str(conf)], capture_output=True, timeout=30)
    ours = subprocess.run(
        [sys.executable, "-m", "mailconf", "lint", "--kind", "opendkim", "--json", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    refused = daemon.returncode != 0
    assert (ours.returncode == 1) == refused, (daemon.stderr, ours.stdout)
    if not refused:
        assert "Domain: /nonexistent/domains does not exist" in ours.stdout  # still a warning
