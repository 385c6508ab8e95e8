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

from cqox.errors import SeparationError
from cqox.nuisance.glm import MAX_COEF, MAX_ITER, TOLERANCE, standardise


@dataclass(frozen=True)
class MultinomialFit:
    """A fitted multinomial logit.

    The arrays of observations are views of level-by-row (transposed) arrays, so that
    a level's column (``p_hat[:, j]``) is contiguous and the products over rows run on
    contiguous rows.

    Attributes
    ----------
    coef : ndarray, shape (p + 1, K − 1)
        Coefficients of levels ``1 … K−1`` against level 0 (intercept first), on the
        original covariate scale.
    p_hat : ndarray, shape (n, K)
        Fitted probabilities of every level.
    Z : ndarray, shape (n, p + 1)
        Design used internally (intercept, standardised covariates).
    resid : ndarray, shape (n, K − 1)
        ``1{T_i=k} − p̂_ik`` for levels ``1 … K−1``: the score of observation ``i`` is
        ``resid_ik z_i`` in block ``k`` (:attr:`score`).
    hessian : ndarray, shape ((p + 1)(K − 1), (p + 1)(K − 1))
        Minus the mean Hessian of the log-likelihood (positive definite).
    n_iter : int
    converged : bool
    """

    coef: np.ndarray
    p_hat: np.ndarray
    Z: np.ndarray
    resid: np.ndarray
    hessian: np.ndarray
    n_iter: int
    converged: bool

    @property
    def score(self) -> np.ndarray:
        """Per-observation score, shape (n, (p + 1)(K − 1)), blocks by level."""
        return _blocks(self.resid.T, self.Z.T).T

    def dp_dtheta(self, j: int) -> np.ndarray:
        """``∂p_ij/∂θ`` per observation, shape (n, (p + 1)(K − 1)).

        Block ``k`` (level ``k = 1 … K−1``) is ``p_ij (δ_jk − p_ik) z_i``.
        """
        return _blocks(self._dp_weight(j, None), self.Z.T).T

    def dp_along(self, j: int, c: np.ndarray) -> np.ndarray:
        """``Σ_i c_i ∂p_ij/∂θ``, shape ((p + 1)(K − 1),): ``c @ dp_dtheta(j)`` in one product.

        Block ``k`` is ``Z'(c ∘ p_j ∘ (δ_jk − p_k))``, so no n × (p + 1)(K − 1) array.
        """
        return np.asarray((self._dp_weight(j, c) @ self.Z).ravel())

    def _dp_weight(self, j: int, c: np.ndarray | None) -> np.ndarray:
        """``c_i p_ij (δ_jk − p_ik)``, shape (K − 1, n) (``c = 1`` when ``None``)."""
        pT = self.p_hat.T
        pj = pT[j] if c is None else c * pT[j]
        delta = (np.arange(1, pT.shape[0]) == j).astype(np.float64)
        return np.asarray(pj * (delta[:, None] - pT[1:]))

    def influence_along(self, D: np.ndarray) -> np.ndarray:
        """``(H⁻¹ s_i)' D`` per observation: θ̂'s influence through ``D``.

        ``D`` of shape ((p + 1)(K − 1),) gives shape (n,); several directions as the
        columns of ``D`` (shape ((p + 1)(K − 1), m)) give shape (n, m) from one solve.
        ``s_i'v = Σ_k resid_ik z_i'v_k``, from ``Z`` and :attr:`resid` (no score matrix).
        """
        v = np.linalg.solve(self.hessian, D)
        residT, ZT = self.resid.T, self.Z.T
        K1, k = residT.shape[0], ZT.shape[0]
        blocks = v.reshape(K1, k, -1)
        out = (blocks[0].T @ ZT) * residT[0]
        for a in range(1, K1):
            out += (blocks[a].T @ ZT) * residT[a]
        return out[0] if v.ndim == 1 else out.T


def _blocks(weights: np.ndarray, ZT: np.ndarray) -> np.ndarray:
    """Rows ``w_a ∘ z`` for every row ``a`` of ``weights``: shape (K1 k, n), blocks by ``a``."""
    K1, n = weights.shape
    return (weights[:, None, :] * ZT[None, :, :]).reshape(K1 * ZT.shape[0], n)


def _evaluate(ZT: np.ndarray, B: np.ndarray, own: float) -> tuple[float, np.ndarray]:
    """Log-likelihood and fitted probabilities (level × row) at ``B``, from one index.

    ``ℓ = Σ_i η_{i,T_i} − Σ_i log Σ_j exp η_ij`` with the row maximum taken out of the
    exponent (the log-sum-exp), and ``p_ij = exp η_ij / Σ_j exp η_ij`` from the same
    exponentials; ``own`` is ``Σ_i η_{i,T_i}``, computed by the caller from the
    per-level sums of ``z`` (``Σ_k β_k' Σ_{T_i=k} z_i``).
    """
    n, K1 = ZT.shape[1], B.shape[1]
    eta = np.empty((K1 + 1, n))
    eta[0] = 0.0
    np.matmul(B.T, ZT, out=eta[1:])
    top = eta.max(axis=0)
    e = np.exp(eta - top)
    total = e.sum(axis=0)
    ll = own - float((top + np.log(total)).sum())
    e /= total
    return ll, e


def _information(ZT: np.ndarray, p1T: np.ndarray) -> np.ndarray:
    """Minus the Hessian summed over rows, blocks ``Σ p_k(δ_kl − p_l) z z'``.

    With ``G`` the k(K − 1) × n matrix of the blocks ``p_k z``, the information is
    ``blockdiag(G_k Z) − G G'``: two products for every block at once.
    """
    k = ZT.shape[0]
    G = _blocks(p1T, ZT)
    info = -(G @ G.T)
    diag = G @ ZT.T  # (K1 k, k): the blocks G_k Z stacked
    for a in range(p1T.shape[0]):
        info[a * k : (a + 1) * k, a * k : (a + 1) * k] += diag[a * k : (a + 1) * k]
    return info


def fit_multinomial_logit(X: np.ndarray, t: np.ndarray, n_levels: int) -> MultinomialFit:
    """Maximum-likelihood multinomial logit of level codes ``t`` (0 … K−1) on ``X``.

    Newton–Raphson with step halving from the intercept-only solution.  Raises
    :class:`SeparationError` when the coefficients diverge (a level is perfectly
    predicted by the covariates), as :func:`cqox.nuisance.glm.fit_binary` does.  Each
    candidate's probabilities come with its log-likelihood, so an accepted step's are
    not computed again; the arrays are level × row so every product runs over
    contiguous rows.
    """
    Z, mean, scale = standardise(np.asarray(X, dtype=np.float64))
    ZT = np.ascontiguousarray(Z.T)
    codes = np.asarray(t).astype(np.int64)
    n, k = Z.shape
    K1 = n_levels - 1
    onehot = np.zeros((n_levels, n))
    onehot[codes, np.arange(n)] = 1.0
    level_sums = onehot[1:] @ Z  # (K1, k): Σ_{T_i=k} z_i, so Σ_i η_{i,T_i} = Σ_k β_k'·this
    share = np.bincount(codes, minlength=n_levels) / n
    B = np.zeros((k, K1))
    B[0] = np.log(share[1:] / share[0])
    ll, p = _evaluate(ZT, B, float(np.sum(level_sums.T * B)))
    converged = False
    it = 0
    for it in range(1, MAX_ITER + 1):  # noqa: B007 (it is reported after the loop)
        grad = ((onehot[1:] - p[1:]) @ Z).ravel()  # blocks by level
        info = _information(ZT, p[1:])
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        step_B = step.reshape(K1, k).T
        size = 1.0
        while True:
            cand = B + size * step_B
            ll_new, p_new = _evaluate(ZT, cand, float(np.sum(level_sums.T * cand)))
            if ll_new >= ll - 1e-12 or size < 1e-8:
                break
            size /= 2
        B, ll, p = cand, ll_new, p_new
        if np.max(np.abs(size * step)) < TOLERANCE:
            converged = True
            break
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
    resid = onehot[1:] - p[1:]
    hessian = _information(ZT, p[1:]) / n
    coef = np.empty_like(B)
    coef[1:] = B[1:] / scale[:, None]
    coef[0] = B[0] - (mean / scale) @ B[1:]
    return MultinomialFit(coef, p.T, ZT.T, resid.T, hessian, it, converged)
