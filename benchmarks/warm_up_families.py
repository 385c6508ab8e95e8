"""Compile cost of each kernel family: ``cqox warm-up --only FAMILY`` on an empty cache.

    python -m benchmarks.warm_up_families                  # every family, 2 rounds
    python -m benchmarks.warm_up_families --only synth --rounds 3

For each family (:data:`cqox.analysis.kernel_cache.WORKLOADS`) and round: ``cqox warm-up
--only FAMILY --cache-dir NEW`` in a child process, timed by the CPU time (user +
system) of the processes it started (the command and its warm-up interpreter); then,
in a fresh process on that cache, the CPU time of the family's warm-up workload run
first (Numba's set-up and the kernels' loads included) and the median of ``--repeats``
more runs (the kernels' run time).  The rounds are interleaved by family.  CPU times
are the numbers to read on a shared machine; the load average is printed.  Prints a
Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cqox.cli.warm_up import WORKLOAD_NAMES

ROOT = Path(__file__).resolve().parents[1]

_RUN = """
import json, statistics, time, warnings
warnings.simplefilter("ignore")
from cqox.analysis import kernel_cache
work = kernel_cache.WORKLOADS[{family!r}]
start = time.process_time()
work()
first = time.process_time() - start
runs = []
for _ in range({repeats}):
    start = time.process_time()
    work()
    runs.append(time.process_time() - start)
misses = sum(k["misses"] for k in kernel_cache.compile_stats().values())
print(json.dumps({{"first": first, "warm": statistics.median(runs), "misses": misses}}))
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(family: str, repeats: int) -> dict[str, float]:
    """Compile CPU of ``cqox warm-up --only family`` into a new folder, then first/warm runs."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    env.pop("NUMBA_CACHE_DIR", None)
    folder = Path(tempfile.mkdtemp(prefix="cqox-warm-up-"))
    try:
        before = _children_cpu()
        cmd = "import sys; from cqox.cli.main import main; sys.exit(main(sys.argv[1:]))"
        subprocess.run(
            [sys.executable, "-c", cmd, "warm-up", "--only", family, "--cache-dir", str(folder)],
            env=env,
            check=True,
            capture_output=True,
        )
        compile_cpu = _children_cpu() - before
        out = subprocess.run(
            [sys.executable, "-c", _RUN.format(family=family, repeats=repeats)],
            env={**env, "NUMBA_CACHE_DIR": str(folder)},
            check=True,
            capture_output=True,
            text=True,
        )
        runs: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"compile": compile_cpu, **runs}


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warm_up_families")
    parser.add_argument("--only", action="append", choices=WORKLOAD_NAMES)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="warm runs per process")
    args = parser.parse_args(argv)
    families = args.only or list(WORKLOAD_NAMES)
    results: dict[str, list[dict[str, float]]] = {f: [] for f in families}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for family in families:
            results[family].append(measure(family, args.repeats))
    load_after = os.getloadavg()[0]
    print("| family | warm-up CPU s (median) | first run CPU s | warm run CPU s | misses |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for family, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in ("compile", "first", "warm")}
        misses = max(int(r["misses"]) for r in rows)
        print(
            f"| {family} | {med['compile']:.2f} | {med['first']:.3f} | {med['warm']:.4f} "
            f"| {misses} |"
        )
    print(f"\n{args.rounds} rounds; load average {load_before:.2f} → {load_after:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
