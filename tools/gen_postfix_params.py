#!/usr/bin/env python3
"""Write src/mailconf/data/postfix/parameters-MAJOR.MINOR.json from the installed ``postconf``.

mailconf ships one table per Postfix release its users run (see mailconf.postfix.params, which
prefers the live ``postconf -d`` and uses these when there is none, and for what ``-d`` cannot
tell).  Run it with each release's own binary, e.g. Debian 12's and, in a Debian 13 root,
Debian 13's (``.ci/debian-root trixie --exec python tools/gen_postfix_params.py`` prints the
table there: ``--stdout``):  ``python tools/gen_postfix_params.py [--stdout] [POSTCONF]``.

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

from mailconf.postfix.params import POSTCONF
from mailconf.postfix.params import parse_postconf as _parse

TABLES = Path(__file__).resolve().parents[1] / "src/mailconf/data/postfix"


def _run(postconf: str, *args: str) -> str:
    result = subprocess.run([postconf, *args], capture_output=True, text=True, check=True)
    return result.stdout


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
    to_stdout = "--stdout" in argv
    arguments = [arg for arg in argv[1:] if arg != "--stdout"]
    postconf = arguments[0] if arguments else POSTCONF
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
    text = json.dumps(data, indent=1, sort_keys=False) + "\n"
    major_minor = re.match(r"\d+\.\d+", version)
    if major_minor is None:
        raise SystemExit(f"{postconf}: unexpected mail_version {version!r}")
    output = TABLES / f"parameters-{major_minor[0]}.json"
    if to_stdout:
        sys.stdout.write(text)
    else:
        output.write_text(text)
    print(
        f"{output}: {len(defaults)} parameters, {len(legacy)} legacy, "
        f"{len(read_only)} read-only (Postfix {version})",
        file=sys.stderr if to_stdout else sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
