"""Units of the mediation estimators: roles, models, the simulation, ρ sensitivity, figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.mediation import quasi_bayes as qb
from cqox.estimators.mediation.models import choose_family, fit_model
from cqox.estimators.mediation.sensitivity import acme_rho, rho_sensitivity
from cqox.simulate.mediation import mediation_linear

COVS = ["x1", "x2", "x3"]
ROLES = {"outcome": "y", "treatment": "t", "mediator": "m", "covariates": COVS}
#: Two Monte-Carlo means of 20,000 draws each: 5 MC SEs (false alarm ~6e-7).
MC_Z = 5.0


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, dict[str, float]]:
    return mediation_linear(n=800, interaction=0.4, seed=4)


def _arrays(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return (*(df[c].to_numpy(float) for c in ("y", "t", "m")), df[COVS].to_numpy(float))


def test_the_mediator_may_not_be_a_covariate(data: tuple[pd.DataFrame, dict[str, float]]) -> None:
    df, _ = data
    for name in ("mediation", "mediation_dml"):
        with pytest.raises(cqox.RoleError, match="'m' is the mediator"):
            cqox.estimate(name, df, **{**ROLES, "covariates": ["x1", "m"]})
        with pytest.raises(cqox.RoleError, match="'m' is the mediator"):
            cqox.estimate(name, df, **{**ROLES, "covariates": "x1 + I(m**2)"})


def test_a_text_or_constant_mediator_is_refused_naming_it(
    data: tuple[pd.DataFrame, dict[str, float]],
) -> None:
    df, _ = data
    with pytest.raises(cqox.RoleError, match="role 'mediator': column 'm' must be numeric"):
        cqox.estimate("mediation", df.assign(m="high"), **ROLES)
    with pytest.raises(cqox.RoleError, match="role 'mediator': column 'm' is constant"):
        cqox.estimate("mediation_dml", df.assign(m=1.0), **ROLES)
    with pytest.raises(cqox.RoleError, match="role 'mediator' is required"):
        cqox.estimate("mediation", df, outcome="y", treatment="t", covariates=COVS)


def test_a_non_binary_variable_cannot_have_a_logistic_model(
    data: tuple[pd.DataFrame, dict[str, float]],
) -> None:
    df, _ = data
    with pytest.raises(cqox.EstimationError, match="mediator model is probit"):
        cqox.estimate("mediation", df, **ROLES, mediator_model="probit")


def test_auto_models_are_logistic_for_0_1_and_linear_otherwise() -> None:
    assert choose_family(np.array([0.0, 1.0, 1.0]), "auto") == "logistic"
    assert choose_family(np.array([0.0, 2.0]), "auto") == "linear"
    assert choose_family(np.array([0.0, 1.0]), "probit") == "probit"


def test_without_coefficient_uncertainty_the_draws_are_the_plug_in_products(
    data: tuple[pd.DataFrame, dict[str, float]],
) -> None:
    """With V̂ = 0 every draw of a linear model's ACME is (γ̂ + κ̂ t)·α̂1 (errors cancel)."""
    y, t, m, X = _arrays(data[0])
    design = qb.MediationDesign(True)
    med = fit_model(design.mediator(t, X), m, "linear", "hc3", "mediator")
    out = fit_model(design.outcome(t, m, X), y, "linear", "hc3", "outcome")
    zero = {"vcov": np.zeros_like(med.vcov)}
    import dataclasses

    med0 = dataclasses.replace(med, **zero)
    out0 = dataclasses.replace(out, vcov=np.zeros_like(out.vcov))
    for closed in (True, False):
        draws = qb.simulate_effects(med0, out0, design, X, 50, np.random.default_rng(1), closed)
        np.testing.assert_allclose(draws.delta0, out.coef[2] * med.coef[1], rtol=1e-12)
        np.testing.assert_allclose(
            draws.delta1, (out.coef[2] + out.coef[3]) * med.coef[1], rtol=1e-12
        )


def test_the_closed_form_linear_path_has_the_simulations_distribution(
    data: tuple[pd.DataFrame, dict[str, float]],
) -> None:
    y, t, m, X = _arrays(data[0])
    design = qb.MediationDesign(True)
    med = fit_model(design.mediator(t, X), m, "linear", "hc3", "mediator")
    out = fit_model(design.outcome(t, m, X), y, "linear", "hc3", "outcome")
    s = 20_000
    fast = qb.simulate_effects(med, out, design, X, s, np.random.default_rng(2), True).by_key()
    slow = qb.simulate_effects(med, out, design, X, s, np.random.default_rng(3), False).by_key()
    for key in ("NIE_control", "NIE_treated", "NDE_control", "NDE_treated", "TE"):
        sd = slow[key].std()
        assert abs(fast[key].mean() - slow[key].mean()) <= MC_Z * sd * np.sqrt(2 / s), key
        assert fast[key].std() == pytest.approx(sd, rel=0.05), key


def test_mediate_p_value_is_twice_the_smaller_tail_share() -> None:
    x = np.array([-1.0, 1.0, 2.0, 3.0])
    assert qb.mediate_pvalue(x, 1.25) == 0.5
    assert qb.mediate_pvalue(np.ones(5), 1.0) != qb.mediate_pvalue(np.ones(5), 1.0)  # NaN
    assert qb.mediate_pvalue(x, 0.0) == 1.0


def test_the_effects_table_lists_what_r_mediate_reports(
    data: tuple[pd.DataFrame, dict[str, float]],
) -> None:
    df, _ = data
    est = cqox.estimate("mediation", df, **ROLES, interaction=True, n_draws=200, seed=1)
    table = est.tables["effects"].set_index("effect")
    assert list(table.index) == list(qb.EFFECT_LABELS)
    assert table.loc["NIE", "estimate"] == pytest.approx(
        (table.loc["NIE_control", "estimate"] + table.loc["NIE_treated", "estimate"]) / 2
    )
    assert est.estimate == table.loc["NIE", "estimate"]
    assert est.ci == (table.loc["NIE", "ci_low"], table.loc["NIE", "ci_high"])
    # with an interaction each arm has its own ρ curve (``medsens``'s ACME(0)/ACME(1))
    assert {"estimate_control", "estimate_treated"} <= set(est.tables["sensitivity"])


def test_acme_rho_is_the_product_at_zero_and_vanishes_at_rho_tilde(
    data: tuple[pd.DataFrame, dict[str, float]],
) -> None:
    df, _ = mediation_linear(n=800, seed=5)
    y, t, m, X = _arrays(df)
    sens = rho_sensitivity(y, t, m, X)
    design = qb.MediationDesign(False)
    med = fit_model(design.mediator(t, X), m, "linear", "hc3", "mediator")
    out = fit_model(design.outcome(t, m, X), y, "linear", "hc3", "outcome")
    at0 = sens.table.set_index("rho").loc[0.0, "estimate"]
    assert at0 == pytest.approx(med.coef[1] * out.coef[2], rel=1e-10)
    acme, _ = acme_rho(np.array([sens.rho_at_zero]), med.coef[1], 1.0, 1.0, sens.rho_at_zero)
    assert abs(acme[0]) < 1e-12
    assert sens.r2star_prod == pytest.approx(sens.rho_at_zero**2)
    assert 0 < sens.r2tilde_prod < sens.r2star_prod


def test_acme_rho_gradient_matches_finite_differences() -> None:
    theta = np.array([0.9, 2.0, 1.3, 0.7])
    rho = np.array([-0.5, 0.0, 0.3])
    _, grad = acme_rho(rho, *theta)
    h = 1e-6
    for j in range(4):
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        num = (acme_rho(rho, *up)[0] - acme_rho(rho, *dn)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, j], num, rtol=1e-6, atol=1e-9)


def test_dml_proportion_mediated_is_nie_over_te(
    data: tuple[pd.DataFrame, dict[str, float]],
) -> None:
    df, _ = data
    est = cqox.estimate("mediation_dml", df, **ROLES, learner="linear", estimand="PM", seed=1)
    t = est.tables["effects"].set_index("effect")
    assert est.estimate == pytest.approx(t.loc["NIE", "estimate"] / t.loc["TE", "estimate"])
    assert est.influence is not None and est.se == pytest.approx(
        np.sqrt(est.influence @ est.influence) / est.n
    )


def test_analyze_routes_a_named_mediator_to_the_mediation_design(
    data: tuple[pd.DataFrame, dict[str, float]],
) -> None:
    df, _ = data
    an = cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        mediator="m",
        covariates=COVS,
        estimators=["mediation", "mediation_dml"],
        params={"mediation": {"interaction": True}, "mediation_dml": {"learner": "linear"}},
        seed=1,
    )
    assert "mediation" in [str(d) for d in an.designs]
    got = {(e.estimator, e.estimand) for e in an.estimates}
    assert got == {(n, e) for n in ("mediation", "mediation_dml") for e in ("NIE", "NDE")}
    assert set(an.consensus) >= {"NIE", "NDE"}
    from cqox.report.gallery import figure_specs

    specs = {s.name: s for s in figure_specs(an)}
    assert specs["mediation_decomposition"].png().startswith(b"\x89PNG")
    assert specs["mediation_decomposition"].plotly()["data"]


def test_the_sensitivity_figure_renders() -> None:
    df, _ = mediation_linear(n=500, seed=6)
    an = cqox.analyze(df, **ROLES, estimators=["mediation"], seed=1)
    from cqox.report.gallery import figure_specs

    specs = {s.name: s for s in figure_specs(an)}
    assert specs["mediation_sensitivity"].png().startswith(b"\x89PNG")
    fig = specs["mediation_sensitivity"].plotly()
    assert len(fig["data"]) == 2 and len(fig["data"][1]["x"]) == 199
