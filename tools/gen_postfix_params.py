#!/usr/bin/env python3
"""Regenerate src/mailconf/data/postfix/parameters.json from the installed ``postconf``.

Run it after a Postfix upgrade: ``python tools/gen_postfix_params.py [POSTCONF]``.

What it records, and how it finds out (the binary is the authority, not the documentation):

* ``parameters``: every built-in name with its compiled-in default, from ``postconf -d`` run on an
  empty configuration directory (an empty master.cf, so no per-service names such as
  ``scalemail-backend_time_limit`` leak in from this machine's master.cf).  Defaults that depend
  on the host (``myhostname``, ``mynetworks``...) are as on the generating machine: use them as
  hints, never as facts about the target host.
* ``legacy``: names postconf still accepts for backwards compatibility (``virtual_maps``,
  ``smtpd_client_connection_limit_exceptions``...) but ``-d`` does not list.  They are found by
  asking ``postconf -d NAME`` about every identifier-like string in the postconf binary and
  Postfix's shared libraries, and keeping those it knows that ``-d`` alone did not print.
* ``read_only``: names postconf refuses to take from main.cf (it warns "read-only parameter
  assignment" and drops them), found by setting every name and seeing which ``postconf -n`` omits.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / "src/mailconf/data/postfix/parameters.json"


def _run(postconf: str, *args: str) -> str:
    result = subprocess.run([postconf, *args], capture_output=True, text=True, check=True)
    return result.stdout


def _parse(output: str) -> dict[str, str]:
    values = {}
    for line in output.splitlines():
        name, _, value = line.partition(" =")
        values[name] = value.strip()
    return values


def _candidate_names(postconf: str) -> list[str]:
    binary = Path(shutil.which(postconf) or postconf)
    files = [binary, *sorted(Path("/usr/lib/postfix").glob("*.so*"))]
    names: set[str] = set()
    for path in files:
        if path.is_file():
            found = re.findall(rb"(?<![\w.])[a-z][a-z0-9_]{3,}(?![\w.])", path.read_bytes())
            names.update(match.decode() for match in found)
    return sorted(names)


def main(argv: list[str]) -> int:
    postconf = argv[1] if len(argv) > 1 else "postconf"
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "main.cf").write_text("")
        Path(directory, "master.cf").write_text("")
        defaults = _parse(_run(postconf, "-c", directory, "-d"))
        version = defaults.get("mail_version", "")
        candidates = [name for name in _candidate_names(postconf) if name not in defaults]
        result = subprocess.run(
            [postconf, "-c", directory, "-d", *candidates], capture_output=True, text=True
        )
        legacy = sorted(_parse(result.stdout))
        # Set every name (to a harmless marker) and see which ones postconf drops as read-only.
        Path(directory, "main.cf").write_text("".join(f"{name} = x\n" for name in defaults))
        kept = _parse(_run(postconf, "-c", directory, "-n"))
    read_only = sorted(name for name in defaults if name not in kept)
    data = {
        "generated_by": "tools/gen_postfix_params.py",
        "postfix_version": version,
        "parameters": dict(sorted(defaults.items())),
        "legacy": legacy,
        "read_only": read_only,
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(
        f"{OUTPUT}: {len(defaults)} parameters, {len(legacy)} legacy, "
        f"{len(read_only)} read-only (Postfix {version})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
