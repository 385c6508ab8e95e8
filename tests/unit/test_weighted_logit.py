"""The one weighted logit solver agrees with the unweighted MLE and with frequency weights."""

from __future__ import annotations

import numpy as np

from cqox.nuisance.glm import fit_binary, weighted_logit

#: Both solvers stop at a step below 1e-10 on well-conditioned data.
COEF_TOLERANCE = 1e-7


def test_unit_weights_give_the_unweighted_mle() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 3))
    t = (rng.random(2000) < 1 / (1 + np.exp(-(X @ [0.8, -0.5, 0.2])))).astype(float)
    Z = np.column_stack([np.ones(2000), X])
    coef, converged = weighted_logit(Z, t, np.ones(2000))
    assert converged
    np.testing.assert_allclose(coef, fit_binary(X, t).coef, atol=COEF_TOLERANCE)


def test_integer_weights_equal_repeated_rows() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 2))
    t = (rng.random(500) < 0.4).astype(float)
    w = rng.integers(1, 4, 500).astype(float)
    Z = np.column_stack([np.ones(500), X])
    weighted, _ = weighted_logit(Z, t, w)
    rep = np.repeat(np.arange(500), w.astype(int))
    repeated, _ = weighted_logit(Z[rep], t[rep], np.ones(len(rep)))
    np.testing.assert_allclose(weighted, repeated, atol=COEF_TOLERANCE)


def test_influence_along_equals_the_full_influence_matrix_product() -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 3))
    t = (rng.random(400) < 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    fit = fit_binary(X, t)
    D = rng.standard_normal(4)
    np.testing.assert_allclose(fit.influence_along(D), fit.beta_influence() @ D, rtol=1e-10)
