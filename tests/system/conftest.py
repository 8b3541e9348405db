"""Fixtures for the system layer: a fake root with its own passwd/group/gshadow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailconf.system.root import SystemRoot

PASSWD = b"""root:x:0:0:root:/root:/bin/bash
postfix:x:104:110::/var/spool/postfix:/usr/sbin/nologin
opendkim:x:105:111::/run/opendkim:/usr/sbin/nologin
opendmarc:x:106:112::/run/opendmarc:/usr/sbin/nologin
"""
# Odd but legal bytes: a Latin-1 comment-ish GECOS is not in group, so use CRLF-free quirks:
# a NIS compat line, an existing member list, a trailing line without newline.
GROUP = b"""root:x:0:
mail:x:8:
postfix:x:110:
opendkim:x:111:
opendmarc:x:112:alice,bob
+nisgroup
postdrop:x:113:"""
GSHADOW = b"""root:*::
postfix:!::
opendkim:!::
opendmarc:!::alice,bob
postdrop:!::"""


@pytest.fixture
def fake_root(tmp_path: Path) -> SystemRoot:
    etc = tmp_path / "root" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_bytes(PASSWD)
    (etc / "group").write_bytes(GROUP)
    (etc / "gshadow").write_bytes(GSHADOW)
    os.chmod(etc / "gshadow", 0o640)
    return SystemRoot(tmp_path / "root")
