"""``multivalued`` against an independent twin and against the binary estimators.

- The multinomial logit against statsmodels' ``MNLogit`` (coefficients and fitted
  probabilities to 1e-8; its coefficients stored in golden/statsmodels.json for
  machines without it).
- Every method (ipw, ra, aipw) against a hand twin: statsmodels' ``MNLogit`` for the
  propensity, NumPy for the weighted means / arm regressions, and the textbook stacked
  M-estimation sandwich ``A⁻¹ B A⁻ᵀ / n`` with a *finite-difference* Jacobian of the
  stacked estimating equations (propensity score, arm normal equations, means) — an
  independent route to the standard errors.  Estimates to 1e-8, SEs to 1e-6 relative.
- With two levels every method equals the binary ``ipw`` / ``regression_adjustment`` /
  ``aipw`` estimate and SE (logit link) to round-off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.backdoor.multivalued import multivalued_pomeans
from cqox.nuisance.multinomial import fit_multinomial_logit
from tests.reference.golden import STATSMODELS, digest

COVARIATES = ["x1", "x2"]


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    df, _ = cqox.simulate.multivalued(n=1500, seed=7)
    return df


def _mnlogit(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels' MNLogit coefficients (live or stored) and their probabilities."""
    X, t = df[COVARIATES].to_numpy(), df["t"].to_numpy()

    def compute() -> dict[str, object]:
        import statsmodels.api as sm

        res = sm.MNLogit(t, sm.add_constant(X)).fit(method="newton", tol=1e-14, disp=False)
        return {"params": np.asarray(res.params)}

    out = STATSMODELS.outputs(f"multivalued/mnlogit-{digest(X, t)}", compute)
    coef = np.asarray(out["params"], dtype=np.float64)
    eta = np.column_stack([np.zeros(len(t)), np.column_stack([np.ones(len(t)), X]) @ coef])
    p = np.exp(eta - eta.max(axis=1, keepdims=True))
    return coef, p / p.sum(axis=1, keepdims=True)


def test_multinomial_logit_matches_statsmodels_mnlogit(sim: pd.DataFrame) -> None:
    coef_sm, p_sm = _mnlogit(sim)
    fit = fit_multinomial_logit(sim[COVARIATES].to_numpy(), sim["t"].to_numpy(), 3)
    assert fit.converged
    np.testing.assert_allclose(fit.coef, coef_sm, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.p_hat, p_sm, rtol=1e-8, atol=1e-12)


def _stacked(df: pd.DataFrame, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Hand twin: PO means and their sandwich covariance by finite differences."""
    y = df["y"].to_numpy()
    t = df["t"].to_numpy().astype(int)
    Z = np.column_stack([np.ones(len(df)), df[COVARIATES].to_numpy()])
    n, k = Z.shape
    K = 3
    coef_sm, p_sm = _mnlogit(df)
    onehot = np.eye(K)[t]
    gammas = [np.linalg.lstsq(Z[t == j], y[t == j], rcond=None)[0] for j in range(K)]
    if method == "ipw":
        mus = [np.sum(y * onehot[:, j] / p_sm[:, j]) / np.sum(onehot[:, j] / p_sm[:, j])
               for j in range(K)]  # fmt: skip
    elif method == "ra":
        mus = [float(np.mean(Z @ g)) for g in gammas]
    else:
        mus = [float(np.mean(Z @ g + onehot[:, j] * (y - Z @ g) / p_sm[:, j]))
               for j, g in enumerate(gammas)]  # fmt: skip
    theta0 = np.concatenate([coef_sm.T.ravel(), *gammas, mus])

    def g_fn(theta: np.ndarray) -> np.ndarray:
        beta = theta[: k * (K - 1)].reshape(K - 1, k)
        eta = np.column_stack([np.zeros(n), Z @ beta.T])
        p = np.exp(eta - eta.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        parts = [(onehot[:, 1:] - p[:, 1:])[:, :, None] * Z[:, None, :]]
        off = k * (K - 1)
        gam = [theta[off + j * k : off + (j + 1) * k] for j in range(K)]
        mu = theta[off + K * k :]
        parts.append(np.stack([onehot[:, j, None] * Z * (y - Z @ gam[j])[:, None]
                               for j in range(K)], axis=1))  # fmt: skip
        if method == "ipw":
            m = np.column_stack([onehot[:, j] / p[:, j] * (y - mu[j]) for j in range(K)])
        elif method == "ra":
            m = np.column_stack([Z @ gam[j] - mu[j] for j in range(K)])
        else:
            m = np.column_stack([Z @ gam[j] + onehot[:, j] * (y - Z @ gam[j]) / p[:, j] - mu[j]
                                 for j in range(K)])  # fmt: skip
        return np.column_stack([parts[0].reshape(n, -1), parts[1].reshape(n, -1), m])

    g0 = g_fn(theta0)
    d = len(theta0)
    A = np.empty((d, d))
    for c in range(d):
        h = 1e-6 * max(1.0, abs(theta0[c]))
        up, dn = theta0.copy(), theta0.copy()
        up[c] += h
        dn[c] -= h
        A[:, c] = (g_fn(up).mean(axis=0) - g_fn(dn).mean(axis=0)) / (2 * h)
    B = g0.T @ g0 / n
    Ainv = np.linalg.inv(A)
    V = Ainv @ B @ Ainv.T / n
    return np.asarray(mus), V[-K:, -K:]


@pytest.mark.parametrize("method", ["ipw", "ra", "aipw"])
def test_effects_and_ses_match_stacked_m_estimation_twin(sim: pd.DataFrame, method: str) -> None:
    mus, V = _stacked(sim, method)
    est = cqox.estimate(
        "multivalued", sim, outcome="y", treatment="t", covariates=COVARIATES, method=method
    )
    pom = est.tables["pomeans"]
    np.testing.assert_allclose(pom["estimate"], mus, rtol=1e-8)
    np.testing.assert_allclose(pom["se"], np.sqrt(np.diag(V)), rtol=1e-6)
    eff = est.tables["effects"]
    for row, j in zip(eff.itertuples(), (1, 2), strict=True):
        assert row.estimate == pytest.approx(mus[j] - mus[0], rel=1e-8)
        se = np.sqrt(V[j, j] + V[0, 0] - 2 * V[0, j])
        assert row.se == pytest.approx(se, rel=1e-6)
    assert est.estimate == eff["estimate"].iloc[0] and est.se == eff["se"].iloc[0]


BINARY: dict[str, tuple[str, dict[str, str]]] = {
    "ipw": ("ipw", {}),
    "ra": ("regression_adjustment", {}),
    "aipw": ("aipw", {}),
}


@pytest.mark.parametrize("method", ["ipw", "ra", "aipw"])
def test_two_levels_equal_the_binary_estimators(method: str) -> None:
    df, _ = cqox.simulate.confounded_binary(n=1500, seed=11)
    cov = ["x1", "x2", "x3"]
    mv = cqox.estimate("multivalued", df, outcome="y", treatment="t", covariates=cov,
                       method=method)  # fmt: skip
    name, extra = BINARY[method]
    bin_est = cqox.estimate(name, df, outcome="y", treatment="t", covariates=cov, **extra)
    assert mv.estimate == pytest.approx(bin_est.estimate, rel=1e-10, abs=1e-12)
    assert mv.se == pytest.approx(bin_est.se, rel=1e-9)
    assert mv.ci == pytest.approx(bin_est.ci, rel=1e-9)
    pom = mv.tables["pomeans"]["estimate"].to_numpy()
    assert pom[0] == pytest.approx(bin_est.diagnostics["mu0"], rel=1e-10)
    assert pom[1] == pytest.approx(bin_est.diagnostics["mu1"], rel=1e-10)


def test_reference_level_and_text_levels_relabel_consistently() -> None:
    df, _ = cqox.simulate.multivalued(n=1500, seed=3)
    labelled = df.assign(t=df["t"].map({0: "none", 1: "low", 2: "high"}))
    fit = cqox.estimate
    base = fit("multivalued", df, outcome="y", treatment="t", covariates=COVARIATES)
    text = fit("multivalued", labelled, outcome="y", treatment="t", covariates=COVARIATES,
               reference="none")  # fmt: skip
    # text levels sort as high, low, none; the reference moves 'none' first
    assert list(text.tables["effects"]["level"]) == ["high", "low"]
    by_level = text.tables["effects"].set_index("level")
    eff = base.tables["effects"].set_index("level")
    assert by_level.loc["low", "estimate"] == pytest.approx(eff.loc[1, "estimate"], rel=1e-9)
    assert by_level.loc["high", "se"] == pytest.approx(eff.loc[2, "se"], rel=1e-8)
    rebased = fit("multivalued", df, outcome="y", treatment="t", covariates=COVARIATES,
                  reference=2)  # fmt: skip
    moved = rebased.tables["effects"].set_index("level")
    assert moved.loc[0, "estimate"] == pytest.approx(-eff.loc[2, "estimate"], rel=1e-9)
    assert moved.loc[0, "se"] == pytest.approx(eff.loc[2, "se"], rel=1e-8)


def test_pomeans_function_rejects_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="method"):
        multivalued_pomeans(np.zeros(3), np.zeros(3), np.zeros((3, 1)), 1, "matching")
