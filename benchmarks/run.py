"""mailconf performance report: parse/dump times, whole-process times, postconf and augtool, and
how every command's time grows with its input (the scaling table, issue 10).

    python benchmarks/run.py            # table on stdout
    python benchmarks/run.py --json     # the same numbers as JSON
    python benchmarks/run.py --quick    # fewer repetitions (a smoke run, not for docs)
    python benchmarks/run.py --scaling-only --scale 0.1 --src /tmp/old/src   # before/after

It re-executes itself with the repository's virtual environment (``.venv/bin/python``) when started
with another interpreter, pins itself (and so every child process) to one CPU, generates its inputs
deterministically into ``benchmarks/out/`` (git-ignored) and always exits 0: it is a report, not a
test.  See benchmarks/README.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
OUT = HERE / "out"

# Debian's default main.cf: the installed file if the postfix package is installed, else the
# template the package installs it from.
DEBIAN_MAIN_CF_CANDIDATES = (
    Path("/etc/postfix/main.cf"),
    Path("/usr/share/postfix/main.cf.debian"),
)
DEBIAN_MASTER_CF_CANDIDATES = (
    Path("/etc/postfix/master.cf"),
    Path("/usr/share/postfix/master.cf.dist"),
)

TARGETS = (
    # (key, description, limit in seconds, where the measured number comes from)
    ("keytable", "KeyTable 100k: parse+dump (in-process, median)", 0.5),
    ("maincf", "main.cf 26k: parse+dump (in-process, median)", 0.3),
    ("process", "import mailconf + load(default main.cf).dump() (whole process, median)", 0.1),
    ("lint50k", "mailconf lint, main.cf of 50k repeated names (whole process, median)", 1.0),
)
LINT_50K = "main.cf 50k repeated names: mailconf lint"


def _reexec_in_venv() -> None:
    """Run under the repository's venv python, whatever interpreter started us."""
    if not VENV_PYTHON.exists() or os.environ.get("MAILCONF_BENCH_REEXEC"):
        return
    if Path(sys.prefix).resolve() == (REPO / ".venv").resolve():
        return
    os.environ["MAILCONF_BENCH_REEXEC"] = "1"
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])


def _use_bytecode() -> None:
    """Measure what an installed mailconf costs: pip compiles a wheel's modules to bytecode at
    install time, so a user's process never recompiles them.  Some environments export
    PYTHONDONTWRITEBYTECODE=1, which would make every measured process compile mailconf from
    source (about 30 ms); compile everything once here and let the children use it."""
    import compileall

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    for path in sys.path:
        if path and Path(path).is_dir() and "site-packages" in path:
            compileall.compile_dir(path, quiet=2)
    compileall.compile_dir(str(REPO / "src"), quiet=2)


def _pin_to_one_cpu() -> int | None:
    """Pin this process (children inherit it) to the last allowed CPU: "one core"."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    return cpus[-1]


def _use_source(src: Path) -> None:
    """Measure the mailconf in ``src`` (e.g. from ``git archive``) instead of the installed one:
    first on sys.path here, first on PYTHONPATH for every child process."""
    src = src.resolve()
    sys.path.insert(0, str(src))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(src), *filter(None, [os.environ.get("PYTHONPATH")])]
    )


def _git_state(directory: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=False
        )
        return completed.stdout.strip()

    if not shutil.which("git"):
        return {}
    changed = git("status", "--porcelain", "--", "src", "grammars")
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "uncommitted_changes_in_src_or_grammars": len(changed.splitlines()),
    }


def _stats(samples: list[float]) -> dict[str, float]:
    return {"best": min(samples), "median": statistics.median(samples), "runs": len(samples)}


# ---------------------------------------------------------------------------------------- inputs
def prepare_inputs() -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import generate

    inputs: dict[str, Any] = {
        name: {"path": path, "kind": kind} for name, (path, kind) in generate.write_all(OUT).items()
    }
    # postconf reads master.cf too; give it Debian's so it does not warn about a missing file
    # (and mailconf lint checks a main.cf together with the master.cf beside it).
    master = next((p for p in DEBIAN_MASTER_CF_CANDIDATES if p.exists()), None)
    if master is not None:
        for name in ("main.cf 26k", "main.cf 50k repeated names"):
            shutil.copyfile(master, inputs[name]["path"].parent / "master.cf")
    # The same main.cf without the comment lines inside continued values, for Augeas (whose
    # Postfix_Main lens rejects those lines): 24,000 lines, 20,000 parameters.
    no_inner = OUT / "big-no-inner-comments" / "etc" / "postfix" / "main.cf"
    no_inner.parent.mkdir(parents=True, exist_ok=True)
    text = inputs["main.cf 26k"]["path"].read_text()
    no_inner.write_text("".join(ln for ln in text.splitlines(True) if not ln.startswith("    #")))
    inputs["main.cf 26k"]["augeas_variant"] = no_inner

    debian = next((p for p in DEBIAN_MAIN_CF_CANDIDATES if p.exists()), None)
    if debian is not None:
        copy = OUT / "debian" / "etc" / "postfix" / "main.cf"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(debian, copy)
        if master is not None:
            shutil.copyfile(master, copy.parent / "master.cf")
        inputs["Debian default main.cf"] = {"path": copy, "kind": "postfix-main", "source": debian}
    return inputs


def _line_count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


# ------------------------------------------------------------------------------------ in-process
def in_process(inputs: dict[str, Any], repeat: int) -> dict[str, Any]:
    import mailconf
    from mailconf import fileio

    results: dict[str, Any] = {}
    for name, spec in inputs.items():
        row: dict[str, Any] = {"path": str(spec["path"]), "lines": _line_count(spec["path"])}
        try:
            text = fileio.read_text(spec["path"])
            start = time.perf_counter()
            doc = mailconf.parse(text, spec["kind"])
            row["first_parse"] = time.perf_counter() - start  # includes building the Lark parser
            row["entries"] = len(doc)
            parse_samples, dump_samples, total_samples = [], [], []
            round_trip = True
            for _ in range(repeat):
                t0 = time.perf_counter()
                doc = mailconf.parse(text, spec["kind"])
                t1 = time.perf_counter()
                dumped = doc.dump()
                t2 = time.perf_counter()
                round_trip = round_trip and dumped == text
                parse_samples.append(t1 - t0)
                dump_samples.append(t2 - t1)
                total_samples.append(t2 - t0)
            row.update(
                parse=_stats(parse_samples),
                dump=_stats(dump_samples),
                total=_stats(total_samples),
                round_trip=round_trip,
            )
        except Exception as error:  # a report: record and go on
            row["error"] = f"{type(error).__name__}: {error}"
        results[name] = row
    return results


# ---------------------------------------------------------------------------------- whole process
def _run_once(argv: list[str]) -> tuple[float, float, int]:
    """Wall-clock seconds, CPU seconds (user + system, of the process and its children) and the
    exit status of one run.  On a shared machine the wall clock also counts the time other
    processes had the CPU; the CPU time does not, so it is reported next to it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, completed.returncode


def _time_round_robin(
    commands: dict[str, dict[str, Any]], repeat: int
) -> dict[str, dict[str, Any]]:
    """Run every command once per round, ``repeat`` rounds: background noise spreads over all rows
    instead of spoiling one."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    returncodes = dict.fromkeys(commands, 0)
    for _ in range(repeat):
        for name, command in commands.items():
            elapsed, seconds, code = _run_once(command["argv"])
            samples[name].append(elapsed)
            cpu[name].append(seconds)
            returncodes[name] = returncodes[name] or code
    results: dict[str, dict[str, Any]] = {}
    for name, command in commands.items():
        row: dict[str, Any] = _stats(samples[name])
        row["cpu"] = _stats(cpu[name])
        row["returncode"] = returncodes[name]
        row.update(command.get("extra", {}))
        results[name] = row
    return results


def _augeas_error(root: Path) -> str | None:
    """Augeas does not fail on a file its lens rejects: it loads nothing and records an error."""
    completed = subprocess.run(
        [*_augtool_argv(root), "print /augeas//error"],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        return f"augtool exited {completed.returncode}: {completed.stderr.strip()}"
    found = dict(re.findall(r"/error/?(\w*) = \"?([^\"\n]*)", completed.stdout))
    if not found:
        return None
    return f"{found.get('', 'error')} at line {found.get('line', '?')}: {found.get('message', '')}"


def _augtool_argv(root: Path) -> list[str]:
    # -L and --noautoload: no lens is loaded but Postfix_Main (-t), for our copy as root (-r).
    return [
        "augtool",
        "-L",
        "-r",
        str(root),
        "--noautoload",
        "-t",
        "Postfix_Main incl /etc/postfix/main.cf",
    ]


def whole_process(inputs: dict[str, Any], repeat: int) -> dict[str, Any]:
    python = sys.executable

    def code(text: str) -> dict[str, Any]:
        return {"argv": [python, "-c", text]}

    def load_dump(path: Path) -> str:
        return f"import mailconf; mailconf.load({str(path)!r}).dump()"

    commands: dict[str, dict[str, Any]] = {
        "python -c pass (interpreter start-up)": code("pass"),
        "python -c 'import attrs' (for the breakdown)": code("import attrs"),
        "python -c 'import lark' (for the breakdown)": code("import lark"),
        "python -c 'import mailconf'": code("import mailconf"),
        "python -c 'import mailconf, lark'": code("import mailconf, lark"),
    }
    unavailable: dict[str, dict[str, Any]] = {}
    postconf = shutil.which("postconf")
    augtool = shutil.which("augtool")
    for name in ("Debian default main.cf", "main.cf 26k"):
        if name not in inputs:
            continue
        path: Path = inputs[name]["path"]
        commands[f"{name}: mailconf load+dump"] = code(load_dump(path))
        if postconf:
            commands[f"{name}: postconf -c DIR -n"] = {
                "argv": [postconf, "-c", str(path.parent), "-n"]
            }
        else:
            unavailable[f"{name}: postconf -c DIR -n"] = {"unavailable": "postconf not installed"}
        if not augtool:
            unavailable[f"{name}: augtool print"] = {
                "unavailable": "augtool not installed (apt-get install augeas-tools)"
            }
            continue
        roots = [(name, path.parents[2])]
        if "augeas_variant" in inputs[name]:
            variant = inputs[name]["augeas_variant"]
            roots.append((f"{name} without inner comments (24k lines)", variant.parents[2]))
        for label, root in roots:
            error = _augeas_error(root)
            commands[f"{label}: augtool print"] = {
                "argv": [*_augtool_argv(root), "print /files/etc/postfix/main.cf"],
                "extra": {"rejected": error} if error else {},
            }
    commands["KeyTable 100k: mailconf load+dump"] = code(load_dump(inputs["KeyTable 100k"]["path"]))
    # Lint, the whole command (start-up, master.cf beside it, printing the findings): the 50k-line
    # main.cf of issue 10 and, for comparison, the 26k one with its 20,000 unknown names.
    for name in ("main.cf 50k repeated names", "main.cf 26k"):
        path = inputs[name]["path"]
        commands[f"{name}: mailconf lint"] = {"argv": [python, "-m", "mailconf", "lint", str(path)]}
        if postconf and name != "main.cf 26k":
            commands[f"{name}: postconf -c DIR -n"] = {
                "argv": [postconf, "-c", str(path.parent), "-n"]
            }
    results = _time_round_robin(commands, repeat)
    results.update(unavailable)
    return results


# ------------------------------------------------------------------------------- CLI start-up
CLI_RATIO_LIMIT = 1.2


def cli_start_up(inputs: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Cold ``mailconf get main.cf myhostname`` (the console script, as a user runs it) against
    ``python -c "import mailconf; mailconf.load(P)"``, round robin: a one-line answer should cost
    little more than the library itself (issue 11: ratio of the medians at most 1.2)."""
    path = str(inputs.get("Debian default main.cf", inputs["main.cf 26k"])["path"])
    script = Path(sys.executable).with_name("mailconf")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "mailconf"]
    load = "python -c 'import mailconf; mailconf.load(P)'"
    get = f"{'mailconf' if script.exists() else 'python -m mailconf'} get P myhostname"
    rows = _time_round_robin(
        {
            load: {"argv": [sys.executable, "-c", f"import mailconf; mailconf.load({path!r})"]},
            get: {"argv": [*cli, "get", path, "myhostname"]},
        },
        repeat,
    )
    ratio = rows[get]["median"] / rows[load]["median"]
    return {
        "P": path,
        "rows": rows,
        "ratio": ratio,
        "ratio_best": rows[get]["best"] / rows[load]["best"],
        "limit": CLI_RATIO_LIMIT,
        "met": ratio <= CLI_RATIO_LIMIT,
    }


def _print_cli_start_up(result: dict[str, Any]) -> None:
    verdict = "met" if result["met"] else "NOT MET"
    print(
        f"  {'cold mailconf get vs import+load, ratio ≤ ' + str(result['limit']):<72}"
        f" ≤ {result['limit']:>5.2f}   : {result['ratio']:>7.2f}    "
        f"(best {result['ratio_best']:>7.2f})     {verdict}"
    )
    for name, row in result["rows"].items():
        code = f"  exit status {row['returncode']}" if row["returncode"] else ""
        print(f"      {name:<66} {_ms(row['best'])}  {_ms(row['median'])}  (ms){code}")
    print(f"      P = {result['P']}")


# ---------------------------------------------------------------------------------------- scaling
# Each case: a file shape made at size n and 2n, and the commands timed on it.  "{}" is the file
# (a fresh copy for commands that write it).  The sizes are the issue's (50k list items, 10k
# services, 100k table rows...) at --scale 1; smaller scales measure code that would not finish.
_LOOKUP = ("lookup", "{}")


def scaling_cases() -> list[dict[str, Any]]:
    sys.path.insert(0, str(HERE))
    import generate

    tables = OUT / "scaling" / "tables-{n}"
    main_lint = {"lint": ["lint", "{}"]}
    main_read = {"show --json": ["show", "--json", "{}"], "fmt --check": ["fmt", "--check", "{}"]}
    # An OpenDKIM milter (port 8891): add_milter puts it before OpenDMARC's when there is one.
    milter, check = "inet:127.0.0.1:8891", "check_policy_service unix:private/policy"
    add_restriction = ["--add-restriction", "smtpd_recipient_restrictions", check, "--last"]
    return [
        {
            "name": "main.cf, one name repeated",
            "unit": "lines",
            "n": 25_000,
            "file": "main.cf",
            "make": lambda n: generate.repeated_main_cf(n),
            "commands": {
                **main_lint,
                **main_read,
                "get": ["get", "{}", "biff"],
                "edit --set": ["edit", "{}", "--set", "biff=yes"],
                "edit --add-milter": ["edit", "{}", "--add-milter", milter],
                "edit --add-restriction --last": ["edit", "{}", *add_restriction],
            },
        },
        {
            "name": "main.cf, two names repeated",
            "unit": "lines",
            "n": 25_000,
            "file": "main.cf",
            "make": lambda n: generate.repeated_main_cf(n, generate.REPEATED_NAMES),
            "commands": {**main_lint, "edit --set": ["edit", "{}", "--set", "biff=yes"]},
        },
        *(
            {
                "name": f"main.cf, two lists of n items, {layout}",
                "unit": "items",
                "n": 25_000,
                "file": "main.cf",
                "make": lambda n, continued=continued: generate.long_list_main_cf(
                    n, continued=continued
                ),
                "commands": {
                    **main_lint,
                    **main_read,
                    "get": ["get", "{}", "smtpd_milters"],
                    "edit --set": ["edit", "{}", "--set", "smtpd_milters=inet:[::1]:1"],
                    "edit --add-milter": ["edit", "{}", "--add-milter", milter],
                    "edit --remove-milter": [
                        "edit",
                        "{}",
                        "--remove-milter",
                        "inet:127.0.0.1:10000",
                    ],
                    "edit --add-restriction --last": ["edit", "{}", *add_restriction],
                },
            }
            for layout, continued in (("one line each", False), ("an item per line", True))
        ),
        {
            "name": "master.cf, n services with -o",
            "unit": "services",
            "n": 5_000,
            "file": "master.cf",
            "make": generate.master_cf,
            "commands": {
                "lint": ["lint", "{}"],
                "show --json": ["show", "--json", "{}"],
                "edit --add-service": ["edit", "{}", "--add-service", "new unix - n n - 0 spawn"],
                "lint of main.cf beside it": ["lint", "{main.cf}"],
            },
            "beside": {"main.cf": "smtpd_relay_restrictions = reject_unauth_destination\n"},
        },
        {
            "name": "KeyTable, n rows",
            "unit": "rows",
            "n": 50_000,
            "file": "key.table",
            "make": generate.key_table,
            "commands": {"lookup (miss)": [*_LOOKUP, "none"], "lint": ["lint", "{}"]},
        },
        {
            "name": "SigningTable, n rows",
            "unit": "rows",
            "n": 50_000,
            "file": "signing.table",
            "make": generate.signing_table,
            "commands": {
                "lookup refile: (miss)": [*_LOOKUP, "a@none.example"],
                "lookup file: (miss)": [*_LOOKUP, "a@none.example", "--spec", "file"],
                "lint": ["lint", "{}"],
            },
        },
        {
            "name": "TrustedHosts, n rows",
            "unit": "rows",
            "n": 50_000,
            "file": "trusted.hosts",
            "make": generate.host_list,
            "commands": {
                "lookup (IPv6 miss)": ["lookup", "--kind", "hostlist", "{}", "2001:db8::1"],
                "lint": ["lint", "--kind", "hostlist", "{}"],
            },
        },
        {
            "name": "opendkim.conf, n option lines",
            "unit": "lines",
            "n": 25_000,
            "file": "opendkim.conf",
            "make": generate.opendkim_conf,
            "commands": {
                "lint": ["lint", "{}"],
                "show --json": ["show", "--json", "{}"],
                "get": ["get", "{}", "Mode"],
                "edit --set": ["edit", "{}", "--set", "SubDomains=yes"],
            },
        },
        {
            "name": "opendkim.conf with KeyTable and SigningTable of n rows",
            "unit": "rows",
            "n": 50_000,
            "file": "opendkim.conf",
            "make": lambda n: generate.opendkim_conf(10, Path(str(tables).format(n=n))),
            "tables": lambda n: {
                "key.table": generate.key_table(n),
                "signing.table": generate.signing_table(n),
            },
            "tables_dir": tables,
            "commands": {"lint (checks every row against the other table)": ["lint", "{}"]},
        },
    ]


# Runs one mailconf command in a fresh interpreter and reports the CPU time the command itself took:
# start-up (imports, building every subcommand, building the Lark parsers) is left out, so the
# growth factor is the command's own; CPU time rather than wall-clock time, because on a shared
# machine the wall clock also counts the time other processes had the CPU.
_TIMED_COMMAND = """
import contextlib, io, sys, time
from mailconf import cli
from mailconf.syntax import grammar, kinds
cli.build_parser()
for kind in kinds.KINDS:
    grammar.parser(kind)
with contextlib.redirect_stdout(io.StringIO()):
    start = time.process_time()
    code = cli.main(sys.argv[1:])
    elapsed = time.process_time() - start
sys.stderr.write(f"\\n{elapsed} {code}\\n")
"""


def _time_command(argv: list[str], timeout: float) -> tuple[float | None, int | None]:
    """(seconds, exit status) of one command, or (None, None) when it ran out of time."""
    try:
        completed = subprocess.run(
            [sys.executable, "-c", _TIMED_COMMAND, *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, None
    last = completed.stderr.strip().rsplit("\n", 1)[-1].split()
    if len(last) != 2:
        return float("nan"), completed.returncode
    return float(last[0]), int(last[1])


def scaling(
    scale: float, repeat: int, timeout: float, only: str | None = None
) -> list[dict[str, Any]]:
    """Every case's commands at n and 2n: best of ``repeat`` runs (the least disturbed by other
    load), and the growth factor t(2n) / t(n) - about 2 for linear code, about 4 for quadratic.
    ``only``: the cases whose name contains it."""
    rows = []
    for case in scaling_cases():
        if only is not None and only not in case["name"]:
            continue
        sizes = (max(int(case["n"] * scale), 10), 2 * max(int(case["n"] * scale), 10))
        directories = {}
        for size in sizes:
            directory = OUT / "scaling" / f"{case['file']}-{case['unit']}-{size}"
            generate_input(case, size, directory)
            directories[size] = directory
        for label, template in case["commands"].items():
            row: dict[str, Any] = {"case": case["name"], "unit": case["unit"], "command": label}
            for size in sizes:
                best, status = None, None
                for _ in range(repeat):
                    argv = _scaling_argv(template, case, directories[size])
                    elapsed, status = _time_command(argv, timeout)
                    if elapsed is None:
                        break
                    best = elapsed if best is None else min(best, elapsed)
                row[str(size)] = {"seconds": best, "status": status, "timed_out": best is None}
            small, large = (row[str(size)]["seconds"] for size in sizes)
            row["sizes"] = sizes
            row["growth"] = large / small if small and large else None
            rows.append(row)
    return rows


def generate_input(case: dict[str, Any], size: int, directory: Path) -> None:
    import generate

    generate.write(directory / "pristine" / case["file"], case["make"](size))
    for name, text in case.get("beside", {}).items():
        generate.write(directory / "pristine" / name, text)
    if "tables" in case:
        tables = Path(str(case["tables_dir"]).format(n=size))
        for name, text in case["tables"](size).items():
            generate.write(tables / name, text)


def _scaling_argv(template: list[str], case: dict[str, Any], directory: Path) -> list[str]:
    """The command's arguments with a fresh copy of the input (an edit writes it)."""
    work = directory / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(directory / "pristine", work)
    names = {"{}": case["file"], **{f"{{{name}}}": name for name in case.get("beside", {})}}
    return [str(work / names[arg]) if arg in names else arg for arg in template]


# ------------------------------------------------------------------------------------ importtime
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_times(inputs: dict[str, Any], repeat: int) -> dict[str, Any]:
    """``-X importtime`` of import mailconf + load(default main.cf), median over runs, in ms."""
    path = inputs.get("Debian default main.cf", inputs["main.cf 26k"])["path"]
    code = f"import mailconf; mailconf.load({str(path)!r}).dump()"
    per_module: dict[str, list[tuple[float, float, int]]] = {}
    for _ in range(repeat):
        completed = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            check=False,
        )
        for self_us, cumulative_us, indent, module in _IMPORTTIME.findall(completed.stderr):
            per_module.setdefault(module, []).append(
                (int(self_us) / 1000, int(cumulative_us) / 1000, len(indent) // 2)
            )
    rows = []
    for module, samples in per_module.items():
        rows.append(
            {
                "module": module,
                "self_ms": statistics.median(s[0] for s in samples),
                "cumulative_ms": statistics.median(s[1] for s in samples),
                "depth": min(s[2] for s in samples),
            }
        )
    top_level = sorted((r for r in rows if r["depth"] == 0), key=lambda r: -r["cumulative_ms"])
    heaviest_self = sorted(rows, key=lambda r: -r["self_ms"])[:15]
    return {
        "command": code,
        "total_ms": sum(r["cumulative_ms"] for r in top_level),
        "top_level": top_level[:15],
        "heaviest_self": heaviest_self,
    }


# ------------------------------------------------------------------------------------- reporting
def environment() -> dict[str, Any]:
    import lark

    import mailconf

    def version(argv: list[str], pattern: str) -> str | None:
        if not shutil.which(argv[0]):
            return None
        completed = subprocess.run(argv, capture_output=True, text=True, check=False)
        match = re.search(pattern, completed.stdout + completed.stderr)
        return match.group(1) if match else None

    cpu = None
    try:
        cpu_lines = Path("/proc/cpuinfo").read_text().splitlines()
        models = [
            line.split(":", 1)[1].strip() for line in cpu_lines if line.startswith("model name")
        ]
        cpu = models[0] if models else None
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "mailconf": mailconf.__version__,
        "lark": lark.__version__,
        "cpu": cpu,
        "cpus_online": os.cpu_count(),
        "postfix": version(["postconf", "-d", "mail_version"], r"= (\S+)"),
        "augeas": version(["augtool", "--version"], r"augtool (\S+)"),
        "mailconf_source": str(Path(mailconf.__file__).parent),
        "git": _git_state(Path(mailconf.__file__).parent),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def evaluate(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target is judged on the median; ``met_on_best`` says whether the best run (the least
    disturbed by other load on the machine) is under the limit."""
    inproc, process = report["in_process"], report["whole_process"]
    rows = {
        "keytable": inproc.get("KeyTable 100k", {}).get("total", {}),
        "maincf": inproc.get("main.cf 26k", {}).get("total", {}),
        "process": process.get("Debian default main.cf: mailconf load+dump", {}),
        "lint50k": process.get(LINT_50K, {}),
    }
    return [
        {
            "target": description,
            "limit_s": limit,
            "measured_s": rows[key].get("median"),
            "best_s": rows[key].get("best"),
            "met": rows[key].get("median") is not None and rows[key]["median"] < limit,
            "met_on_best": rows[key].get("best") is not None and rows[key]["best"] < limit,
            "cpu_median_s": rows[key].get("cpu", {}).get("median"),
        }
        for key, description, limit in TARGETS
    ]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:8.1f}"


def print_table(report: dict[str, Any]) -> None:
    env = report["environment"]
    print(
        f"mailconf {env['mailconf']}  Python {env['python']}  Lark {env['lark']}  "
        f"Postfix {env['postfix'] or '-'}  Augeas {env['augeas'] or '-'}"
    )
    git = env["git"]
    print(
        f"mailconf from {env['mailconf_source']} (commit {git.get('commit')}, "
        f"{git.get('uncommitted_changes_in_src_or_grammars')} uncommitted changes in src/grammars)"
    )
    load = env["load_average"]
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load) if load else '-'}")
    print(f"CPU: {env['cpu']} ({env['cpus_online']} online; pinned to CPU {report['pinned_cpu']})")
    print(
        f"in-process repeats: {report['repeat']}, "
        f"whole-process repeats: {report['process_repeat']} (round robin)"
    )
    if "in_process" in report:
        print_timings(report)
    if "scaling" in report:
        print_scaling(report)


def print_scaling(report: dict[str, Any]) -> None:
    print()
    print(
        f"Scaling: each command's own CPU time (start-up excluded), best of "
        f"{report['scaling_repeat']}, at n and 2n; growth t(2n)/t(n) is about 2 for linear code,"
        " about 4 for quadratic"
    )
    case = None
    for row in report["scaling"]:
        if row["case"] != case:
            case = row["case"]
            print(f"  {case}: n = {row['sizes'][0]:,} {row['unit']}")
            print(f"    {'command':<52} {'n (ms)':>10} {'2n (ms)':>10}  growth")
        cells = []
        for size in row["sizes"]:
            cell = row[str(size)]
            cells.append(
                f"{'timeout':>10}" if cell["timed_out"] else _ms(cell["seconds"]).rjust(10)
            )
        growth = f"x{row['growth']:.2f}" if row["growth"] else "-"
        statuses = {row[str(size)]["status"] for size in row["sizes"]} - {0, 1, None}
        note = f"  exit status {sorted(statuses)}" if statuses else ""
        print(f"    {row['command']:<52} {cells[0]} {cells[1]}  {growth}{note}")


def print_timings(report: dict[str, Any]) -> None:
    print()
    print(
        f"{'In-process (ms)':<28} {'lines':>8} {'entries':>8} {'1st parse':>9}"
        f"   {'parse best/median':>17}   {'dump best/median':>17}   {'total best/median':>17}"
        "  round trip"
    )
    for name, row in report["in_process"].items():
        if "error" in row:
            print(f"{name:<28} {row['lines']:>8}  ERROR {row['error']}")
            continue
        print(
            f"{name:<28} {row['lines']:>8} {row['entries']:>8} {_ms(row['first_parse'])}"
            f"   {_ms(row['parse']['best'])} {_ms(row['parse']['median'])}"
            f"   {_ms(row['dump']['best'])} {_ms(row['dump']['median'])}"
            f"   {_ms(row['total']['best'])} {_ms(row['total']['median'])}"
            f"  {'yes' if row['round_trip'] else 'NO'}"
        )
    print()
    print(
        "Whole process (ms)                                                      best    median"
        "   CPU best / median"
    )
    for name, row in report["whole_process"].items():
        if "unavailable" in row:
            print(f"{name:<68} unavailable: {row['unavailable']}")
            continue
        note = ""
        if row.get("rejected"):
            note = f"  REJECTED the file ({row['rejected']})"
        elif row.get("returncode"):
            note = f"  exit status {row['returncode']}"
        cpu = row.get("cpu", {})
        print(
            f"{name:<68} {_ms(row['best'])}  {_ms(row['median'])}"
            f"   {_ms(cpu.get('best'))} {_ms(cpu.get('median'))}{note}"
        )
    imports = report.get("import_time")
    if imports:
        print()
        print(f"-X importtime (median ms) of: {imports['command']}")
        print("  top-level imports (cumulative):")
        for row in imports["top_level"][:10]:
            print(f"    {row['cumulative_ms']:7.1f}  {row['module']}")
        print("  heaviest modules (self):")
        for row in imports["heaviest_self"][:10]:
            print(f"    {row['self_ms']:7.1f}  {row['module']}")
    print()
    print("Targets")
    for row in report["targets"]:
        verdict = (
            "met" if row["met"] else "met on the best run only" if row["met_on_best"] else "NOT MET"
        )
        limit, measured = _ms(row["limit_s"]).strip(), _ms(row["measured_s"]).strip()
        best = _ms(row["best_s"]).strip()
        cpu = f", CPU {_ms(row['cpu_median_s']).strip()}" if row.get("cpu_median_s") else ""
        print(
            f"  {row['target']:<72} < {limit:>5} ms: {measured:>7} ms (best {best:>7}{cpu})"
            f"  {verdict}"
        )
    if "cli_start_up" in report:
        _print_cli_start_up(report["cli_start_up"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--repeat", type=int, default=7, help="in-process repetitions (default 7)")
    parser.add_argument(
        "--process-repeat", type=int, default=15, help="whole-process repetitions (default 15)"
    )
    parser.add_argument("--quick", action="store_true", help="3 and 5 repetitions: a smoke run")
    parser.add_argument(
        "--src",
        type=Path,
        help="measure the mailconf package in this src/ directory (before/after comparisons)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    scaling_options = parser.add_argument_group("scaling table")
    sections = scaling_options.add_mutually_exclusive_group()
    sections.add_argument("--scaling-only", action="store_true", help="only the scaling table")
    sections.add_argument("--no-scaling", action="store_true", help="everything but the scaling")
    scaling_options.add_argument(
        "--scale", type=float, default=1.0, help="multiply every scaling size (default 1)"
    )
    scaling_options.add_argument(
        "--scaling-repeat", type=int, default=3, help="runs per command and size, best kept (3)"
    )
    scaling_options.add_argument(
        "--timeout", type=float, default=300, help="seconds before a command counts as timed out"
    )
    scaling_options.add_argument("--cases", help="only the scaling cases whose name contains this")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.process_repeat, args.scaling_repeat = 3, 5, 1

    report: dict[str, Any] = {
        "repeat": args.repeat,
        "process_repeat": args.process_repeat,
        "scaling_repeat": args.scaling_repeat,
    }
    try:
        if args.src is not None:
            _use_source(args.src)
        _use_bytecode()
        report["pinned_cpu"] = None if args.no_pin else _pin_to_one_cpu()
        report["environment"] = environment()
        if not args.scaling_only:
            inputs = prepare_inputs()
            report["inputs"] = {name: str(spec["path"]) for name, spec in inputs.items()}
            report["in_process"] = in_process(inputs, args.repeat)
            report["whole_process"] = whole_process(inputs, args.process_repeat)
            report["cli_start_up"] = cli_start_up(inputs, args.process_repeat)
            report["import_time"] = import_times(inputs, max(3, args.process_repeat // 3))
            report["targets"] = evaluate(report)
        if not args.no_scaling:
            report["scaling"] = scaling(args.scale, args.scaling_repeat, args.timeout, args.cases)
    except Exception as error:  # a report always exits 0; say what broke
        report["error"] = f"{type(error).__name__}: {error}"
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    elif "error" in report:
        print(f"benchmark run failed: {report['error']}", file=sys.stderr)
        print(json.dumps(report, indent=2, default=str))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    _reexec_in_venv()
    sys.exit(main())
