"""Multinomial logit for a treatment with ``K ≥ 2`` levels (the generalised propensity).

``P(T = k | X = x) = exp(z'β_k) / Σ_j exp(z'β_j)`` with ``z = (1, x)`` and ``β_0 = 0``
for the reference level 0 (McFadden 1974; the treatment model of Stata's ``teffects``
for multi-valued treatments, Cattaneo 2010, doi:10.1016/j.jeconom.2009.09.023).

The log-likelihood ``ℓ(β) = Σ_i [z_i'β_{T_i} − log Σ_j exp(z_i'β_j)]`` is concave;
Newton–Raphson with step halving on the stacked parameter
``θ = (β_1', …, β_{K−1}')'`` converges in a few steps.  Per observation the score is
``s_i = (1{T_i=k} − p_ik) z_i`` (block ``k``) and minus the Hessian has blocks
``Σ_i p_ik (δ_kl − p_il) z_i z_i'``.  With two levels this is the binary logit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from cqox.errors import SeparationError
from cqox.nuisance.glm import MAX_COEF, MAX_ITER, TOLERANCE, standardise


@dataclass(frozen=True)
class MultinomialFit:
    """A fitted multinomial logit.

    Attributes
    ----------
    coef : ndarray, shape (p + 1, K − 1)
        Coefficients of levels ``1 … K−1`` against level 0 (intercept first), on the
        original covariate scale.
    p_hat : ndarray, shape (n, K)
        Fitted probabilities of every level.
    Z : ndarray, shape (n, p + 1)
        Design used internally (intercept, standardised covariates).
    score : ndarray, shape (n, (p + 1)(K − 1))
        Per-observation score in the internal parametrisation, blocks by level.
    hessian : ndarray, shape ((p + 1)(K − 1), (p + 1)(K − 1))
        Minus the mean Hessian of the log-likelihood (positive definite).
    n_iter : int
    converged : bool
    """

    coef: np.ndarray
    p_hat: np.ndarray
    Z: np.ndarray
    score: np.ndarray
    hessian: np.ndarray
    n_iter: int
    converged: bool

    def dp_dtheta(self, j: int) -> np.ndarray:
        """``∂p_ij/∂θ`` per observation, shape (n, (p + 1)(K − 1)).

        Block ``k`` (level ``k = 1 … K−1``) is ``p_ij (δ_jk − p_ik) z_i``.
        """
        p = self.p_hat
        K = p.shape[1]
        delta = (np.arange(1, K) == j).astype(np.float64)
        coef = p[:, [j]] * (delta[None, :] - p[:, 1:])  # (n, K−1)
        return (coef[:, :, None] * self.Z[:, None, :]).reshape(len(p), -1)

    def influence_along(self, D: np.ndarray) -> np.ndarray:
        """``(H⁻¹ s_i)' D`` per observation, shape (n,): θ̂'s influence through ``D``."""
        return np.asarray(self.score @ np.linalg.solve(self.hessian, D))


def _probabilities(Z: np.ndarray, B: np.ndarray) -> np.ndarray:
    eta = np.zeros((Z.shape[0], B.shape[1] + 1))
    eta[:, 1:] = Z @ B
    return np.asarray(special.softmax(eta, axis=1))


def _loglik(Z: np.ndarray, B: np.ndarray, onehot: np.ndarray) -> float:
    eta = np.zeros((Z.shape[0], B.shape[1] + 1))
    eta[:, 1:] = Z @ B
    return float(np.sum(onehot * eta) - np.sum(special.logsumexp(eta, axis=1)))


def _information(Z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Minus the Hessian summed over rows, blocks ``Σ p_k(δ_kl − p_l) z z'``."""
    K1 = p.shape[1] - 1
    k = Z.shape[1]
    info = np.empty((K1 * k, K1 * k))
    for a in range(K1):
        for b in range(a, K1):
            w = p[:, a + 1] * ((a == b) - p[:, b + 1])
            block = (Z * w[:, None]).T @ Z
            info[a * k : (a + 1) * k, b * k : (b + 1) * k] = block
            info[b * k : (b + 1) * k, a * k : (a + 1) * k] = block.T
    return info


def fit_multinomial_logit(X: np.ndarray, t: np.ndarray, n_levels: int) -> MultinomialFit:
    """Maximum-likelihood multinomial logit of level codes ``t`` (0 … K−1) on ``X``.

    Newton–Raphson with step halving from the intercept-only solution.  Raises
    :class:`SeparationError` when the coefficients diverge (a level is perfectly
    predicted by the covariates), as :func:`cqox.nuisance.glm.fit_binary` does.
    """
    Z, mean, scale = standardise(np.asarray(X, dtype=np.float64))
    codes = np.asarray(t).astype(np.int64)
    n, k = Z.shape
    K1 = n_levels - 1
    onehot = np.zeros((n, n_levels))
    onehot[np.arange(n), codes] = 1.0
    share = onehot.mean(axis=0)
    B = np.zeros((k, K1))
    B[0] = np.log(share[1:] / share[0])
    ll = _loglik(Z, B, onehot)
    converged = False
    it = 0
    for it in range(1, MAX_ITER + 1):  # noqa: B007 (it is reported after the loop)
        p = _probabilities(Z, B)
        grad = (Z.T @ (onehot[:, 1:] - p[:, 1:])).T.ravel()  # blocks by level
        info = _information(Z, p)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        step_B = step.reshape(K1, k).T
        size = 1.0
        while True:
            cand = B + size * step_B
            ll_new = _loglik(Z, cand, onehot)
            if ll_new >= ll - 1e-12 or size < 1e-8:
                break
            size /= 2
        B, ll = cand, ll_new
        if np.max(np.abs(size * step)) < TOLERANCE:
            converged = True
            break
    p = _probabilities(Z, B)
    max_coef = float(np.max(np.abs(B[1:]), initial=0.0))
    if not converged or not np.isfinite(max_coef) or max_coef > MAX_COEF:
        raise SeparationError(
            "the multinomial propensity model separates the treatment levels (its "
            "coefficients diverge: largest |coefficient| per SD of its covariate "
            f"{max_coef:.3g}, Newton {'converged' if converged else 'not converged'} "
            f"after {it} iterations): some covariate values occur in one level only. "
            "Remove or coarsen the covariate that predicts a level perfectly, or merge "
            "sparse levels",
            details={"max_abs_coef_per_sd": max_coef, "converged": converged},
        )
    resid = onehot[:, 1:] - p[:, 1:]
    score = (resid[:, :, None] * Z[:, None, :]).reshape(n, -1)
    hessian = _information(Z, p) / n
    coef = np.empty_like(B)
    coef[1:] = B[1:] / scale[:, None]
    coef[0] = B[0] - (mean / scale) @ B[1:]
    return MultinomialFit(coef, p, Z, score, hessian, it, converged)
