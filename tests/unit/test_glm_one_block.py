"""The propensity logit/probit on a table of one block: same fit, fewer passes.

Proves that a table of at most ``GRAM_BLOCK`` rows is standardised once and kept in the
fit (``design``), with the same coefficients, probabilities and products as the
block-by-block fit of a bigger table; that the last Newton step (below ``TOLERANCE``)
costs no pass over the rows; and that the information reported for the sandwich, taken
at the previous iterate, equals the one at the final coefficients to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest

from cqox.nuisance import glm
from cqox.nuisance.glm import BinaryFit, fit_binary

#: Two summation orders of the same numbers.
SAME = 1e-12
#: The information at the previous Newton iterate against the one at the solution: they
#: are at most TOLERANCE (1e-10) apart per standardised coefficient.
LAST_STEP = 1e-10


def _data(n: int = 3000, p: int = 6, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * np.linspace(0.5, 3.0, p) + np.linspace(0.0, 50.0, p)
    index = 0.6 * (X[:, 0] - X[:, 0].mean()) - 0.3 * (X[:, 1] - X[:, 1].mean())
    t = (rng.random(n) < 1 / (1 + np.exp(-index))).astype(float)
    return X, t


def _information_at_solution(fit: BinaryFit) -> np.ndarray:
    """Minus the mean Hessian at the final coefficients (the probit's observed one)."""
    Z = fit.Z
    if fit.link == "logit":
        w = fit.dp_deta
    else:
        beta = np.concatenate([[fit.coef[0] + fit.coef[1:] @ fit.mean], fit.coef[1:] * fit.scale])
        w = fit.score_weight * (fit.score_weight + Z @ beta)
    return np.asarray((Z * w[:, None]).T @ Z / len(w))


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_a_one_block_fit_equals_the_block_by_block_fit(
    link: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, t = _data()
    kept = fit_binary(X, t, link)
    assert kept.design is not None and kept.design.shape == (len(t), X.shape[1] + 1)
    monkeypatch.setattr(glm, "GRAM_BLOCK", 512)  # the same table in six blocks
    blocked = fit_binary(X, t, link)
    assert blocked.design is None
    np.testing.assert_allclose(kept.coef, blocked.coef, rtol=SAME, atol=SAME)
    np.testing.assert_allclose(kept.p_hat, blocked.p_hat, rtol=SAME, atol=SAME)
    np.testing.assert_allclose(kept.hessian, blocked.hessian, rtol=LAST_STEP, atol=SAME)
    v = np.linspace(-1.0, 1.0, X.shape[1] + 1)
    np.testing.assert_allclose(kept.z_dot(v), blocked.z_dot(v), rtol=SAME, atol=SAME)
    w = t - kept.p_hat
    np.testing.assert_allclose(kept.zt_dot(w), blocked.zt_dot(w), rtol=SAME, atol=1e-9)
    np.testing.assert_allclose(kept.score_gram(), blocked.score_gram(), rtol=1e-10)
    D = np.ones(X.shape[1] + 1)
    np.testing.assert_allclose(
        kept.influence_along(D), blocked.influence_along(D), rtol=1e-9, atol=1e-12
    )


def test_the_last_newton_step_costs_no_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    X, t = _data()
    passes: list[int] = []
    real = glm.binary_pass

    def counted(*args: object, **kwargs: object) -> tuple[float, np.ndarray, np.ndarray]:
        passes.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(glm, "binary_pass", counted)
    fit = fit_binary(X, t)
    assert fit.converged
    # one pass at the start, one per Newton step but the last (no step halving here)
    assert len(passes) == fit.n_iter


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_the_reported_information_is_that_of_the_solution(link: str) -> None:
    X, t = _data(seed=7)
    fit = fit_binary(X, t, link)
    np.testing.assert_allclose(
        fit.hessian, _information_at_solution(fit), rtol=LAST_STEP, atol=LAST_STEP
    )


def test_a_table_of_several_blocks_keeps_no_design(monkeypatch: pytest.MonkeyPatch) -> None:
    X, t = _data(n=1200)
    monkeypatch.setattr(glm, "GRAM_BLOCK", 1000)
    assert fit_binary(X, t).design is None
