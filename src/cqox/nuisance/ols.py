"""Ordinary least squares with what sandwich and influence-function SEs need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def fit_ols(Z: np.ndarray, y: np.ndarray) -> OLSFit:
    """Least squares by a QR-based solve (stable for badly scaled covariates)."""
    coef, *_ = np.linalg.lstsq(Z, y, rcond=None)
    resid = y - Z @ coef
    n = Z.shape[0]
    bread = np.linalg.pinv(Z.T @ Z / n)
    return OLSFit(coef, resid, bread)


def with_intercept(X: np.ndarray) -> np.ndarray:
    """``[1, X]``."""
    return np.column_stack([np.ones(X.shape[0]), X])
