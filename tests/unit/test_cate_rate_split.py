"""The split-sample RATE: the rule that ranks the evaluation half never saw its outcomes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cqox.core.context import Context
from cqox.core.roles import Roles
from cqox.estimators.cate.heterogeneity import RateSplit, rate
from cqox.estimators.cate.nuisances import rate_halves
from cqox.estimators.registry import get
from cqox.simulate.cate import wager_athey_2018

COVS = ["x1", "x2", "x3", "x4"]


def _rate_split(name: str, y_shift: np.ndarray | None, **params: Any) -> RateSplit:
    df, _ = wager_athey_2018("heterogeneous", n=600, p=4, seed=7)
    if y_shift is not None:
        df["y"] = df["y"] + y_shift
    est = get(name)(learner="linear", n_folds=3, **params)
    resolved = est.resolved_params()
    data = est.prepare(df, Roles(outcome="y", treatment="t", covariates=COVS), resolved)
    split: RateSplit = est._rate_split(data, resolved, Context(seed=4))  # type: ignore[attr-defined]
    return split


def _eval_half() -> np.ndarray:
    df, _ = wager_athey_2018("heterogeneous", n=600, p=4, seed=7)
    return rate_halves(df["t"].to_numpy(), Context(seed=4)) == 1


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("dr_learner", {"final_learner": "linear"}),
        ("x_learner", {"final_learner": "linear"}),
        ("causal_forest", {"n_trees": 20, "n_threads": 1}),
    ],
)
def test_evaluation_ranking_does_not_depend_on_evaluation_outcomes(
    name: str, params: dict[str, Any]
) -> None:
    base = _rate_split(name, None, **params)
    noise = np.where(_eval_half(), np.random.default_rng(0).normal(0, 3, 600), 0.0)
    moved = _rate_split(name, noise, **params)
    # the evaluation rows' outcomes changed: their scores change, their ranking cannot
    assert not np.allclose(base.phi, moved.phi)
    np.testing.assert_array_equal(base.priority, moved.priority)


def test_evaluation_scores_do_not_depend_on_training_outcomes() -> None:
    base = _rate_split("dr_learner", None, final_learner="linear")
    noise = np.where(~_eval_half(), np.random.default_rng(1).normal(0, 3, 600), 0.0)
    moved = _rate_split("dr_learner", noise, final_learner="linear")
    assert not np.allclose(base.priority, moved.priority)
    np.testing.assert_array_equal(base.phi, moved.phi)


def test_half_sample_bootstrap_se_matches_the_sampling_spread() -> None:
    # a fixed ranking of pure-noise scores: the half-sample bootstrap SE of AUTOC is
    # within 15% of the spread of AUTOC over fresh samples
    rng = np.random.default_rng(5)
    x = rng.uniform(size=800)
    draws, ses = [], []
    for _ in range(200):
        phi = rng.normal(0, 2, 800)
        r = rate(phi, x, 100, rng)
        draws.append(r.autoc)
        ses.append(r.autoc_se)
    assert np.mean(ses) == pytest.approx(np.std(draws), rel=0.15)
