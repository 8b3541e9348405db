"""Checks of the DKIM keys the KeyTable points at, beyond what OpenDKIM's lint covers.

Which key files exist and whether their modes and directories are safe is the OpenDKIM model's
lint (it runs as part of the doctor); here: the key is owned by the user OpenDKIM runs as, it
parses, and it is long enough.  Returns the loaded keys too, so the DNS check compares the
published record with the very key OpenDKIM signs with.

Run by a user who may not read the 0600 key, the doctor takes the public half from ``SELECTOR.txt``
(see :func:`mailconf.keys.load_public_key`) and says that the key itself went unchecked; when
neither can be read it stops with an error naming the file and the permission in the way (exit 2)
rather than report the key as missing or broken.
"""

from __future__ import annotations

import os
import stat

import attrs

from mailconf import keys
from mailconf.doctor.system_view import SystemView
from mailconf.errors import MailconfError, ReadError
from mailconf.findings import Finding, Severity
from mailconf.milter.conf import MilterConf
from mailconf.milter.tables import KeyTable
from mailconf.system import accounts


@attrs.frozen
class LocalKey:
    """One KeyTable row: the signing domain, selector and key OpenDKIM would use."""

    keyname: str
    domain: str
    selector: str
    path: str
    key: keys.DkimPublicKey | None


def local_keys(view: SystemView) -> tuple[list[LocalKey], list[Finding]]:
    loaded = view.dataset("opendkim", "KeyTable", KeyTable)
    if loaded is None:
        return [], []
    table_path, table = loaded
    conf = view.document("opendkim", MilterConf)
    user = (conf.get("UserID") if conf is not None else None) or "opendkim"
    user = user.split(":", 1)[0]
    found: list[LocalKey] = []
    findings: list[Finding] = []
    for row in table.rows:
        parts = row.value.split(":", 2)
        if len(parts) != 3:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "dkim.keytable-row",
                    f"KeyTable row {row.key!r} is not domain:selector:keypath",
                    path=table_path,
                    line=table.line_of(row),
                )
            )
            continue
        domain, selector, key_path = parts
        key, key_findings = _load_key(view, key_path, user)
        findings += key_findings
        found.append(LocalKey(row.key, domain, selector, key_path, key))
    return found, findings


def _load_key(
    view: SystemView, key_path: str, user: str
) -> tuple[keys.DkimPublicKey | None, list[Finding]]:
    if not key_path.startswith("/"):
        return None, []  # an inline key or a relative path: OpenDKIM's lint reports it
    host = view.root.resolve(key_path)
    findings: list[Finding] = []
    try:
        st = host.stat()
    except FileNotFoundError:
        return None, []  # missing: reported by OpenDKIM's lint
    except PermissionError:
        pass  # a directory on the way is closed to us: load_public_key says what it can do
    else:
        if not stat.S_ISREG(st.st_mode):
            return None, []  # not a file: reported by OpenDKIM's lint
        users = {u.uid: u.name for u in accounts.read_users(view.root).values()}
        owner = users.get(st.st_uid, str(st.st_uid))
        if owner not in (user, "root"):
            findings.append(
                Finding(
                    Severity.ERROR,
                    "dkim.key-owner",
                    f"{key_path} is owned by {owner}, not by {user} (the user OpenDKIM runs as)",
                    fix=f"chown {user} {key_path}",
                    path=key_path,
                )
            )
    try:
        key = keys.load_public_key(host)
    except FileNotFoundError:
        return None, findings
    except ReadError:
        raise  # neither half readable by this user: the doctor cannot check, it must not guess
    except MailconfError as error:
        findings.append(Finding(Severity.ERROR, "dkim.key-unreadable", str(error), path=key_path))
        return None, findings
    if not isinstance(key, keys.DkimKey):
        findings.append(
            Finding(
                Severity.INFO,
                "dkim.key-unchecked",
                f"not readable by this user (uid {os.geteuid()}): the public half was read from "
                f"{host.with_suffix('.txt').name}, the private key itself was not checked",
                fix="run `mailconf check` as root to check the key OpenDKIM signs with",
                path=key_path,
            )
        )
    findings += [attrs.evolve(f, path=key_path) for f in key.findings()]
    return key, findings
