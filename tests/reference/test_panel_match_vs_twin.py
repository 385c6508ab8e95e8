"""``panel_match`` against a brute-force NumPy twin written with plain loops.

No Python implementation of PanelMatch exists (the R package's ``dem`` data are not
shipped by any installed Python package either), so the reference is a loop-by-loop
transcription of Imai, Kim & Wang (2021, doi:10.1111/ajps.12685): matched sets by
comparing treatment histories unit by unit, Mahalanobis distances lag by lag, the ATT
as an explicit average, the control-outcome regression of the standard error by
statsmodels OLS on regressors built row by row, the per-unit contributions by
explicit accumulation, and the unit bootstrap from the same random draws. statsmodels'
fits are stored in golden/statsmodels.json (by a digest of their data) for machines
without it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.simulate.panel_match import panel_switching
from tests.reference.golden import STATSMODELS, digest


def _sm_logit_params(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """statsmodels' Logit MLE with a constant (live, or stored by a digest of the data)."""

    def fit() -> np.ndarray:
        import statsmodels.api as sm

        return np.asarray(
            sm.Logit(y, sm.add_constant(X)).fit(disp=0, tol=1e-12, maxiter=200).params
        )

    return np.asarray(STATSMODELS.outputs(f"mle/panel-match-logit-{digest(y, X)}", fit))


def _sm_ols_fitted(y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """statsmodels' OLS fitted values (from its coefficients, live or stored)."""

    def fit() -> np.ndarray:
        import statsmodels.api as sm

        return np.asarray(sm.OLS(y, Z).fit().params)

    return Z @ np.asarray(STATSMODELS.outputs(f"ols/panel-match-{digest(y, Z)}", fit))


#: Same arithmetic in a different order: exact up to rounding.
EXACT = 1e-10
#: Propensity refinements: our Newton logit vs statsmodels' Logit (both converge to
#: ~1e-10 in the coefficients).
PS_TOL = 1e-6


#: Residual degrees of freedom per parameter below which the control-outcome
#: regression drops its covariate columns (the estimator's documented rule).
MIN_DOF_PER_PARAMETER = 2


def twin_att(
    df: pd.DataFrame, L: int, leads: int, refinement: str, size: int, B: int, seed: int
) -> tuple[list[float], dict[str, list[float]], list[tuple[int, int, dict[int, float]]]]:
    units = sorted(df["unit"].unique())
    times = sorted(df["time"].unique())
    N, T = len(units), len(times)
    D = np.zeros((N, T))
    Y = np.zeros((N, T))
    Xc = np.zeros((N, T))
    for row in df.itertuples():
        i, t = units.index(row.unit), times.index(row.time)
        D[i, t], Y[i, t], Xc[i, t] = row.d, row.y, row.x
    X = np.stack([Xc, Y], axis=2)  # covariates then the outcome (include_outcome)
    matched: list[tuple[int, int, dict[int, float]]] = []
    for t in range(L, T):
        for i in range(N):
            if not (D[i, t] == 1 and D[i, t - 1] == 0):
                continue
            ctrl = []
            for j in range(N):
                if D[j, t] != 0:
                    continue
                if all(D[j, t - lag] == D[i, t - lag] for lag in range(1, L + 1)):
                    ctrl.append(j)
            matched.append((i, t, {j: 1.0 / len(ctrl) for j in ctrl} if ctrl else {}))
    unrefined = [(t, list(w)) for _i, t, w in matched]
    index: dict[tuple[int, int], float] = {}
    if refinement == "mahalanobis":
        flat = X.reshape(-1, 2)
        Sinv = np.linalg.pinv(np.cov(flat, rowvar=False))
        for n, (i, t, w) in enumerate(matched):
            dist = []
            for j in w:
                tot = 0.0
                for lag in range(1, L + 1):
                    diff = X[i, t - lag] - X[j, t - lag]
                    tot += math.sqrt(max(float(diff @ Sinv @ diff), 0.0))
                dist.append((tot / L, j))
            keep = sorted(dist)[:size]
            matched[n] = (i, t, {j: 1.0 / len(keep) for _, j in keep})
    elif refinement in ("ps_weight", "ps_match"):
        feats, labels = [], []
        for i, t, w in matched:
            if w:
                feats.append(X[i, t - L : t].mean(axis=0))
                labels.append(1.0)
        for _i, t, w in matched:
            for j in w:
                feats.append(X[j, t - L : t].mean(axis=0))
                labels.append(0.0)
        params = _sm_logit_params(np.array(labels), np.array(feats))

        def e(v: np.ndarray) -> float:
            return float(1 / (1 + np.exp(-(params[0] + v @ params[1:]))))

        for t, js in unrefined:
            for j in js:
                v = X[j, t - L : t].mean(axis=0)
                index[(j, t)] = float(params[0] + v @ params[1:])

        for n, (i, t, w) in enumerate(matched):
            if not w:
                continue
            ec = {j: e(X[j, t - L : t].mean(axis=0)) for j in w}
            if refinement == "ps_weight":
                tot = sum(p / (1 - p) for p in ec.values())
                matched[n] = (i, t, {j: (p / (1 - p)) / tot for j, p in ec.items()})
            else:
                ei = e(X[i, t - L : t].mean(axis=0))
                keep = sorted((abs(p - ei), j) for j, p in ec.items())[:size]
                matched[n] = (i, t, {j: 1.0 / len(keep) for _, j in keep})
    atts: list[float] = []
    ses: dict[str, list[float]] = {"se": [], "analytic_se": [], "fixed_sets_se": []}
    rng = np.random.default_rng([seed, 0])
    draws = rng.integers(N, size=(B, N))
    counts = np.array([np.bincount(draws[b], minlength=N) for b in range(B)])
    for F in range(leads + 1):
        # control-outcome regression: every (control, period) of the unrefined sets
        cells = sorted({(j, t) for t, js in unrefined if t + F <= T - 1 for j in js})
        periods = sorted({t for _j, t in cells})
        base, extra, dy = [], [], []
        for j, t in cells:
            base.append(
                [float(t == s) for s in periods] + [D[j, t - lag] for lag in range(1, L + 1)]
            )
            if refinement == "mahalanobis":
                extra.append([X[j, t - lag, v] for lag in range(1, L + 1) for v in range(2)])
            elif refinement == "ps_match":
                extra.append([index[(j, t)]])
            else:
                extra.append([])
            dy.append(Y[j, t + F] - Y[j, t - 1])
        Zb, Zf = np.array(base), np.hstack([np.array(base), np.array(extra)])
        Z = (
            Zf
            if len(dy) - np.linalg.matrix_rank(Zf)
            >= MIN_DOF_PER_PARAMETER * np.linalg.matrix_rank(Zf)
            else Zb
        )
        Z = Z[:, np.any(Z != 0, axis=0)]  # lag 1 of D is 0 for every control
        fitted = _sm_ols_fitted(np.array(dy), Z)
        m0 = {cell: float(f) for cell, f in zip(cells, fitted, strict=True)}
        deltas = []
        num = np.zeros(N)
        raw = np.zeros(N)
        cnt = np.zeros(N)
        for i, t, w in matched:
            if not w or t + F > T - 1:
                continue
            dyi = Y[i, t + F] - Y[i, t - 1]
            d = dyi
            raw[i] += dyi
            num[i] += dyi
            cnt[i] += 1
            for j, wj in w.items():
                dyj = Y[j, t + F] - Y[j, t - 1]
                d -= wj * dyj
                raw[j] -= wj * dyj
                num[i] -= wj * m0[(j, t)]
                num[j] -= wj * (dyj - m0[(j, t)])
            deltas.append(d)
        att = float(np.mean(deltas))
        atts.append(att)
        boot = []
        for b in range(B):
            top = sum(counts[b, u] * num[u] for u in range(N))
            bot = sum(counts[b, u] * cnt[u] for u in range(N))
            boot.append(top / bot)
        ses["se"].append(float(np.std(boot, ddof=1)))
        for key, v in (("analytic_se", num), ("fixed_sets_se", raw)):
            G = sum(1 for u in range(N) if v[u] != 0 or cnt[u] != 0)
            ss = sum((v[u] - att * cnt[u]) ** 2 for u in range(N))
            ses[key].append(math.sqrt(G / (G - 1) * ss) / cnt.sum())
    return atts, ses, matched


@pytest.mark.parametrize(
    ("refinement", "tol"),
    [("none", EXACT), ("mahalanobis", EXACT), ("ps_weight", PS_TOL), ("ps_match", PS_TOL)],
)
def test_att_leads_and_standard_errors_match_the_loop_twin(refinement: str, tol: float) -> None:
    df, _ = panel_switching(n_units=40, n_periods=10, seed=3)
    B, seed = 60, 9
    est = cqox.estimate(
        "panel_match",
        df,
        outcome="y",
        treatment="d",
        covariates=["x"],
        roles={"unit": "unit", "time": "time"},
        lags=3,
        leads=2,
        refinement=refinement,
        size=3,
        n_bootstrap=B,
        seed=seed,
    )
    atts, ses, matched = twin_att(df, 3, 2, refinement, 3, B, seed)
    leads = est.tables["leads"]
    np.testing.assert_allclose(leads["att"], atts, rtol=tol, atol=tol)
    for key, want in ses.items():
        np.testing.assert_allclose(leads[key], want, rtol=tol, atol=tol, err_msg=key)
    sets = est.tables["matched_sets"]
    ours = dict(zip(zip(sets["unit"], sets["time"], strict=True), sets["size_after"], strict=True))
    assert ours == {(i, t): len(w) for i, t, w in matched}
