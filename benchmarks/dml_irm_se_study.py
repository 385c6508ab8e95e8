"""Coverage of ``dml_irm``'s and DoubleML's IRM intervals with the peers' LightGBM objects.

Why this study exists: on the ``dml_irm`` data of :mod:`benchmarks.peer_speed` (the
backdoor design :func:`benchmarks.datagen.cross_section`, 1,000 rows × 50 covariates)
with the same LightGBM objects (:data:`benchmarks.cases.LGBM`: 200 trees of 15
leaves, rate 0.05, one thread), DoubleML's ``DoubleMLIRM`` reports an SE 2–3 times
CQOx's.  Either CQOx's interval is too short or DoubleML's too long; only coverage
settles it.  Each replication draws a fresh data set and runs, on it:

* ``cqox`` — ``dml_irm`` as the peer-speed harness runs it (those learners, 5 folds,
  ``n_rep=1``; its defaults otherwise: isotonic calibration of the cross-fitted
  propensity, truncation at ``clip = 0.01``), with ``seed = r``;
* ``cqox_raw`` — the same fits (shared nuisance cache), ``propensity_calibration =
  "none"``: DoubleML's propensity processing on CQOx's folds;
* ``doubleml`` — ``DoubleMLIRM(data, reg, clf, n_folds=5)`` at its defaults (raw
  propensity truncated at 0.01, no normalisation), its folds drawn after
  ``np.random.seed(r)``, on every :data:`DOUBLEML_EVERY`-th replication (it doubles
  the cost; ``cqox_raw`` is the same algorithm on every replication);
* ``doubleml_iso`` — DoubleML's own out-of-fold predictions with CQOx's isotonic
  calibration and truncation, scored by the same doubly robust ATE score.

Designs (population ATE = 1 + 0.5 E[x1] + 0.5 P(x2 > 0) = 1.25 in both):
``harness`` is ``cross_section(n, 50)``, ``e(x) = expit(0.6 x1 − 0.4 x2 + 0.3 x3 −
0.2 x4)``; ``strong`` multiplies that index by :data:`STRONG_FACTOR` (propensities
reach about 0.002 and 0.998; about 13% of rows outside [0.05, 0.95]).

Run (one core, low priority; each replication writes one JSON line, so an interrupted
run keeps its rows and ``--summary`` reads whatever is there)::

    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.dml_irm_se_study --reps 200   # both designs
    python -m benchmarks.dml_irm_se_study --summary
    python -m benchmarks.dml_irm_se_study --explain --design harness   # one data set, mechanism
    python -m benchmarks.dml_irm_se_study --oracle     # AIPW with the true g and e, 300 draws

Results: ``benchmarks/results/dml_irm_se_<design>.jsonl``; the table and the reading
are in docs/validation_backdoor_dml.md ("SE with the peers' LightGBM objects").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy import special  # noqa: E402

from benchmarks import cases, datagen  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Rows and covariates of the peer-speed harness's small dml_irm case.
N, P = 1_000, 50
#: Population ATE of both designs: E[1 + 0.5 x1 + 0.5·1(x2 > 0)].
TRUE_ATE = 1.25
#: Scale of the propensity index in the ``strong`` design.
STRONG_FACTOR = 2.5
#: Base of the per-replication data seeds (data seed = SEED_BASE + r; fold seed = r).
SEED_BASE = {"harness": 910_000, "strong": 920_000}
CLIP = 0.01
Z95 = 1.959963984540054
METHODS = ("cqox", "cqox_raw", "doubleml", "doubleml_iso")
#: DoubleML itself runs on every DOUBLEML_EVERY-th replication: ``cqox_raw`` is its
#: algorithm (equal to DoubleMLIRM on the same folds; ``--explain`` checks it), so the
#: full count of replications goes to the two propensity treatments on one core.
DOUBLEML_EVERY = 4


def make_data(design: str, r: int) -> datagen.Design:
    """Replication ``r`` of ``design`` (``harness`` or ``strong``)."""
    d = datagen.cross_section(n=N, p=P, seed=SEED_BASE[design] + r)
    if design == "harness":
        return d
    # Same covariates, outcome noise and τ(x); a sharper propensity, so the treatment
    # and the outcome are redrawn from the same generator stream for every r.
    df = d.frame.copy()
    X = df[d.roles["covariates"]].to_numpy()
    rng = np.random.default_rng([SEED_BASE[design], r])
    index = 0.6 * X[:, 0] - 0.4 * X[:, 1] + 0.3 * X[:, 2] - 0.2 * X[:, 3]
    e = special.expit(STRONG_FACTOR * index)
    t = (rng.random(N) < e).astype(np.int64)
    tau = 1.0 + 0.5 * X[:, 0] + 0.5 * (X[:, 1] > 0)
    y0 = np.sin(X[:, 0]) + X[:, 1] + 0.5 * X[:, 2] ** 2 + 0.3 * X[:, 4]
    df["t"] = t
    df["y"] = y0 + t * tau + rng.standard_normal(N)
    return datagen.Design("strong", df, d.roles, {"ATE": float(tau.mean())}, tau, d.notes)


def dr_ate(
    y: np.ndarray, t: np.ndarray, g0: np.ndarray, g1: np.ndarray, e: np.ndarray
) -> dict[str, Any]:
    """DR ATE, its score SE ``sqrt(mean((ψ_b − θ)²)/n)`` and the score pieces."""
    reg = g1 - g0
    ipw1 = t * (y - g1) / e
    ipw0 = (1 - t) * (y - g0) / (1 - e)
    psi_b = reg + ipw1 - ipw0
    theta = float(psi_b.mean())
    n = len(y)
    return {
        "theta": theta,
        "se": float(np.sqrt(np.mean((psi_b - theta) ** 2) / n)),
        "pieces": {"g1-g0": reg, "T(Y-g1)/e": ipw1, "(1-T)(Y-g0)/(1-e)": ipw0},
        "psi": psi_b - theta,
    }


def _cqox_fits(
    d: datagen.Design, r: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    """``cqox`` and ``cqox_raw`` from one set of fits; also the nuisance predictions."""
    from cqox.core.context import Context
    from cqox.core.roles import Roles
    from cqox.estimators import registry
    from cqox.estimators.backdoor.dml import dml_irm

    reg, clf = cases._lgbm()
    cols = d.roles["covariates"]
    roles = Roles(outcome="y", treatment="t", covariates=list(cols))
    ctx = Context(seed=r)
    est = registry.get("dml_irm")(
        outcome_learner=reg, propensity_learner=clf, n_folds=5, n_rep=1
    ).fit(d.frame, roles, ctx)
    cq = {
        "theta": est.estimate,
        "se": est.se,
        "e_min": est.diagnostics["propensity_min"],
        "e_max": est.diagnostics["propensity_max"],
        "n_clipped": est.counts["n_propensity_trimmed"],
    }
    (cache,) = [
        v for k, v in ctx.cache.items() if isinstance(k, tuple) and k[0] == "dml_irm_nuisance"
    ]
    g0, g1, m = cache[0]
    # the same fits through the same function with DoubleML's propensity processing
    y, t = d.frame["y"].to_numpy(), d.frame["t"].to_numpy()
    raw = dml_irm(
        y,
        t,
        d.frame[cols].to_numpy(),
        [np.zeros(N, dtype=np.int64)],
        "ATE",
        reg,
        clf,
        CLIP,
        nuisance_cache={0: (g0, g1, m)},
        propensity_calibration="none",
    )
    e_raw = np.clip(m.pred, CLIP, 1 - CLIP)
    cq_raw = {
        "theta": raw.theta,
        "se": raw.se,
        "e_min": float(e_raw.min()),
        "e_max": float(e_raw.max()),
        "n_clipped": raw.diagnostics["n_propensity_trimmed"],
    }
    return cq, cq_raw, {"g0": g0.pred, "g1": g1.pred, "m": m.pred}


def _doubleml_fit(d: datagen.Design, r: int) -> Any:
    import doubleml as dml

    reg, clf = cases._lgbm()
    cols = d.roles["covariates"]
    data = dml.DoubleMLData(d.frame[["y", "t", *cols]], y_col="y", d_cols="t", x_cols=cols)
    # DoubleML draws its folds from NumPy's global generator when constructed
    np.random.seed(r)  # noqa: NPY002 (DoubleML's splitter reads only the global state)
    m = dml.DoubleMLIRM(data, reg, clf, n_folds=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit()
    return m


def _doubleml_rows(
    d: datagen.Design, m: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    from cqox.nuisance.crossfit import calibrate_propensity

    y, t = d.frame["y"].to_numpy(), d.frame["t"].to_numpy()
    pred = {k: np.asarray(m.predictions[k])[:, 0, 0] for k in ("ml_g0", "ml_g1", "ml_m")}
    e_raw = np.clip(pred["ml_m"], CLIP, 1 - CLIP)
    e_iso = np.clip(calibrate_propensity(pred["ml_m"], t, "isotonic"), CLIP, 1 - CLIP)
    iso = dr_ate(y, t, pred["ml_g0"], pred["ml_g1"], e_iso)
    raw = {
        "theta": float(m.coef[0]),
        "se": float(m.se[0]),
        "e_min": float(e_raw.min()),
        "e_max": float(e_raw.max()),
        # DoubleML stores the truncated propensity: count the rows at the bounds
        "n_clipped": int(np.sum((pred["ml_m"] <= CLIP) | (pred["ml_m"] >= 1 - CLIP))),
    }
    cal = {
        "theta": iso["theta"],
        "se": iso["se"],
        "e_min": float(e_iso.min()),
        "e_max": float(e_iso.max()),
        "n_clipped": int(np.sum(e_iso != calibrate_propensity(pred["ml_m"], t, "isotonic"))),
    }
    return raw, cal, {"g0": pred["ml_g0"], "g1": pred["ml_g1"], "m": pred["ml_m"]}


def replicate(design: str, r: int) -> dict[str, Any]:
    """One replication: every method's estimate, SE, CI coverage and propensity range."""
    d = make_data(design, r)
    t0 = time.process_time()
    cq, cq_raw, _ = _cqox_fits(d, r)
    t1 = time.process_time()
    results = [cq, cq_raw]
    row: dict[str, Any] = {"r": r, "cpu_cqox": t1 - t0, "cpu_doubleml": None}
    if r % DOUBLEML_EVERY == 0:
        m = _doubleml_fit(d, r)
        row["cpu_doubleml"] = time.process_time() - t1
        results += _doubleml_rows(d, m)[:2]
    for name, res in zip(METHODS, results, strict=False):
        res["covered"] = bool(abs(res["theta"] - TRUE_ATE) <= Z95 * res["se"])
        row[name] = res
    return row


def _path(design: str) -> Path:
    return RESULTS / f"dml_irm_se_{design}.jsonl"


def _done(design: str) -> set[int]:
    path = _path(design)
    return (
        {json.loads(line)["r"] for line in path.read_text().splitlines()}
        if path.exists()
        else set()
    )


def run(designs: list[str], reps: int, start: int) -> None:
    """Append replications ``start … reps−1`` to each design's JSON-lines file.

    Several designs are interleaved replication by replication, so that a run stopped
    early leaves them with equal numbers of replications.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    done = {design: _done(design) for design in designs}
    for r, design in ((r, design) for r in range(start, reps) for design in designs):
        if r in done[design]:
            continue
        path = _path(design)
        row = replicate(design, r)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        print(
            f"{design} r={r} "
            + " ".join(f"{k}={row[k]['theta']:.3f}±{row[k]['se']:.3f}" for k in METHODS if k in row)
            + f" cpu {row['cpu_cqox']:.1f}/{row['cpu_doubleml'] or 0:.1f} s",
            flush=True,
        )


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per method: bias, SD, mean SE, coverage, each with its Monte-Carlo SE."""
    out = {}
    for name in METHODS:
        have = [row[name] for row in rows if name in row]
        R = len(have)
        if R < 2:
            continue
        th = np.array([h["theta"] for h in have])
        se = np.array([h["se"] for h in have])
        cov = np.array([h["covered"] for h in have], dtype=float)
        sd = float(th.std(ddof=1))
        out[name] = {
            "R": R,
            "bias": float(th.mean() - TRUE_ATE),
            "mc_bias": sd / np.sqrt(R),
            "sd": sd,
            # SE of the SD of a near-normal sample
            "mc_sd": sd / np.sqrt(2 * (R - 1)),
            "mean_se": float(se.mean()),
            "mc_mean_se": float(se.std(ddof=1) / np.sqrt(R)),
            "coverage": float(cov.mean()),
            "mc_coverage": float(np.sqrt(cov.mean() * (1 - cov.mean()) / R)),
            "median_clipped": float(np.median([h["n_clipped"] for h in have])),
        }
    return out


def print_summary() -> None:
    """Markdown table of every design with results on disk."""
    print(
        "| design | method | R | bias (MC SE) | SD (MC SE) | mean SE (MC SE) | mean SE / SD "
        "| coverage (MC SE) | median rows clipped |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for design in SEED_BASE:
        path = _path(design)
        if not path.exists():
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for name, s in summarise(rows).items():
            print(
                f"| {design} | {name} | {s['R']} | {s['bias']:+.4f} ({s['mc_bias']:.4f}) | "
                f"{s['sd']:.4f} ({s['mc_sd']:.4f}) | {s['mean_se']:.4f} ({s['mc_mean_se']:.4f}) | "
                f"{s['mean_se'] / s['sd']:.2f} | {100 * s['coverage']:.1f}% "
                f"({100 * s['mc_coverage']:.1f}) | "
                # DoubleML keeps only the truncated propensity (early rows counted 0)
                f"{'—' if name == 'doubleml' else format(s['median_clipped'], '.0f')} |"
            )


def explain(design: str, r: int) -> None:
    """Both libraries' propensities and score-variance pieces on one data set."""
    from cqox.core.context import Context
    from cqox.nuisance.crossfit import DML_SPLIT_STREAM, calibrate_propensity, fold_ids

    d = make_data(design, r)
    y, t = d.frame["y"].to_numpy(), d.frame["t"].to_numpy()
    cq, cq_raw, cq_pred = _cqox_fits(d, r)
    m = _doubleml_fit(d, r)
    dm, dm_iso, dm_pred = _doubleml_rows(d, m)
    # CQOx's folds, as dml_irm draws them (stratified by arm, stream DML_SPLIT_STREAM)
    cq_folds = fold_ids(N, 5, Context(seed=r).rng(DML_SPLIT_STREAM), t)
    dm_folds = np.empty(N, dtype=np.int64)
    for k, (_, test) in enumerate(m.smpls[0]):
        dm_folds[test] = k
    # DoubleML on CQOx's folds is CQOx with propensity_calibration="none"
    import doubleml as dml

    from cqox.nuisance.crossfit import folds_to_splits

    reg, clf = cases._lgbm()
    cols = d.roles["covariates"]
    same = dml.DoubleMLIRM(
        dml.DoubleMLData(d.frame[["y", "t", *cols]], y_col="y", d_cols="t", x_cols=cols),
        reg,
        clf,
        n_folds=5,
        draw_sample_splitting=False,
    )
    same.set_sample_splitting(folds_to_splits(cq_folds))
    same.fit()
    print(
        f"DoubleMLIRM on CQOx's folds: θ = {same.coef[0]:.10f} SE = {same.se[0]:.10f}; "
        f"cqox_raw θ = {cq_raw['theta']:.10f} SE = {cq_raw['se']:.10f}"
    )
    print(f"design {design}, replication {r}: n = {N}, treated {t.mean():.3f}, truth {TRUE_ATE}")
    for label, res in (
        ("cqox", cq),
        ("cqox_raw", cq_raw),
        ("doubleml", dm),
        ("doubleml_iso", dm_iso),
    ):
        print(
            f"  {label:<13} θ = {res['theta']:.4f}  SE = {res['se']:.4f}  "
            f"e ∈ [{res['e_min']:.4f}, {res['e_max']:.4f}]  clipped {res['n_clipped']}"
        )
    q = [0.0, 0.01, 0.05, 0.5, 0.95, 0.99, 1.0]
    print(
        f"\nclipping bounds of both: [{CLIP}, {1 - CLIP}]; quantiles {q} "
        "(DoubleML keeps its propensities after truncation)"
    )
    for label, pred, folds in (("cqox", cq_pred, cq_folds), ("doubleml", dm_pred, dm_folds)):
        e_cal = calibrate_propensity(pred["m"], t, "isotonic")
        for k in range(5):
            idx = folds == k
            raw = pred["m"][idx]
            print(
                f"  {label:<9} fold {k}: raw ê {np.round(np.quantile(raw, q), 4)}  "
                f"isotonic {np.round(np.quantile(e_cal[idx], q), 4)}  "
                f"raw outside [0.01, 0.99]: {int(np.sum((raw < CLIP) | (raw > 1 - CLIP)))}"
            )
        ll = lambda e: float(-np.mean(t * np.log(e) + (1 - t) * np.log(1 - e)))  # noqa: E731
        print(
            f"  {label:<9} log-loss raw(clipped) {ll(np.clip(pred['m'], CLIP, 1 - CLIP)):.4f}, "
            f"isotonic(clipped) {ll(np.clip(e_cal, CLIP, 1 - CLIP)):.4f}"
        )
    print("\nscore variance pieces, Var(ψ)/n = SE²; (piece variances and twice their covariances)")
    for label, pred in (("cqox nuisances", cq_pred), ("doubleml nuisances", dm_pred)):
        e_raw = np.clip(pred["m"], CLIP, 1 - CLIP)
        e_iso = np.clip(calibrate_propensity(pred["m"], t, "isotonic"), CLIP, 1 - CLIP)
        for cal, e in (("raw", e_raw), ("isotonic", e_iso)):
            s = dr_ate(y, t, pred["g0"], pred["g1"], e)
            a, b, c = s["pieces"].values()
            w = np.where(t == 1, 1 / e, 1 / (1 - e))
            top = np.argsort(-np.abs(s["psi"]))[: N // 100]
            share = float(np.sum(s["psi"][top] ** 2) / np.sum(s["psi"] ** 2))
            print(
                f"  {label:<19} {cal:<8} θ {s['theta']:.4f} SE {s['se']:.4f} | "
                f"Var(g1−g0) {a.var():.3f}  Var(T(Y−g1)/e) {b.var():.3f}  "
                f"Var((1−T)(Y−g0)/(1−e)) {c.var():.3f}  "
                f"2Cov(a,b) {2 * np.cov(a, b)[0, 1]:.3f}  "
                f"−2Cov(a,c) {-2 * np.cov(a, c)[0, 1]:.3f}  "
                f"−2Cov(b,c) {-2 * np.cov(b, c)[0, 1]:.3f} | "
                f"weights max {w.max():.1f}, Σw² / n {np.mean(w**2):.2f}; "
                f"top 1% of |ψ| carry {100 * share:.0f}% of Σψ²"
            )
    # nuisance accuracy against the truth (the design's known functions)
    mu0, mu1, e_true = _truth(d, design)
    print("\nRMSE against the true functions (out-of-fold)")
    for label, pred in (("cqox", cq_pred), ("doubleml", dm_pred)):
        e_iso = calibrate_propensity(pred["m"], t, "isotonic")
        rm = lambda a, b: float(np.sqrt(np.mean((a - b) ** 2)))  # noqa: E731
        print(
            f"  {label:<9} g0 {rm(pred['g0'], mu0):.3f}  g1 {rm(pred['g1'], mu1):.3f}  "
            f"m raw {rm(pred['m'], e_true):.3f}  m isotonic {rm(e_iso, e_true):.3f}"
        )
    s = dr_ate(y, t, mu0, mu1, e_true)
    print(f"  oracle (true g, e): θ {s['theta']:.4f} SE {s['se']:.4f}")


def _truth(d: datagen.Design, design: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The design's true ``g0``, ``g1`` and ``e`` at its rows."""
    X = d.frame[d.roles["covariates"]].to_numpy()
    mu0 = np.sin(X[:, 0]) + X[:, 1] + 0.5 * X[:, 2] ** 2 + 0.3 * X[:, 4]
    index = 0.6 * X[:, 0] - 0.4 * X[:, 1] + 0.3 * X[:, 2] - 0.2 * X[:, 3]
    e = special.expit(index * (1.0 if design == "harness" else STRONG_FACTOR))
    assert d.tau is not None
    return mu0, mu0 + d.tau, e


def oracle(reps: int = 300) -> None:
    """SD and mean SE of the DR ATE with the true nuisances (draws 10,000 + r)."""
    for design in SEED_BASE:
        th, se = [], []
        for r in range(reps):
            d = make_data(design, 10_000 + r)
            g0, g1, e = _truth(d, design)
            s = dr_ate(d.frame["y"].to_numpy(), d.frame["t"].to_numpy(), g0, g1, e)
            th.append(s["theta"])
            se.append(s["se"])
        print(
            f"{design}: oracle bias {np.mean(th) - TRUE_ATE:+.4f}, SD {np.std(th, ddof=1):.4f}, "
            f"mean SE {np.mean(se):.4f} ({reps} draws)"
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", choices=[*sorted(SEED_BASE), "all"], default="all")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--summary", action="store_true", help="print the table of saved runs")
    parser.add_argument("--explain", action="store_true", help="mechanism on one data set")
    parser.add_argument("--rep", type=int, default=0, help="replication for --explain")
    parser.add_argument("--oracle", action="store_true", help="AIPW with the true nuisances")
    args = parser.parse_args(argv)
    if args.summary:
        print_summary()
    elif args.oracle:
        oracle()
    elif args.explain:
        explain("harness" if args.design == "all" else args.design, args.rep)
    else:
        run(list(SEED_BASE) if args.design == "all" else [args.design], args.reps, args.start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
