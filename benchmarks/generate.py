"""Deterministic benchmark inputs: a 26,000-line main.cf, a 100,000-entry KeyTable and SigningTable,
a 50,000-line main.cf of repeated names, and the scaling inputs of any size (issue 10).

Run alone (``python benchmarks/generate.py [DIR]``) to write the fixed files into ``DIR`` (default
``benchmarks/out/``, which git ignores); ``benchmarks/run.py`` calls :func:`write_all` and makes the
scaling inputs itself, at the sizes it measures.

The contents depend only on the constants below, so two runs (and two machines) time the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

MAIN_CF_PARAMETERS = 20_000
MAIN_CF_CONTINUED_EVERY = 10  # every tenth parameter spans 3 lines with a comment line inside
TABLE_ENTRIES = 100_000
REPEATED_LINES = 50_000
REPEATED_NAMES = ("biff", "mydestination")

OUT = Path(__file__).resolve().parent / "out"


def main_cf() -> str:
    """20,000 parameters on 26,000 lines: 18,000 one-liners, 2,000 x (3 value lines + 1 comment)."""
    lines: list[str] = []
    for number in range(1, MAIN_CF_PARAMETERS + 1):
        if number % MAIN_CF_CONTINUED_EVERY == 0:
            lines.append(f"bench_restrictions_{number:05d} =\n")
            lines.append(
                f"    permit_mynetworks, check_client_access hash:/etc/postfix/c{number:05d},\n"
            )
            lines.append(f"    # comment inside the value of parameter {number}\n")
            lines.append("    reject_unauth_destination\n")
        else:
            lines.append(f"bench_parameter_{number:05d} = value-{number:05d}.example.com\n")
    return "".join(lines)


def _domain(number: int) -> str:
    return f"customer{number:06d}.example"


def key_table(entries: int = TABLE_ENTRIES) -> str:
    """``sel._domainkey.domain  domain:sel:/etc/opendkim/keys/domain/sel.private`` lines."""
    rows = []
    for number in range(1, entries + 1):
        domain, selector = _domain(number), f"s{number % 7}"
        rows.append(
            f"{selector}._domainkey.{domain} "
            f"{domain}:{selector}:/etc/opendkim/keys/{domain}/{selector}.private\n"
        )
    return "".join(rows)


def signing_table(entries: int = TABLE_ENTRIES) -> str:
    """``*@domain  selector._domainkey.domain`` (the refile: form hosting panels write)."""
    return "".join(
        f"*@{_domain(number)} s{number % 7}._domainkey.{_domain(number)}\n"
        for number in range(1, entries + 1)
    )


# ------------------------------------------------------------------- scaling inputs (issue 10)
# Shapes that were quadratic once.  Each takes its size, so run.py can time n and 2n and report the
# growth factor: about 2 means linear, about 4 quadratic.  Key paths point nowhere (/etc/opendkim/
# keys/... on a machine without those keys), so lint reports each one missing: a finding per row.


def repeated_main_cf(lines: int, names: tuple[str, ...] = ("biff",)) -> str:
    """``lines`` lines cycling through ``names``: every line after the first few is a duplicate."""
    values = ("no", "yes")
    return "".join(
        f"{names[number % len(names)]} = {values[number % 2]}\n" for number in range(lines)
    )


def long_list_main_cf(items: int, *, continued: bool) -> str:
    """``smtpd_milters`` with ``items`` sockets and ``smtpd_recipient_restrictions`` with ``items``
    list tokens (restriction + argument pairs, then relay control), on one line each or one item
    per continuation line.  The last milter is OpenDMARC's, on a line of its own: an OpenDKIM
    milter is inserted before it, which makes the edit look at the end of every item's line."""
    milters = [
        f"inet:127.0.{number // 250 % 250}.{number % 250 + 1}:{10000 + number % 50000}"
        for number in range(items - 1)
    ]
    restrictions = [
        f"check_sender_access hash:/etc/postfix/sender{number:06d}"
        for number in range(max(items // 2 - 1, 0))
    ]
    restrictions.append("reject_unauth_destination")
    joiner = ",\n    " if continued else ", "
    head = "\n    " if continued else " "
    return (
        "compatibility_level = 3.6\n"
        f"smtpd_milters ={head}{joiner.join(milters)},\n    local:opendmarc/opendmarc.sock\n"
        f"smtpd_recipient_restrictions ={head}{joiner.join(restrictions)}\n"
    )


def master_cf(services: int) -> str:
    """``services`` smtp-style services, each with two ``-o`` overrides on their own lines."""
    return "".join(
        f"svc{number:06d}  unix  -       -       n       -       -       smtp\n"
        f"  -o smtp_helo_timeout=5s\n"
        f"  -o syslog_name=postfix/svc{number:06d}\n"
        for number in range(services)
    )


def host_list(rows: int) -> str:
    """TrustedHosts: addresses, networks and names, the shapes OpenDKIM's host lists hold."""
    out = []
    for number in range(rows):
        if number % 3 == 0:
            out.append(f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}\n")
        elif number % 3 == 1:
            out.append(f"192.0.{number % 256}.0/24\n")
        else:
            out.append(f"mx{number:06d}.{_domain(number)}\n")
    return "".join(out)


def opendkim_conf(lines: int, tables: Path | None = None) -> str:
    """``lines`` option lines: a base configuration, then repeated options (each a duplicate)."""
    base = [
        "Syslog yes\n",
        "UMask 007\n",
        "Socket local:/run/opendkim/opendkim.sock\n",
        "PidFile /run/opendkim/opendkim.pid\n",
        "Canonicalization relaxed/simple\n",
        "Mode sv\n",
    ]
    if tables is not None:
        base.append(f"KeyTable file:{tables / 'key.table'}\n")
        base.append(f"SigningTable refile:{tables / 'signing.table'}\n")
    repeated = ("SubDomains no\n", "OversignHeaders From\n", "MinimumKeyBits 1024\n")
    body = [repeated[number % len(repeated)] for number in range(max(lines - len(base), 0))]
    return "".join(base + body)


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` unless it already holds those bytes (keeps mtimes stable)."""
    data = text.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


def write_all(directory: Path = OUT) -> dict[str, tuple[Path, str]]:
    """Write the fixed files (each main.cf in its own directory, as ``postconf -c`` wants) and
    return ``name -> (path, kind)``."""
    big = directory / "big"
    tables = directory / "tables"
    wanted = {
        "main.cf 26k": (big / "etc" / "postfix" / "main.cf", main_cf, "postfix-main"),
        "KeyTable 100k": (tables / "key.table", key_table, "keytable"),
        "SigningTable 100k": (tables / "signing.table", signing_table, "signingtable"),
        "main.cf 50k repeated names": (
            directory / "repeated" / "etc" / "postfix" / "main.cf",
            lambda: repeated_main_cf(REPEATED_LINES, REPEATED_NAMES),
            "postfix-main",
        ),
    }
    return {name: (write(path, make()), kind) for name, (path, make, kind) in wanted.items()}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    for name, (path, _) in write_all(target).items():
        print(f"{name}: {path}")
