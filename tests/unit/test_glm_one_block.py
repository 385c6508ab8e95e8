"""The propensity logit/probit on a table of one block: same fit, fewer passes.

Proves that a table of at most ``GRAM_BLOCK`` rows is standardised once and kept in the
fit (``design``), with the same coefficients, probabilities and products as the
block-by-block fit of a bigger table; that on the kept design the information matrix is
formed only at the solution (the Newton steps in between by conjugate gradients on
information–vector products), and that this inexact Newton finds the same maximum as
exact Newton run far past the tolerance, also when its conjugate gradients give up
and the information is formed anew; that the last Newton step (below ``TOLERANCE``)
costs no pass over the rows; and that the information reported for the sandwich
equals the one at the final coefficients to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest

from cqox.nuisance import glm
from cqox.nuisance.glm import BinaryFit, fit_binary

#: Two summation orders of the same numbers.
SAME = 1e-12
#: Two iterations to the same maximum, each stopped by a step below TOLERANCE (1e-10 per
#: standardised coefficient): the one-block fit's inexact Newton and the block-by-block
#: fit's exact Newton.  The probit's Fisher scoring converges linearly, so each stops
#: some 1e-12 from the maximum (relative, on the original scale of the intercept).
TWO_PATHS = 1e-10
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
    np.testing.assert_allclose(kept.coef, blocked.coef, rtol=TWO_PATHS, atol=SAME)
    np.testing.assert_allclose(kept.p_hat, blocked.p_hat, rtol=TWO_PATHS, atol=SAME)
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
    monkeypatch.setattr(glm, "GRAM_BLOCK", 512)  # block by block: one binary_pass a step
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


def test_a_kept_design_forms_the_information_only_at_the_solution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, t = _data()
    passes: list[int] = []
    formed: list[int] = []
    real_pass, real_information = glm.score_pass, glm.information

    def counted_pass(*args: object, **kwargs: object) -> tuple[float, np.ndarray, np.ndarray]:
        passes.append(1)
        return real_pass(*args, **kwargs)  # type: ignore[arg-type]

    def counted_information(*args: object, **kwargs: object) -> np.ndarray:
        formed.append(1)
        return real_information(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(glm, "score_pass", counted_pass)
    monkeypatch.setattr(glm, "information", counted_information)
    fit = fit_binary(X, t)
    assert fit.converged and fit.design is not None
    assert len(passes) == fit.n_iter  # as exact Newton: the last step costs no pass
    assert len(formed) == 1  # the sandwich's, at the solution


def _tight_exact_fit(X: np.ndarray, t: np.ndarray, link: str, mp: pytest.MonkeyPatch) -> BinaryFit:
    """Exact Newton (block by block) run to steps of 1e-14: the maximum to rounding."""
    with mp.context() as m:
        m.setattr(glm, "GRAM_BLOCK", 512)
        m.setattr(glm, "TOLERANCE", 1e-14)
        m.setattr(glm, "MAX_ITER", 300)
        return fit_binary(X, t, link)


@pytest.mark.parametrize("max_cg", [glm.MAX_CG, 1])
@pytest.mark.parametrize("link", ["logit", "probit"])
def test_inexact_newton_finds_the_maximum_likelihood(
    link: str, max_cg: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # strongly correlated covariates on very different scales, a strong signal; with
    # max_cg = 1 the conjugate gradients give up at every step and the information is
    # formed afresh there (the fallback)
    rng = np.random.default_rng(11)
    n, p = 4000, 8
    C = 0.8 * np.ones((p, p)) + 0.2 * np.eye(p)
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(C).T * np.logspace(-1, 3, p) + 500.0
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    t = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * Xs[:, 0] - 2.0 * Xs[:, 3])))).astype(float)
    monkeypatch.setattr(glm, "MAX_CG", max_cg)
    fit = fit_binary(X, t, link)
    assert fit.design is not None and fit.converged
    truth = _tight_exact_fit(X, t, link, monkeypatch)
    np.testing.assert_allclose(fit.coef, truth.coef, rtol=TWO_PATHS, atol=SAME)
    np.testing.assert_allclose(fit.p_hat, truth.p_hat, rtol=TWO_PATHS, atol=SAME)
    np.testing.assert_allclose(fit.hessian, truth.hessian, rtol=LAST_STEP, atol=SAME)


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
