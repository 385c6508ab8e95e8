"""Heterogeneous-effect figures render (Plotly and PNG) from a real analysis."""

from __future__ import annotations

import pytest

import cqox
from cqox.report.gallery import figure_specs
from cqox.simulate.cate import wager_athey_2018

NAMES = {
    "cate_landscape",
    "cate_heatmap",
    "gates",
    "uplift",
    "targeting",
    "variable_importance",
    "policy_tree",
}


@pytest.fixture(scope="module")
def analysis() -> cqox.Analysis:
    df, _ = wager_athey_2018("heterogeneous", n=600, p=3, seed=3)
    return cqox.analyze(
        df,
        outcome="y",
        treatment="t",
        covariates=["x1", "x2", "x3"],
        estimators=["causal_forest", "policy_tree"],
        params={
            "causal_forest": {"n_trees": 100, "learner": "linear", "budgets": [0.5]},
            "policy_tree": {"learner": "linear"},
        },
        seed=1,
    )


def test_every_cate_figure_renders(analysis: cqox.Analysis) -> None:
    specs = {s.name: s for s in figure_specs(analysis)}
    assert set(specs) >= NAMES
    for name in NAMES:
        png = specs[name].png()
        assert png.startswith(b"\x89PNG"), name
        fig = specs[name].plotly()
        assert fig["data"], name


def test_landscape_varies_along_the_effect_modifiers(analysis: cqox.Analysis) -> None:
    from cqox.report.figures_cate import top_two

    est = next(e for e in analysis.estimates if e.estimator == "causal_forest")
    assert set(top_two(est)) == {0, 1}  # τ(x) = ξ(x1)ξ(x2)


def test_policy_surface_is_gain_minus_cost() -> None:
    import numpy as np
    import pandas as pd

    from cqox.report.figures_cate import policy_surface

    curve = pd.DataFrame({"share_treated": [0.0, 0.5, 1.0], "uplift": [0.0, 1.0, 1.2]})
    _, c, net = policy_surface(curve)
    assert c[-1] == 2.0  # the best mean effect: 1.0 over the top half
    np.testing.assert_allclose(net[-1], [0.0, 0.0, -0.8])
