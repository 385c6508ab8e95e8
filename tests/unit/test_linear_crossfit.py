"""The linear learners' cross-fit from per-fold sufficient statistics equals fold-by-fold fits.

:mod:`cqox.nuisance.linear_crossfit` replaces ``K`` refits on copies of the training
rows by per-fold R factors (OLS) and warm-started Newton (logit); the predictions must
be those of :func:`cqox.nuisance.crossfit.crossfit_predict` with the same learners.
"""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.core.context import Context
from cqox.nuisance.crossfit import crossfit_predict, fold_ids
from cqox.nuisance.linear_crossfit import LinearCrossfit, shared_linear_crossfit

#: Two least-squares or maximum-likelihood fits of the same rows by different but
#: backward-stable algorithms agree to rounding; 1e-8 leaves room for conditioning.
SAME_FIT = 1e-8


def _data(n: int = 3000, p: int = 6, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    # badly scaled columns, as in income data: the QR path must not square the condition
    X = rng.standard_normal((n, p)) * np.array([1.0, 10.0, 1e3, 1e4, 0.1, 1.0])[:p]
    t = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0] + 0.3 * X[:, 4]))).astype(float)
    y = 1.5 * t + X @ rng.standard_normal(p) * 1e-3 + rng.standard_normal(n)
    folds = fold_ids(n, 5, rng, t)
    return X, y, t, folds


@pytest.mark.parametrize("arm", [None, 0, 1])
def test_ols_crossfit_equals_fold_by_fold_least_squares(arm: int | None) -> None:
    X, y, t, folds = _data()
    fast = LinearCrossfit(X, y, t, folds).ols("y", arm)
    mask = None if arm is None else t == arm
    slow = crossfit_predict("linear", X, y, folds, "regression", 0, mask)
    np.testing.assert_allclose(fast.pred, slow.pred, rtol=SAME_FIT)
    np.testing.assert_allclose(fast.fold_metric, slow.fold_metric, rtol=SAME_FIT)


def test_logit_crossfit_equals_fold_by_fold_maximum_likelihood() -> None:
    X, y, t, folds = _data()
    fast = LinearCrossfit(X, y, t, folds).logit(None)
    slow = crossfit_predict("logistic", X, t, folds, "classification", 0)
    np.testing.assert_allclose(fast.pred, slow.pred, rtol=SAME_FIT)
    np.testing.assert_allclose(fast.fold_metric, slow.fold_metric, rtol=SAME_FIT)


def test_logit_crossfit_from_a_warm_start_reaches_the_same_fit() -> None:
    X, y, t, folds = _data(seed=3)
    cold = LinearCrossfit(X, y, t, folds).logit(None)
    start = np.zeros(X.shape[1] + 1)
    start[1] = 0.9  # near the truth, as the full-sample fit is
    warm = LinearCrossfit(X, y, t, folds).logit(start)
    np.testing.assert_allclose(warm.pred, cold.pred, rtol=SAME_FIT)


def test_rank_deficient_fold_falls_back_to_the_learner() -> None:
    X, y, t, folds = _data()
    X = np.column_stack([X, 2 * X[:, 0]])  # an exactly collinear column
    fast = LinearCrossfit(X, y, t, folds).ols("y", None)
    slow = crossfit_predict("linear", X, y, folds, "regression", 0)
    np.testing.assert_allclose(fast.pred, slow.pred, rtol=SAME_FIT)


def test_shared_crossfit_is_found_by_value_not_identity() -> None:
    X, y, t, folds = _data()
    cache: dict[object, object] = {}
    first = shared_linear_crossfit(cache, X, y, t, folds)
    assert shared_linear_crossfit(cache, X.copy(), y.copy(), t.copy(), folds.copy()) is first
    other = folds.copy()
    other[0] = (other[0] + 1) % 5
    assert shared_linear_crossfit(cache, X, y, t, other) is not first


def test_dml_plr_and_dml_irm_of_one_analysis_share_the_linear_nuisances() -> None:
    df, _ = cqox.simulate.confounded_binary(n=800, seed=4)
    ctx = Context(seed=0)
    roles = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]}
    for name in ("dml_irm", "dml_plr"):
        cls = cqox.estimators.registry.get(name)
        est = cls(learner="linear", n_rep=1)
        est.fit(df, cqox.core.roles.Roles.from_mapping(roles), ctx)
    entries = [
        v for k, v in ctx.cache.items() if isinstance(k, tuple) and k[0] == "linear_crossfit"
    ]
    assert len(entries) == 1 and len(entries[0]) == 1  # one cross-fit served both
