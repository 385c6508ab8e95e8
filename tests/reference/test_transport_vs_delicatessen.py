"""Transport estimators against delicatessen's M-estimation of the same equations.

delicatessen (Zivich et al., generalized M-estimation) solves the stacked estimating
equations written below by root finding and computes the sandwich variance with
numerical derivatives.  Ours solves the nuisance models by Newton / QR and computes the
sandwich from analytic derivatives (:mod:`cqox.estimators.transport.scores`); on the
same data the estimates and standard errors must agree.  The stack, for arms
``a ∈ {0, 1}``::

    S (1, X) (S − expit(γ'(1, X)))                     sampling model, every row
    S (1, X) (A − expit(β'(1, X)))                     trial treatment model
    S 1{A=a} (1, X) (Y − α_a'(1, X))                   outcome model of arm a
    R (α_a'(1, X) − μ_a)                               om
    w_a (Y − μ_a)                                      iosw
    R (α_a'(1, X) − ν_a),  w_a (Y − α_a'(1, X) − δ_a)  dr: μ_a = ν_a + δ_a

with ``R = 1 − S`` (TATE) or 1 (PATE), ``w_a = S 1{A=a} v(X)/e_a(X)`` and ``v =
(1 − p)/p`` or ``1/p``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import cqox
from cqox.simulate.transport import nested_trial
from tests.reference.golden import DELICATESSEN

#: Both solve the same equations to ~1e-9 (Newton/QR vs delicatessen's root finder).
ESTIMATE_ATOL = 1e-6
#: delicatessen's bread is a numerical derivative (relative error ~1e-7).
SE_RTOL = 1e-5
COVS = ["x1", "x2", "x3"]
METHODS = {"transport_om": "om", "transport_iosw": "iosw", "transport_dr": "dr"}


def _delicatessen(df: Any, method: str, estimand: str) -> dict[str, float]:
    from delicatessen import MEstimator
    from delicatessen.estimating_equations import ee_regression
    from delicatessen.utilities import inverse_logit

    n = len(df)
    Z = np.column_stack([np.ones(n), df[COVS].to_numpy()])
    k = Z.shape[1]
    s = df["s"].to_numpy(float)
    t = np.nan_to_num(df["t"].to_numpy(float))
    y = np.nan_to_num(df["y"].to_numpy(float))
    R = 1 - s if estimand == "TATE" else np.ones(n)
    n_psi = 4 if method == "dr" else 2

    def psi(theta: np.ndarray) -> np.ndarray:
        gam, bet, a0, a1 = (theta[j * k : (j + 1) * k] for j in range(4))
        rest = theta[4 * k :]
        p, e = inverse_logit(Z @ gam), inverse_logit(Z @ bet)
        v = (1 - p) / p if estimand == "TATE" else 1 / p
        rows = [
            ee_regression(gam, Z, s, model="logistic"),
            ee_regression(bet, Z, t, model="logistic", weights=s),
            ee_regression(a0, Z, y, model="linear", weights=s * (1 - t)),
            ee_regression(a1, Z, y, model="linear", weights=s * t),
        ]
        for arm, alpha in ((0, a0), (1, a1)):
            g = Z @ alpha
            w = s * (t == arm) * v / (e if arm == 1 else 1 - e)
            if method == "om":
                rows.append(R * (g - rest[arm])[None, :])
            elif method == "iosw":
                rows.append(w * (y - rest[arm])[None, :])
            else:
                rows.append(R * (g - rest[2 * arm])[None, :])
                rows.append(w * (y - g - rest[2 * arm + 1])[None, :])
        return np.vstack(rows)

    est = MEstimator(psi, init=[0.0] * (4 * k + n_psi))
    est.estimate()
    theta, V = est.theta[4 * k :], est.variance[4 * k :, 4 * k :]
    # dr: (ν1 + δ1) − (ν0 + δ0)
    contrast = np.array([-1.0, -1.0, 1.0, 1.0]) if method == "dr" else np.array([-1.0, 1.0])
    return {
        "estimate": float(contrast @ theta),
        "se": float(np.sqrt(contrast @ V @ contrast)),
    }


@pytest.fixture(scope="module")
def data() -> Any:
    # an effect quadratic in x1: the outcome models are wrong, so the three disagree
    df, _ = nested_trial(n=1200, q=0.3, kappa=0.5, seed=3)
    return df


@pytest.mark.reference
@pytest.mark.parametrize("estimand", ["TATE", "PATE"])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_estimate_and_sandwich_se_match_delicatessen(data: Any, name: str, estimand: str) -> None:
    ours = cqox.estimate(
        name, data, outcome="y", treatment="t", sample="s", covariates=COVS, estimand=estimand
    )
    peer = DELICATESSEN.outputs(
        f"transport/{name}-{estimand}-nested-trial-n1200-q0.3-seed3",
        lambda: _delicatessen(data, METHODS[name], estimand),
    )
    assert ours.estimate == pytest.approx(peer["estimate"], abs=ESTIMATE_ATOL)
    assert ours.se == pytest.approx(peer["se"], rel=SE_RTOL)


@pytest.mark.reference
def test_the_three_methods_differ_when_the_outcome_model_is_wrong(data: Any) -> None:
    # guards the comparison above against a twin that reduces every method to one
    kw = {"outcome": "y", "treatment": "t", "sample": "s", "covariates": COVS}
    values = {n: cqox.estimate(n, data, **kw).estimate for n in METHODS}
    assert len({round(v, 6) for v in values.values()}) == 3
