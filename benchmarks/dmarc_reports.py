"""Benchmark for ``mailconf dmarc report`` (issue 16): 10,000 aggregate reports, about 1 GB of
XML uncompressed, summarised in under a minute with flat memory.

    .venv/bin/python benchmarks/dmarc_reports.py                 # 10,000 reports
    .venv/bin/python benchmarks/dmarc_reports.py --reports 1000  # a smaller run, for comparison
    .venv/bin/python benchmarks/dmarc_reports.py --keep DIR      # keep the generated reports
    .venv/bin/python benchmarks/dmarc_reports.py --jobs 1        # one process (default: the CLI's)
    .venv/bin/python benchmarks/dmarc_reports.py --instructions --reports 20 [--src /tmp/old/src]

``--instructions`` counts instead of timing: the command runs once in one process under
``valgrind --tool=callgrind`` (Debian's valgrind), and once more on an empty directory for its
start-up; the difference is the reports' work, in instructions, which do not move with what the
rest of the machine does (the wall and CPU times of this virtual machine vary by a third from one
run to the next).  ``--src`` points ``PYTHONPATH`` at another copy of mailconf's ``src`` (say an
older commit unpacked with ``git archive``), to compare two versions on the same reports.

The reports are generated on the fly (deterministically) into a temporary directory, each gzipped
as receivers send them, so the disk holds a few tens of MB.  Each report has ``--records`` rows
(default 165, about 100 kB of XML, indented as Google's) for 400 sources of one domain, a mix of
aligned, forwarded and spoofed mail.  The command then runs as a separate process
(``python -m mailconf dmarc report --no-dns --json DIR``); the wall time, CPU time and peak RSS
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest of it and its workers) are printed, with the
load average before and after (CPU time on a shared machine grows with its load).  Flat memory
shows as the same peak RSS for 1,000 and 10,000 reports.  It is a report, not a test: it always
exits 0.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"

_HEAD = """<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>{begin}</begin>
      <end>{end}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>example.com</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>none</p>
    <sp>none</sp>
    <pct>100</pct>
    <np>none</np>
  </policy_published>
"""

_RECORD = """  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>{dkim}</dkim>
        <spf>{spf}</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>example.com</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>{dkim_domain}</domain>
        <result>{dkim}</result>
        <selector>default</selector>
      </dkim>
      <spf>
        <domain>{spf_domain}</domain>
        <result>{spf}</result>
      </spf>
    </auth_results>
  </record>
"""


def generate(directory: Path, reports: int, records: int) -> int:
    """Write ``reports`` gzipped reports into ``directory``; return the uncompressed bytes."""
    rng = random.Random(16)
    kinds = (
        ("pass", "example.com", "pass", "example.com"),
        ("pass", "example.com", "fail", "forwarder.example.net"),
        ("fail", "example.com", "pass", "bulk.example.org"),
        ("fail", "spoof.example", "fail", "spoof.example"),
    )
    total = 0
    for number in range(reports):
        begin = 1_700_000_000 + 86_400 * (number % 30)
        parts = [_HEAD.format(report_id=f"{number:020d}", begin=begin, end=begin + 86_399)]
        for _ in range(records):
            source = rng.randrange(400)
            dkim, dkim_domain, spf, spf_domain = kinds[source % 4]
            parts.append(
                _RECORD.format(
                    ip=f"198.51.{source // 200}.{source % 200 + 1}",
                    count=rng.randrange(1, 50),
                    dkim=dkim,
                    dkim_domain=dkim_domain,
                    spf=spf,
                    spf_domain=spf_domain,
                )
            )
        parts.append("</feedback>\n")
        data = "".join(parts).encode()
        total += len(data)
        name = f"google.com!example.com!{begin}!{begin + 86_399}!{number}.xml.gz"
        (directory / name).write_bytes(gzip.compress(data, compresslevel=6))
    return total


def instructions(command: list[str], env: dict[str, str] | None) -> int:
    """The instructions ``command`` executes, as callgrind counts them (all processes)."""
    with tempfile.TemporaryDirectory(prefix="mailconf-callgrind-") as scratch:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={scratch}/out.%p",
                *command,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    counts = re.findall(r"Collected : (\d+)", result.stderr)
    if not counts:
        raise SystemExit(f"valgrind printed no count: {result.stderr.strip()[-500:]}")
    return sum(map(int, counts))


def count_instructions(
    command: list[str], directory: Path, size: int, env: dict[str, str] | None
) -> None:
    """Print the instructions of one run over ``directory``, less those of an empty run."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian's valgrind package)")
    # Bytecode compiled first: a copy without it would count its compiling, run after run.
    source = Path(env["PYTHONPATH"]) if env else REPO / "src"
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(source)], check=True)
    command = [*command, "--jobs", "1"]
    with tempfile.TemporaryDirectory(prefix="mailconf-empty-") as empty:
        start_up = instructions([*command, empty], env)
    total = instructions([*command, str(directory)], env)
    work = total - start_up
    print(
        f"instructions: {total / 1e6:,.1f} M in all, {start_up / 1e6:,.1f} M of start-up "
        f"(an empty directory), {work / 1e6:,.1f} M for the reports: "
        f"{work / (size / 1e6) / 1e6:,.1f} M per MB of XML"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=165)
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    parser.add_argument("--jobs", type=int, help="passed to the command (default: its own)")
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    parser.add_argument("--src", type=Path, help="the mailconf src directory to measure")
    args = parser.parse_args()
    directory = Path(args.keep or tempfile.mkdtemp(prefix="mailconf-dmarc-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        size = generate(directory, args.reports, args.records)
        made = time.perf_counter() - started
        on_disk = sum(p.stat().st_size for p in directory.iterdir())
        print(
            f"generated {args.reports} reports in {made:.1f} s: {size / 1e9:.2f} GB of XML, "
            f"{on_disk / 1e6:.1f} MB gzipped"
        )
        command = [str(PYTHON), "-m", "mailconf", "dmarc", "report", "--no-dns", "--json"]
        env = dict(os.environ, PYTHONPATH=str(args.src.resolve())) if args.src else None
        if args.instructions:
            count_instructions(command, directory, size, env)
            return 0
        if args.jobs is not None:
            command += ["--jobs", str(args.jobs)]
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(
            [*command, str(directory)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            print(f"exit {result.returncode}: {result.stderr.strip()}")
            return 0
        summary = json.loads(result.stdout)
        print(
            f"summarised {summary['reports']} reports, {summary['messages']} messages, "
            f"{len(summary['sources'])} sources: wall {wall:.1f} s, CPU {cpu:.1f} s, "
            f"peak RSS {after.ru_maxrss / 1024:.0f} MiB (target: under 60 s); "
            f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
        )
    finally:
        if not args.keep:
            shutil.rmtree(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
