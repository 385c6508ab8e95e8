"""Monte-Carlo study of the inverse odds of sampling weighting interval (``transport_iosw``).

Why: on ``nested_trial(n=2000, kappa=0.5)`` the Wald interval of ``transport_iosw``
covers the TATE 0.916–0.93 (``docs/validation_transport.md``).  This study puts the
candidate resolutions side by side on the same seeds, per design (the strength of
selection ``selection`` sets how heavy the inverse odds weights are):

* ``wald``      — the package's interval: stacked sandwich, normal quantile;
* ``hc3``       — the same sandwich with the weighted term of each arm divided by
  ``1 − h_i``, ``h_i = w_i / Σ_arm w`` (the leverage of a unit in a Hájek mean: the
  delete-one jackknife of a ratio, MacKinnon & White 1985's HC3);
* ``t_ess``     — the Wald interval with Student-t quantiles on ``min(ESS₁, ESS₀) − 1``
  degrees of freedom (Kish's effective sample size of each arm's weights);
* ``ht``        — the unnormalized (Horvitz–Thompson) estimator ``Σ w_a Y / Σ R`` with
  its own stacked sandwich (Dahabreh et al. 2020's first weighting estimator);
* ``oracle``    — the Hájek estimator with the *true* weights and the plain sandwich.

It also records the gates the package reports on each sample: ``effective_sample_size``
(Kish ESS of the trial weights over trial rows; warns below 0.70) and ``sample_overlap``.
CPU time is measured with ``time.process_time``.

Run: ``python -m benchmarks.transport_iosw_study --reps 1000 --selection 1.0 0.75 0.5``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy import special, stats

from cqox.core.context import Context
from cqox.core.roles import Roles
from cqox.errors import CqoxWarning
from cqox.estimators.transport.data import prepare_transport
from cqox.estimators.transport.estimator import sample_overlap_gate
from cqox.estimators.transport.scores import (
    TransportNuisances,
    fit_nuisances,
    potential_outcome_mean,
    potential_outcome_means,
    weights,
)
from cqox.gates.weights import kish_ess
from cqox.simulate.transport import SELECT, nested_trial

ROLES = Roles.from_mapping(
    {"outcome": "y", "treatment": "t", "sample": "s", "covariates": ["x1", "x2", "x3"]}
)
Z95 = float(stats.norm.ppf(0.975))
INTERVALS = ("wald", "hc3", "t_ess", "ht", "ht_plus10", "oracle", "dr_wald")


def _hc3_var(
    nuis: TransportNuisances, s: np.ndarray, t: np.ndarray, y: np.ndarray, target: str
) -> float:
    """Sandwich variance of the TATE contrast with the leverage-corrected weighted term."""
    n = len(s)
    phis = []
    for arm in (0, 1):
        sc = potential_outcome_mean(nuis, s, t, y, arm, "iosw", target)
        ind = (s == 1) & (t == arm)
        w = np.zeros(n)
        w_all = weights(nuis, s, t, target)
        w[s == 1] = w_all
        w = np.where(ind, w, 0.0)
        h = w / w.sum()
        # the weighted term of the influence is w (y − ψ̂)/mean(w); the nuisance terms
        # are left as they are
        base = np.where(ind, w * (np.where(ind, y, 0.0) - sc.estimate), 0.0) / w.mean()
        phis.append(sc.influence - base + base / (1 - h))
    phi = phis[1] - phis[0]
    return float(phi @ phi) / n**2


def _ht(
    nuis: TransportNuisances, s: np.ndarray, t: np.ndarray, y: np.ndarray, target: str
) -> tuple[float, float]:
    """Unnormalized IOSW ``Σ w_a Y / Σ R`` and its stacked sandwich SE."""
    n = len(s)
    trial = s == 1
    n_trial = int(trial.sum())
    R = (1 - s) if target == "target" else np.ones(n)
    p = nuis.sampling.p_hat
    odds = (1 - p) / p
    v, dv = (odds, -odds) if target == "target" else (1 / p, -odds)
    e1 = nuis.treatment.p_hat
    est = 0.0
    phi = np.zeros(n)
    for arm, sign in ((0, -1.0), (1, 1.0)):
        ind = trial & (t == arm)
        e_a = np.ones(n)
        e_a[trial] = e1 if arm == 1 else 1 - e1
        w = np.where(ind, v / e_a, 0.0)
        y0 = np.where(ind, y, 0.0)
        c = float(R.mean())
        psi = float(np.mean(w * y0) / c)
        D_gamma = ((np.where(ind, dv / e_a, 0.0) * y0)[:, None] * nuis.sampling.Z).mean(axis=0)
        de = -(2 * arm - 1) * (1 - e_a[trial])
        D_beta = ((w[trial] * y0[trial] * de)[:, None] * nuis.treatment.Z).sum(axis=0) / n_trial
        extra = nuis.sampling.influence_along(D_gamma)
        extra[trial] += nuis.treatment.influence_along(D_beta)
        phi += sign * (w * y0 - psi * R + extra) / c
        est += sign * psi
    return est, float(np.sqrt(phi @ phi) / n)


def _oracle(
    df_s: np.ndarray,
    df_t: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    truth: dict[str, float],
    target: str,
) -> tuple[float, float]:
    """Hájek estimate with the true weights ``v/e_A`` and its SE (no nuisance term).

    ``v = e^{−γ0 − u}`` for the target sample, ``1 + e^{−γ0 − u}`` for the population.
    """
    u = x[:, :2] @ (truth["selection"] * SELECT)
    v = np.exp(-(truth["gamma0"] + u)) + (0.0 if target == "target" else 1.0)
    e1 = special.expit(truth["kappa"] * x[:, 0])
    est, var = 0.0, 0.0
    for arm, sign in ((0, -1.0), (1, 1.0)):
        ind = (df_s == 1) & (df_t == arm)
        w = v[ind] / (e1[ind] if arm == 1 else 1 - e1[ind])
        psi = float(w @ y[ind] / w.sum())
        est += sign * psi
        var += float(np.sum((w * (y[ind] - psi)) ** 2)) / w.sum() ** 2
    return est, float(np.sqrt(var))


def one(seed: int, n: int, selection: float, kappa: float, estimand: str) -> dict[str, object]:
    """Every interval, the gates and the estimate on one sample."""
    df, truth = nested_trial(n=n, kappa=kappa, selection=selection, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CqoxWarning)
        data = prepare_transport(df, ROLES)
    s, t, y = data.s, data.t, data.y
    assert t is not None and y is not None
    nuis = fit_nuisances(data.X, s, t, y)
    target = "target" if estimand == "TATE" else "all"
    arms = potential_outcome_means(nuis, s, t, y, "iosw", target)
    est = arms[1].estimate - arms[0].estimate
    phi = arms[1].influence - arms[0].influence
    se = float(np.sqrt(phi @ phi) / len(s))
    trial = s == 1
    w = weights(nuis, s, t, target)
    t1 = t[trial]
    ess1, ess0 = kish_ess(w[t1 == 1]), kish_ess(w[t1 == 0])
    se_hc3 = float(np.sqrt(_hc3_var(nuis, s, t, y, target)))
    q_t = float(stats.t.ppf(0.975, max(min(ess1, ess0) - 1, 1)))
    ht_est, ht_se = _ht(nuis, s, t, y, target)
    # the unnormalized estimator is not location invariant: the same sample with 10
    # added to every outcome (the effect is unchanged)
    ht10_est, ht10_se = _ht(nuis, s, t, y + 10.0, target)
    or_est, or_se = _oracle(s, t, y, df[["x1", "x2", "x3"]].to_numpy(), truth, target)
    dr = potential_outcome_means(nuis, s, t, y, "dr", target)
    dr_est = dr[1].estimate - dr[0].estimate
    dphi = dr[1].influence - dr[0].influence
    dr_se = float(np.sqrt(dphi @ dphi) / len(s))
    tate = truth[estimand]
    overlap = sample_overlap_gate(nuis.sampling.p_hat, s, Context(seed=seed))
    return {
        "est": est,
        "truth": tate,
        "se": se,
        "ess_ratio": (ess1 + ess0) / len(w),
        "overlap": overlap.value,
        "wald": abs(est - tate) <= Z95 * se,
        "hc3": abs(est - tate) <= Z95 * se_hc3,
        "t_ess": abs(est - tate) <= q_t * se,
        "ht": abs(ht_est - tate) <= Z95 * ht_se,
        "ht_plus10": abs(ht10_est - tate) <= Z95 * ht10_se,
        "oracle": abs(or_est - tate) <= Z95 * or_se,
        "dr_wald": abs(dr_est - tate) <= Z95 * dr_se,
        "below": est + Z95 * se < tate,
        "ht_err": ht_est - tate,
        "ht_se": ht_se,
        "ht10_se": ht10_se,
        "se_hc3": se_hc3,
    }


def study(
    reps: int, n: int, selection: float, kappa: float, seed: int, estimand: str = "TATE"
) -> dict[str, float]:
    """Coverage of every interval, SD/SE and the gates over ``reps`` samples."""
    rows = [one(seed + r, n, selection, kappa, estimand) for r in range(reps)]
    err = np.array([r["est"] - r["truth"] for r in rows], dtype=float)
    se = np.array([r["se"] for r in rows], dtype=float)
    out: dict[str, float] = {k: float(np.mean([r[k] for r in rows])) for k in INTERVALS}
    out["below"] = float(np.mean([r["below"] for r in rows]))
    out["sd_over_se"] = float(err.std(ddof=1) / se.mean())
    out["bias"] = float(err.mean())
    out["skew"] = float(stats.skew(err))
    out["ht_sd_over_se"] = float(
        np.std([r["ht_err"] for r in rows], ddof=1) / np.mean([r["ht_se"] for r in rows])
    )
    out["ht_sd"] = float(np.std([r["ht_err"] for r in rows], ddof=1))
    out["ht10_se_mean"] = float(np.mean([r["ht10_se"] for r in rows]))
    out["sd"] = float(err.std(ddof=1))
    out["hc3_over_se"] = float(np.mean([r["se_hc3"] for r in rows]) / se.mean())
    ess = np.array([r["ess_ratio"] for r in rows], dtype=float)
    out["ess_median"] = float(np.median(ess))
    out["ess_warn_share"] = float(np.mean(ess < 0.70))
    wald = np.array([r["wald"] for r in rows], dtype=bool)
    out["wald_gate_pass"] = float(wald[ess >= 0.70].mean()) if (ess >= 0.70).any() else np.nan
    out["wald_gate_warn"] = float(wald[ess < 0.70].mean()) if (ess < 0.70).any() else np.nan
    out["overlap_median"] = float(np.median([r["overlap"] for r in rows]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--kappa", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--selection", type=float, nargs="+", default=[1.0])
    ap.add_argument("--estimand", choices=("TATE", "PATE"), default="TATE")
    args = ap.parse_args()
    for sel in args.selection:
        t0 = time.process_time()
        res = study(args.reps, args.n, sel, args.kappa, args.seed, args.estimand)
        cpu = time.process_time() - t0
        shown = " ".join(f"{k}={v:.3f}" for k, v in res.items())
        print(
            f"{args.estimand} selection={sel} n={args.n} reps={args.reps} cpu={cpu:.0f}s {shown}",
            flush=True,
        )


if __name__ == "__main__":
    main()
