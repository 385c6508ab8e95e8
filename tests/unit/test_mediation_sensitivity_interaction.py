"""Units of the ρ sensitivity analysis with a treatment × mediator interaction.

The closed form of :func:`rho_sensitivity_interaction` (linear mediator and outcome,
``medsens`` with ``INT = TRUE``): without the interaction term it is Theorem 2's curve,
at ρ = 0 it is the fitted models' ACME of each arm, it vanishes where it says, its
gradient is right, and the estimator and the figure publish both arms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.mediation.models import fit_model
from cqox.estimators.mediation.quasi_bayes import MediationDesign
from cqox.estimators.mediation.sensitivity import (
    acme_rho_arm,
    rho_sensitivity,
    rho_sensitivity_interaction,
)
from cqox.simulate.mediation import mediation_linear

COVS = ["x1", "x2", "x3"]
ROLES = {"outcome": "y", "treatment": "t", "mediator": "m", "covariates": COVS}
#: Two routes to the same floating-point numbers (a few roundings apart).
EXACT = 1e-10


def _arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        df["y"].to_numpy(float),
        df["t"].to_numpy(float),
        df["m"].to_numpy(float),
        df[COVS].to_numpy(float),
    )


def test_without_the_interaction_term_the_curve_is_theorem_2s() -> None:
    y, t, m, X = _arrays(mediation_linear(n=800, seed=5)[0])
    a = rho_sensitivity(y, t, m, X)
    b = rho_sensitivity_interaction(y, t, m, X, interaction=False)
    np.testing.assert_allclose(b.table["estimate"], a.table["estimate"], rtol=EXACT)
    np.testing.assert_allclose(b.table["se"], a.table["se"], rtol=EXACT)
    np.testing.assert_allclose(b.table["estimate_control"], b.table["estimate_treated"])
    assert b.rho_at_zero == pytest.approx(a.rho_at_zero, rel=EXACT)
    assert b.r2tilde_prod == pytest.approx(a.r2tilde_prod, rel=EXACT)
    assert b.rho_at_zero_arms is None


def test_at_rho_zero_each_arm_is_the_fitted_models_acme_and_vanishes_where_reported() -> None:
    y, t, m, X = _arrays(mediation_linear(n=800, interaction=0.4, seed=4)[0])
    sens = rho_sensitivity_interaction(y, t, m, X)
    d = MediationDesign(True)
    med = fit_model(d.mediator(t, X), m, "linear", "hc3", "mediator")
    out = fit_model(d.outcome(t, m, X), y, "linear", "hc3", "outcome")
    beta2, gamma, kappa = med.coef[1], out.coef[2], out.coef[3]
    at0 = sens.table.set_index("rho").loc[0.0]
    assert at0["estimate_control"] == pytest.approx(beta2 * gamma, rel=EXACT)
    assert at0["estimate_treated"] == pytest.approx(beta2 * (gamma + kappa), rel=EXACT)
    assert at0["estimate"] == pytest.approx(beta2 * (gamma + kappa / 2), rel=EXACT)
    assert sens.rho_at_zero_arms is not None
    r_y = y - d.outcome(t, m, X) @ out.coef
    e2 = m - d.mediator(t, X) @ med.coef
    theta = np.array([beta2, gamma, kappa, r_y @ r_y / len(y), e2 @ e2 / len(y)])
    for arm, rho0 in ((0.0, sens.rho_at_zero_arms[0]), (1.0, sens.rho_at_zero_arms[1])):
        assert abs(acme_rho_arm(np.array([rho0]), arm, theta)[0][0]) < 1e-12
    assert abs(acme_rho_arm(np.array([sens.rho_at_zero]), 0.5, theta)[0][0]) < 1e-12
    # the interaction makes the treated arm's ACME larger, so it survives a larger ρ
    assert sens.rho_at_zero_arms[0] < sens.rho_at_zero < sens.rho_at_zero_arms[1]
    # each arm's band is its estimate ± z·SE
    row = sens.table.iloc[120]
    assert row["ci_high_treated"] - row["estimate_treated"] == pytest.approx(
        1.959963984540054 * row["se_treated"], rel=1e-9
    )


@pytest.mark.parametrize("arm", [0.0, 0.5, 1.0])
def test_acme_rho_arm_gradient_matches_finite_differences(arm: float) -> None:
    theta = np.array([0.9, 0.8, 0.4, 1.3, 0.7])
    rho = np.array([-0.5, 0.0, 0.3])
    _, grad = acme_rho_arm(rho, arm, theta)
    h = 1e-6
    for j in range(len(theta)):
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        num = (acme_rho_arm(rho, arm, up)[0] - acme_rho_arm(rho, arm, dn)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, j], num, rtol=1e-6, atol=1e-9)


def test_the_estimator_publishes_both_arms_and_the_figure_draws_them() -> None:
    df, _ = mediation_linear(n=600, interaction=0.4, seed=2)
    an = cqox.analyze(
        df, **ROLES, estimators=["mediation"], params={"mediation": {"interaction": True}}, seed=1
    )
    est = an.estimates[0]
    s = est.tables["sensitivity"]
    assert {"estimate_control", "se_control", "ci_low_treated", "ci_high_treated"} <= set(s)
    assert len(s) == 199
    d = est.diagnostics
    assert d["sensitivity_rho_at_zero_control"] < d["sensitivity_rho_at_zero_treated"]
    assert "sensitivity" not in d  # no "not applicable" message any more
    from cqox.report.gallery import figure_specs

    specs = {sp.name: sp for sp in figure_specs(an)}
    fig = specs["mediation_sensitivity"].plotly()
    names = [tr["name"] for tr in fig["data"]]
    assert "ACME(0), control arm" in names and "ACME(1), treated arm" in names
    assert len(fig["data"]) == 6  # average band + line, each arm's band + line
    assert specs["mediation_sensitivity"].png().startswith(b"\x89PNG")


def test_without_interaction_the_figure_draws_one_curve() -> None:
    df, _ = mediation_linear(n=500, seed=6)
    an = cqox.analyze(df, **ROLES, estimators=["mediation"], seed=1)
    from cqox.report.gallery import figure_specs

    specs = {sp.name: sp for sp in figure_specs(an)}
    assert len(specs["mediation_sensitivity"].plotly()["data"]) == 2
