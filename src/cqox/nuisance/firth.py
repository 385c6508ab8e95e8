"""Firth-penalised logistic regression: a finite propensity when the MLE separates.

Under (quasi-)complete separation the logit MLE does not exist.  Firth (1993)
penalises the log-likelihood by Jeffreys' prior,

    ℓ*(β) = ℓ(β) + ½ log det I(β),      I(β) = Z' W Z,  W = diag(p (1 − p)),

whose maximiser is finite under separation and has O(n⁻²) bias (Heinze & Schemper
2002).  Its score is the modified score

    U*(β) = Z' (t − p + h ⊙ (½ − p)),

with ``h`` the diagonal of the hat matrix ``W^½ Z I⁻¹ Z' W^½``.  The fit is a
Newton iteration ``β ← β + I⁻¹ U*`` with step halving on ℓ* and each coefficient's step
bounded by ``MAX_STEP`` (as R ``logistf`` does).

For M-estimation the per-observation score is ``z_i (t_i − p_i + h_i (½ − p_i))`` and
the Hessian ``I/n``; the dependence of ``h`` on β is ignored (``h_i = O(1/n)``), so the
influence function is that of the MLE to first order.

References
----------
Firth, D. (1993). Bias reduction of maximum likelihood estimates. *Biometrika*
80(1):27–38. doi:10.1093/biomet/80.1.27
Heinze, G. & Schemper, M. (2002). A solution to the problem of separation in logistic
regression. *Statistics in Medicine* 21(16):2409–2419. doi:10.1002/sim.1047

Example
-------
>>> import numpy as np
>>> from cqox.nuisance.firth import fit_firth
>>> x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
>>> t = np.array([0, 0, 0, 1, 1, 1])       # completely separated at x = 2.5
>>> fit = fit_firth(x, t)
>>> bool(np.isfinite(fit.coef).all()) and fit.converged
True
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, special

from cqox.errors import EstimationError
from cqox.nuisance.glm import TOLERANCE, BinaryFit, standardise

#: Largest change of one (standardised) coefficient in one Newton step (logistf's
#: ``maxstep``): keeps the first steps from overshooting on separated data.
MAX_STEP = 5.0
MAX_ITER = 200
#: Step halvings before a step is taken as it is.
MAX_HALVINGS = 30


def _penalised(Z: np.ndarray, t: np.ndarray, beta: np.ndarray) -> tuple[float, np.ndarray]:
    """``(ℓ*(β), η)``: the penalised log-likelihood and the linear index."""
    eta = Z @ beta
    p = special.expit(eta)
    w = p * (1 - p)
    info = (Z * w[:, None]).T @ Z
    sign, logdet = np.linalg.slogdet(info)
    if sign <= 0:
        return -np.inf, eta
    ll = float(np.sum(t * eta - np.logaddexp(0, eta)))
    return ll + 0.5 * logdet, eta


def _hat_diagonal(Z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(h, I)``: hat-matrix diagonal of ``W^½ Z`` and the information ``Z'WZ``."""
    Zw = Z * np.sqrt(w)[:, None]
    info = Zw.T @ Zw
    # h_i = ‖R⁻ᵀ (W^½ z_i)‖² from the Cholesky factor of I (I = RᵀR)
    R = linalg.cholesky(info, lower=False)
    G = linalg.solve_triangular(R, Zw.T, trans="T", lower=False)
    return np.sum(G * G, axis=0), info


def fit_firth(X: np.ndarray, t: np.ndarray) -> BinaryFit:
    """Firth-penalised logit of ``t`` on ``X`` plus an intercept (see the module docstring).

    Returns a :class:`cqox.nuisance.glm.BinaryFit` (``penalty="firth"``) whose ``score``
    and ``hessian`` are the modified score and ``I/n`` for M-estimation.
    """
    Z, mean, scale = standardise(np.asarray(X, dtype=np.float64))
    t = np.asarray(t, dtype=np.float64)
    n = len(t)
    beta = np.zeros(Z.shape[1])
    pbar = float(np.clip(t.mean(), 1e-3, 1 - 1e-3))
    beta[0] = np.log(pbar / (1 - pbar))
    ll, eta = _penalised(Z, t, beta)
    converged = False
    it = 0
    for it in range(1, MAX_ITER + 1):
        p = special.expit(eta)
        w = np.maximum(p * (1 - p), 1e-300)
        try:
            h, info = _hat_diagonal(Z, w)
            step = linalg.solve(info, Z.T @ (t - p + h * (0.5 - p)), assume_a="pos")
        except (np.linalg.LinAlgError, linalg.LinAlgError):
            raise EstimationError(
                "the Firth-penalised propensity has a singular information matrix: a "
                "covariate is constant or collinear on these rows",
                details={"iteration": it},
            ) from None
        largest = float(np.max(np.abs(step)))
        if largest > MAX_STEP:
            step *= MAX_STEP / largest
        size = 1.0
        for _ in range(MAX_HALVINGS):
            cand = beta + size * step
            ll_new, eta_new = _penalised(Z, t, cand)
            if ll_new >= ll - 1e-12:
                break
            size /= 2
        beta, ll, eta = cand, ll_new, eta_new
        if np.max(np.abs(size * step)) < TOLERANCE:
            converged = True
            break
    if not (converged and np.all(np.isfinite(beta))):
        raise EstimationError(
            f"the Firth-penalised propensity did not converge in {MAX_ITER} iterations",
            details={"iterations": it},
        )
    p = special.expit(eta)
    f = p * (1 - p)
    h, info = _hat_diagonal(Z, np.maximum(f, 1e-300))
    weight = t - p + h * (0.5 - p)
    coef = np.empty_like(beta)
    coef[1:] = beta[1:] / scale
    coef[0] = beta[0] - np.sum(beta[1:] * mean / scale)
    Xf = np.asarray(X, dtype=np.float64)
    return BinaryFit(
        "logit", coef, p, f, Xf, mean, scale, weight, info / n, it, converged, penalty="firth"
    )


__all__ = ["MAX_STEP", "fit_firth"]
