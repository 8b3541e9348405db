#!/usr/bin/env python3
"""Write src/mailconf/data/postfix/parameters-MAJOR.MINOR.json from the installed ``postconf``.

mailconf ships one table per Postfix release its users run (see mailconf.postfix.params, which
prefers the live ``postconf -d`` and uses these when there is none, and for what ``-d`` cannot
tell).  Run it with each release's own binary, e.g. Debian 12's and, in a Debian 13 root,
Debian 13's (``.ci/debian-root trixie --exec python tools/gen_postfix_params.py`` prints the
table there: ``--stdout``):  ``python tools/gen_postfix_params.py [--stdout] [POSTCONF]``.

A release no machine here has (Ubuntu 22.04's 3.6, Ubuntu 24.04's 3.8) is made from a ``postconf``
built from the upstream release's sources, with the defaults Debian's packaging compiles in
(the directories, ``alias_maps``, ``smtpd_sasl_type``) taken over from a packaged binary:
``--packaging UPSTREAM_POSTCONF:PACKAGED_POSTCONF`` names an upstream build and a packaged binary
of one same release; every default they disagree on (but the host's own: ``process_id``...) is
the packaging's and is applied to the table.  ``--source TEXT`` says in the table where it came
from.

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
* ``raw``: names whose value postconf never expands (``postconf -x`` prints ``$name`` as is:
  ``mailbox_command``, ``forward_path``...), found by setting every name to a ``$reference``.
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


#: Defaults that describe the generating host, not the packaging.
HOST_DEFAULTS = frozenset({"process_id", "process_name", "myhostname", "mydomain", "mynetworks"})


def _defaults(postconf: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "main.cf").write_text("")
        Path(directory, "master.cf").write_text("")
        return _parse(_run(postconf, "-c", directory, "-d"))


def _packaging(pair: str) -> dict[str, str]:
    """The defaults a packaged binary has and an upstream build of the same release lacks."""
    upstream, packaged = (_defaults(binary) for binary in pair.split(":", 1))
    if upstream["mail_version"] != packaged["mail_version"]:
        raise SystemExit(f"--packaging {pair}: not the same release")
    return {
        name: value
        for name, value in packaged.items()
        if upstream.get(name) != value and name not in HOST_DEFAULTS
    }


def _option(arguments: list[str], flag: str) -> str | None:
    if flag not in arguments:
        return None
    at = arguments.index(flag)
    value = arguments[at + 1]
    del arguments[at : at + 2]
    return value


def main(argv: list[str]) -> int:
    arguments = argv[1:]
    to_stdout = "--stdout" in arguments
    arguments = [arg for arg in arguments if arg != "--stdout"]
    packaging_pair = _option(arguments, "--packaging")
    source = _option(arguments, "--source")
    postconf = arguments[0] if arguments else POSTCONF
    packaging = _packaging(packaging_pair) if packaging_pair else {}
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
        # Set every name to a reference and see which ones -x leaves unexpanded.
        Path(directory, "main.cf").write_text(
            "".join(f"{name} = $mailconf_raw_marker\n" for name in defaults)
        )
        expanded = _parse(_run(postconf, "-c", directory, "-n", "-x"))
    read_only = sorted(name for name in defaults if name not in kept)
    raw = sorted(name for name, value in expanded.items() if value == "$mailconf_raw_marker")
    defaults.update((name, value) for name, value in packaging.items() if name in defaults)
    data = {
        "generated_by": "tools/gen_postfix_params.py",
        "source": source or f"postconf -d of {postconf} (Postfix {version})",
        "packaging": dict(sorted(packaging.items())),
        "postfix_version": version,
        "parameters": dict(sorted(defaults.items())),
        "legacy": legacy,
        "read_only": read_only,
        "raw": raw,
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
