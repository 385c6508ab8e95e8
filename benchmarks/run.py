"""Run the benchmark suite and write ``docs/benchmarks.md`` plus the raw JSON.

Usage::

    python -m benchmarks.run            # full: warm-up + median of 3 repeats
    python -m benchmarks.run --quick    # smaller backdoor/DiD designs, slow cases once

Every case runs in this one process, on the same data, after a warm-up; the table
reports the median of the repeats and each library's time as a ratio to CQOx's.  A
first run longer than 3 s counts as a repeat (see ``harness.WARMUP_AS_REPEAT_S``); in
quick mode a case whose first run exceeds 1 s is run only once.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

# one thread per library, deliberately: see the brief on OpenMP oversubscription
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")

from benchmarks import cases, cases_dose, cold_start, datagen, peer_speed  # noqa: E402
from benchmarks.harness import Outcome, measure_group  # noqa: E402
from benchmarks.mediation_cases import mediation_cases, mediation_design  # noqa: E402
from benchmarks.timevarying_cases import timevarying_cases, timevarying_design  # noqa: E402
from benchmarks.transport_proximal_cases import (  # noqa: E402
    proximal_cases,
    proximal_design,
    transport_cases,
    transport_design,
)

ROOT = Path(__file__).resolve().parents[1]
PEERS = (
    "cqox",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "numba",
    "statsmodels",
    "dowhy",
    "doubleml",
    "econml",
    "causalml",
    "linearmodels",
    "rdrobust",
    "csdid",
    "pysyncon",
    "pyfixest",
)


def machine() -> dict[str, Any]:
    """What this machine is: CPU, cores, memory, Python and library versions."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem_kb = 0
    versions = {}
    for name in PEERS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "benchmarks", ":!benchmarks/results"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if dirty:
            commit += " + uncommitted changes in src/ or benchmarks/"
    except OSError:
        commit = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit,
        "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


#: Quick mode: a case whose first run takes longer than this is run once only ...
QUICK_SINGLE_RUN_S = 10.0
#: ... and one whose first run takes longer than this is timed once after the warm-up.
QUICK_FEW_RUNS_S = 0.5
#: Speed goals of the backdoor issue (#3), checked on the full-size design.
GOAL_COMPREHENSIVE_S = 1.0
#: Estimates closer than this (relative to the truth's scale) are the same estimate
#: computed two ways, not a difference in accuracy.
ERROR_RTOL = 1e-3
GOAL_PSM_S = 0.050
GOAL_DML_OVERHEAD = 1.10
GOAL_DEFAULT_DML_TIME_SHARE = 1 / 3


def designs(quick: bool) -> list[tuple[datagen.Design, Any]]:
    """The designs and the case builder for each (quick: smaller backdoor and DiD designs)."""
    return [
        (datagen.cross_section(n=2_000 if quick else 10_000, p=50, seed=1), cases.backdoor_cases),
        (datagen.iv(n=10_000, seed=2), cases.iv_cases),
        (datagen.sharp_rd(n=10_000, seed=3), cases.rd_cases),
        (
            datagen.staggered_panel(n_units=500 if quick else 2000, n_periods=8, seed=4),
            cases.did_cases,
        ),
        (
            datagen.two_group_panel(n_units=500 if quick else 2000, n_periods=8, seed=6),
            cases.did_2x2_cases,
        ),
        (datagen.its_series(seed=7), cases.its_cases),
        (datagen.synth_panel(n_donors=40, n_periods=30, seed=5), cases.synth_cases),
        (mediation_design(n=2_000 if quick else 10_000, seed=8), mediation_cases),
        (cases_dose.dose_design("dose_polynomial", n=10_000, seed=8), cases_dose.dose_cases),
        (cases_dose.dose_design("hirano_imbens", n=10_000, seed=9), cases_dose.dose_cases),
        (cases_dose.multivalued_design(n=10_000, seed=10), cases_dose.multivalued_cases),
        (transport_design(n=10_000, seed=11), transport_cases),
        (proximal_design(n=10_000, seed=12), proximal_cases),
        (timevarying_design(n=2_000 if quick else 10_000, seed=13), timevarying_cases),
    ]


def small_designs() -> list[tuple[datagen.Design, Any]]:
    """Small versions of every design, to run each case once before timing."""
    return [
        (datagen.cross_section(n=400, p=50, seed=1), cases.backdoor_cases),
        (datagen.iv(n=400, seed=2), cases.iv_cases),
        (datagen.sharp_rd(n=1000, seed=3), cases.rd_cases),
        (datagen.staggered_panel(n_units=100, n_periods=8, seed=4), cases.did_cases),
        (datagen.two_group_panel(n_units=100, n_periods=8, seed=6), cases.did_2x2_cases),
        (datagen.its_series(n_pre=60, n_post=40, seed=7), cases.its_cases),
        (datagen.synth_panel(n_donors=8, n_periods=30, seed=5), cases.synth_cases),
        (mediation_design(n=400, seed=8), mediation_cases),
        (cases_dose.dose_design("dose_polynomial", n=500, seed=8), cases_dose.dose_cases),
        (cases_dose.dose_design("hirano_imbens", n=500, seed=9), cases_dose.dose_cases),
        (cases_dose.multivalued_design(n=500, seed=10), cases_dose.multivalued_cases),
        (transport_design(n=600, seed=11), transport_cases),
        (proximal_design(n=600, seed=12), proximal_cases),
        (timevarying_design(n=300, seed=13), timevarying_cases),
    ]


def prime(only: str | None) -> float:
    """Run every case once on a small design: JIT compilation and lazy imports happen here.

    Without it the first case of a library pays its one-off costs (Numba compiles
    CQOx's and pyfixest's kernels on first use), which a slow case's first run, kept
    as a timed repeat, would report as run time.  Failures are ignored here; the timed
    runs record them.
    """
    start = time.perf_counter()
    for design, builder in small_designs():
        if only and only not in design.name:
            continue
        for case in builder(design, False):
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    case.run()
            except Exception:  # recorded by the timed run
                pass
    return time.perf_counter() - start


def run(quick: bool, only: str | None = None) -> tuple[list[Outcome], list[str], dict[str, str]]:
    """Run every case; return the outcomes, the CQOx methods not benchmarked, design notes."""
    from cqox.estimators import registry

    outcomes: list[Outcome] = []
    notes: dict[str, str] = {}
    print(f"  priming every case on small designs … {prime(only):.0f} s", flush=True)
    for design, builder in designs(quick):
        if only and only not in design.name:
            continue
        notes[design.name] = design.notes
        built = builder(design, quick)
        tau = design.tau if design.tau is not None else None
        done: set[int] = set()
        for k, case in enumerate(built):
            if k in done:
                continue
            # every case of a method (or of an explicit group) is timed interleaved
            key = case.group or case.method
            group = [j for j, c in enumerate(built) if (c.group or c.method) == key]
            done.update(group)
            items = [(built[j], design.truth.get(built[j].estimand), tau) for j in group]
            if len(group) > 1:
                print(f"  {design.name}: {len(group)} '{key}' cases, interleaved …", flush=True)
            outs = measure_group(
                items,
                single_run_s=QUICK_SINGLE_RUN_S if quick else None,
                few_runs_s=QUICK_FEW_RUNS_S if quick else None,
            )
            for out in outs:
                outcomes.append(out)
                status = (
                    f"{out.median_s:.4f} s ({len(out.times_s)} runs)"
                    if out.median_s is not None
                    else f"ERROR {out.error}"
                )
                print(
                    f"  {design.name:<16} {out.method:<24} {out.library:<30} {status}", flush=True
                )
    registered = set(registry.all_estimators())
    have = {o.method for o in outcomes if o.library == "cqox" and o.median_s is not None}
    missing = [
        f"{m} (not registered at this commit)" for m in cases.EXPECTED if m not in registered
    ]
    missing += [
        f"{m} (registered; no benchmark row"
        + ("; it wraps other estimators" if m == "bootstrap" else "")
        + ")"
        for m in sorted(registered - have)
        if not only
    ]
    return outcomes, missing, notes


def _fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}g}"


def _is_cqox(o: Outcome) -> bool:
    return o.library.startswith("cqox")


def _is_peer(o: Outcome) -> bool:
    return not _is_cqox(o) and not o.library.startswith("raw")


def _find(outcomes: list[Outcome], method: str, library: str) -> Outcome | None:
    for o in outcomes:
        if o.method == method and o.library == library and o.median_s is not None:
            return o
    return None


#: Peers whose method is a CQOx variant rather than CQOx's default: EconML's DRLearner
#: fits one outcome model on (X, T), which is dml_irm's ``outcome_structure="pooled"``,
#: not its default of one model per arm (DoubleML's IRM); the speed comparison pairs
#: DRLearner with the pooled row (same nuisance structure, same LightGBM objects).
SAME_METHOD_VARIANTS = cases.SAME_METHOD_VARIANTS


def _counterpart(outcomes: list[Outcome], o: Outcome, peer: Outcome) -> Outcome:
    """The CQOx row ``peer`` is compared with: its same-method variant, else ``o``."""
    variant = SAME_METHOD_VARIANTS.get((o.method, peer.library))
    if variant is None:
        return o
    for c in outcomes:
        if (c.design, c.method, c.library) == (o.design, o.method, variant) and c.median_s:
            return c
    return o


def _more_accurate(p: Outcome, o: Outcome) -> bool:
    """Whether ``p`` is closer to the truth than ``o`` by more than rounding."""
    if None in (p.abs_error, o.abs_error, p.estimate, o.estimate):
        return False
    same = abs((p.estimate or 0.0) - (o.estimate or 0.0)) <= ERROR_RTOL * max(
        1.0, abs(o.truth or 0.0)
    )
    return not same and (p.abs_error or 0.0) < (o.abs_error or 0.0)


def summaries(outcomes: list[Outcome], quick: bool) -> tuple[list[str], list[str]]:
    """Summary sections (Markdown lines) and the list of rows where CQOx loses."""
    lines: list[str] = []
    losses: list[str] = []
    # CQOx vs the fastest peer, per method
    lines += [
        "## CQOx against the fastest peer",
        "",
        "*ratio* = peer's time / CQOx's for the peer with the lowest ratio (above 1: "
        "CQOx is faster). A peer is compared with the CQOx run of its own method: EconML's "
        "DRLearner (one outcome model on (X, T)) with dml_irm's outcome_structure='pooled' "
        "(same nuisance structure, same LightGBM objects), named in the peer column; "
        "DoubleML's IRM (one outcome model per arm) with dml_irm's default. Errors are "
        "against the known truth on one simulated data set, so small differences in "
        "error are sampling noise, not a ranking.",
        "",
        "| design | method | CQOx s | fastest peer | peer s | ratio | CQOx abs error | "
        "peer abs error |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    seen: set[tuple[str, str]] = set()
    for o in outcomes:
        key = (o.design, o.method)
        if o.library != "cqox" or o.median_s is None or key in seen:
            continue
        seen.add(key)
        peers = [
            p
            for p in outcomes
            if (p.design, p.method) == key and _is_peer(p) and p.median_s is not None
        ]
        if not peers:
            lines.append(
                f"| {o.design} | {o.method} | {_fmt(o.median_s)} | (no peer) | | | "
                f"{_fmt(o.abs_error, 3)} | |"
            )
            continue
        # each peer against the CQOx row of its own method (SAME_METHOD_VARIANTS)
        mine = {p.library: _counterpart(outcomes, o, p) for p in peers}
        best = min(peers, key=lambda p: (p.median_s or math.inf) / (mine[p.library].median_s or 1))
        ours = mine[best.library]
        ratio = (best.median_s or 0) / (ours.median_s or 1)
        label = best.library if ours is o else f"{best.library} (vs {ours.library})"
        lines.append(
            f"| {o.design} | {o.method} | {_fmt(ours.median_s)} | {label} | "
            f"{_fmt(best.median_s)} | {ratio:.3g} | {_fmt(ours.abs_error, 3)} | "
            f"{_fmt(best.abs_error, 3)} |"
        )
        for p in peers:
            c = mine[p.library]
            if c.median_s is not None and (p.median_s or 0) < c.median_s:
                who = "CQOx" if c is o else c.library
                losses.append(
                    f"slower: {o.design} / {o.method}: {who} {c.median_s:.4g} s vs "
                    f"{p.library} {p.median_s:.4g} s ({c.median_s / (p.median_s or 1):.2f}× "
                    "the peer's time)"
                )
            if _more_accurate(p, o):
                losses.append(
                    f"less accurate on this data set: {o.design} / {o.method}: CQOx abs error "
                    f"{o.abs_error:.3g} vs {p.library} {p.abs_error:.3g}"
                )
            if o.covers is False and p.covers:
                losses.append(
                    f"CI misses the truth: {o.design} / {o.method}: CQOx's does, "
                    f"{p.library}'s covers it"
                )
    lines.append("")

    # speed goals of the backdoor issue
    comp = next((o for o in outcomes if o.method == "comprehensive analysis" and o.median_s), None)
    psm = _find(outcomes, "psm", "cqox")
    design_note = " (quick mode: 2,000-row design, not the goal's 10,000)" if quick else ""
    lines += [
        "## Speed goals of the backdoor issue (#3)" + design_note,
        "",
        "| goal | measured | met? |",
        "| --- | ---: | :---: |",
    ]
    if comp is not None and comp.median_s is not None:
        met = comp.median_s < GOAL_COMPREHENSIVE_S
        lines.append(
            f"| comprehensive backdoor analysis (linear/logit nuisances) < "
            f"{GOAL_COMPREHENSIVE_S:g} s | {comp.median_s:.3f} s | {'yes' if met else 'no'} |"
        )
        if not met:
            losses.append(
                f"goal missed: comprehensive backdoor analysis {comp.median_s:.3f} s "
                f"(goal < {GOAL_COMPREHENSIVE_S:g} s)"
            )
    if psm is not None and psm.median_s is not None:
        met = psm.median_s < GOAL_PSM_S
        lines.append(
            f"| psm with Abadie–Imbens SE < {1000 * GOAL_PSM_S:.0f} ms | "
            f"{1000 * psm.median_s:.1f} ms | {'yes' if met else 'no'} |"
        )
        if not met:
            losses.append(
                f"goal missed: psm {1000 * psm.median_s:.1f} ms (goal < {1000 * GOAL_PSM_S:.0f} ms)"
            )
    lines.append("")

    # DML overhead over the raw nuisance fits
    pairs = [
        ("dml_plr", "cqox", "raw nuisance fits"),
        ("dml_plr", "doubleml", "raw nuisance fits"),
        ("dml_plr", "econml LinearDML", "raw nuisance fits"),
        ("dml_irm", "cqox", "raw nuisance fits"),
        ("dml_irm", "doubleml", "raw nuisance fits"),
        ("dml_irm", "econml DRLearner", "raw nuisance fits (DRLearner)"),
        ("dml_irm", cases.POOLED_IRM, "raw nuisance fits (DRLearner)"),
    ]
    lines += [
        "## DML overhead over its own nuisance fits",
        "",
        f"Same LightGBM settings and {cases.FOLDS} folds everywhere; *raw* = the same "
        "models fitted and predicted by hand on the folds (the nuisance structure of "
        "each method: PLR ℓ and m; IRM g0, g1 on each arm and m; DRLearner one "
        f"regressor on (X, T) and m). Goal: time / raw ≤ {GOAL_DML_OVERHEAD:.2f}.",
        "",
        "| method | library | time s | raw fits s | time / raw |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for method, lib, raw_lib in pairs:
        o, raw = _find(outcomes, method, lib), _find(outcomes, method, raw_lib)
        if o is None or raw is None or not raw.median_s:
            continue
        ratio = (o.median_s or 0) / raw.median_s
        lines.append(
            f"| {method} | {lib} | {_fmt(o.median_s)} | {_fmt(raw.median_s)} | {ratio:.3f} |"
        )
        if lib == "cqox" and ratio > GOAL_DML_OVERHEAD:
            losses.append(
                f"goal missed: {method} overhead {ratio:.2f}× its raw nuisance fits "
                f"(goal ≤ {GOAL_DML_OVERHEAD:.2f})"
            )
    lines.append("")

    # CQOx's default DML learners against the peers' LightGBM runs
    lines += [
        "## CQOx's default DML learners against the peers' LightGBM runs",
        "",
        "Goal: no larger error against the known truth, in at most a third of the peer's "
        "time. The truth is the sample ATE; PLR estimates a variance-weighted average "
        "of τ(x), so its error includes that difference for every library alike.",
        "",
        "| method | peer | CQOx default s | peer s | time share | CQOx abs error | "
        "peer abs error | met? |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for method, peers in (
        ("dml_plr", ("doubleml", "econml LinearDML")),
        ("dml_irm", ("doubleml", "econml DRLearner")),
    ):
        o = _find(outcomes, method, "cqox (default learners)")
        if o is None or o.median_s is None:
            continue
        for lib in peers:
            p = _find(outcomes, method, lib)
            if p is None or not p.median_s:
                continue
            share = o.median_s / p.median_s
            err_ok = (
                o.abs_error is not None and p.abs_error is not None and o.abs_error <= p.abs_error
            )
            met = share <= GOAL_DEFAULT_DML_TIME_SHARE and err_ok
            lines.append(
                f"| {method} | {lib} | {_fmt(o.median_s)} | {_fmt(p.median_s)} | "
                f"{share:.3f} | {_fmt(o.abs_error, 3)} | {_fmt(p.abs_error, 3)} | "
                f"{'yes' if met else 'no'} |"
            )
            if not met:
                why = []
                if share > GOAL_DEFAULT_DML_TIME_SHARE:
                    why.append(f"time share {share:.2f} > 1/3")
                if not err_ok:
                    why.append(f"abs error {_fmt(o.abs_error, 3)} > {lib}'s {_fmt(p.abs_error, 3)}")
                losses.append(f"goal missed: {method} default learners vs {lib}: " + ", ".join(why))
    lines += [
        "",
        "PEHE: no CQOx estimator returns unit-level τ(x) predictions at this commit, so "
        "the PEHE column is filled for peers only (EconML's DRLearner).",
        "",
    ]
    return lines, losses


def markdown(
    outcomes: list[Outcome],
    info: dict[str, Any],
    missing: list[str],
    quick: bool,
    command: str,
    elapsed: float,
    notes: dict[str, str],
) -> str:
    """The benchmark tables as Markdown."""
    load = info["load_average"]
    lines = [
        "# Benchmarks: CQOx and its peers, side by side",
        "",
        f"Generated by `{command}` at commit `{info['commit']}` "
        f"(**{'quick' if quick else 'full'} mode**, {elapsed:.0f} s in all). "
        "Do not edit by hand: rerun the command.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Python "
        f"{info['python']}, {info['platform']}; threads: {info['threads']}. "
        f"Load average (1/5/15 min) at the start: {load[0]}/{load[1]}/{load[2]}, at the "
        f"end: {'/'.join(str(x) for x in info.get('load_average_end', []))}"
        + (
            " — the machine was shared with other jobs, so absolute times are inflated "
            "and noisy; the ratios (same process, interleaved runs) are the numbers to read."
            if max(load) > (info["cores"] or 1)
            else "."
        ),
        "",
        "Each row: median wall time of the repeats (*runs*) after one warm-up, in this one "
        "process, on the same data, after every case has run once on a small version of "
        "its design, so JIT compilation and lazy imports are not timed (a first run "
        "longer than 3 s counts as a repeat, and such a slow case is timed twice in all"
        + (
            "; quick mode times a case whose first run exceeds "
            f"{QUICK_FEW_RUNS_S:g} s once after the warm-up, and one over "
            f"{QUICK_SINGLE_RUN_S:g} s only once, warm-up included"
            if quick
            else ""
        )
        + "); *ratio* = the library's time / CQOx's time for the same method (above 1 "
        "means CQOx is faster); *abs error* against the design's known truth; *covers* = "
        "whether the 95% interval contains the truth. How each library is configured "
        "(same learners, folds, covariance) is documented in `benchmarks/cases.py`.",
        "",
    ]
    summary, losses = summaries(outcomes, quick)
    by_design: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_design.setdefault(o.design, []).append(o)
    for design, rows in by_design.items():
        lines += [
            f"## {design}",
            "",
            notes.get(design, ""),
            "",
            "| method | library | median s | runs | ratio to CQOx | estimate | abs error "
            "| covers | PEHE | note |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | :---: | ---: | --- |",
        ]
        cq = {o.method: o.median_s for o in rows if o.library == "cqox" and o.median_s}
        for o in rows:
            base = cq.get(o.method)
            ratio = (o.median_s / base) if (o.median_s and base) else None
            covers = "—" if o.covers is None else ("yes" if o.covers else "no")
            note = o.error or o.note
            if o.extra.get("failures"):
                note += f"; {o.extra.get('estimates')} estimates; failed inside the analysis: " + (
                    ", ".join(o.extra["failures"])
                )
            note = note.replace("|", "/")
            lines.append(
                f"| {o.method} | {o.library} | {_fmt(o.median_s)} | {len(o.times_s)} | "
                f"{_fmt(ratio, 3)} | {_fmt(o.estimate)} | {_fmt(o.abs_error, 3)} | {covers} | "
                f"{_fmt(o.pehe, 3)} | {note} |"
            )
        lines.append("")
    lines += summary
    lines += ["## Where CQOx is slower or less accurate than a peer (the next work)", ""]
    lines += [f"- {s}" for s in losses] or ["- none in this run"]
    lines += ["", "## CQOx methods without a benchmark row", ""]
    lines += [f"- {m}" for m in missing] or ["- none"]
    # the cold-start rows (fresh processes) of the last `python -m benchmarks.cold_start`
    lines += cold_start.saved_section()
    # the CPU-time rows at 1k and 10k of the last `python -m benchmarks.peer_speed`
    lines += peer_speed.saved_section()
    lines += ["", "## Versions", "", "| package | version |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in info["versions"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller designs")
    parser.add_argument("--only", help="run the designs whose name contains this (no docs)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "latest.json"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    info = machine()
    print(f"CQOx benchmarks on {info['cpu']} ({info['cores']} cores), load {info['load_average']}")
    outcomes, missing, notes = run(args.quick, args.only)
    elapsed = time.perf_counter() - start
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.only:
        for line in summaries(outcomes, args.quick)[1]:
            print(" ", line)
        return 0
    command = (
        "make bench"
        + ("-quick" if args.quick else "")
        + (f" (python -m benchmarks.run{' --quick' if args.quick else ''})")
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        markdown(outcomes, info, missing, args.quick, command, elapsed, notes), encoding="utf-8"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "machine": info,
                "quick": args.quick,
                "elapsed_s": elapsed,
                "results": [o.to_dict() for o in outcomes],
            },
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    print(f"wrote {args.out} and {args.json} in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
