"""Pooled logistic regression over the unit-periods by Newton–Raphson on one array.

The treatment models of ``msm_iptw`` (*Causal Inference: What If*, ch. 12.5 and 21) are
logits of ``A_t`` pooled over the ``n·K`` unit-periods on a handful of columns (the
covariates, the previous treatment, the period indicators).  The design is standardised
once, ``Z = [1, (X − mean)/sd]``, kept as one array, and Newton–Raphson
``β ← β + (Z'WZ)⁻¹ Z'(a − p)`` runs on it from the intercept-only start, halving a step
that lowers the log-likelihood: each iteration is two matrix products and one
``Z'WZ`` into a buffer allocated once.  The general :func:`cqox.nuisance.glm.fit_binary`
(probit, Firth, blocked standardisation of tables of any width) does the same arithmetic
with more machinery per pass; this fit stops on the same rule (:data:`TOLERANCE` on
the standardised step) and raises the same :class:`~cqox.errors.SeparationError` when
the coefficients diverge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from cqox.errors import SeparationError
from cqox.nuisance.glm import MAX_COEF, MAX_ITER, TOLERANCE, backtrack, newton_step


@dataclass(frozen=True)
class PooledLogit:
    """A fitted pooled logit.

    Attributes
    ----------
    coef : ndarray, shape (p + 1,)
        Intercept first, on the original scale of the columns.
    p_hat : ndarray, shape (N,)
        Fitted probabilities.
    score : ndarray, shape (N, p + 1)
        Per-row score ``z_i (a_i − p_i)`` in the standardised parametrisation.
    hessian : ndarray, shape (p + 1, p + 1)
        Minus the mean Hessian ``Z'WZ/N`` at the solution, same parametrisation.
    n_iter : int
    """

    coef: np.ndarray
    p_hat: np.ndarray
    score: np.ndarray
    hessian: np.ndarray
    n_iter: int


def _loglik(eta: np.ndarray, a: np.ndarray) -> float:
    """``Σ a·η − log(1 + e^η)``."""
    return float(a @ eta - np.logaddexp(0.0, eta).sum())


def fit_pooled_logit(X: np.ndarray, a: np.ndarray, what: str) -> PooledLogit:
    """Maximum-likelihood logit of the 0/1 ``a`` on ``X`` plus an intercept.

    ``what`` names the model in errors (``"numerator"``, ``"denominator"``).
    """
    N, p = X.shape
    pbar = float(a.mean())
    if not 0.0 < pbar < 1.0:
        raise SeparationError(
            f"the {what} treatment model: the treatment is {int(pbar)} in every "
            "unit-period, so no weight can be formed",
            details={"model": what, "share_treated": pbar},
        )
    # Fortran order: the products with the N-long columns read them contiguously
    Z = np.empty((N, p + 1), order="F")
    Z[:, 0] = 1.0
    centred = Z[:, 1:]
    mean = X.mean(axis=0)
    np.subtract(X, mean, out=centred)
    scale = np.sqrt(np.einsum("ij,ij->j", centred, centred) / N)
    scale[scale == 0] = 1.0
    centred /= scale
    beta = np.zeros(p + 1)
    beta[0] = np.log(pbar / (1 - pbar))

    def evaluate(b: np.ndarray) -> tuple[float, np.ndarray]:
        eta = Z @ b
        return _loglik(eta, a), eta

    ll, eta = evaluate(beta)
    buf = np.empty_like(Z, order="F")
    converged = False
    it = 0
    while it < MAX_ITER:
        it += 1
        prob = special.expit(eta)
        np.multiply(Z, (prob * (1 - prob))[:, None], out=buf)
        step = newton_step(buf.T @ Z, Z.T @ (a - prob))
        beta, share, (ll, eta) = backtrack(evaluate, beta, step, ll)
        if float(np.max(np.abs(share * step))) < TOLERANCE:
            converged = True
            break
    max_coef = float(np.max(np.abs(beta[1:]), initial=0.0))
    if not converged or not np.isfinite(max_coef) or max_coef > MAX_COEF:
        raise SeparationError(
            f"the {what} treatment model separates treated from untreated unit-periods "
            f"(its coefficients diverge: largest |coefficient| per SD of its column "
            f"{max_coef:.3g}, Newton {'converged' if converged else 'not converged'} "
            f"after {it} iterations): some covariate or period values occur with one "
            "treatment only. Remove or coarsen the covariate that predicts treatment",
            details={
                "model": what,
                "max_abs_coef_per_sd": max_coef,
                "converged": converged,
                "coef_per_sd": [float(b) for b in beta[1:]],
            },
        )
    prob = special.expit(eta)
    np.multiply(Z, (prob * (1 - prob))[:, None], out=buf)
    hessian = buf.T @ Z / N
    np.multiply(Z, (a - prob)[:, None], out=buf)
    coef = np.empty_like(beta)
    coef[1:] = beta[1:] / scale
    coef[0] = beta[0] - np.sum(beta[1:] * mean / scale)
    return PooledLogit(coef, prob, buf, hessian, it)
