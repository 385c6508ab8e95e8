"""Units of the ρ sensitivity analysis with a probit mediator or a probit outcome.

Which model pairs get the analysis and which are refused (by name, with the reason),
the generalised residual, the draw budget and the figure on a binary-model estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

import cqox
from cqox.estimators.mediation import sensitivity_probit as sp
from cqox.simulate.mediation import mediation_confounded

ROLES = {"outcome": "y", "treatment": "t", "mediator": "m", "covariates": ["x1", "x2", "x3"]}


@pytest.fixture(scope="module")
def binary_outcome() -> pd.DataFrame:
    return mediation_confounded(n=600, rho=0.0, binary="outcome", seed=3)[0]


@pytest.fixture(scope="module")
def binary_mediator() -> pd.DataFrame:
    return mediation_confounded(n=600, rho=0.0, binary="mediator", seed=3)[0]


def test_a_probit_outcome_gets_the_curve_and_it_vanishes_at_rho12(
    binary_outcome: pd.DataFrame,
) -> None:
    est = cqox.estimate(
        "mediation", binary_outcome, **ROLES, outcome_model="probit", n_draws=200, seed=1
    )
    table = est.tables["sensitivity"]
    assert list(table.columns[:5]) == ["rho", "estimate", "se", "ci_low", "ci_high"]
    assert np.array_equal(table["rho"], sp.RHO_GRID_PROBIT)
    assert (table["ci_low"] <= table["ci_high"]).all() and (table["se"] > 0).all()
    rho0 = est.diagnostics["sensitivity_rho_at_zero"]
    assert -1 < rho0 < 1
    # the ACME changes sign where ρ passes ρ₁₂ (δ is decreasing in ρ here)
    assert table["estimate"][table["rho"] < rho0 - 0.05].gt(0).all()
    assert table["estimate"][table["rho"] > rho0 + 0.05].lt(0).all()
    assert est.diagnostics["sensitivity_r2star_prod"] == pytest.approx(rho0**2)


def test_a_probit_mediator_gets_the_curve_with_and_without_interaction(
    binary_mediator: pd.DataFrame,
) -> None:
    for interaction in (False, True):
        est = cqox.estimate(
            "mediation",
            binary_mediator,
            **ROLES,
            mediator_model="probit",
            interaction=interaction,
            n_draws=200,
            seed=1,
        )
        table = est.tables["sensitivity"].set_index("rho")
        both = (table["estimate_control"] + table["estimate_treated"]) / 2
        assert np.allclose(table["estimate"], both)
        assert (table["estimate_control"] == table["estimate_treated"]).all() != interaction
        rho0 = est.diagnostics["sensitivity_rho_at_zero"]
        assert table["estimate"].loc[:-0.05].iloc[-1] * table["estimate"].loc[0.95] < 0
        assert -1 < rho0 < 1


@pytest.mark.parametrize(
    ("params", "frame", "says"),
    [
        ({"outcome_model": "logistic"}, "outcome", "the outcome model is logistic"),
        ({}, "outcome", "the outcome model is logistic"),  # auto: logistic for 0/1
        ({"mediator_model": "logistic"}, "mediator", "the mediator model is logistic"),
        (
            {"outcome_model": "probit", "interaction": True},
            "outcome",
            "probit outcome (Imai, Keele & Yamamoto 2010; R medsens) has no treatment",
        ),
    ],
)
def test_logit_and_unsupported_pairs_are_refused_by_name_with_the_reason(
    params: dict[str, object],
    frame: str,
    says: str,
    binary_outcome: pd.DataFrame,
    binary_mediator: pd.DataFrame,
) -> None:
    df = binary_outcome if frame == "outcome" else binary_mediator
    est = cqox.estimate("mediation", df, **ROLES, n_draws=100, seed=1, **params)
    assert "sensitivity" not in est.tables
    why = est.diagnostics["sensitivity"]
    assert why.startswith("not applicable, because") and says in why
    if "logistic" in says:
        assert "probit" in why and "normal" in why


def test_probit_mediator_and_probit_outcome_together_are_refused(
    binary_mediator: pd.DataFrame,
) -> None:
    df = binary_mediator.assign(y=(binary_mediator["y"] > 1.5).astype(int))
    est = cqox.estimate(
        "mediation", df, **ROLES, mediator_model="probit", outcome_model="probit", n_draws=100
    )
    assert "both probit" in est.diagnostics["sensitivity"]


def test_the_generalised_residual_is_the_truncated_normal_mean() -> None:
    mu = np.array([-3.0, -0.5, 0.0, 1.2, 9.0, -40.0])
    pdf = np.exp(-(mu**2) / 2) / np.sqrt(2 * np.pi)
    up = sp.generalised_residual(mu, np.ones_like(mu))
    down = sp.generalised_residual(mu, np.zeros_like(mu))
    assert np.allclose(up[:5], pdf[:5] / special.ndtr(mu[:5]), rtol=1e-12)
    assert np.allclose(down[:5], -pdf[:5] / special.ndtr(-mu[:5]), rtol=1e-12)
    # far tails stay finite (the Mills ratio of M = 1 at μ = −40 is about 40)
    assert np.isfinite(up).all() and up[-1] == pytest.approx(40.025, rel=1e-3)


def test_the_draw_budget_bounds_the_work() -> None:
    g = len(sp.RHO_GRID_PROBIT)
    assert sp.sensitivity_draws(1000, 1000) == sp.SENSITIVITY_CELLS // (1000 * g)
    assert sp.sensitivity_draws(50, 10) == 50  # never more than asked
    assert sp.sensitivity_draws(1000, 10**6) == sp.MIN_DRAWS


def test_the_sensitivity_figure_renders_for_a_probit_outcome(
    binary_outcome: pd.DataFrame,
) -> None:
    from cqox.report.figures_mediation import sensitivity_png

    est = cqox.estimate(
        "mediation", binary_outcome, **ROLES, outcome_model="probit", n_draws=100, seed=2
    )
    assert sensitivity_png(est).startswith(b"\x89PNG")
