"""``msm_iptw`` and ``gformula`` against hand twins built on statsmodels.

No Python package fits either for a long panel (zEpid's ``MonteCarloGFormula`` and
``IterativeCondGFormula`` target other set-ups and pin old pandas; R's ``ipw`` and
``gfoRmula`` are R), so each is compared with a twin written from *What If* ch. 12 and 21:

- ``msm_iptw``: the pooled logistic treatment models by statsmodels ``GLM`` (binomial),
  the stabilised weights as the product over periods, the MSM by statsmodels ``WLS`` —
  coefficients to 1e-8, the ``robust`` SE equal WLS ``HC0`` (weights as known, the
  book's GEE) to 1e-8, the ``analytic`` SE equal the stacked sandwich ``A⁻¹BA⁻ᵀ/n`` of all
  unit-level estimating equations (both logistic scores summed within unit, the weighted
  normal equations) with a finite-difference Jacobian to 1e-5;
- ``gformula``: with linear models the g-formula has a closed form — the mean of each
  ``L_t`` under a regime follows the fitted linear recursion, and ``E[Y(ā)]`` is the
  outcome model at those means — so the twin fits every model by statsmodels ``OLS`` and
  iterates the means; CQOx's Monte Carlo (``n_draws = 100``) must agree within
  ``MC_TOL`` on each regime, and exactly on the contrast (the common random numbers
  cancel from it when every model is linear).

statsmodels' outputs are stored in golden/statsmodels.json for machines without it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import special

import cqox
from cqox.simulate.timevarying import time_varying_feedback
from tests.reference.golden import STATSMODELS, digest

ROLES = {"outcome": "y", "treatment": "a", "unit": "id", "time": "time", "covariates": ["l", "v"]}
COEF_RTOL = 1e-8
#: Central differences with step 1e-6·max(1, |θ|).
SE_RTOL = 1e-5
#: Monte-Carlo error of the contrast with 400 × 100 simulated histories (common random
#: numbers for both regimes): SD ≈ 0.004; 0.02 is 5 SDs.
MC_TOL = 0.02


def _arrays(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
    d = df.sort_values(["id", "time"])
    n, K = d["id"].nunique(), d["time"].nunique()
    A = d["a"].to_numpy().reshape(n, K)
    L = d["l"].to_numpy().reshape(n, K)
    v = d["v"].to_numpy().reshape(n, K)[:, 0]
    y = d.groupby("id")["y"].last().to_numpy()
    return A, L, v, y


def _designs(A: np.ndarray, L: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, K = A.shape
    prev = np.column_stack([np.zeros(n), A[:, :-1]]).ravel()
    dummies = np.tile(np.eye(K)[:, 1:], (n, 1))
    one = np.ones(n * K)
    Xn = np.column_stack([one, prev, dummies])
    Xd = np.column_stack([one, L.ravel(), np.repeat(v, K), prev, dummies])
    return Xn, Xd


def _sandwich(g_fn: Callable[[np.ndarray], np.ndarray], theta0: np.ndarray) -> np.ndarray:
    g0 = g_fn(theta0)
    n, d = g0.shape
    J = np.empty((d, d))
    for c in range(d):
        h = 1e-6 * max(1.0, abs(theta0[c]))
        up, dn = theta0.copy(), theta0.copy()
        up[c] += h
        dn[c] -= h
        J[:, c] = (g_fn(up).mean(axis=0) - g_fn(dn).mean(axis=0)) / (2 * h)
    Ji = np.linalg.inv(J)
    return np.asarray(Ji @ (g0.T @ g0 / n) @ Ji.T / n)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return time_varying_feedback(n=400, periods=3, seed=41)[0]


def _msm_peer(df: pd.DataFrame) -> dict[str, object]:
    A, L, v, y = _arrays(df)
    Xn, Xd = _designs(A, L, v)

    def compute() -> dict[str, object]:
        import statsmodels.api as sm

        a = A.ravel()
        num = sm.GLM(a, Xn, family=sm.families.Binomial()).fit(tol=1e-12)
        den = sm.GLM(a, Xd, family=sm.families.Binomial()).fit(tol=1e-12)
        pn = np.where(a == 1, num.fittedvalues, 1 - num.fittedvalues)
        pd_ = np.where(a == 1, den.fittedvalues, 1 - den.fittedvalues)
        sw = np.prod((pn / pd_).reshape(A.shape), axis=1)
        B = np.column_stack([np.ones(len(y)), A.sum(axis=1)])
        wls = sm.WLS(y, B, weights=sw).fit(cov_type="HC0")
        return {"num": num.params, "den": den.params, "beta": wls.params, "bse": wls.bse}

    return dict(STATSMODELS.outputs(f"timevarying/msm-{digest(y, A, L)}", compute))


def test_msm_matches_statsmodels_and_the_stacked_sandwich(data: pd.DataFrame) -> None:
    peer = _msm_peer(data)
    A, L, v, y = _arrays(data)
    n, K = A.shape
    robust = cqox.estimate("msm_iptw", data, **ROLES)
    coefs = robust.tables["coefficients"]
    beta = np.asarray(peer["beta"], dtype=float)
    np.testing.assert_allclose(coefs["estimate"], beta, rtol=COEF_RTOL)
    np.testing.assert_allclose(coefs["se"], peer["bse"], rtol=1e-8)
    assert robust.estimate == pytest.approx(K * beta[1], rel=COEF_RTOL)

    Xn, Xd = _designs(A, L, v)
    a = A.ravel()
    B = np.column_stack([np.ones(n), A.sum(axis=1)])
    kn, kd = Xn.shape[1], Xd.shape[1]
    theta0 = np.concatenate([peer["num"], peer["den"], beta])  # type: ignore[arg-type]

    def g_fn(theta: np.ndarray) -> np.ndarray:
        gn, gd, b = theta[:kn], theta[kn : kn + kd], theta[kn + kd :]
        pn, pdn = special.expit(Xn @ gn), special.expit(Xd @ gd)
        sn = (Xn * (a - pn)[:, None]).reshape(n, K, -1).sum(axis=1)
        sd = (Xd * (a - pdn)[:, None]).reshape(n, K, -1).sum(axis=1)
        ratio = np.where(a == 1, pn / pdn, (1 - pn) / (1 - pdn)).reshape(n, K)
        sw = ratio.prod(axis=1)
        return np.column_stack([sn, sd, B * (sw * (y - B @ b))[:, None]])

    V = _sandwich(g_fn, theta0)[-2:, -2:]
    analytic = cqox.estimate("msm_iptw", data, **ROLES, se_method="analytic")
    np.testing.assert_allclose(analytic.tables["coefficients"]["se"], np.sqrt(np.diag(V)),
                               rtol=SE_RTOL)  # fmt: skip
    assert analytic.se == pytest.approx(K * np.sqrt(V[1, 1]), rel=SE_RTOL)


def _gformula_peer(df: pd.DataFrame) -> dict[str, object]:
    A, L, v, y = _arrays(df)

    def compute() -> dict[str, object]:
        import statsmodels.api as sm

        K = A.shape[1]
        cov = [
            sm.OLS(L[:, t], sm.add_constant(np.column_stack([L[:, t - 1], v, A[:, t - 1]]))).fit()
            for t in range(1, K)
        ]
        out = sm.OLS(y, sm.add_constant(np.column_stack([A, L, v]))).fit()
        regimes = {}
        for name, a in (("never", 0.0), ("always", 1.0)):
            m = L[:, 0].mean()
            means = [m]
            for t in range(1, K):
                c = cov[t - 1].params
                m = c[0] + c[1] * m + c[2] * v.mean() + c[3] * a
                means.append(m)
            p = out.params
            regimes[name] = (
                p[0] + p[1 : K + 1].sum() * a + p[K + 1 : 2 * K + 1] @ means + p[-1] * v.mean()
            )
        return regimes

    return dict(STATSMODELS.outputs(f"timevarying/gformula-{digest(y, A, L)}", compute))


def test_gformula_equals_the_closed_form_of_the_linear_g_formula(data: pd.DataFrame) -> None:
    peer = _gformula_peer(data)
    est = cqox.estimate("gformula", data, **ROLES, n_draws=100, n_boot=20, seed=3)
    reg = est.tables["regimes"].set_index("regime")["estimate"]
    assert reg["never"] == pytest.approx(peer["never"], abs=MC_TOL)
    assert reg["always"] == pytest.approx(peer["always"], abs=MC_TOL)
    # linear models and the same random numbers for both regimes: the simulation noise
    # cancels from the contrast exactly, which equals the closed form to round-off
    contrast = float(peer["always"]) - float(peer["never"])  # type: ignore[arg-type]
    assert est.estimate == pytest.approx(contrast, rel=COEF_RTOL)
