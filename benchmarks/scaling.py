"""Scaling curve of the comprehensive backdoor analysis: rows → time and peak memory.

Each size runs in a fresh subprocess so that its peak memory belongs to that size
alone.  Writes ``docs/scaling.md`` and ``docs/scaling.png``::

    python -m benchmarks.scaling            # 1k, 10k, 100k, 1M rows × 50 covariates, 10M × 20
    python -m benchmarks.scaling --quick    # 1k, 3k, 10k, 30k
    python -m benchmarks.scaling --sizes 1000000,10000000x20   # these sizes only
    python -m benchmarks.scaling --report   # rewrite the docs from the saved results

Every size's row is saved to ``benchmarks/results/scaling.json`` as soon as it
finishes (replacing an earlier row of the same rows × covariates), so an interrupted
run keeps what it measured and ``--sizes`` reruns one size into the saved curve.  A
size that exceeds its time limit (``--timeout``, seconds of wall time per size) is
stopped and recorded as "timed out after N s" without losing the other rows.

The analysis is the one of the backdoor issue's speed goal: every backdoor estimator
(ATE and ATT) except the bootstrap, all gates and the sensitivity analysis, with
logistic/linear nuisances for DML (``benchmarks.cases.LINEAR_DML``).  The time of each
estimator (``Estimate.elapsed_s``) is recorded too, so a step that grows faster than
the rows is named in the table.  Besides wall time, the CPU time (user + system) of
the analysis and of each estimator is recorded: on a shared machine the wall time
includes waiting for other jobs, the CPU time much less so.  The peak resident memory
is that of the analysis (the kernel's high-water mark is reset once the table is
built, through ``/proc/self/clear_refs``), so it counts the table and everything the
analysis allocates, but not the temporaries of generating the synthetic table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Rows per size (full mode: the issue's 1k … 1M; quick mode stays under a minute).
FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 3_000, 10_000, 30_000)
#: Beyond the curve (full mode): the issue's 10M rows × 20 covariates must complete.
EXTRA_SIZES = ((10_000_000, 20),)
#: Wall-time limit per size, seconds: generous, since a loaded machine stretches the
#: wall time of the largest size several-fold.
DEFAULT_TIMEOUT = 3600.0
#: Where each size's row is saved as it finishes.
RESULTS = ROOT / "benchmarks" / "results" / "scaling.json"
#: A step whose time exponent between the two largest sizes exceeds this is named as
#: growing faster than linearly (timing noise on a shared machine is about ±0.1).
SUPERLINEAR = 1.15


def one(n: int, p: int) -> dict[str, Any]:
    """Run the comprehensive analysis on ``n`` rows in this process and measure it."""
    import types

    import numpy as np

    import cqox
    import cqox.estimators.base as estimator_base
    from benchmarks.cases import LINEAR_DML
    from benchmarks.datagen import cross_section

    # each estimator's elapsed_s becomes its CPU time in this benchmark process (one
    # BLAS thread, so the process's CPU time is the estimator's)
    estimator_base.time = types.SimpleNamespace(perf_counter=time.process_time)  # type: ignore[attr-defined]

    d = cross_section(n=n, p=p, seed=11)
    data_bytes = int(d.frame.memory_usage(deep=True).sum())
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    reset = _reset_peak_rss()
    rss_start = _status_bytes("VmRSS")
    start, cpu_start = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        an = cqox.analyze(
            d.frame,
            outcome="y",
            treatment="t",
            covariates=d.roles["covariates"],
            seed=0,
            params=LINEAR_DML,
        )
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # the analysis's own peak where the kernel lets the high-water mark be reset;
    # otherwise the process's (which includes generating the table)
    peak = _status_bytes("VmHWM") if reset else process_peak
    ate = an.consensus.get("ATE", {}).get("estimate", float("nan"))
    steps: dict[str, float] = {}
    for e in an.estimates:
        steps[e.estimator] = steps.get(e.estimator, 0.0) + e.elapsed_s
    steps["rest (prepare, gates, sensitivity, profile)"] = cpu - sum(steps.values())
    return {
        "n": n,
        "p": p,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_bytes": peak,
        "peak_is_analysis": reset,
        "process_peak_rss_bytes": process_peak,
        "rss_after_data": rss_data,
        "rss_at_start": rss_start,
        "data_bytes": data_bytes,
        "n_estimates": len(an.estimates),
        "estimators": sorted({e.estimator for e in an.estimates}),
        "abs_error_ate": float(abs(ate - d.truth["ATE"])) if np.isfinite(ate) else None,
        "steps_s": steps,
        "failures": [f["estimator"] for f in an.failures],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (Linux ``clear_refs``); whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") > 0


def _status_bytes(field: str) -> int:
    """A memory field of ``/proc/self/status`` (e.g. ``VmHWM``) in bytes (0 if unknown)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def parse_sizes(text: str, p: int) -> list[tuple[int, int]]:
    """``"1000,1000000,10000000x20"`` → ``[(1000, p), (1000000, p), (10000000, 20)]``."""
    sizes = []
    for item in text.split(","):
        rows, _, width = item.strip().lower().replace("_", "").partition("x")
        try:
            n, k = int(float(rows)), int(width) if width else p
        except ValueError:
            raise SystemExit(
                f"--sizes: cannot read {item!r} (rows, or rows x covariates)"
            ) from None
        if n < 10 or k < 1:
            raise SystemExit(f"--sizes: {item!r} needs at least 10 rows and 1 covariate")
        sizes.append((n, k))
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--p", type=int, default=50)
    parser.add_argument("--out", default=str(ROOT / "docs" / "scaling.md"))
    parser.add_argument(
        "--sizes",
        help="comma-separated sizes, each rows or rows x covariates "
        "(e.g. 1000000,10000000x20); their rows replace the saved ones",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="wall-time limit per size in seconds (the size is recorded as timed out)",
    )
    parser.add_argument(
        "--report", action="store_true", help="only rewrite the docs from the saved results"
    )
    parser.add_argument("--results", default=str(RESULTS), help="the saved rows (JSON)")
    parser.add_argument(
        "--only-extra", action="store_true", help="rerun the 10M × 20 size into the saved results"
    )
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.p)))
        return 0
    if args.report:
        sizes: list[tuple[int, int]] = []
    elif args.sizes:
        sizes = parse_sizes(args.sizes, args.p)
    elif args.only_extra:
        sizes = list(EXTRA_SIZES)
    else:
        sizes = [(n, args.p) for n in (QUICK_SIZES if args.quick else FULL_SIZES)]
        if not args.quick:
            sizes += list(EXTRA_SIZES)
    # a full run starts a new curve; --sizes, --only-extra and --report add to the saved one
    fresh = not (args.report or args.sizes or args.only_extra)
    results = Path(args.results)
    rows = [] if fresh else load_rows(results)
    for n, p in sizes:
        rows = merge_row(rows, _run_size(n, p, args.timeout))
        save_rows(rows, results)
    write(rows, Path(args.out), args.quick)
    return 0


def load_rows(path: Path) -> list[dict[str, Any]]:
    """The saved rows (none if there is no results file yet)."""
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = json.loads(path.read_text())
    return rows


def merge_row(rows: list[dict[str, Any]], row: dict[str, Any]) -> list[dict[str, Any]]:
    """``rows`` with ``row`` in place of any row of the same rows × covariates, in order.

    The curve's width (that of the first size) first, by rows; wider or narrower
    extra sizes after it.
    """
    kept = [r for r in rows if (r["n"], r.get("p", 50)) != (row["n"], row.get("p", 50))]
    merged = [*kept, row]
    width = merged[0].get("p", 50)
    return sorted(merged, key=lambda r: (r.get("p", 50) != width, r["n"]))


def save_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """Write the results file atomically (a finished size is never lost to a crash)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rows, indent=1))
    tmp.replace(path)


def _run_size(n: int, p: int, timeout: float) -> dict[str, Any]:
    """One size in a fresh process, stopped after ``timeout`` seconds of wall time."""
    print(f"  n = {n:>10,} × {p} …", end="", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.scaling", "--one", str(n), "--p", str(p)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        # subprocess.run has killed the child; the other sizes go on
        print(f" timed out after {timeout:g} s")
        return {
            "n": n,
            "p": p,
            "error": f"timed out after {timeout:g} s",
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
    if proc.returncode != 0:
        print(" failed:", proc.stderr.strip().splitlines()[-1:])
        return {"n": n, "p": p, "error": proc.stderr.strip()[-300:]}
    row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f" {row['wall_s']:.2f} s wall, {row['cpu_s']:.2f} s CPU, "
        f"peak {row['peak_rss_bytes'] / 2**20:.0f} MiB (load {row['load_average'][0]})"
    )
    return row


def _label(r: dict) -> str:
    return f"{r['n']:,}" + (f" × {r['p']}" if r.get("p", 50) != 50 else "")


def write(rows: list[dict], out: Path, quick: bool) -> None:
    """Markdown table and PNG plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "wall_s" in r]
    # the curve (growth exponents, plot) is over the sizes with the first size's width
    width = rows[0].get("p", 50) if rows else 50
    curve = [r for r in ok if r.get("p", 50) == width]
    lines = [
        "# Scaling of the comprehensive backdoor analysis",
        "",
        f"Generated by `make bench{'-quick' if quick else ''}` (`python -m benchmarks.scaling"
        f"{' --quick' if quick else ''}`); each size in a fresh process; "
        f"{width} covariates (and the widths shown); every registered backdoor estimator "
        "with its gates and sensitivity analysis (`cqox.analyze`), DML with linear/logit "
        "nuisances. *CPU s* is user + system time of the analysis (one BLAS thread); on "
        "a shared machine the wall time also counts waiting for other jobs. *Peak RSS* "
        "is the resident-memory high-water mark of the analysis (reset once the table is "
        "built), so it counts the table, the interpreter with its libraries and every "
        "copy the analysis makes. Do not edit by hand.",
        "",
        "| rows | covariates | wall s | CPU s | CPU s per 1k rows | peak RSS MiB | data MiB | "
        "peak / data | estimates | abs error ATE | load (1 min) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if "wall_s" not in r:
            error = str(r.get("error", ""))
            shown = error if error.startswith("timed out") else f"failed: {error[:80]}"
            lines.append(f"| {r['n']:,} | {r.get('p', '')} | {shown} | | | | | | | | |")
            continue
        mib = r["peak_rss_bytes"] / 2**20
        data = r["data_bytes"] / 2**20
        err = r.get("abs_error_ate")
        cpu = r.get("cpu_s")
        per_1k = None if cpu is None else 1000 * cpu / r["n"]
        lines.append(
            f"| {r['n']:,} | {r.get('p', 50)} | {r['wall_s']:.3f} | "
            f"{'—' if cpu is None else f'{cpu:.3f}'} | "
            f"{'—' if per_1k is None else f'{per_1k:.4f}'} | "
            f"{mib:.0f} | {data:.1f} | {mib / data:.1f} | {r['n_estimates']} | "
            f"{'—' if err is None else f'{err:.3f}'} | {r.get('load_average', ['?'])[0]} |"
        )
    if ok:
        lines += [
            "",
            "Estimators: " + ", ".join(ok[-1]["estimators"]) + ".",
        ]
        fails = sorted({f for r in ok for f in r.get("failures", [])})
        if fails:
            lines += ["", "Failed inside the analysis (not timed): " + ", ".join(fails) + "."]
        lines += [
            "",
            "The load average is that of the 2-core machine when the size finished: above 2 "
            "the wall times are inflated by other jobs.",
            "",
            "### Growth between consecutive sizes",
            "",
            "Exponent *b* in time ∝ rows^b and (peak RSS − baseline) ∝ rows^b between "
            f"consecutive sizes with {width} covariates (1 = linear). The baseline is the "
            "resident memory of the interpreter with the libraries imported and the data "
            "built, when the analysis starts (`rss_at_start` of the smallest size, minus "
            "its data).",
            "",
            "| from → to | CPU time exponent | wall time exponent | memory exponent |",
            "| --- | ---: | ---: | ---: |",
        ]
        start_rss = curve[0].get("rss_at_start") or curve[0]["rss_after_data"] if curve else 0
        base = start_rss - curve[0]["data_bytes"] if curve else 0
        for a, b in itertools.pairwise(curve):
            ln = math.log(b["n"] / a["n"])
            te = math.log(b["wall_s"] / a["wall_s"]) / ln
            ce = (
                f"{math.log(b['cpu_s'] / a['cpu_s']) / ln:.2f}"
                if a.get("cpu_s") and b.get("cpu_s")
                else "—"
            )
            ma, mb = a["peak_rss_bytes"] - base, b["peak_rss_bytes"] - base
            me = math.log(mb / ma) / ln if ma > 0 and mb > 0 else float("nan")
            lines.append(f"| {a['n']:,} → {b['n']:,} | {ce} | {te:.2f} | {me:.2f} |")
        names = list(ok[-1].get("steps_s", {}))
        lines += [
            "",
            "### CPU seconds per step",
            "",
            "| step | " + " | ".join(_label(r) for r in ok) + " |",
            "| --- | " + " | ".join("---:" for _ in ok) + " |",
        ]
        for name in names:
            lines.append(
                f"| {name} | "
                + " | ".join(f"{r.get('steps_s', {}).get(name, float('nan')):.3f}" for r in ok)
                + " |"
            )
        if len(curve) >= 2:
            a, b = curve[-2], curve[-1]
            ln = math.log(b["n"] / a["n"])
            growth = {
                name: math.log(b["steps_s"][name] / a["steps_s"][name]) / ln
                for name in names
                if a.get("steps_s", {}).get(name, 0) > 0 and b.get("steps_s", {}).get(name, 0) > 0
            }
            fast = [f"{k} (exponent {v:.2f})" for k, v in growth.items() if v > SUPERLINEAR]
            lines += [
                "",
                f"Steps growing faster than linearly from {a['n']:,} to {b['n']:,} rows "
                f"(time exponent above {SUPERLINEAR}): " + (", ".join(fast) or "none") + ".",
            ]
        lines += ["", "![scaling](scaling.png)"]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
        ns = [r["n"] for r in curve]
        a1.loglog(ns, [r["wall_s"] for r in curve], "o-", label="wall time")
        if all(r.get("cpu_s") for r in curve):
            a1.loglog(ns, [r["cpu_s"] for r in curve], "s-", label="CPU time")
        # slope-1 reference through the largest size: linear growth is parallel to it
        ref = curve[-1].get("cpu_s") or curve[-1]["wall_s"]
        a1.loglog(ns, [ref * n / ns[-1] for n in ns], ":", color="grey", label="∝ rows")
        a1.set_xlabel("rows")
        a1.set_ylabel("seconds")
        a1.legend(frameon=False)
        a2.loglog(ns, [r["peak_rss_bytes"] / 2**20 for r in curve], "o-", label="peak RSS")
        a2.loglog(
            ns,
            [max(r["peak_rss_bytes"] - base, 1) / 2**20 for r in curve],
            "^-",
            label="peak RSS − baseline",
        )
        a2.loglog(ns, [r["data_bytes"] / 2**20 for r in curve], "s--", label="data")
        a2.set_xlabel("rows")
        a2.set_ylabel("MiB")
        a2.legend(frameon=False)
        fig.tight_layout()
        fig.savefig(out.with_suffix(".png"), dpi=100)
    out.write_text("\n".join(lines) + "\n" + kept_section(out), encoding="utf-8")


#: Markers of the hand-written "Scaling out" section that a regeneration keeps.
KEPT_BEGIN = "<!-- scale-out:begin -->"
KEPT_END = "<!-- scale-out:end -->"


def kept_section(out: Path) -> str:
    """The hand-written section between :data:`KEPT_BEGIN` and :data:`KEPT_END`, if any."""
    if not out.exists():
        return ""
    text = out.read_text(encoding="utf-8")
    start, end = text.find(KEPT_BEGIN), text.find(KEPT_END)
    if start < 0 or end < start:
        return ""
    return "\n" + text[start : end + len(KEPT_END)] + "\n"


if __name__ == "__main__":
    sys.exit(main())
