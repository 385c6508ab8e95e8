"""Blocked kernels of big tables: the direct formulas' sums, without n × k copies.

Proves that the column moments and Gram matrices accumulated over blocks of rows equal
NumPy's direct computations (on tables of several blocks), that the maximum-likelihood
logit, the VIF gate, the randomization check and the correlation of the prepared
covariates allocate far less than one copy of the covariates, and that the folds'
logits solved together from the full-sample fit are the fold-by-fold MLEs.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cqox.analysis.baseline import randomization_check
from cqox.data.prepare import _correlation
from cqox.gates.balance import vif
from cqox.nuisance import linear_crossfit
from cqox.nuisance.blocked import ROW_BLOCK, centred_gram, column_mean_sd, design_gram
from cqox.nuisance.crossfit import crossfit_predict, fold_ids
from cqox.nuisance.glm import fit_binary
from cqox.nuisance.linear_crossfit import LinearCrossfit

#: Two summation orders of the same numbers.
SAME = 1e-10


def _table(n: int = 2 * ROW_BLOCK + 123, p: int = 5, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * np.linspace(0.5, 5.0, p) + np.linspace(0.0, 100.0, p)
    t = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - X[:, 0].mean())))).astype(float)
    return X, t


def test_column_moments_equal_numpy() -> None:
    X, _ = _table()
    mean, sd = column_mean_sd(X)
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=SAME)
    np.testing.assert_allclose(sd, X.std(axis=0), rtol=SAME)


def test_gram_matrices_equal_the_explicit_products() -> None:
    X, t = _table()
    w = np.linspace(0.1, 2.0, len(t))
    Z = np.column_stack([np.ones(len(t)), X - X.mean(axis=0), t])
    np.testing.assert_allclose(
        design_gram(X, extra=t, weights=w, center=X.mean(axis=0)),
        (Z * w[:, None]).T @ Z,
        rtol=SAME,
        atol=1e-6,
    )
    dev = X - X[0]
    np.testing.assert_allclose(centred_gram(X, X[0]), dev.T @ dev, rtol=SAME)


def _peak_bytes(call: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "kernel",
    ["fit_binary", "vif", "randomization_check", "correlation", "crossfit_logit"],
)
def test_kernels_make_no_copy_of_the_covariates(kernel: str) -> None:
    X, t = _table(n=8 * ROW_BLOCK, p=40)
    folds = fold_ids(len(t), 5, np.random.default_rng(0), t)
    start = fit_binary(X, t).coef if kernel == "crossfit_logit" else None
    calls: dict[str, Callable[[], Any]] = {
        "fit_binary": lambda: fit_binary(X, t),
        "vif": lambda: vif(X),
        "randomization_check": lambda: randomization_check(t, X, [f"x{j}" for j in range(40)]),
        "correlation": lambda: _correlation(X),
        "crossfit_logit": lambda: LinearCrossfit(X, t, t, folds).logit(start),
    }
    # n-vectors (probabilities, weights, predictions, folds) and a block of rows or
    # two: less than half of the 42 MB of X
    assert _peak_bytes(calls[kernel]) < X.nbytes / 2


def test_folds_solved_together_are_the_fold_by_fold_maximum_likelihood(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, t = _table(n=5000, p=6, seed=4)
    folds = fold_ids(len(t), 5, np.random.default_rng(1), t)
    newton_calls = []
    own_newton = linear_crossfit._logit_newton

    def counted(*args: Any) -> Any:
        newton_calls.append(1)
        return own_newton(*args)

    monkeypatch.setattr(linear_crossfit, "_logit_newton", counted)
    shared = LinearCrossfit(X, t, t, folds).logit(fit_binary(X, t).coef)
    assert not newton_calls  # every fold settled on the shared information
    slow = crossfit_predict("logistic", X, t, folds, "classification", 0)
    np.testing.assert_allclose(shared.pred, slow.pred, rtol=1e-8)
    np.testing.assert_allclose(shared.fold_metric, slow.fold_metric, rtol=1e-8)


def test_a_fold_far_from_the_start_gets_its_own_newton(monkeypatch: pytest.MonkeyPatch) -> None:
    X, t = _table(n=3000, p=4, seed=5)
    folds = fold_ids(len(t), 5, np.random.default_rng(2), t)
    newton_calls = []
    own_newton = linear_crossfit._logit_newton

    def counted(*args: Any) -> Any:
        newton_calls.append(1)
        return own_newton(*args)

    monkeypatch.setattr(linear_crossfit, "_logit_newton", counted)
    far = fit_binary(X, t).coef * 4.0  # the information there is far from the MLE's
    fitted = LinearCrossfit(X, t, t, folds).logit(far)
    assert newton_calls
    slow = crossfit_predict("logistic", X, t, folds, "classification", 0)
    np.testing.assert_allclose(fitted.pred, slow.pred, rtol=1e-8)
