"""Binary-response GLMs (logit, probit) by Newton–Raphson, with what M-estimation needs.

The fit returns the per-observation score ``s_i`` and the Hessian of the average
log-likelihood, so that estimators can add the propensity model's contribution to
their influence function: for an estimating equation ``m(θ, β)`` the correction is
``D_β · H⁻¹ · s_i`` with ``D_β = ∂ E[m] / ∂β`` (Newey & McFadden 1994, §6;
Lunceford & Davidian 2004, doi:10.1002/sim.1903).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from scipy import special

from cqox._lazy import scipy_stats as stats
from cqox.data.gram import ShiftedGram
from cqox.errors import SeparationError
from cqox.nuisance.blocked import column_mean_sd

#: Newton stops when the largest step is below this (coefficients on standardised
#: covariates), which is far tighter than statistical precision.
TOLERANCE = 1e-10
MAX_ITER = 100
#: A Newton step is accepted when the log-likelihood falls by at most this share of
#: its size (rounding in a sum over n rows is about 1e-16·√n of it).
LL_SLACK = 1e-12
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
    X : ndarray, shape (n, p)
        The covariates fitted on (the caller's array, not a copy).
    mean, scale : ndarray, shape (p,)
        Standardisation of the internal design ``Z = [1, (X − mean)/scale]``.
    score_weight : ndarray, shape (n,)
        The per-observation score of the log-likelihood in the internal
        parametrisation is ``score_i = Z_i · score_weight_i`` (``t − p`` for the logit).
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
    design : ndarray, shape (n, p + 1), or None
        The internal design ``Z`` when it fits in one block of rows
        (``n ≤ GRAM_BLOCK``), else ``None`` (products are then formed block by block).
    """

    link: str
    coef: np.ndarray
    p_hat: np.ndarray
    dp_deta: np.ndarray
    X: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    score_weight: np.ndarray
    hessian: np.ndarray
    n_iter: int
    converged: bool
    penalty: str = "none"
    separating: tuple[int, ...] = ()
    design: np.ndarray | None = None

    # The n × (p + 1) design is kept (``design``) only when it is one block of rows
    # (n ≤ GRAM_BLOCK): it is then no larger than the scratch block every product would
    # allocate, and each product saves standardising the covariates again.  Beyond one
    # block the products the estimators need are formed block by block from ``X``.

    def _block(self, rows: slice) -> np.ndarray:
        if self.design is not None:
            return self.design[rows].copy()  # callers scale the block in place
        return standardised_block(self.X, rows, self.mean, self.scale)

    @property
    def Z(self) -> np.ndarray:  # noqa: N802 (the paper's design matrix)
        """The internal design ``[1, (X − mean)/scale]``, shape (n, p + 1) (a new array)."""
        return self._block(slice(None))

    @property
    def score(self) -> np.ndarray:
        """Per-observation scores ``Z_i · score_weight_i``, shape (n, p + 1) (a new array)."""
        Z = self.Z
        Z *= self.score_weight[:, None]
        return Z

    def z_dot(self, v: np.ndarray) -> np.ndarray:
        """``Z @ v``, shape (n,), without forming ``Z``."""
        if self.design is not None:
            return np.asarray(self.design @ v)
        n = self.X.shape[0]
        out = np.empty(n)
        for start in range(0, n, GRAM_BLOCK):
            rows = slice(start, min(start + GRAM_BLOCK, n))
            out[rows] = self._block(rows) @ v
        return out

    def zt_dot(self, w: np.ndarray) -> np.ndarray:
        """``w @ Z``, shape (p + 1,), without forming ``Z``."""
        if self.design is not None:
            return np.asarray(w @ self.design)
        n = self.X.shape[0]
        out = np.zeros(self.X.shape[1] + 1)
        for start in range(0, n, GRAM_BLOCK):
            rows = slice(start, min(start + GRAM_BLOCK, n))
            out += w[rows] @ self._block(rows)
        return out

    def score_gram(self) -> np.ndarray:
        """``score' score = Z' diag(score_weight²) Z``, shape (p + 1, p + 1), in blocks."""
        return weighted_gram_of(self._block, self.X.shape[0], self.score_weight**2)

    def beta_influence(self) -> np.ndarray:
        """``H⁻¹ s_i`` for each observation, shape (n, p + 1): the influence of β̂."""
        return np.linalg.solve(self.hessian, self.score.T).T

    def influence_along(self, D: np.ndarray) -> np.ndarray:
        """``(H⁻¹ s_i)' D`` per observation, shape (n,): β̂'s influence through ``D``.

        ``D`` (shape (p + 1,)) is a derivative with respect to β.  Equal to
        ``beta_influence() @ D`` (``H`` is symmetric) but ``O(n p)``: one small solve
        and one pass over ``X`` instead of ``n`` right-hand sides.
        """
        return self.z_dot(np.linalg.solve(self.hessian, D)) * self.score_weight


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


def weighted_gram_of(block: Callable[[slice], np.ndarray], n: int, w: np.ndarray) -> np.ndarray:
    """``Z' diag(w) Z`` for ``w ≥ 0`` with the rows of ``Z`` made by ``block(rows)``."""
    out: np.ndarray | None = None
    root = np.sqrt(w)
    for start in range(0, n, GRAM_BLOCK):
        rows = slice(start, min(start + GRAM_BLOCK, n))
        Zw = block(rows)
        Zw *= root[rows, None]
        out = Zw.T @ Zw if out is None else out + Zw.T @ Zw
    assert out is not None
    return out


#: Rows per scaled block ``W^½Z`` of a kept design: a scratch of 2,048 rows (0.8 MB at
#: 50 covariates) is reused from the allocator's heap, where one of all the rows (4 MB
#: at 10,000 rows) would be fresh memory, a page fault per 4 kB, on every call.
SCALED_ROWS = 2048


def _probs(eta: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    if link == "logit":
        p = special.expit(eta)
        return p, p * (1 - p)
    return special.ndtr(eta), stats.norm.pdf(eta)


def standardised_block(
    X: np.ndarray, rows: slice | np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """``[1, (X[rows] − mean)/scale]``, a new array of the block's rows."""
    Xb = X[rows]
    Zb = np.empty((Xb.shape[0], Xb.shape[1] + 1))
    Zb[:, 0] = 1.0
    np.subtract(Xb, mean, out=Zb[:, 1:])
    Zb[:, 1:] /= scale
    return Zb


def _row_chunks(n: int, rows: np.ndarray | None) -> list[slice] | list[np.ndarray]:
    """Blocks of :data:`GRAM_BLOCK` rows: slices of all rows, or pieces of ``rows``."""
    if rows is None:
        return [slice(a, min(a + GRAM_BLOCK, n)) for a in range(0, n, GRAM_BLOCK)]
    return [rows[a : a + GRAM_BLOCK] for a in range(0, len(rows), GRAM_BLOCK)]


def binary_pass(
    X: np.ndarray,
    t: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
    link: str = "logit",
    rows: np.ndarray | None = None,
    design: np.ndarray | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, score and information of a binary GLM at ``beta``, in one pass.

    ``beta`` is on the standardised design ``Z = [1, (X − mean)/scale]``; ``rows``
    (indices) restricts the sums to those rows (all rows by default).  Each block of
    rows is standardised into a scratch array (never a standardised copy of ``X``)
    and ``Z'WZ`` accumulated as ``(W^½Z)'(W^½Z)`` (BLAS ``syrk``).  Logit: the score
    is ``Z'(t − p)`` and ``W = p(1 − p)`` (observed = expected information); probit:
    Fisher scoring, ``Z'((t − p) f / (p(1 − p)))`` and ``W = f² / (p(1 − p))`` with
    ``f = φ(η)``.  Probabilities are bounded into ``[1e-300, 1 − 1e-16]`` in the
    score as :func:`fit_binary` always did.  ``design`` is the standardised design of
    all rows when the caller holds it (one block, ``rows`` None): it is read, not
    standardised again.
    """
    k = len(beta)
    ll = 0.0
    grad = np.zeros(k)
    info = np.zeros((k, k))
    for chunk in _row_chunks(X.shape[0], rows):
        Z = standardised_block(X, chunk, mean, scale) if design is None else design
        tb = t[chunk]
        eta = Z @ beta
        p, f = _probs(eta, link)
        p = np.clip(p, 1e-300, 1 - 1e-16)
        if link == "logit":
            ll += float(np.sum(tb * eta - np.logaddexp(0, eta)))
            grad += Z.T @ (tb - p)
            w = f
        else:
            ll += float(np.sum(special.log_ndtr((2 * tb - 1) * eta)))
            grad += Z.T @ ((tb - p) * f / (p * (1 - p)))
            w = f * f / (p * (1 - p))
        root = np.sqrt(w)
        if design is None:
            Z *= root[:, None]  # the scratch block: scaled in place
            info += Z.T @ Z
            continue
        for start in range(0, len(root), SCALED_ROWS):
            part = slice(start, start + SCALED_ROWS)
            Zw = Z[part] * root[part, None]
            info += Zw.T @ Zw
    return ll, grad, info


def _standardised_design(
    X: np.ndarray, shifted: ShiftedGram | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, scale, Z, Z'Z)`` with ``Z = [1, (X − mean)/scale]`` built in place.

    The deviations are written into ``Z`` once and their Gram matrix taken there (one
    BLAS ``syrk``), so the SD (``ddof=0``, zero replaced by one) needs no scratch copy of
    ``X`` and the Gram matrix of the standardised design — the information at the
    intercept-only start of :func:`fit_binary`, up to a constant — comes with it.  When
    ``shifted`` is the shifted Gram matrix of this very ``X`` (the preparation's, see
    :meth:`ShiftedGram.is_of`) the Gram matrix is centred from it (O(k²)) instead.
    """
    n, p = X.shape
    mean = X.mean(axis=0)
    # in the memory order of X: a column-major table (a pandas block) is then copied
    # column by column, not transposed through the cache
    Z = np.empty((n, p + 1), order="F" if X.flags.f_contiguous and p > 1 else "C")
    Z[:, 0] = 1.0
    dev = Z[:, 1:]
    np.subtract(X, mean, out=dev)
    if shifted is not None and p > 0 and shifted.is_of(X):
        gram = np.empty((p + 1, p + 1))
        gram[0, 0] = n
        gram[1:, 1:], gram[1:, 0] = shifted.centred(mean)
        gram[0, 1:] = gram[1:, 0]
    else:
        gram = Z.T @ Z
    scale = np.sqrt(np.diag(gram)[1:] / n)
    scale[scale == 0] = 1.0
    dev /= scale
    full = np.concatenate([[1.0], scale])
    gram /= np.outer(full, full)
    return mean, scale, Z, gram


def _log1pexp(eta: np.ndarray) -> np.ndarray:
    """``log(1 + e^η)`` without overflow (``np.logaddexp(0, η)``, in fewer operations)."""
    return np.maximum(eta, 0.0) + np.log1p(np.exp(-np.abs(eta)))


def score_pass(
    Z: np.ndarray, t: np.ndarray, beta: np.ndarray, link: str = "logit"
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, score and information weights at ``beta`` on the design ``Z``.

    As :func:`binary_pass` on a kept design, without the information matrix: it
    returns the weights ``w`` of ``Z' diag(w) Z`` instead (logit ``p(1 − p)``; probit
    ``f²/(p(1 − p))``), from which :func:`fit_binary` forms information–vector
    products (two matrix–vector products each, against ``k²`` operations per row for
    the matrix).
    """
    eta = Z @ beta
    p, f = _probs(eta, link)
    p = np.clip(p, 1e-300, 1 - 1e-16)
    if link == "logit":
        return float(t @ eta - np.sum(_log1pexp(eta))), (t - p) @ Z, f
    ll = float(np.sum(special.log_ndtr((2 * t - 1) * eta)))
    return ll, ((t - p) * f / (p * (1 - p))) @ Z, f * f / (p * (1 - p))


def information(
    X: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    w: np.ndarray,
    design: np.ndarray | None = None,
) -> np.ndarray:
    """``Z' diag(w) Z`` (``w ≥ 0``) of the standardised design, as ``(W^½Z)'(W^½Z)``.

    A kept design (one block of rows) is scaled in one product in its own memory order
    and handed to BLAS ``syrk`` whole: a column-major design (from a pandas block) then
    stays column-major, where scaled blocks of rows would be strided copies (about a
    third slower at 10⁴ × 50).  Without a design the blocks are standardised in turn.
    """
    if design is None:
        return weighted_gram_of(
            lambda rows: standardised_block(X, rows, mean, scale), X.shape[0], w
        )
    Zw = np.multiply(design, np.sqrt(w)[:, None], order="K")
    return np.asarray(Zw.T @ Zw)


#: Conjugate-gradient products per Newton step before the information is formed afresh
#: (one information matrix costs about as much as ten products at 50 covariates).
MAX_CG = 8
#: The conjugate-gradient solve of a Newton step stops when its error (preconditioned
#: residual) is below this share of the step, or of the previous step when smaller
#: (an inexact Newton method that keeps the quadratic convergence: Dembo, Eisenstat
#: & Steihaug 1982, doi:10.1137/0719025), or below ``CG_FLOOR`` outright.
CG_RTOL = 0.1
CG_FLOOR = 1e-3 * TOLERANCE


def _cg_step(
    product: Callable[[np.ndarray], np.ndarray],
    grad: np.ndarray,
    precond: np.ndarray,
    rtol: float,
) -> np.ndarray | None:
    """The Newton step ``I⁻¹ grad`` by conjugate gradients preconditioned by ``precond``.

    ``product(v)`` is ``I v`` with the information ``I`` at the current coefficients;
    ``precond`` the inverse of an earlier information ``M``.  The error of the iterate,
    ``I⁻¹r``, is estimated by the preconditioned residual ``M⁻¹r`` times the largest
    step length ``α`` seen (each ``1/α`` is a Rayleigh quotient of ``M⁻¹I``, so the
    largest ``α`` is how much smaller ``I`` is than ``M`` in some direction: near a
    separation ``I`` vanishes along the diverging coefficients and ``M⁻¹r`` alone would
    understate the step).  ``None`` when :data:`MAX_CG` products do not reach the
    accuracy (the caller then forms ``I``).
    """
    x = np.zeros_like(grad)
    r = grad.copy()
    z = precond @ r
    d = z.copy()
    rz = float(r @ z)
    amplification = 1.0
    for _ in range(MAX_CG):
        if not (rz > 0 and np.isfinite(rz)):  # a degenerate preconditioner or residual
            return None
        Ad = product(d)
        curvature = float(d @ Ad)
        if not (curvature > 0 and np.isfinite(curvature)):
            return None
        alpha = rz / curvature
        amplification = max(amplification, alpha)
        x += alpha * d
        r -= alpha * Ad
        z = precond @ r
        error = amplification * float(np.max(np.abs(z)))
        if error <= max(rtol * float(np.max(np.abs(x))), CG_FLOOR):
            return x
        rz_new = float(r @ z)
        d = z + (rz_new / rz) * d
        rz = rz_new
    return None


def newton_step(info: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The Newton step ``info⁻¹ grad``; least squares when ``info`` is singular.

    A constant or collinear column makes it so: the minimum-norm step leaves such a
    column's coefficient where it is.
    """
    try:
        return np.linalg.solve(info, grad)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(info, grad, rcond=None)[0]


def _inverse(info: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(info)


_Pass = TypeVar("_Pass", bound=tuple[Any, ...])


def backtrack(
    evaluate: Callable[[np.ndarray], _Pass], beta: np.ndarray, step: np.ndarray, ll: float
) -> tuple[np.ndarray, float, _Pass]:
    """Step halving from ``beta`` along ``step`` until the log-likelihood does not fall.

    ``evaluate(b)`` is one pass at ``b``: a tuple whose first item is the log-likelihood;
    returns ``(accepted point, step size, its pass)``.  The slack is relative: near the
    optimum the change in a sum over many rows is below its rounding error, and each
    halving would cost a pass.
    """
    size = 1.0
    while True:
        cand = beta + size * step
        out = evaluate(cand)
        if out[0] >= ll - LL_SLACK * max(1.0, abs(ll)) or size < 1e-8:
            return cand, size, out
        size /= 2


def _newton_exact(
    X: np.ndarray,
    t: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    beta: np.ndarray,
    link: str,
) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """Newton–Raphson with the information formed at every step (a table of many blocks).

    Each step is one pass (:func:`binary_pass`, covariates standardised block by
    block): the log-likelihood of the candidate and the score and information there.
    A step below ``TOLERANCE`` is taken without a pass.  Returns ``(beta, information
    of the last pass, converged, iterations)``.
    """
    ll, grad, info = binary_pass(X, t, mean, scale, beta, link)
    converged = False
    it = 0
    for it in range(1, MAX_ITER + 1):
        # ``grad`` and ``info`` are those of the accepted step
        step = newton_step(info, grad)
        if np.max(np.abs(step)) < TOLERANCE:
            # the last step of a quadratically converging Newton: no pass to check it
            # (its log-likelihood change is below rounding, the criterion below would stop)
            return beta + step, info, True, it
        beta, size, (ll, grad, info) = backtrack(
            lambda b: binary_pass(X, t, mean, scale, b, link), beta, step, ll
        )
        if np.max(np.abs(size * step)) < TOLERANCE:
            converged = True
            break
    return beta, info, converged, it


def _newton_cg(
    X: np.ndarray,
    t: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    design: np.ndarray,
    gram: np.ndarray,
    beta: np.ndarray,
    link: str,
) -> tuple[np.ndarray, np.ndarray | None, bool, int]:
    """Inexact Newton on a kept design: steps by preconditioned conjugate gradients.

    ``gram`` is ``Z'Z``; ``beta`` the intercept-only start, where the weights are
    constant and the information is ``w·Z'Z``: it gives the first step exactly and
    preconditions the later ones (see :func:`fit_binary`).  Returns ``(beta,
    information, converged, iterations)``: the information of the last iterate when
    the last step was below ``TOLERANCE``, ``None`` when the iteration stopped
    otherwise (the caller then forms it at the solution).
    """
    ll, grad, w = score_pass(design, t, beta, link)

    def product(v: np.ndarray) -> np.ndarray:
        return np.asarray((w * (design @ v)) @ design)

    info = float(np.mean(w)) * gram
    precond: np.ndarray | None = None  # the inverse of ``info``, formed when first needed
    exact = True  # ``info`` is the information at ``beta``
    last = 1.0  # the largest coefficient change of the last step
    converged = False
    it = 0
    for it in range(1, MAX_ITER + 1):
        # ``grad`` and ``w`` are those of the accepted step
        step = None
        if not exact:
            if precond is None:
                precond = _inverse(info)
            step = _cg_step(product, grad, precond, min(CG_RTOL, last))
        if step is None or np.max(np.abs(step)) < TOLERANCE:
            # slow conjugate gradients, or converged by their account: the information
            # here gives the exact step (and the sandwich's information if it is the
            # last; near a separation a small preconditioned residual can hide a long
            # step along the diverging coefficients, which the exact step shows)
            if not exact:
                info = information(X, mean, scale, w, design)
                precond = None
                exact = True
            step = newton_step(info, grad)
        if np.max(np.abs(step)) < TOLERANCE:
            # the last step of a quadratically converging Newton: no pass to check it
            # (its log-likelihood change is below rounding); the information is that of
            # the previous iterate, less than TOLERANCE away
            return beta + step, info, True, it
        beta, size, (ll, grad, w) = backtrack(
            lambda b: score_pass(design, t, b, link), beta, step, ll
        )
        exact = False
        last = float(np.max(np.abs(size * step)))
        if last < TOLERANCE:
            converged = True
            break
    return beta, None, converged, it


def fit_binary(
    X: np.ndarray, t: np.ndarray, link: str = "logit", gram: ShiftedGram | None = None
) -> BinaryFit:
    """Maximum-likelihood logit or probit of ``t`` on ``X`` plus an intercept.

    Newton–Raphson (logit: observed = expected information; probit: Fisher scoring,
    then the observed Hessian at the solution for the sandwich) with step halving.
    Raises :class:`EstimationError` on (quasi-)complete separation, recognised by
    coefficients that diverge (never by small fitted probabilities alone, which a
    finite MLE can produce for units far from the other arm).

    A table of at most ``GRAM_BLOCK`` rows is standardised once and kept in the fit as
    ``design``; there the information matrix ``Z'WZ`` (``k²`` operations per row) is
    formed twice only: at the intercept-only start, where ``W`` is constant and
    ``Z'WZ = w·Z'Z`` comes with the standardisation, and at the last iterate, where it
    gives the last, exact Newton step and the sandwich's information.  Each Newton
    step in between is solved by conjugate gradients
    preconditioned by the start's information, with exact information–vector products
    ``Z'(w∘Zv)`` (two matrix–vector products), to a relative accuracy that tightens
    with the step (inexact Newton, :data:`CG_RTOL`); when that takes more than
    :data:`MAX_CG` products the information at the current coefficients is formed and
    preconditions from then on.  Each step costs one pass for the log-likelihood,
    score and weights of the candidate (:func:`score_pass`).  A bigger table is
    standardised block by block (no standardised copy of ``X`` beyond one block), and
    each Newton step forms the information in its pass (:func:`binary_pass`): there a
    product would standardise the blocks again.  Either way a step below
    ``TOLERANCE`` is taken without a pass (the coefficients move by less than 1e-10
    per SD of their covariate).

    ``gram``, the shifted Gram matrix the preparation formed
    (:attr:`cqox.data.prepare.CausalData.gram`), spares the kept design its first Gram
    product when it is of this very ``X`` (same object and shape); for any other matrix
    (a subset, trimmed rows) it is ignored and the product formed.
    """
    if link not in ("logit", "probit"):
        raise ValueError(f"link must be 'logit' or 'probit'; got {link!r}")
    Xf = np.asarray(X, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n = len(t)
    start = np.zeros(Xf.shape[1] + 1)
    pbar = t.mean()
    start[0] = np.log(pbar / (1 - pbar)) if link == "logit" else stats.norm.ppf(pbar)
    design: np.ndarray | None = None
    if 0 < n <= GRAM_BLOCK:
        mean, scale, design, zz = _standardised_design(Xf, gram)
        beta, info, converged, it = _newton_cg(Xf, t, mean, scale, design, zz, start, link)
    else:
        mean, scale = column_mean_sd(Xf)
        scale[scale == 0] = 1.0
        beta, info, converged, it = _newton_exact(Xf, t, mean, scale, start, link)

    if design is not None:
        eta = design @ beta
    else:
        eta = np.empty(n)
        for rows in _row_chunks(n, None):
            eta[rows] = standardised_block(Xf, rows, mean, scale) @ beta
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
        weight = t - p
        # the information of the last iterate, less than TOLERANCE from the solution
        # (or, when the iteration stopped on a short line-search step, at the solution)
        hess = (information(Xf, mean, scale, f, design) if info is None else info) / n
    else:
        q = 2 * t - 1
        weight = q * np.exp(stats.norm.logpdf(q * eta) - special.log_ndtr(q * eta))
        observed = weight * (weight + eta)
        hess = np.zeros((len(beta), len(beta)))
        for rows in _row_chunks(n, None):
            Zb = standardised_block(Xf, rows, mean, scale) if design is None else design
            hess += (Zb * observed[rows, None]).T @ Zb
        hess /= n
    coef = np.empty_like(beta)
    coef[1:] = beta[1:] / scale
    coef[0] = beta[0] - np.sum(beta[1:] * mean / scale)
    return BinaryFit(link, coef, p, f, Xf, mean, scale, weight, hess, it, converged, design=design)


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
