"""Ordinary least squares with what sandwich and influence-function SEs need."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from scipy.linalg import lapack


@dataclass(frozen=True)
class OLSFit:
    """A least-squares fit of ``y`` on ``Z`` (``Z`` already contains any intercept).

    Attributes
    ----------
    coef : ndarray, shape (k,)
    resid : ndarray, shape (n,)
    bread : ndarray, shape (k, k)
        ``(Z'Z / n)⁻¹``.
    """

    coef: np.ndarray
    resid: np.ndarray
    bread: np.ndarray

    def influence(self, Z: np.ndarray) -> np.ndarray:
        """Influence of the coefficients, shape (n, k): ``(Z'Z/n)⁻¹ z_i e_i``."""
        return (Z * self.resid[:, None]) @ self.bread

    def hc_cov(self, Z: np.ndarray, kind: str = "HC1") -> np.ndarray:
        """Heteroskedasticity-robust covariance of the coefficients (HC0 or HC1)."""
        n, k = Z.shape
        inf = self.influence(Z)
        cov = inf.T @ inf / n**2
        return cov * (n / (n - k)) if kind == "HC1" else cov


#: A Householder QR whose smallest |R_jj| is below this share of the largest is treated
#: as rank deficient and the minimum-norm SVD solution is used instead.
QR_RANK_TOLERANCE = 1e-10
#: Rows per block of the blocked QR: memory beyond the data is one block of ``[Z, y]``.
#: Small blocks stay in cache: LAPACK's ``geqrf`` on 2,048 × 53 Fortran-ordered rows
#: runs at 0.44 µs per row against 1.2 µs for ``numpy.linalg.qr`` on 8,192 C-ordered
#: rows (measured on the benchmark machine, one thread).
QR_BLOCK = 2048


def qr_r(M: np.ndarray) -> np.ndarray:
    """The R factor of ``M`` (Householder QR), shape (min(m, k), k)."""
    return cast(np.ndarray, np.linalg.qr(M, mode="r"))


def _geqrf_r(buf: np.ndarray) -> np.ndarray:
    """Upper triangle of LAPACK ``geqrf`` of the Fortran-ordered ``buf`` (overwritten)."""
    qr, _tau, _work, info = lapack.dgeqrf(buf, overwrite_a=1)
    if info != 0:  # only an illegal argument makes geqrf fail
        raise np.linalg.LinAlgError(f"LAPACK dgeqrf failed (info={info})")
    top = qr[: min(qr.shape[0], buf.shape[1])]
    # np.triu(top), without building its mask every call: a C-ordered copy (the layout
    # np.triu returns, so callers' BLAS paths are unchanged) with the strictly lower
    # triangle set to 0.0 (about 7.7 µs -> 4.8 µs a call at width 54, loaded machine)
    R = np.array(top, order="C")
    np.copyto(R, 0.0, where=_strictly_lower(top.shape))
    return R


#: LAPACK ``dtrtrs``, the routine ``solve_triangular`` picks for float64 (looked up once).
_dtrtrs: Any = lapack.dtrtrs
_LOWER_MASKS: dict[tuple[int, int], np.ndarray] = {}


def _strictly_lower(shape: tuple[int, ...]) -> np.ndarray:
    """Read-only boolean mask of the strictly lower triangle of ``shape`` (cached)."""
    mask = _LOWER_MASKS.get((shape[0], shape[1]))
    if mask is None:
        mask = np.tri(shape[0], shape[1], -1, dtype=bool)
        mask.flags.writeable = False
        _LOWER_MASKS[(shape[0], shape[1])] = mask
    return mask


def _check_finite(*arrays: np.ndarray) -> None:
    """The finiteness check of ``scipy.linalg.solve_triangular`` (same error, same text)."""
    for a in arrays:
        if not np.isfinite(a).all():
            raise ValueError("array must not contain infs or NaNs")


def _solve_upper(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``scipy.linalg.solve_triangular(r, b)`` for float64 ``r`` already checked finite.

    LAPACK ``dtrtrs`` called as ``solve_triangular`` calls it, without its argument
    checking (8.6–10.9 µs against 1.6 µs a call): ``r`` as is when Fortran-contiguous,
    else its transpose as a lower factor solved transposed, so the same LAPACK path
    runs and the result is the same bit for bit.  ``b`` is not overwritten.
    """
    if r.flags.f_contiguous:
        x, info = _dtrtrs(r, b, lower=0, trans=0, unitdiag=0, overwrite_b=0)
    else:
        x, info = _dtrtrs(r.T, b, lower=1, trans=1, unitdiag=0, overwrite_b=0)
    if info > 0:
        raise np.linalg.LinAlgError(f"singular matrix: resolution failed at diagonal {info - 1}")
    if info < 0:
        raise ValueError(f"illegal value in {-info}th argument of internal trtrs")
    return cast(np.ndarray, x)


class RFactor:
    """Tall-skinny QR accumulated block by block: the R factor of all rows added.

    Each block of rows is stacked under the R of the rows before it (in one
    Fortran-ordered buffer) and reduced by LAPACK ``geqrf``, so the time is linear in
    the rows and the memory one block; as stable as one QR of the whole matrix
    (Demmel, Grigori, Hoemmen & Langou 2012, doi:10.1137/080731992).
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.R = np.zeros((0, width))
        self._pending: np.ndarray | None = None

    def add(self, block: np.ndarray) -> None:
        """Add rows (shape (m, width)) to the factorisation."""
        if block.shape[0] == 0:
            return
        top = self.R.shape[0]
        buf = np.empty((top + block.shape[0], self.width), order="F")
        buf[:top] = self.R
        buf[top:] = block
        self.R = _geqrf_r(buf)

    def new_block(self, rows: int) -> np.ndarray:
        """A block of ``rows`` rows to fill in place; :meth:`reduce` then adds it (no copy)."""
        top = self.R.shape[0]
        self._pending = np.empty((top + rows, self.width), order="F")
        self._pending[:top] = self.R
        return self._pending[top:]

    def reduce(self) -> None:
        """Add the block of :meth:`new_block`, once filled, to the factorisation."""
        assert self._pending is not None, "new_block() first"
        self.R = _geqrf_r(self._pending)
        self._pending = None

    def result(self) -> np.ndarray:
        """The R factor, shape (width, width) (zero rows below when fewer rows than columns)."""
        R = self.R
        if R.shape[0] < self.width:
            R = np.vstack([R, np.zeros((self.width - R.shape[0], self.width))])
        return R[: self.width]


def r_factor_blocks(blocks: Iterable[np.ndarray], width: int) -> np.ndarray:
    """The R factor, shape (width, width), of the rows of ``blocks`` stacked (:class:`RFactor`)."""
    acc = RFactor(width)
    for block in blocks:
        acc.add(block)
    return acc.result()


def stack_r(factors: Iterable[np.ndarray], width: int) -> np.ndarray:
    """The R factor of the rows behind several R factors: QR of the factors stacked.

    ``Σ`` of row blocks whose R factors are ``R_j`` has the R factor of ``[R_1; R_2; …]``
    (up to signs), the combination step of a tall-skinny QR.
    """
    return r_factor_blocks(factors, width)


def r_factor(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The R factor of ``[Z, y]``, shape (k + 1, k + 1), from a blocked QR.

    The last column holds ``Q'y`` above ``±‖y − Zβ̂‖``.  Memory beyond the data is one
    block of :data:`QR_BLOCK` rows (:class:`RFactor`).
    """
    n, k = Z.shape
    acc = RFactor(k + 1)
    for a in range(0, n, QR_BLOCK):
        rows = slice(a, min(a + QR_BLOCK, n))
        block = acc.new_block(rows.stop - rows.start)
        block[:, :k] = Z[rows]
        block[:, k] = y[rows]
        acc.reduce()
    return acc.result()


def least_squares_blocks(
    design: Callable[[slice], np.ndarray], n: int, k: int, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`least_squares` with the rows of ``Z`` made by ``design(rows)`` (shape (m, k)).

    The same blocks, so the same R factor, as ``least_squares(design(slice(None)), y)``
    without the n × k design in memory; that call is the fallback when rank deficient.
    """
    if n >= k > 0:
        acc = RFactor(k + 1)
        for a in range(0, n, QR_BLOCK):
            rows = slice(a, min(a + QR_BLOCK, n))
            block = acc.new_block(rows.stop - rows.start)
            block[:, :k] = design(rows)
            block[:, k] = y[rows]
            acc.reduce()
        R = acc.result()
        r = R[:k, :k]
        d = np.abs(np.diag(r))
        if d.min() > QR_RANK_TOLERANCE * d.max():
            _check_finite(r, R[:k, k])
            return _solve_upper(r, R[:k, k]), r
    return least_squares(design(slice(None)), y)


def design_dot(design: Callable[[slice], np.ndarray], n: int, coef: np.ndarray) -> np.ndarray:
    """``Z @ coef`` with the rows of ``Z`` made by ``design(rows)``, in blocks."""
    out = np.empty(n)
    for a in range(0, n, QR_BLOCK):
        rows = slice(a, min(a + QR_BLOCK, n))
        out[rows] = design(rows) @ coef
    return out


def least_squares(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Coefficients of ``y`` on ``Z`` and the R factor (``None`` if rank deficient).

    Householder QR of ``[Z, y]`` in blocks of rows (:func:`r_factor`: about a third of
    the work of the SVD behind ``numpy.linalg.lstsq``, as stable for badly scaled
    columns, linear in the rows with one block of memory); the SVD is the fallback
    when ``Z`` is rank deficient, giving the minimum-norm solution.
    """
    n, k = Z.shape
    if n >= k > 0:
        R = r_factor(Z, y)
        r = R[:k, :k]
        d = np.abs(np.diag(r))
        if d.min() > QR_RANK_TOLERANCE * d.max():
            _check_finite(r, R[:k, k])
            return _solve_upper(r, R[:k, k]), r
    coef, *_ = np.linalg.lstsq(Z, y, rcond=None)
    return coef, None


def fit_ols(Z: np.ndarray, y: np.ndarray) -> OLSFit:
    """Least squares (QR, SVD if rank deficient) with the sandwich's bread."""
    coef, r = least_squares(Z, y)
    resid = y - Z @ coef
    n = Z.shape[0]
    if r is not None:
        # (Z'Z/n)⁻¹ = n·R⁻¹R⁻ᵀ from the QR already computed
        r_inv = _solve_upper(r, np.eye(r.shape[0]))  # r checked finite by least_squares
        bread = n * (r_inv @ r_inv.T)
    else:
        bread = np.linalg.pinv(Z.T @ Z / n)
    return OLSFit(coef, resid, bread)


def rows_dot(X: np.ndarray, rows: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``coef[0] + X[rows] @ coef[1:]`` in blocks of rows (no copy of ``X[rows]``)."""
    out = np.empty(len(rows))
    for a in range(0, len(rows), QR_BLOCK):
        chunk = rows[a : a + QR_BLOCK]
        out[a : a + len(chunk)] = coef[0] + X[chunk] @ coef[1:]
    return out


def fit_ols_rows(X: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None) -> OLSFit:
    """:func:`fit_ols` of ``y[rows]`` on ``[1, X[rows]]`` without forming that design.

    The blocks of the QR are the rows' blocks of :data:`QR_BLOCK`, filled straight
    from ``X`` (the same blocks, so the same R, as ``fit_ols(with_intercept(X[rows]),
    y[rows])``); memory beyond the data is one block.  ``resid`` is over ``rows``.
    Falls back to that call when the design is rank deficient.
    """
    idx = np.arange(X.shape[0]) if rows is None else rows
    n_rows, p = len(idx), X.shape[1]
    k = p + 1
    if n_rows >= k > 0:
        acc = RFactor(k + 1)
        for a in range(0, n_rows, QR_BLOCK):
            chunk = idx[a : a + QR_BLOCK]
            block = acc.new_block(len(chunk))
            block[:, 0] = 1.0
            block[:, 1:k] = X[chunk]
            block[:, k] = y[chunk]
            acc.reduce()
        R = acc.result()
        r = R[:k, :k]
        d = np.abs(np.diag(r))
        if d.min() > QR_RANK_TOLERANCE * d.max():
            _check_finite(r, R[:k, k])
            coef = _solve_upper(r, R[:k, k])
            resid = y[idx] - rows_dot(X, idx, coef)
            r_inv = _solve_upper(r, np.eye(k))
            return OLSFit(coef, resid, n_rows * (r_inv @ r_inv.T))
    return fit_ols(with_intercept(X[idx]), y[idx])


def shared_fit_ols_rows(
    cache: dict[Any, Any] | None, X: np.ndarray, y: np.ndarray, rows: np.ndarray
) -> OLSFit:
    """:func:`fit_ols_rows` of ``y[rows]`` on ``[1, X[rows]]``, once per analysis.

    ``cache`` is the analysis's (``Context.cache``): estimators that regress the outcome
    on the covariates by arm (``aipw``, ``regression_adjustment``, each for every
    estimand) get the one fit, bit for bit what a fit of their own gives.  Entries are
    matched by the identity of ``X`` and ``y`` — the analysis's prepared arrays, which
    the entry keeps alive, so an identity cannot be reused — and the values of
    ``rows``; a subset (rows trimmed away) is a new array and a new fit.  The fit's
    arrays are shared: callers read them only.
    """
    if cache is None:
        return fit_ols_rows(X, y, rows)
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, OLSFit]] = cache.setdefault(
        ("ols_rows", X.shape), []
    )
    for ex, ey, erows, fit in entries:
        if ex is X and ey is y and np.array_equal(erows, rows):
            return fit
    fit = fit_ols_rows(X, y, rows)
    entries.append((X, y, rows.copy(), fit))
    return fit


def with_intercept(X: np.ndarray) -> np.ndarray:
    """``[1, X]``."""
    return np.column_stack([np.ones(X.shape[0]), X])
