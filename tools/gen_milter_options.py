#!/usr/bin/env python3
"""Generate src/mailconf/data/milter/{opendkim,opendmarc}.tsv: the option tables of the installed
OpenDKIM and OpenDMARC binaries, measured, not copied.

Candidate names come from the option tables of the packaged versions' sources (every ``#ifdef``
branch of ``opendkim-config.h`` / ``opendmarc-config.h`` at the release tag) and from the installed
manual pages (``opendkim.conf(5)``, ``opendmarc.conf(5)``).  Each candidate is then tried on the
binary with ``-n`` (check the configuration and exit):

* ``Name yes``  refused with "unrecognized parameter"  -> not in this build;
* ``Name yes``  refused with "illegal value"           -> integer;
* ``Name zzz``  refused with "illegal value"           -> boolean;
* ``Name /nonexistent/...`` refused by ``dkimf_db_open()`` -> data set (OpenDKIM);
* otherwise a string (``Include`` is the include directive).

A fourth column says what ``-n`` opens at start for a string option: ``Name /nonexistent/...``
refused with ``chdir()`` -> ``directory``, with ``open()``/``fopen()``/"No such file" -> ``file``
(``Include`` is a file; data sets are opened by definition), otherwise ``-``.

Usage (Debian 12 with opendkim and opendmarc installed, the sources fetched as bare repos):
    python3 tools/gen_milter_options.py [--dkim-src DIR] [--dmarc-src DIR]
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "mailconf" / "data" / "milter"
MIRROR = Path("/work/.mirror")

DAEMONS = {
    "opendkim": {
        "src": MIRROR / "trusteddomainproject+OpenDKIM" / "repo",
        "tag": "rel-opendkim-2-11-0-Beta2",
        "header": "opendkim/opendkim-config.h",
        "man": "/usr/share/man/man5/opendkim.conf.5.gz",
        "check": ["opendkim", "-n", "-x"],
    },
    "opendmarc": {
        "src": MIRROR / "trusteddomainproject+OpenDMARC" / "repo",
        "tag": "rel-opendmarc-1-4-2",
        "header": "opendmarc/opendmarc-config.h",
        "man": "/usr/share/man/man5/opendmarc.conf.5.gz",
        "check": ["opendmarc", "-n", "-c"],
    },
}

_HEADER_NAME = re.compile(r'\{\s*"([^"]+)",\s*(?:/\*.*?\*/\s*)?CONFIG_TYPE_(\w+)')
_MAN_NAME = re.compile(r"^\.I ([A-Za-z][A-Za-z0-9-]*) \(([^)]*)\)", re.M)


def header_names(spec: dict[str, object]) -> dict[str, str]:
    text = subprocess.run(
        ["git", "-C", str(spec["src"]), "show", f"{spec['tag']}:{spec['header']}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name: kind.lower() for name, kind in _HEADER_NAME.findall(text)}


def man_names(spec: dict[str, object]) -> dict[str, str]:
    with gzip.open(str(spec["man"]), "rt", encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    return {name: kind.lower() for name, kind in _MAN_NAME.findall(text)}


def refusal(check: list[str], line: str, workdir: Path) -> str:
    conf = workdir / "probe.conf"
    conf.write_text(line + "\n")
    result = subprocess.run([*check, str(conf)], capture_output=True, text=True, cwd=workdir)
    return "" if result.returncode == 0 else (result.stderr.strip() or result.stdout.strip())


_PROBE_PATH = "/nonexistent/mailconf-probe"


def opens(daemon: str, name: str, kind: str, workdir: Path) -> str:
    """What ``-n`` opens when a string option names a path: ``file``, ``directory`` or ``-``."""
    if kind == "include":
        return "file"
    if kind != "string":
        return "-"
    check = DAEMONS[daemon]["check"]
    assert isinstance(check, list)
    refused = refusal(check, f"{name} {_PROBE_PATH}", workdir)
    if _PROBE_PATH not in refused:
        return "-"
    if "chdir()" in refused:
        return "directory"
    return "file" if "No such file" in refused else "-"


def probe(daemon: str, name: str, workdir: Path) -> str | None:
    check = DAEMONS[daemon]["check"]
    assert isinstance(check, list)
    if name.lower() == "include":
        return "include" if daemon == "opendkim" else None
    first = refusal(check, f"{name} yes", workdir)
    if "unrecognized parameter" in first:
        return None
    if "line 1: illegal value" in first:
        return "integer"
    if "line 1: illegal value" in refusal(check, f"{name} zzz", workdir):
        return "boolean"
    if daemon == "opendkim" and "dkimf_db_open()" in refusal(
        check, f"{name} /nonexistent/mailconf-probe", workdir
    ):
        return "dataset"
    return "string"


def generate(daemon: str) -> list[tuple[str, str, str, str]]:
    spec = DAEMONS[daemon]
    from_header = header_names(spec)
    from_man = man_names(spec)
    spelled: dict[str, str] = {}
    for name in [*from_header, *from_man]:
        spelled.setdefault(name.lower(), name)
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for folded in sorted(spelled):
            name = spelled[folded]
            kind = probe(daemon, name, Path(tmp))
            documented = "documented" if name in from_man else "undocumented"
            kind = kind or "refused"
            rows.append((name, kind, documented, opens(daemon, name, kind, Path(tmp))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dkim-src", type=Path)
    parser.add_argument("--dmarc-src", type=Path)
    args = parser.parse_args()
    if args.dkim_src:
        DAEMONS["opendkim"]["src"] = args.dkim_src
    if args.dmarc_src:
        DAEMONS["opendmarc"]["src"] = args.dmarc_src
    OUT.mkdir(parents=True, exist_ok=True)
    for daemon in DAEMONS:
        rows = generate(daemon)
        version = subprocess.run(
            [daemon, "-V"], capture_output=True, text=True
        ).stdout.splitlines()[0]
        lines = [
            f"# {daemon} options measured on: {version}",
            "# generated by tools/gen_milter_options.py; do not edit by hand",
            "# name\ttype (boolean integer string dataset include | refused = documented/listed "
            "but unrecognized by this binary)\tdocumented in the manual page"
            "\topened by -n at start (file directory | -)",
        ]
        lines += ["\t".join(row) for row in rows]
        (OUT / f"{daemon}.tsv").write_text("\n".join(lines) + "\n")
        print(f"{daemon}: {len(rows)} names, {sum(r[1] != 'refused' for r in rows)} accepted")


if __name__ == "__main__":
    main()
