"""Ordinary least squares with what sandwich and influence-function SEs need."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import numpy as np
from scipy.linalg import solve_triangular


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
QR_BLOCK = 8192


def qr_r(M: np.ndarray) -> np.ndarray:
    """The R factor of ``M`` (Householder QR), shape (min(m, k), k)."""
    return cast(np.ndarray, np.linalg.qr(M, mode="r"))


def r_factor_blocks(blocks: Iterable[np.ndarray], width: int) -> np.ndarray:
    """The R factor, shape (width, width), of the rows of ``blocks`` stacked.

    Tall-skinny QR: each block of rows is stacked under the R of the rows before it
    and reduced by Householder QR, so the time is linear in the rows and the memory
    one block, never the whole matrix; as stable as one QR of the whole matrix.
    """
    R = np.zeros((0, width))
    for block in blocks:
        R = qr_r(np.vstack([R, block]))
    if R.shape[0] < width:
        R = np.vstack([R, np.zeros((width - R.shape[0], width))])
    return R[:width]


def r_factor(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The R factor of ``[Z, y]``, shape (k + 1, k + 1), from a blocked QR.

    The last column holds ``Q'y`` above ``±‖y − Zβ̂‖``.  Memory beyond the data is one
    block of :data:`QR_BLOCK` rows (:func:`r_factor_blocks`).
    """
    n, k = Z.shape
    blocks = (
        np.column_stack([Z[a : a + QR_BLOCK], y[a : a + QR_BLOCK]]) for a in range(0, n, QR_BLOCK)
    )
    return r_factor_blocks(blocks, k + 1)


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
            return solve_triangular(r, R[:k, k]), r
    coef, *_ = np.linalg.lstsq(Z, y, rcond=None)
    return coef, None


def fit_ols(Z: np.ndarray, y: np.ndarray) -> OLSFit:
    """Least squares (QR, SVD if rank deficient) with the sandwich's bread."""
    coef, r = least_squares(Z, y)
    resid = y - Z @ coef
    n = Z.shape[0]
    if r is not None:
        # (Z'Z/n)⁻¹ = n·R⁻¹R⁻ᵀ from the QR already computed
        r_inv = solve_triangular(r, np.eye(r.shape[0]))
        bread = n * (r_inv @ r_inv.T)
    else:
        bread = np.linalg.pinv(Z.T @ Z / n)
    return OLSFit(coef, resid, bread)


def with_intercept(X: np.ndarray) -> np.ndarray:
    """``[1, X]``."""
    return np.column_stack([np.ones(X.shape[0]), X])
