"""Binary-response GLMs (logit, probit) by Newton–Raphson, with what M-estimation needs.

The fit returns the per-observation score ``s_i`` and the Hessian of the average
log-likelihood, so that estimators can add the propensity model's contribution to
their influence function: for an estimating equation ``m(θ, β)`` the correction is
``D_β · H⁻¹ · s_i`` with ``D_β = ∂ E[m] / ∂β`` (Newey & McFadden 1994, §6;
Lunceford & Davidian 2004, doi:10.1002/sim.1903).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from cqox._lazy import scipy_stats as stats
from cqox.errors import SeparationError

#: Newton stops when the largest step is below this (coefficients on standardised
#: covariates), which is far tighter than statistical precision.
TOLERANCE = 1e-10
MAX_ITER = 100
#: A coefficient above this per standard deviation of its covariate moves the linear
#: index by more than 30 over one SD: treatment is then (quasi-)deterministic in that
#: covariate, the sign of separation (a finite MLE is never near it in practice).
MAX_COEF = 30.0


@dataclass(frozen=True)
class BinaryFit:
    """A fitted binary GLM.

    Attributes
    ----------
    link : {"logit", "probit"}
    coef : ndarray, shape (p + 1,)
        Intercept first, on the original covariate scale.
    p_hat : ndarray, shape (n,)
        Fitted probabilities.
    dp_deta : ndarray, shape (n,)
        Derivative of the probability with respect to the linear index.
    Z : ndarray, shape (n, p + 1)
        Design used internally (intercept, standardised covariates).
    score : ndarray, shape (n, p + 1)
        Per-observation score of the log-likelihood in the internal parametrisation.
    hessian : ndarray, shape (p + 1, p + 1)
        Minus the mean observed Hessian (positive definite), same parametrisation.
    n_iter : int
    converged : bool
    penalty : {"none", "firth"}
        ``"firth"`` for the penalised fit that replaces a separated MLE
        (:mod:`cqox.nuisance.firth`).
    separating : tuple of int
        Indices (into the covariates, 0-based) of the covariates that separated the
        maximum-likelihood fit, when ``penalty`` is ``"firth"``.
    """

    link: str
    coef: np.ndarray
    p_hat: np.ndarray
    dp_deta: np.ndarray
    Z: np.ndarray
    score: np.ndarray
    hessian: np.ndarray
    n_iter: int
    converged: bool
    penalty: str = "none"
    separating: tuple[int, ...] = ()

    def beta_influence(self) -> np.ndarray:
        """``H⁻¹ s_i`` for each observation, shape (n, p + 1): the influence of β̂."""
        return np.linalg.solve(self.hessian, self.score.T).T

    def influence_along(self, D: np.ndarray) -> np.ndarray:
        """``(H⁻¹ s_i)' D`` per observation, shape (n,): β̂'s influence through ``D``.

        ``D`` (shape (p + 1,)) is a derivative with respect to β.  Equal to
        ``beta_influence() @ D`` (``H`` is symmetric) but ``O(n p)``: one small solve
        and one matrix–vector product instead of ``n`` right-hand sides.
        """
        return np.asarray(self.score @ np.linalg.solve(self.hessian, D))


def standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Z, mean, scale)``: intercept column and covariates centred and scaled by their SD."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Z = np.empty((X.shape[0], X.shape[1] + 1))
    Z[:, 0] = 1.0
    # in place: the same arithmetic as (X − mean) / scale without two n × p temporaries
    np.subtract(X, mean, out=Z[:, 1:])
    Z[:, 1:] /= scale
    return Z, mean, scale


#: Rows per block of the weighted cross-products ``Z'WZ``: one block of ``W^½Z`` in
#: memory instead of an n × k copy per Newton step.
GRAM_BLOCK = 16384


def weighted_gram(Z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Z' diag(w) Z`` for ``w ≥ 0``, accumulated over blocks of rows.

    Each block is formed as ``(w^½ z)'(w^½ z)``, which NumPy hands to BLAS ``syrk``
    (half the work of a general product).
    """
    k = Z.shape[1]
    out = np.zeros((k, k))
    root = np.sqrt(w)
    for start in range(0, Z.shape[0], GRAM_BLOCK):
        rows = slice(start, start + GRAM_BLOCK)
        Zw = Z[rows] * root[rows, None]
        out += Zw.T @ Zw
    return out


def _probs(eta: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    if link == "logit":
        p = special.expit(eta)
        return p, p * (1 - p)
    return special.ndtr(eta), stats.norm.pdf(eta)


def fit_binary(X: np.ndarray, t: np.ndarray, link: str = "logit") -> BinaryFit:
    """Maximum-likelihood logit or probit of ``t`` on ``X`` plus an intercept.

    Newton–Raphson (logit: observed = expected information; probit: Fisher scoring,
    then the observed Hessian at the solution for the sandwich) with step halving.
    Raises :class:`EstimationError` on (quasi-)complete separation, recognised by
    coefficients that diverge (never by small fitted probabilities alone, which a
    finite MLE can produce for units far from the other arm).
    """
    if link not in ("logit", "probit"):
        raise ValueError(f"link must be 'logit' or 'probit'; got {link!r}")
    Z, mean, scale = standardise(np.asarray(X, dtype=np.float64))
    t = np.asarray(t, dtype=np.float64)
    beta = np.zeros(Z.shape[1])
    pbar = t.mean()
    beta[0] = np.log(pbar / (1 - pbar)) if link == "logit" else stats.norm.ppf(pbar)

    def loglik(eta: np.ndarray) -> float:
        if link == "logit":
            return float(np.sum(t * eta - np.logaddexp(0, eta)))
        q = 2 * t - 1
        return float(np.sum(special.log_ndtr(q * eta)))

    eta = Z @ beta
    ll = loglik(eta)
    converged = False
    it = 0
    for it in range(1, MAX_ITER + 1):  # noqa: B007 (it is reported after the loop)
        # ``eta`` is that of the accepted step (computed for its log-likelihood)
        p, f = _probs(eta, link)
        p = np.clip(p, 1e-300, 1 - 1e-16)
        if link == "logit":
            grad = Z.T @ (t - p)
            w = f
        else:
            grad = Z.T @ ((t - p) * f / (p * (1 - p)))
            w = f * f / (p * (1 - p))
        info = weighted_gram(Z, w)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        size = 1.0
        while True:
            cand = beta + size * step
            eta_new = Z @ cand
            ll_new = loglik(eta_new)
            if ll_new >= ll - 1e-12 or size < 1e-8:
                break
            size /= 2
        beta, ll, eta = cand, ll_new, eta_new
        if np.max(np.abs(size * step)) < TOLERANCE:
            converged = True
            break

    p, f = _probs(eta, link)
    # Under (quasi-)complete separation the MLE does not exist: the log-likelihood keeps
    # rising as the coefficients run off to infinity, so Newton never settles and the
    # coefficients (per standard deviation of their covariate) grow without bound.
    # Tiny fitted probabilities on their own are no sign of separation: a finite MLE
    # can give units far from the other arm probabilities of 1e-20 (e.g. high earners
    # among the PSID-1 controls of the LaLonde data), and those rows weigh next to
    # nothing in every IPW weight that involves them.
    max_coef = float(np.max(np.abs(beta[1:]), initial=0.0))
    if not converged or not np.isfinite(max_coef) or max_coef > MAX_COEF:
        raise SeparationError(
            "the propensity model separates treated from control units (its "
            "coefficients diverge: largest |coefficient| per SD of its covariate "
            f"{max_coef:.3g}, Newton {'converged' if converged else 'not converged'} "
            f"after {it} iterations): some covariate values occur in one arm only. "
            "Remove or coarsen the covariate that predicts treatment perfectly, or trim",
            details={
                "min_p": float(np.min(p)),
                "max_p": float(np.max(p)),
                "max_abs_coef_per_sd": max_coef,
                "converged": converged,
                "coef_per_sd": [float(b) for b in beta[1:]],
            },
        )
    if link == "logit":
        score = Z * (t - p)[:, None]
        hess = weighted_gram(Z, f) / len(t)
    else:
        q = 2 * t - 1
        lam = q * np.exp(stats.norm.logpdf(q * eta) - special.log_ndtr(q * eta))
        score = Z * lam[:, None]
        hess = (Z * (lam * (lam + eta))[:, None]).T @ Z / len(t)
    coef = np.empty_like(beta)
    coef[1:] = beta[1:] / scale
    coef[0] = beta[0] - np.sum(beta[1:] * mean / scale)
    return BinaryFit(link, coef, p, f, Z, score, hess, it, converged)


def weighted_logit(
    Z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    beta: np.ndarray | None = None,
    tol: float = TOLERANCE,
    max_iter: int = MAX_ITER,
) -> tuple[np.ndarray, bool]:
    """Weighted logistic MLE of ``y`` on ``Z`` (``Z`` holds any intercept).

    Newton–Raphson from ``beta`` (zeros by default) with step halving on the weighted
    log-likelihood ``Σ w (y η − log(1 + e^η))``; stops when the largest step is below
    ``tol``.  Returns ``(coef, converged)``.  Used where a weighted or warm-started fit
    is needed (g-formula outcome models, Callaway–Sant'Anna propensities);
    :func:`fit_binary` adds standardisation, probit and the scores for M-estimation.
    """
    beta = np.zeros(Z.shape[1]) if beta is None else np.array(beta, dtype=np.float64)

    def loglik(b: np.ndarray) -> float:
        eta = Z @ b
        return float(np.sum(w * (y * eta - np.logaddexp(0, eta))))

    ll = loglik(beta)
    for _ in range(max_iter):
        p = special.expit(Z @ beta)
        grad = Z.T @ (w * (y - p))
        info = weighted_gram(Z, w * p * (1 - p))
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        size = 1.0
        while True:
            cand = beta + size * step
            ll_new = loglik(cand)
            if ll_new >= ll - 1e-12 or size < 1e-10:
                break
            size /= 2
        beta, ll = cand, ll_new
        if np.max(np.abs(size * step)) < tol:
            return beta, True
    return beta, False
