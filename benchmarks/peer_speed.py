"""Same-method peers at 1k and 10k rows: CPU time of CQOx's defaults against each peer.

Issue #15 asks that every estimator be at least as fast as every same-method peer at
its defaults.  For the estimators that were slower (ipw, psm, its, iv_2sls, rd with its
gates, dml_irm with the same LightGBM objects) this module times CQOx and every
installed peer on the same data, in this one process, at 1,000 and 10,000 rows::

    python -m benchmarks.peer_speed              # 1k and 10k rows, 15 runs per case
    python -m benchmarks.peer_speed --runs 5     # quicker
    python -m benchmarks.peer_speed --only psm   # one method (no docs written)

The clock is the process's CPU time (``time.process_time``: user + system of every
thread; LightGBM and BLAS run one thread each), so that a loaded machine inflates
every case alike less than wall time would; wall times are kept in the JSON.  The
cases of one method and size are warmed up once, then run round-robin (the order
rotated each round, so that no case is timed right after itself, as
``harness.measure_group``), and the table gives medians.
*ratio* = the peer's CPU time / CQOx's (at least 1: CQOx is as fast or faster).
Results go to ``benchmarks/results/peer_speed.json`` and to the "Same-method peers"
section of ``docs/benchmarks.md`` (which ``benchmarks.run`` keeps).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from benchmarks import cases, datagen  # noqa: E402
from benchmarks.harness import Result, round_order  # noqa: E402
from benchmarks.learner_clock import LearnerClock  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "peer_speed.json"
BEGIN = "<!-- peer-speed:begin -->"
END = "<!-- peer-speed:end -->"
#: Table sizes (rows; periods for the time series).
SIZES = (1_000, 10_000)
#: Covariates of the backdoor design (as the main suite's cross-section design).
N_COVARIATES = 50
#: A case whose warm-up takes more CPU seconds than this (the LightGBM cases of dml_irm)
#: is timed ``SLOW_CASE_RUNS[rows]`` times, whatever ``--runs`` says.  LightGBM's tree
#: growth varies by 3-8 % from run to run, so whole-call medians of 7 runs moved the
#: dml_irm/DoubleML ratio between 0.95 and 1.10 across runs of the same code; the paired
#: ratios of the same-folds protocol (see :func:`paired`) need ~15 runs for an interval
#: of a few percent at 1,000 rows, and fewer at 10,000, where a run takes 2-3 times as
#: long and varies less.
SLOW_CASE_S = 1.0
SLOW_CASE_RUNS: dict[int, int] = {1_000: 15, 10_000: 9}
#: Runs of a slow case at a size not in ``SLOW_CASE_RUNS``.
SLOW_CASE_RUNS_OTHER = 7
#: Confidence of the distribution-free interval of a median paired ratio.
PAIRED_CI_LEVEL = 0.95


@dataclass
class PeerCase:
    """One library's run of one method at one size."""

    method: str
    library: str
    rows: int
    run: Callable[[], Result]
    note: str = ""
    cpu_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    estimate: float | None = None
    error: str | None = None
    wanted: int = 0
    #: Called before and after every run, outside the clock (undo what a run leaves).
    reset: Callable[[], None] | None = None
    #: Whether the run's CPU time inside the LightGBM learners is accounted
    #: (:class:`benchmarks.learner_clock.LearnerClock`): per run, learner and core seconds.
    learners: bool = False
    learner_s: list[float] = field(default_factory=list)
    core_s: list[float] = field(default_factory=list)


#: DoWhy's propensity model at its defaults: scikit-learn's LogisticRegression() (an L2
#: penalty with C = 1, lbfgs stopped at a gradient of 1e-4), where CQOx fits the
#: unpenalised maximum-likelihood logit to a step of 1e-10 (its M-estimation and
#: Abadie–Imbens (2016) standard errors need the MLE and its information matrix).
#: Each timed DoWhy run fits its own model (``cases._dowhy``'s untimed reset).
DOWHY_LOGIT = "LogisticRegression() (L2, C = 1, lbfgs, tol 1e-4), refitted every run"


def _estimate(r: Result) -> float | None:
    v = r.get("estimate")
    return None if v is None else float(v)


def _backdoor(n: int) -> datagen.Design:
    return datagen.cross_section(n=n, p=N_COVARIATES, seed=1)


def ipw_cases(n: int) -> list[PeerCase]:
    """IPW (ATE, logit propensity): CQOx's defaults vs statsmodels and DoWhy."""
    d = _backdoor(n)
    out = [PeerCase("ipw", "cqox", n, cases._cqox("ipw", d, "ATE"), "Hájek, M-estimation SE")]
    X = d.frame[d.roles["covariates"]].to_numpy()
    y, t = d.frame["y"].to_numpy(), d.frame["t"].to_numpy()
    if cases.has("statsmodels"):
        out.append(PeerCase("ipw", "statsmodels", n, _statsmodels_te(X, y, t, "ipw")))
    if cases.has("dowhy"):
        cols = d.roles["covariates"]
        run, reset = cases._dowhy(d.frame, cols, "backdoor.propensity_score_weighting", "ate")
        note = f"{DOWHY_LOGIT}; scores clipped to [0.05, 0.95]; no standard error"
        out.append(PeerCase("ipw", "dowhy", n, run, note, reset=reset))
    return out


def _statsmodels_te(X: np.ndarray, y: np.ndarray, t: np.ndarray, method: str) -> Any:
    import statsmodels.api as sm_api
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.treatment.treatment_effects import TreatmentEffect

    exog = np.column_stack([np.ones(len(y)), X])

    def run() -> Result:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res_ps = Logit(t, exog).fit(disp=0)
            te = TreatmentEffect(sm_api.OLS(y, exog), t, results_select=res_ps)
            r = getattr(te, method)()
        return {"estimate": float(r.effect[0]), "se": float(r.sd[0])}

    return run


def psm_cases(n: int) -> list[PeerCase]:
    """1:1 propensity-score matching with replacement (ATT): CQOx vs DoWhy and CausalML."""
    d = _backdoor(n)
    df, cols = d.frame, d.roles["covariates"]
    out = [PeerCase("psm", "cqox", n, cases._cqox("psm", d, "ATT"), "Abadie–Imbens SE")]
    if cases.has("dowhy"):
        run, reset = cases._dowhy(df, cols, "backdoor.propensity_score_matching", "att")
        note = f"{DOWHY_LOGIT}; 1 neighbour on the score (ball tree), no ties; no standard error"
        out.append(PeerCase("psm", "dowhy", n, run, note, reset=reset))
    if cases.has("causalml"):
        X, t = df[cols].to_numpy(), df["t"].to_numpy()

        def cml() -> Result:
            from causalml.match import NearestNeighborMatch
            from sklearn.linear_model import LogisticRegression

            ps = LogisticRegression(max_iter=1000).fit(X, t).predict_proba(X)[:, 1]
            m = NearestNeighborMatch(replace=True, ratio=1, random_state=0)
            matched = m.match(data=df.assign(ps=ps), treatment_col="t", score_cols=["ps"])
            tr = matched[matched.t == 1].y.mean()
            co = matched[matched.t == 0].y.mean()
            return {"estimate": float(tr - co)}

        note = (
            "LogisticRegression(max_iter=1000) (L2, C = 1); NearestNeighborMatch(replace=True, "
            "ratio=1), caliper 0.2 SD of the score; no standard error"
        )
        out.append(PeerCase("psm", "causalml", n, cml, note))
    return out


def its_cases(n: int) -> list[PeerCase]:
    """Segmented regression with Newey–West SEs (60 % pre-period) vs statsmodels OLS HAC."""
    d = datagen.its_series(n_pre=int(0.6 * n), n_post=n - int(0.6 * n), seed=7)
    t0 = d.extra["interruption"]
    lag = math.floor(4 * (n / 100) ** (2 / 9))
    out = [
        PeerCase(
            "its",
            "cqox",
            n,
            cases._cqox("its", d, "level_change", interruption=t0, hac_lag=lag, se_method="normal"),
            f"HAC lag {lag}, normal critical values",
            # its keeps per-design laws and quantiles: each timed run is a first call
            reset=cases.its_cold,
        ),
        PeerCase(
            "its",
            "cqox (defaults)",
            n,
            cases._cqox("its", d, "level_change", interruption=t0),
            "default EWC interval",
            reset=cases.its_cold,
        ),
    ]
    if cases.has("statsmodels"):
        import statsmodels.api as sm_api

        y = d.frame["y"].to_numpy()

        def sm() -> Result:
            s = np.arange(n, dtype=float)
            D = (s >= t0).astype(float)
            Z = np.column_stack([np.ones(n), s - t0, D, (s - t0) * D])
            r = sm_api.OLS(y, Z).fit(cov_type="HAC", cov_kwds={"maxlags": lag})
            return {"estimate": float(r.params[2]), "se": float(r.bse[2])}

        out.append(PeerCase("its", "statsmodels", n, sm, f"OLS HAC lag {lag}"))
    return out


def iv_cases(n: int) -> list[PeerCase]:
    """2SLS, one instrument, 5 covariates: CQOx's defaults vs linearmodels and statsmodels."""
    d = datagen.iv(n=n, seed=2)
    df, cols = d.frame, d.roles["covariates"]
    out = [
        PeerCase(
            "iv_2sls",
            "cqox",
            n,
            cases._cqox("iv_2sls", d),
            "robust SE; first-stage F, effective F, AR set, Wu–Hausman",
            reset=cases.iv_cold,
        )
    ]
    if cases.has("linearmodels"):
        from linearmodels.iv import IV2SLS

        exog = df[cols].assign(const=1.0)

        def lm() -> Result:
            r = IV2SLS(df["y"], exog, df[["d"]], df[["z"]]).fit(cov_type="robust", debiased=False)
            return {"estimate": float(r.params["d"]), "se": float(r.std_errors["d"])}

        out.append(PeerCase("iv_2sls", "linearmodels", n, lm, "robust SE"))
    if cases.has("statsmodels"):
        from statsmodels.sandbox.regression.gmm import IV2SLS as SMIV2SLS

        def sm() -> Result:
            # its arrays read from the table in the call, as CQOx and linearmodels read
            # theirs (column by column: no DataFrame selection)
            W = [df[c].to_numpy() for c in cols]
            const = np.ones(n)
            exog_sm = np.column_stack([const, df["d"].to_numpy(), *W])
            instr = np.column_stack([const, df["z"].to_numpy(), *W])
            r = SMIV2SLS(df["y"].to_numpy(), exog_sm, instr).fit()
            return {"estimate": float(r.params[1]), "se": float(r.bse[1])}

        out.append(
            PeerCase(
                "iv_2sls",
                "statsmodels",
                n,
                sm,
                "unadjusted SE, no diagnostics; design matrices built from the table in the call",
            )
        )
    return out


def rd_cases(n: int) -> list[PeerCase]:
    """Sharp RD, CQOx with its default gates (and without) vs rdrobust's defaults."""
    d = datagen.sharp_rd(n=n, seed=3)
    out = [
        PeerCase("rd", "cqox", n, cases._cqox("rd", d), "default gates: density, placebo, donut"),
        PeerCase("rd", "cqox (gates off)", n, cases._cqox("rd", d, gates=False), "gates off"),
    ]
    if cases.has("rdrobust"):
        from rdrobust import rdrobust

        y, x = d.frame["y"].to_numpy(), d.frame["x"].to_numpy()

        def run() -> Result:
            r = rdrobust(y=y, x=x, c=0.0)
            return {"estimate": float(r.coef.iloc[0, 0])}

        out.append(PeerCase("rd", "rdrobust", n, run, "robust CI"))
    return out


def dml_irm_cases(n: int) -> list[PeerCase]:
    """IRM/DR-learner ATE with the same LightGBM objects, 5 folds: CQOx vs EconML, DoubleML."""
    d = _backdoor(n)
    df, cols = d.frame, d.roles["covariates"]
    X, y, t = df[cols].to_numpy(), df["y"].to_numpy(), df["t"].to_numpy()
    reg, clf = cases._lgbm()
    folds = cases.FOLDS
    # one sample split like the peers (the default n_rep repeats the split 5 times at
    # 1,000 rows, 1 from 10,000: a statistical choice, timed in the main suite)
    learners = {"outcome_learner": reg, "propensity_learner": clf, "n_folds": folds, "n_rep": 1}
    # every library fits CQOx's folds (its seed=0 split): the same LightGBM models on the
    # same rows, so the timings differ only by the libraries' own work
    # (tests/reference/test_peer_same_folds.py: the estimates agree to the last bits)
    splits = cases.cqox_splits(t, folds)
    out = [
        PeerCase(
            "dml_irm",
            "cqox",
            n,
            cases._cqox("dml_irm", d, "ATE", **learners),
            "outcome model per arm (g0, g1) + propensity; n_rep=1",
            learners=True,
        ),
    ]
    if "outcome_structure" in {p.name for p in cases.registry.get("dml_irm").parameters}:
        out.append(
            PeerCase(
                "dml_irm",
                "cqox (outcome_structure='pooled')",
                n,
                cases._cqox("dml_irm", d, "ATE", outcome_structure="pooled", **learners),
                "one outcome model on (X, T), as DRLearner",
                learners=True,
            )
        )
    if cases.has("econml"):
        from econml.dr import DRLearner

        def econ_dr() -> Result:
            m = DRLearner(model_propensity=clf, model_regression=reg, cv=splits, random_state=0)
            m.fit(y, t, X=None, W=X)
            return {"estimate": float(m.ate())}

        note = "X=None, W = covariates; CQOx's folds (cv=splits)"
        out.append(PeerCase("dml_irm", "econml DRLearner", n, econ_dr, note, learners=True))
    if cases.has("doubleml"):
        import doubleml as dml

        data = dml.DoubleMLData(df[["y", "t", *cols]], y_col="y", d_cols="t", x_cols=cols)

        def dml_irm() -> Result:
            m = dml.DoubleMLIRM(data, reg, clf, n_folds=folds, draw_sample_splitting=False)
            m.set_sample_splitting(splits)
            m.fit()
            return {"estimate": float(m.coef[0]), "se": float(m.se[0])}

        note = "CQOx's folds (set_sample_splitting)"
        out.append(PeerCase("dml_irm", "doubleml", n, dml_irm, note, learners=True))
    return out


BUILDERS: dict[str, Callable[[int], list[PeerCase]]] = {
    "ipw": ipw_cases,
    "psm": psm_cases,
    "its": its_cases,
    "iv_2sls": iv_cases,
    "rd": rd_cases,
    "dml_irm": dml_irm_cases,
}


def _timed(case: PeerCase, clock: LearnerClock) -> Result:
    if case.reset is not None:
        case.reset()
    learner0, core0 = clock.reading()
    c0, w0 = time.process_time(), time.perf_counter()
    result = case.run()
    case.cpu_s.append(time.process_time() - c0)
    case.wall_s.append(time.perf_counter() - w0)
    learner1, core1 = clock.reading()
    if case.learners:
        case.learner_s.append(learner1 - learner0)
        case.core_s.append(core1 - core0)
    if case.reset is not None:
        case.reset()
    return result


def measure(group: list[PeerCase], runs: int, slow_runs: int | None = None) -> None:
    """Warm every case up once, then time them round-robin (:func:`harness.round_order`).

    Cases whose warm-up exceeds :data:`SLOW_CASE_S` are timed ``slow_runs`` times
    (default :data:`SLOW_CASE_RUNS` for the group's size), the others ``runs`` times.
    Run ``k`` of every case falls in round ``k``, so the ``k``-th runs of two cases are
    neighbours in time: :func:`paired` divides them.  The learner clock is installed
    for the whole group when a case accounts its learners (it wraps the LightGBM
    methods of every library alike, see :mod:`benchmarks.learner_clock`).
    """
    clock = LearnerClock()
    if any(c.learners for c in group):
        clock.install()
    try:
        _measure(group, runs, slow_runs, clock)
    finally:
        clock.remove()


def _measure(group: list[PeerCase], runs: int, slow_runs: int | None, clock: LearnerClock) -> None:
    live: list[PeerCase] = []
    for case in group:
        try:
            case.estimate = _estimate(_timed(case, clock))
        except Exception as exc:  # a peer's failure is a finding, not a crash
            case.error = f"{type(exc).__name__}: {exc}"[:200]
            continue
        warm = case.cpu_s[0]
        for kept in (case.cpu_s, case.wall_s, case.learner_s, case.core_s):
            del kept[:]  # the warm-up is not timed
        slow = slow_runs or SLOW_CASE_RUNS.get(case.rows, SLOW_CASE_RUNS_OTHER)
        case.wanted = slow if warm > SLOW_CASE_S else runs
        live.append(case)
    for k in range(max((c.wanted for c in live), default=0)):
        # rotated each round (A B C, B C A, …): no case is timed right after itself
        for case in round_order([c for c in live if len(c.cpu_s) < c.wanted], k):
            _timed(case, clock)


def run(
    sizes: tuple[int, ...], runs: int, only: str | None, slow_runs: int | None = None
) -> dict[str, Any]:
    """Every method at every size; JSON-ready results (with every run's CPU time)."""
    rows: list[dict[str, Any]] = []
    for method, builder in BUILDERS.items():
        if only and only != method:
            continue
        for n in sizes:
            group = builder(n)
            measure(group, runs, slow_runs)
            for c in group:
                rows.append(_row(c))
                cpu = rows[-1]["cpu_s"]
                shown = f"{1000 * cpu:9.2f} ms CPU" if cpu is not None else f"ERROR {c.error}"
                if c.learner_s:
                    shown += f" ({1000 * rows[-1]['outside_s']:.1f} ms outside the learners)"
                print(f"  {method:<8} {n:>6} {c.library:<34} {shown}", flush=True)
    return {
        "runs": runs,
        "slow_runs": {
            str(n): slow_runs or SLOW_CASE_RUNS.get(n, SLOW_CASE_RUNS_OTHER) for n in sizes
        },
        "sizes": list(sizes),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }


def _row(c: PeerCase) -> dict[str, Any]:
    """One case's JSON row: medians, and the per-run CPU times that :func:`paired` needs."""
    row: dict[str, Any] = {
        "method": c.method,
        "library": c.library,
        "rows": c.rows,
        "cpu_s": statistics.median(c.cpu_s) if c.cpu_s else None,
        "wall_s": statistics.median(c.wall_s) if c.wall_s else None,
        "runs": len(c.cpu_s),
        "cpu_runs": c.cpu_s,
        "estimate": c.estimate,
        "note": c.note,
        "error": c.error,
    }
    if c.learner_s:
        # medians of each run's split (the parts of one run add up to its total)
        row["learner_s"] = statistics.median(c.learner_s)
        row["core_s"] = statistics.median(c.core_s)
        row["outside_s"] = statistics.median(
            t - s for t, s in zip(c.cpu_s, c.learner_s, strict=True)
        )
        row["learner_runs"] = c.learner_s
        row["core_runs"] = c.core_s
    return row


def median_interval(n: int, level: float = PAIRED_CI_LEVEL) -> tuple[int, int]:
    """0-based order statistics ``(j, n − 1 − j)`` bracketing a median of ``n`` values.

    The distribution-free interval for a median (e.g. Conover 1999, *Practical
    Nonparametric Statistics*, §3.2): with ``B ~ Binomial(n, 1/2)`` the number of
    values below the true median, ``P(x₍ⱼ₊₁₎ ≤ median ≤ x₍ₙ₋ⱼ₎) = 1 − 2 P(B ≤ j)``;
    ``j`` is the largest with ``P(B ≤ j) ≤ (1 − level)/2`` (0 for fewer than 6 values,
    whose min–max interval then has confidence ``1 − 2^(1−n)``).
    """
    alpha, j, cdf = (1.0 - level) / 2.0, 0, 0.0
    for k in range(n):
        cdf += math.comb(n, k) / 2.0**n
        if cdf > alpha:
            break
        j = k
    return j, n - 1 - j


def paired(peer_runs: list[float], ours_runs: list[float]) -> tuple[float, float, float] | None:
    """Median of the run-by-run ratios ``peer_k / ours_k`` and its interval.

    Run ``k`` of each case is timed in the same round (:func:`measure`), so the two are
    neighbours in time and a change of the machine's load divides out of their ratio;
    the median of the paired ratios is therefore much steadier than the ratio of the
    two medians.  The interval is :func:`median_interval`'s.
    """
    ratios = sorted(p / q for p, q in zip(peer_runs, ours_runs, strict=False) if q > 0)
    if not ratios:
        return None
    lo, hi = median_interval(len(ratios))
    return statistics.median(ratios), ratios[lo], ratios[hi]


def section(result: dict[str, Any]) -> list[str]:
    """The Markdown section: one row per peer and size, with its ratio to CQOx."""
    slow = result.get("slow_runs") or {}
    slow_text = ", ".join(f"{int(n):,} rows: {k}" for n, k in slow.items()) or "7"
    lines = [
        BEGIN,
        "## Same-method peers at 1k and 10k rows (CPU time)",
        "",
        "Generated by `python -m benchmarks.peer_speed` (part of `make bench`). Median "
        f"process CPU time of {result['runs']} interleaved runs after one warm-up (cases "
        f"whose warm-up exceeds {SLOW_CASE_S:g} CPU s, the LightGBM cases: {slow_text} "
        "runs), on the same data in one process; one thread per library. The cases of "
        "a method and size run in rounds whose order rotates (A B C, B C A, …; two cases "
        "A B, A B), so that no case is timed right after itself with its caches warm. "
        "CQOx runs at its "
        "defaults (dml_irm with the peers' LightGBM objects, 5 folds and one split, "
        "n_rep=1, as the peers); *ratio* = peer CPU time / CQOx's, the ratio of the two "
        "medians (≥ 1: CQOx is as fast or faster); *paired* = the median of the run-by-run "
        f"ratios with its distribution-free {PAIRED_CI_LEVEL:.0%} interval (see the "
        "protocol below). Load average at the end: "
        f"{'/'.join(str(x) for x in result['load_average'])}.",
        "",
        "| method | rows | CQOx ms | peer | peer ms | ratio | paired [95% CI] | CQOx estimate "
        "| peer estimate | note |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    rows = result["rows"]
    split: list[str] = []
    for r in rows:
        if r["library"] != "cqox":
            continue
        for p in rows:
            if p["method"] != r["method"] or p["rows"] != r["rows"] or p is r:
                continue
            # a peer of a CQOx variant's method is compared with that variant
            mine, peer = _counterpart(rows, r, p), p["library"]
            if mine is not r:
                peer = f"{peer} (vs {mine['library']})"
            cq, pc = mine["cpu_s"], p["cpu_s"]
            ratio = f"{pc / cq:.2f}" if cq and pc else "—"
            pr = paired(p.get("cpu_runs") or [], mine.get("cpu_runs") or [])
            pair = "—" if pr is None else f"{pr[0]:.2f} [{pr[1]:.2f}, {pr[2]:.2f}]"
            note = (p["error"] or p["note"] or "").replace("|", "/")
            lines.append(
                f"| {r['method']} | {r['rows']:,} | {_ms(cq)} | {peer} | {_ms(pc)} | "
                f"{ratio} | {pair} | {_num(mine['estimate'])} | {_num(p['estimate'])} "
                f"| {note} |"
            )
        split += _split_rows(rows, r)
    lines += [
        "",
        "Rows whose library starts with *cqox* are CQOx variants (gates off, the HAC "
        "interval of statsmodels, the pooled outcome model), compared with CQOx's "
        "defaults the same way. A peer whose method is such a variant is compared with it "
        "(*peer (vs variant)*: EconML's DRLearner fits one outcome model on (X, T), "
        "dml_irm's pooled structure).",
        "",
        "Propensity peers: DoWhy's propensity estimators write their score into the "
        "caller's table and skip the propensity fit when it is there, so each timed DoWhy "
        "run starts from a table without it (an untimed reset) and every library fits its "
        "own propensity model in every run. DoWhy and CausalML fit scikit-learn's "
        "L2-penalised logit (C = 1) to lbfgs' gradient tolerance of 1e-4; CQOx fits the "
        "unpenalised maximum-likelihood logit to a Newton step of 1e-10, which its "
        "M-estimation (ipw) and Abadie–Imbens (2016) (psm) standard errors need, and "
        "runs its overlap, balance and separation gates; the peers report no standard "
        "error.",
    ]
    if split:
        lines += [
            "",
            "### LightGBM cases: inside and outside the learners",
            "",
            "Protocol. Every library fits the same folds: CQOx's for seed=0 "
            "(`benchmarks.cases.cqox_splits`), given to DoubleML by `set_sample_splitting` "
            "and to EconML as `cv=` splits, with the same LightGBM objects (no bagging or "
            "feature subsampling: the trees depend on the rows only), so the LightGBM "
            "models are the same in every library — tests/reference/"
            "test_peer_same_folds.py checks that CQOx (without its propensity "
            "calibration) reproduces DoubleML's IRM and EconML's DRLearner estimates to "
            "the last bits. Run k of every case is timed in the same round, so that each "
            "paired ratio compares two runs close in time. The CPU time inside the "
            "learners is accounted by wrapping the fit/predict/predict_proba methods of "
            "the LightGBM objects (`benchmarks.learner_clock`; CQOx's core-API path included): "
            "*learners* = inside them, *LightGBM core* = of that, in LightGBM's binning, "
            "boosting rounds and prediction (`Dataset.construct`, `Booster.update`, "
            "`Booster.predict`), *outside* = the rest of the call (splitting, cloning, "
            "calibration, scores, standard errors, checks); *all but the core* = total − "
            "core (the library's own code and the scikit-learn wrapper's, which CQOx's "
            "core-API path skips). The core is the same work in every library and varies "
            "by a few percent from run to run, more than the libraries' own code costs; "
            "*same-core ratio* = the median over runs of (C + the peer's all-but-core) / "
            "(C + CQOx's), with C the median core time of both, and its 95% interval: the "
            "whole-call ratio without that noise. Medians over runs.",
            "",
            "| method | rows | library | total ms | learners ms | LightGBM core ms "
            "| all but the core ms | outside learners ms | same-core ratio |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *split,
        ]
    lines.append(END)
    return lines


def _split_rows(rows: list[dict[str, Any]], ours: dict[str, Any]) -> list[str]:
    """The inside/outside-learner rows of ``ours``' method and size (where accounted)."""
    out = []
    for c in rows:
        if (c["method"], c["rows"]) != (ours["method"], ours["rows"]) or "learner_s" not in c:
            continue
        mine = _counterpart(rows, ours, c)
        same = "—"
        if not c["library"].startswith("cqox") and "core_runs" in mine:
            same = "{:.3f} [{:.3f}, {:.3f}]".format(*same_core_ratio(c, mine))
        out.append(
            f"| {c['method']} | {c['rows']:,} | {c['library']} | {_ms(c['cpu_s'])} | "
            f"{_ms(c['learner_s'])} | {_ms(c['core_s'])} | {_ms(_non_core(c))} | "
            f"{_ms(c['outside_s'])} | {same} |"
        )
    return out


def _non_core(c: dict[str, Any]) -> float:
    """Median over runs of the CPU time outside LightGBM's core (total − core)."""
    return statistics.median(t - k for t, k in zip(c["cpu_runs"], c["core_runs"], strict=True))


def same_core_ratio(peer: dict[str, Any], ours: dict[str, Any]) -> tuple[float, float, float]:
    """The whole-call ratio with one LightGBM core time: median and interval, as :func:`paired`.

    Run ``k``'s ratio is ``(C + N_peer,k) / (C + N_ours,k)``, with ``N`` a run's CPU time
    outside LightGBM's core (total − core) and ``C`` the median core time of both cases'
    runs together.  With the same folds and learners the core work — binning, boosting
    rounds, predictions — is the same in both libraries
    (tests/reference/test_peer_same_folds.py), so its run-to-run noise, 3-8 % of a run
    and more on a loaded machine, is all that this leaves out of the whole-call ratio.
    """
    core = statistics.median([*peer["core_runs"], *ours["core_runs"]])

    def whole(c: dict[str, Any]) -> list[float]:
        return [core + t - k for t, k in zip(c["cpu_runs"], c["core_runs"], strict=True)]

    return paired(whole(peer), whole(ours)) or (math.nan, math.nan, math.nan)


def _counterpart(
    rows: list[dict[str, Any]], ours: dict[str, Any], peer: dict[str, Any]
) -> dict[str, Any]:
    """The CQOx row ``peer`` is compared with: its same-method variant, else ``ours``."""
    variant = cases.SAME_METHOD_VARIANTS.get((ours["method"], peer["library"]))
    for c in rows:
        if variant and (c["method"], c["rows"], c["library"]) == (
            ours["method"],
            ours["rows"],
            variant,
        ):
            return c
    return ours


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{1000 * x:.3g}"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def write_section(doc: Path, result: dict[str, Any]) -> None:
    """Replace (or append) the peer-speed section of ``doc``."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = "\n".join(section(result))
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text, encoding="utf-8")


def saved_section() -> list[str]:
    """The section from the last saved run (for ``benchmarks.run``), or nothing."""
    if not RESULTS.exists():
        return []
    return ["", *section(json.loads(RESULTS.read_text(encoding="utf-8")))]


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case")
    parser.add_argument("--only", choices=sorted(BUILDERS), help="one method; no docs written")
    parser.add_argument(
        "--slow-runs",
        type=int,
        help="timed runs of the LightGBM (slow) cases; default SLOW_CASE_RUNS by size",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--json", help=f"results file (default {RESULTS.relative_to(ROOT)}; with --only: none)"
    )
    args = parser.parse_args(argv)
    result = run(tuple(args.sizes), args.runs, args.only, args.slow_runs)
    if args.only:
        print("\n".join(section(result)))
        if args.json:  # the per-run times, for a closer look at one method
            Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
        return 0
    args.json = args.json or str(RESULTS)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    write_section(Path(args.out), result)
    print(f"wrote {args.out} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
