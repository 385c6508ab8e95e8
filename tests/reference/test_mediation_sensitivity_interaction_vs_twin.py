"""The ρ analysis with a treatment × mediator interaction against ``medsens``'s own route.

R's ``mediation`` is not packaged for Debian and CRAN is out of reach, so no ``medsens``
output is stored (``../shared/datasets/`` has none either).  The twin below follows the
algorithm of ``medsens.R`` (kosukeimai/mediation, case "continuous outcome + continuous
mediator", ``INT = TRUE``), written here from its description: for each ρ, stack the
mediator and outcome equations as a seemingly unrelated regression, fix the error
correlation at ρ (``Ω = [[s₁², ρ s₁ s₂], [ρ s₁ s₂, s₂²]]`` from the current residuals,
``n − 1`` denominators), solve the GLS normal equations with ``Ω⁻¹ ⊗ I``, update the
residuals and iterate until the coefficients stop moving (a change below 1e-13 of
their size, far tighter than R's ``sqrt(.Machine$double.eps)`` on the squared change); then
``δ(0) = β_T γ`` and ``δ(1) = β_T (γ + κ)`` from the SUR coefficients.  The estimator
computes the same curve in closed form, so they agree to rounding.

The delta-method SE is checked against the SD of a nonparametric bootstrap of the twin
(the SUR-covariance SE that ``medsens`` prints leaves out the covariance between the two
equations' coefficients, so it is not the oracle here).
"""

from __future__ import annotations

import numpy as np
import pytest

from cqox.estimators.mediation.sensitivity import rho_sensitivity_interaction
from cqox.simulate.mediation import mediation_confounded

RHO = np.array([-0.6, -0.2, 0.0, 0.3, 0.7])
#: The twin iterates to a relative change of 1e-13: agreement to rounding.
TWIN_RTOL = 1e-10
#: Bootstrap SD (300 replicates: ±4 % per MC SE) vs the delta-method SE.
SE_RTOL = 0.15


def _arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    df, _ = mediation_confounded(n=n, rho=0.3, binary="neither", interaction=0.4, seed=seed)
    X = df[["x1", "x2", "x3"]].to_numpy(float)
    return df["y"].to_numpy(float), df["t"].to_numpy(float), df["m"].to_numpy(float), X


def twin_sur(
    y: np.ndarray, t: np.ndarray, m: np.ndarray, X: np.ndarray, rho: float
) -> tuple[float, float]:
    """``(δ(0), δ(1))`` at ``rho`` by ``medsens``'s iterated SUR fit (see module docstring)."""
    n = len(y)
    Zm = np.column_stack([np.ones(n), t, X])
    Zy = np.column_stack([np.ones(n), t, m, t * m, X])
    km = Zm.shape[1]
    blocks = (Zm, Zy)
    resp = (m, y)
    # OLS start values, equation by equation (the stacked OLS of block-diagonal designs)
    b = [np.linalg.lstsq(Z, r, rcond=None)[0] for Z, r in zip(blocks, resp, strict=True)]
    for _ in range(500):
        e = [r - Z @ bb for Z, r, bb in zip(blocks, resp, b, strict=True)]
        sd = [float(np.std(ee, ddof=1)) for ee in e]
        omega = np.array(
            [
                [e[0] @ e[0] / (n - 1), rho * sd[0] * sd[1]],
                [rho * sd[0] * sd[1], e[1] @ e[1] / (n - 1)],
            ]
        )
        w = np.linalg.inv(omega)
        # X'(Ω⁻¹ ⊗ I)X and X'(Ω⁻¹ ⊗ I)Y, block by block
        lhs = np.block([[w[i, j] * blocks[i].T @ blocks[j] for j in (0, 1)] for i in (0, 1)])
        rhs = np.concatenate([sum(w[i, j] * blocks[i].T @ resp[j] for j in (0, 1)) for i in (0, 1)])
        new = np.linalg.solve(lhs, rhs)
        change = float(np.sum((new - np.concatenate(b)) ** 2))
        b = [new[:km], new[km:]]
        if change <= (1e-13 * (1 + float(new @ new))) ** 2:
            break
    else:  # pragma: no cover - the iteration contracts by ρ² per step
        raise AssertionError(f"SUR twin did not converge at rho={rho}")
    beta_t, gamma, kappa = b[0][1], b[1][2], b[1][3]
    return float(beta_t * gamma), float(beta_t * (gamma + kappa))


def test_closed_form_equals_medsens_sur_iteration_for_both_arms() -> None:
    y, t, m, X = _arrays(n=1200, seed=21)
    sens = rho_sensitivity_interaction(y, t, m, X, rho=RHO)
    for i, r in enumerate(RHO):
        d0, d1 = twin_sur(y, t, m, X, float(r))
        assert sens.table["estimate_control"][i] == pytest.approx(d0, rel=TWIN_RTOL)
        assert sens.table["estimate_treated"][i] == pytest.approx(d1, rel=TWIN_RTOL)
        assert sens.table["estimate"][i] == pytest.approx((d0 + d1) / 2, rel=TWIN_RTOL)


def test_reported_zero_crossings_are_where_the_twin_vanishes() -> None:
    y, t, m, X = _arrays(n=1200, seed=22)
    sens = rho_sensitivity_interaction(y, t, m, X, rho=RHO)
    assert sens.rho_at_zero_arms is not None
    d0, _ = twin_sur(y, t, m, X, sens.rho_at_zero_arms[0])
    _, d1 = twin_sur(y, t, m, X, sens.rho_at_zero_arms[1])
    d0_avg, d1_avg = twin_sur(y, t, m, X, sens.rho_at_zero)
    assert abs(d0) < 1e-8 and abs(d1) < 1e-8 and abs(d0_avg + d1_avg) < 1e-8


def test_delta_method_se_matches_the_bootstrap_sd_of_the_twin() -> None:
    y, t, m, X = _arrays(n=600, seed=23)
    grid = np.array([-0.4, 0.0, 0.4])
    sens = rho_sensitivity_interaction(y, t, m, X, rho=grid)
    rng = np.random.default_rng(5)
    reps = np.empty((300, len(grid), 2))
    for b in range(len(reps)):
        i = rng.integers(0, len(y), len(y))
        for g, r in enumerate(grid):
            reps[b, g] = twin_sur(y[i], t[i], m[i], X[i], float(r))
    sd = reps.std(axis=0, ddof=1)
    np.testing.assert_allclose(sens.table["se_control"], sd[:, 0], rtol=SE_RTOL)
    np.testing.assert_allclose(sens.table["se_treated"], sd[:, 1], rtol=SE_RTOL)
