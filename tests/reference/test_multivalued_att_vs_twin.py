"""``multivalued`` ATT, clipping and trimming against hand twins.

- ATT (ipw, ra) on three levels against a hand twin: statsmodels' ``MNLogit`` for the
  propensity, NumPy for the weighted means / arm regressions, and the stacked
  M-estimation sandwich ``A⁻¹ B A⁻ᵀ / n`` with a *finite-difference* Jacobian of the
  stacked estimating equations.  Estimates to 1e-8, SEs to 1e-6 relative.
- With two levels the ATT equals the binary ``ipw`` / ``regression_adjustment`` ATT
  (estimate, SE) to round-off.
- ``clip`` equals the hand computation with ``max(p̂_j, clip)``; ``trim`` equals a fit on
  the rows with every ``p̂_j ≥ trim``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.nuisance.multinomial import fit_multinomial_logit
from tests.reference.test_multivalued_vs_twin import COVARIATES, _mnlogit

#: Estimating equations solved exactly; the finite-difference Jacobian is good to ~1e-8.
EST_RTOL = 1e-8
SE_RTOL = 1e-6
TREATED = 1


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    df, _ = cqox.simulate.multivalued(n=1500, seed=17)
    return df


def _stacked_att(df: pd.DataFrame, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Hand twin: ATT PO means (population T = 1) and their sandwich covariance."""
    y = df["y"].to_numpy()
    t = df["t"].to_numpy().astype(int)
    Z = np.column_stack([np.ones(len(df)), df[COVARIATES].to_numpy()])
    n, k = Z.shape
    K = 3
    coef_sm, p_sm = _mnlogit(df)
    onehot = np.eye(K)[t]
    on_t = onehot[:, TREATED]
    gammas = [np.linalg.lstsq(Z[t == j], y[t == j], rcond=None)[0] for j in range(K)]
    if method == "ipw":
        w = [onehot[:, j] * p_sm[:, TREATED] / p_sm[:, j] for j in range(K)]
        mus = [float(np.sum(w[j] * y) / np.sum(w[j])) for j in range(K)]
    else:
        mus = [float(np.mean((Z @ g)[t == TREATED])) for g in gammas]
    theta0 = np.concatenate([coef_sm.T.ravel(), *gammas, mus])

    def g_fn(theta: np.ndarray) -> np.ndarray:
        beta = theta[: k * (K - 1)].reshape(K - 1, k)
        eta = np.column_stack([np.zeros(n), Z @ beta.T])
        p = np.exp(eta - eta.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        parts = [((onehot[:, 1:] - p[:, 1:])[:, :, None] * Z[:, None, :]).reshape(n, -1)]
        off = k * (K - 1)
        gam = [theta[off + j * k : off + (j + 1) * k] for j in range(K)]
        mu = theta[off + K * k :]
        parts.append(np.column_stack([onehot[:, j, None] * Z * (y - Z @ gam[j])[:, None]
                                      for j in range(K)]))  # fmt: skip
        if method == "ipw":
            m = np.column_stack([onehot[:, j] * p[:, TREATED] / p[:, j] * (y - mu[j])
                                 for j in range(K)])  # fmt: skip
        else:
            m = np.column_stack([on_t * (Z @ gam[j] - mu[j]) for j in range(K)])
        return np.column_stack([*parts, m])

    g0 = g_fn(theta0)
    d = len(theta0)
    A = np.empty((d, d))
    for c in range(d):
        h = 1e-6 * max(1.0, abs(theta0[c]))
        up, dn = theta0.copy(), theta0.copy()
        up[c] += h
        dn[c] -= h
        A[:, c] = (g_fn(up).mean(axis=0) - g_fn(dn).mean(axis=0)) / (2 * h)
    Ainv = np.linalg.inv(A)
    V = Ainv @ (g0.T @ g0 / n) @ Ainv.T / n
    return np.asarray(mus), V[-K:, -K:]


@pytest.mark.parametrize("method", ["ipw", "ra"])
def test_att_matches_stacked_m_estimation_twin(sim: pd.DataFrame, method: str) -> None:
    mus, V = _stacked_att(sim, method)
    est = cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=COVARIATES,
                        method=method, estimand="ATT")  # fmt: skip
    assert est.estimand == "ATT" and est.diagnostics["treated_level"] == "1"
    pom = est.tables["pomeans"]
    np.testing.assert_allclose(pom["estimate"], mus, rtol=EST_RTOL)
    np.testing.assert_allclose(pom["se"], np.sqrt(np.diag(V)), rtol=SE_RTOL)
    for row, j in zip(est.tables["effects"].itertuples(), (1, 2), strict=True):
        assert row.estimate == pytest.approx(mus[j] - mus[0], rel=EST_RTOL)
        assert row.se == pytest.approx(np.sqrt(V[j, j] + V[0, 0] - 2 * V[0, j]), rel=SE_RTOL)
    assert est.estimate == pytest.approx(mus[1] - mus[0], rel=EST_RTOL)


@pytest.mark.parametrize(("method", "binary"), [("ipw", "ipw"), ("ra", "regression_adjustment")])
def test_two_level_att_equals_the_binary_att(method: str, binary: str) -> None:
    df, _ = cqox.simulate.confounded_binary(n=1500, seed=11)
    cov = ["x1", "x2", "x3"]
    mv = cqox.estimate("multivalued", df, outcome="y", treatment="t", covariates=cov,
                       method=method, estimand="ATT")  # fmt: skip
    b = cqox.estimate(binary, df, outcome="y", treatment="t", covariates=cov, estimand="ATT")
    assert mv.estimate == pytest.approx(b.estimate, rel=1e-10)
    assert mv.se == pytest.approx(b.se, rel=1e-9)


def test_treated_level_selects_the_att_population(sim: pd.DataFrame) -> None:
    est = cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=COVARIATES,
                        method="ra", estimand="ATT", treated_level=2)  # fmt: skip
    y, t = sim["y"].to_numpy(), sim["t"].to_numpy()
    Z = np.column_stack([np.ones(len(sim)), sim[COVARIATES].to_numpy()])
    g0 = np.linalg.lstsq(Z[t == 0], y[t == 0], rcond=None)[0]
    g2 = np.linalg.lstsq(Z[t == 2], y[t == 2], rcond=None)[0]
    assert est.estimate == pytest.approx(np.mean((Z @ (g2 - g0))[t == 2]), rel=1e-10)
    assert est.n_treated == int((t == 2).sum())


def test_clip_bounds_every_level_propensity(sim: pd.DataFrame) -> None:
    clip = 0.2
    est = cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=COVARIATES,
                        method="ipw", clip=clip)  # fmt: skip
    y, t = sim["y"].to_numpy(), sim["t"].to_numpy().astype(int)
    fit = fit_multinomial_logit(sim[COVARIATES].to_numpy(), t, 3)
    p = np.maximum(fit.p_hat, clip)
    mus = [np.sum((t == j) * y / p[:, j]) / np.sum((t == j) / p[:, j]) for j in range(3)]
    np.testing.assert_allclose(est.tables["pomeans"]["estimate"], mus, rtol=1e-12)
    assert est.counts["n_clipped"] == int((fit.p_hat < clip).any(axis=1).sum()) > 0


def test_trim_refits_on_rows_with_every_propensity_above_trim(sim: pd.DataFrame) -> None:
    trim = 0.1
    est = cqox.estimate("multivalued", sim, outcome="y", treatment="t", covariates=COVARIATES,
                        method="aipw", trim=trim)  # fmt: skip
    t = sim["t"].to_numpy().astype(int)
    keep = fit_multinomial_logit(sim[COVARIATES].to_numpy(), t, 3).p_hat.min(axis=1) >= trim
    kept = cqox.estimate("multivalued", sim[keep], outcome="y", treatment="t",
                         covariates=COVARIATES, method="aipw")  # fmt: skip
    assert 0 < est.counts["n_trimmed"] == int((~keep).sum())
    assert est.n == int(keep.sum())
    assert est.estimate == pytest.approx(kept.estimate, rel=1e-12)
    assert est.se == pytest.approx(kept.se, rel=1e-12)
