"""Byte-exact round trip of real files: the shared corpus and what Debian's packages install."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import mailconf
from mailconf import fileio
from support import CORPUS, corpus_files, require_corpus

CORPUS_KINDS = (
    "postfix-main",
    "postfix-master",
    "opendkim",
    "opendmarc",
    "keytable",
    "signingtable",
    "hostlist",
)


@pytest.mark.parametrize(
    "path",
    [p for kind in CORPUS_KINDS for p in corpus_files(kind)],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_corpus_file_round_trips_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    doc = mailconf.parse(fileio.decode(data), kind=path.parent.name)
    assert doc.dump_bytes() == data


def test_corpus_is_complete() -> None:
    require_corpus()
    assert sum(len(corpus_files(kind)) for kind in CORPUS_KINDS) == 86


# Files Debian's packages ship, as (package, path inside it, kind).  They are read from the
# installed system or, failing that, from the package's own file list, never copied into the repo.
PACKAGED = [
    ("postfix", "/etc/postfix/main.cf", "postfix-main"),
    ("postfix", "/usr/share/postfix/main.cf.dist", "postfix-main"),
    ("postfix", "/usr/share/postfix/main.cf.debian", "postfix-main"),
    ("postfix", "/usr/share/postfix/main.cf.tls", "postfix-main"),
    ("postfix", "/etc/postfix/master.cf", "postfix-master"),
    ("postfix", "/usr/share/postfix/master.cf.dist", "postfix-master"),
    ("opendkim", "/etc/opendkim.conf", "opendkim"),
    ("opendkim", "/usr/share/doc/opendkim/examples/opendkim.conf.sample", "opendkim"),
    ("opendkim", "/usr/share/doc/opendkim/examples/opendkim.conf.simple", "opendkim"),
    ("opendkim", "/usr/share/doc/opendkim/examples/opendkim.conf.simple-verify", "opendkim"),
    ("opendmarc", "/etc/opendmarc.conf", "opendmarc"),
    ("opendmarc", "/usr/share/doc/opendmarc/opendmarc.conf.sample", "opendmarc"),
    ("opendkim", "/etc/default/opendkim", "shellvars"),
    ("opendmarc", "/etc/default/opendmarc", "shellvars"),
]


def _packaged_text(path: str) -> bytes:
    candidates = [Path(path), Path(path + ".gz")]
    for candidate in candidates:
        if candidate.exists():
            if candidate.suffix == ".gz":
                import gzip

                return gzip.decompress(candidate.read_bytes())
            return candidate.read_bytes()
    pytest.skip(f"{path} is not installed (CI installs the Debian packages with apt-get)")


@pytest.mark.parametrize(("package", "path", "kind"), PACKAGED, ids=[p[1] for p in PACKAGED])
def test_debian_packaged_file_round_trips(package: str, path: str, kind: str) -> None:
    data = _packaged_text(path)
    doc = mailconf.parse(fileio.decode(data), kind=kind)
    assert doc.dump_bytes() == data


def test_policyd_spf_packaged_config_round_trips() -> None:
    """postfix-policyd-spf-python ships no file of our kinds; its master.cf line is what matters."""
    try:
        listing = subprocess.run(
            ["dpkg", "-L", "postfix-policyd-spf-python"], capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("postfix-policyd-spf-python is not installed")
    assert "/usr/bin/policyd-spf" in listing
    line = "policyd-spf  unix  -  n  n  -  0  spawn  user=policyd-spf argv=/usr/bin/policyd-spf\n"
    assert mailconf.parse(line, kind="postfix-master").dump() == line


def test_corpus_location_is_beside_the_repo() -> None:
    require_corpus()
    assert (CORPUS / "README.md").exists()
