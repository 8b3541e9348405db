"""Checks of the DKIM keys the KeyTable points at, beyond what OpenDKIM's lint covers.

Which key files exist and whether their modes and directories are safe is the OpenDKIM model's
lint (it runs as part of the doctor); here: the key is owned by the user OpenDKIM runs as, it
parses, and it is long enough.  Returns the loaded keys too, so the DNS check compares the
published record with the very key OpenDKIM signs with.
"""

from __future__ import annotations

import attrs

from mailconf import keys
from mailconf.checks.system_view import SystemView
from mailconf.errors import MailconfError
from mailconf.findings import Finding, Severity
from mailconf.system import accounts


@attrs.frozen
class LocalKey:
    """One KeyTable row: the signing domain, selector and key OpenDKIM would use."""

    keyname: str
    domain: str
    selector: str
    path: str
    key: keys.DkimKey | None


def local_keys(view: SystemView) -> tuple[list[LocalKey], list[Finding]]:
    loaded = view.dataset("opendkim", "KeyTable", "keytable")
    if loaded is None:
        return [], []
    table_path, table = loaded
    conf = view.document("opendkim")
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
) -> tuple[keys.DkimKey | None, list[Finding]]:
    if not key_path.startswith("/"):
        return None, []  # an inline key or a relative path: OpenDKIM's lint reports it
    host = view.root.resolve(key_path)
    if not host.is_file():
        return None, []  # missing: reported by OpenDKIM's lint
    findings: list[Finding] = []
    users = {u.uid: u.name for u in accounts.read_users(view.root).values()}
    owner = users.get(host.stat().st_uid, str(host.stat().st_uid))
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
        key = keys.load_private_key(host)
    except MailconfError as error:
        findings.append(Finding(Severity.ERROR, "dkim.key-unreadable", str(error), path=key_path))
        return None, findings
    findings += [attrs.evolve(f, path=key_path) for f in key.findings()]
    return key, findings
