"""Deterministic benchmark inputs: a 26,000-line main.cf, a 100,000-entry KeyTable and SigningTable.

Run alone (``python benchmarks/generate.py [DIR]``) to write the files into ``DIR`` (default
``benchmarks/out/``, which git ignores); ``benchmarks/run.py`` calls :func:`write_all`.

The contents depend only on the constants below, so two runs (and two machines) time the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

MAIN_CF_PARAMETERS = 20_000
MAIN_CF_CONTINUED_EVERY = 10  # every tenth parameter spans 3 lines with a comment line inside
TABLE_ENTRIES = 100_000

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


def key_table() -> str:
    """``sel._domainkey.domain  domain:sel:/etc/opendkim/keys/domain/sel.private`` lines."""
    rows = []
    for number in range(1, TABLE_ENTRIES + 1):
        domain, selector = _domain(number), f"s{number % 7}"
        rows.append(
            f"{selector}._domainkey.{domain} "
            f"{domain}:{selector}:/etc/opendkim/keys/{domain}/{selector}.private\n"
        )
    return "".join(rows)


def signing_table() -> str:
    """``*@domain  selector._domainkey.domain`` (the refile: form hosting panels write)."""
    return "".join(
        f"*@{_domain(number)} s{number % 7}._domainkey.{_domain(number)}\n"
        for number in range(1, TABLE_ENTRIES + 1)
    )


def write_all(directory: Path = OUT) -> dict[str, Path]:
    """Write the three files (main.cf in its own directory, as ``postconf -c`` wants) and return
    their paths by benchmark name.  Files already holding the right bytes are left alone."""
    big = directory / "big"
    tables = directory / "tables"
    wanted = {
        "main.cf 26k": (big / "etc" / "postfix" / "main.cf", main_cf),
        "KeyTable 100k": (tables / "key.table", key_table),
        "SigningTable 100k": (tables / "signing.table", signing_table),
    }
    paths: dict[str, Path] = {}
    for name, (path, make) in wanted.items():
        data = make().encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        paths[name] = path
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    for name, path in write_all(target).items():
        print(f"{name}: {path}")
