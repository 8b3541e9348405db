"""TEMPORARY stand-in for ``mailconf apply`` / ``mailconf dns`` while issue 5 is being written.

Does the walkthrough's steps (``../shared/walkthrough.md``, mistakes fixed) with the real tools,
inside the namespace only. Used by the driver only when ``MAILCONF_E2E_FIXTURE=1``; the real test
runs ``mailconf apply`` and nothing else.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

from mailconf.dns.records import dkim_record, dmarc_record, spf_record
from mailconf.keys import load_private_key


def _run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, timeout=60, capture_output=True)


def _set_option(path: Path, name: str, value: str) -> None:
    lines = [
        line
        for line in path.read_text().splitlines()
        if not line.split("#", 1)[0].strip().lower().startswith(name.lower() + " ")
        and not line.split("#", 1)[0].strip().lower().startswith(name.lower() + "\t")
    ]
    lines.append(f"{name} {value}")
    path.write_text("\n".join(lines) + "\n")


def apply(domains: dict[str, str], hostname: str, resolver: str) -> None:
    # SPF
    _run(
        "postconf",
        "-M",
        "policyd-spf/unix=policyd-spf unix - n n - 0 spawn "
        "user=policyd-spf argv=/usr/bin/policyd-spf",
    )
    _run(
        "postconf",
        "-e",
        "policyd-spf_time_limit=3600",
        "smtpd_recipient_restrictions=permit_mynetworks, permit_sasl_authenticated, "
        "reject_unauth_destination, check_policy_service unix:private/policyd-spf",
    )
    # DKIM
    _run("gpasswd", "-a", "postfix", "opendkim")
    conf = Path("/etc/opendkim.conf")
    for name, value in [
        ("Canonicalization", "relaxed/simple"),
        ("Mode", "sv"),
        ("SubDomains", "no"),
        ("KeyTable", "refile:/etc/opendkim/key.table"),
        ("SigningTable", "refile:/etc/opendkim/signing.table"),
        ("ExternalIgnoreList", "/etc/opendkim/trusted.hosts"),
        ("InternalHosts", "/etc/opendkim/trusted.hosts"),
        ("Socket", "local:/var/spool/postfix/opendkim/opendkim.sock"),
        ("ResolverConfiguration", resolver),
    ]:
        _set_option(conf, name, value)
    Path("/etc/default/opendkim").write_text(
        Path("/etc/default/opendkim").read_text()
        + 'SOCKET="local:/var/spool/postfix/opendkim/opendkim.sock"\n'
    )
    uid, gid = pwd.getpwnam("opendkim").pw_uid, grp.getgrnam("opendkim").gr_gid
    keys = Path("/etc/opendkim/keys")
    keys.mkdir(parents=True, exist_ok=True)
    key_table, signing_table = [], []
    for domain, selector in domains.items():
        folder = keys / domain
        folder.mkdir(exist_ok=True)
        _run("opendkim-genkey", "-b", "2048", "-d", domain, "-D", str(folder), "-s", selector)
        key_table.append(
            f"{selector}._domainkey.{domain} {domain}:{selector}:{folder}/{selector}.private"
        )
        signing_table.append(f"*@{domain} {selector}._domainkey.{domain}")
    Path("/etc/opendkim/key.table").write_text("\n".join(key_table) + "\n")
    Path("/etc/opendkim/signing.table").write_text("\n".join(signing_table) + "\n")
    Path("/etc/opendkim/trusted.hosts").write_text(
        "127.0.0.1\n::1\nlocalhost\n" + "".join(f".{d}\n" for d in domains)
    )
    for folder, _dirs, files in os.walk("/etc/opendkim"):
        os.chown(folder, uid, gid)
        for name in files:
            os.chown(os.path.join(folder, name), uid, gid)
    os.chmod(keys, 0o700)
    spool = Path("/var/spool/postfix/opendkim")
    spool.mkdir(exist_ok=True)
    os.chown(spool, uid, grp.getgrnam("postfix").gr_gid)
    os.chmod(spool, 0o750)
    # DMARC
    dconf = Path("/etc/opendmarc.conf")
    for name, value in [
        ("AuthservID", "OpenDMARC"),
        ("TrustedAuthservIDs", hostname),
        ("RejectFailures", "true"),
        ("Socket", "local:/var/spool/postfix/opendmarc/opendmarc.sock"),
        ("IgnoreHosts", "/etc/opendmarc/ignore.hosts"),
        ("IgnoreAuthenticatedClients", "true"),
        ("RequiredHeaders", "true"),
        ("SPFSelfValidate", "true"),
    ]:
        _set_option(dconf, name, value)
    Path("/etc/opendmarc").mkdir(exist_ok=True)
    Path("/etc/opendmarc/ignore.hosts").write_text("127.0.0.1\n")
    muid, mgid = pwd.getpwnam("opendmarc").pw_uid, grp.getgrnam("opendmarc").gr_gid
    dspool = Path("/var/spool/postfix/opendmarc")
    dspool.mkdir(exist_ok=True)
    os.chown(dspool, muid, mgid)
    os.chmod(dspool, 0o750)
    _run("gpasswd", "-a", "postfix", "opendmarc")
    _run(
        "postconf",
        "-e",
        "milter_default_action=accept",
        "milter_protocol=6",
        "smtpd_milters=local:opendkim/opendkim.sock, local:opendmarc/opendmarc.sock",
        "non_smtpd_milters=$smtpd_milters",
    )


def records(domains: dict[str, str], ip: str) -> list[dict[str, object]]:
    result = []
    for domain, selector in domains.items():
        key = load_private_key(f"/etc/opendkim/keys/{domain}/{selector}.private")
        for record, _findings in (
            spf_record(domain, [ip]),
            dkim_record(selector, domain, key),
            dmarc_record(domain, "none"),
        ):
            result.append(record.to_json())
    return result
