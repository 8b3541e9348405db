"""The long fuzz run: generated inputs of every kind through every accessor, lint and edits.

    .venv/bin/python benchmarks/fuzz.py                     # 100,000 inputs per kind
    .venv/bin/python benchmarks/fuzz.py --count 2000        # a smoke run
    .venv/bin/python benchmarks/fuzz.py --kinds opendkim hostlist --seed 7 --json

The inputs and the model driver are tests/fuzzing.py's (the property tests in
tests/syntax/test_model_properties.py run a few hundred per kind in CI): mutated windows of the
real files in ../shared/corpus, random lines of hard characters, random bytes decoded as mailconf
decodes a file.  Every input goes through ``exercise()``: parse, every accessor, to_json, lint,
explain_line, edits, and a re-parse of what the edits wrote.  Every ``--cli-every``-th input also
goes through ``mailconf show --json``, ``lint`` and ``get`` (in this process: the same code as
``python -m mailconf``).  An internal error is anything but an answer or a MailconfError, or a
command that exits 70 or prints "internal error"/"Traceback".

The report groups internal errors by exception and place with the shortest input that caused
each; the exit status is 1 when there was any, else 0.  Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

import fuzzing  # noqa: E402  (tests/ is not a package)
from mailconf import fileio  # noqa: E402


def run_kind(kind: str, count: int, seed: int, root: str, cli_every: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}:{kind}")
    inputs = fuzzing.generated_inputs(kind, rng)
    failures: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    parsed = cli_runs = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "file"
        for number in range(count):
            text = next(inputs)
            problem, accepted = _exercise(kind, text, root)
            parsed += accepted
            if problem is None and cli_every and number % cli_every == 0:
                problem = _cli(kind, path, text)
                cli_runs += 1
            if problem is not None:
                failures[problem] += 1
                if problem not in examples or len(text) < len(examples[problem]):
                    examples[problem] = text
    return {
        "kind": kind,
        "inputs": count,
        "parsed": parsed,
        "cli_runs": cli_runs,
        "internal_errors": sum(failures.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "failures": [
            {"where": where, "count": n, "shortest_input": fuzzing.printable(examples[where])}
            for where, n in failures.most_common()
        ],
    }


def _exercise(kind: str, text: str, root: str) -> tuple[str | None, bool]:
    """(where an internal error happened or None, whether the input parsed)."""
    try:
        return None, fuzzing.exercise(kind, text, root)
    except (Exception, fuzzing.Hang) as error:  # what the fuzzer is here to find
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
        return f"{type(error).__name__} at {where}", False


def _cli(kind: str, path: Path, text: str) -> str | None:
    path.write_bytes(fileio.encode(text))
    for argv in fuzzing.cli_commands(kind, path, text):
        status, stderr = fuzzing.run_cli_in_process(argv)
        problem = fuzzing.cli_problem(status, stderr)
        if problem is not None:
            return f"mailconf {argv[0]}: {problem.splitlines()[0][:160]}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs per kind")
    parser.add_argument("--kinds", nargs="+", choices=fuzzing.KINDS, default=list(fuzzing.KINDS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cli-every", type=int, default=100, help="run the CLI on every Nth input (0: never)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as directory:
        root = fuzzing.make_root(Path(directory))
        for kind in args.kinds:
            result = run_kind(kind, args.count, args.seed, root, args.cli_every)
            results.append(result)
            if not args.json:
                _print_row(result)
    if args.json:
        json.dump({"seed": args.seed, "results": results}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        total = sum(r["internal_errors"] for r in results)
        inputs = sum(r["inputs"] for r in results)
        seconds = sum(r["seconds"] for r in results)
        print(f"total: {inputs} inputs, {total} internal errors, {seconds:.0f} s")
    return 1 if any(r["internal_errors"] for r in results) else 0


def _print_row(result: dict[str, Any]) -> None:
    print(
        f"{result['kind']:15s} {result['inputs']:7d} inputs  {result['parsed']:7d} parsed  "
        f"{result['cli_runs']:5d} CLI runs  {result['internal_errors']:5d} internal errors  "
        f"{result['seconds']:7.1f} s",
        flush=True,
    )
    for failure in result["failures"]:
        print(f"    {failure['count']:6d}  {failure['where']}")
        print(f"            {failure['shortest_input']}")


if __name__ == "__main__":
    sys.exit(main())
