"""The normal dose model ``A | X ~ N(z'γ, σ²)`` fitted by least squares, with its scores.

The conditional density of the dose (Robins, Hernán & Brumback 2000,
doi:10.1097/00001648-200009000-00011; Hirano & Imbens 2004) is
``f(a | x) = φ((a − z'γ)/σ)/σ`` with ``z = (1, x)``, ``γ`` by OLS and ``σ²`` the residual
variance with ``n − k`` degrees of freedom (R's ``summary(lm)$sigma``, as the *What If*
code).  The influence of ``η = (γ, σ²)`` stacks the normal equations and
``c·e² − σ²`` with ``c = n/(n − k)``: ``ψ_γ = (Z'Z/n)⁻¹ z e``, ``ψ_σ² = c e² − σ²`` (the
σ² equation has mean derivative ``−2c·mean(z e) = 0`` in ``γ`` at the OLS solution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cqox.errors import EstimationError
from cqox.nuisance.ols import fit_ols

#: Residual variance below this share of the dose's variance: the covariates fit it exactly.
EXACT_FIT = 1e-12


@dataclass(frozen=True)
class NormalDoseModel:
    """A fitted normal linear model of the dose.

    Attributes
    ----------
    coef : ndarray, shape (k,)
        ``γ̂`` (intercept first).
    sigma2 : float
        ``σ̂²`` (``n − k`` degrees of freedom).
    resid : ndarray, shape (n,)
        ``e_i = a_i − z_i'γ̂``.
    Z : ndarray, shape (n, k)
        The design (intercept first).
    bread : ndarray, shape (k, k)
        ``(Z'Z/n)⁻¹``.
    """

    coef: np.ndarray
    sigma2: float
    resid: np.ndarray
    Z: np.ndarray
    bread: np.ndarray

    @cached_property
    def mean(self) -> np.ndarray:
        """``z_i'γ̂``, shape (n,), computed when first read (the MSM needs only ``resid``)."""
        return np.asarray(self.Z @ self.coef)

    @cached_property
    def influence(self) -> np.ndarray:
        """Influence of ``(γ̂, σ̂²)``, shape (n, k + 1), built when first read."""
        n, k = self.Z.shape
        e = self.resid
        gamma = (self.Z * e[:, None]) @ self.bread
        return np.column_stack([gamma, n / (n - k) * e * e - self.sigma2])

    def log_density(self, a: np.ndarray) -> np.ndarray:
        """``log f(a_i | x_i)`` for each row (``a`` broadcast against the rows)."""
        e = a - self.mean
        return np.asarray(-0.5 * math.log(2 * math.pi * self.sigma2) - e * e / (2 * self.sigma2))

    def density(self, a: np.ndarray) -> np.ndarray:
        """``f(a_i | x_i)``."""
        return np.exp(self.log_density(a))

    def score(self, a: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """``∂ log f(a_i | x_i) / ∂(γ, σ²)`` per row, shape (n, k + 1)."""
        e = a - self.mean
        s2 = self.sigma2
        return np.column_stack([Z * (e / s2)[:, None], -0.5 / s2 + e * e / (2 * s2 * s2)])


def _check_sigma2(sigma2: float, a: np.ndarray, dose_var: float | None) -> None:
    # relative to the dose's own variance: round-off leaves ~1e-30, never exactly 0
    var = float(np.var(a)) if dose_var is None else dose_var
    if not sigma2 > EXACT_FIT * max(var, np.finfo(float).tiny):
        raise EstimationError(
            "the covariates predict the dose exactly (residual variance 0): no unit could "
            "have received another dose, so the dose-response curve is not identified",
            details={"sigma2": sigma2},
        )


def fit_normal_dose(a: np.ndarray, Z: np.ndarray, dose_var: float | None = None) -> NormalDoseModel:
    """Least-squares fit of the dose ``a`` on ``Z`` (with intercept) and its influence.

    ``dose_var``: ``numpy.var(a)`` when the caller has it (the exact-fit check's scale).
    """
    n, k = Z.shape
    if n <= k:
        raise EstimationError(
            f"the dose model has {k} coefficients for {n} rows; use fewer covariates",
            details={"rows": n, "coefficients": k},
        )
    ols = fit_ols(Z, a)
    e = ols.resid
    sigma2 = float(e @ e / (n - k))
    _check_sigma2(sigma2, a, dose_var)
    return NormalDoseModel(ols.coef, sigma2, e, Z, ols.bread)


def fit_marginal_dose(
    a: np.ndarray, dose_var: float | None = None, squares: np.ndarray | None = None
) -> NormalDoseModel:
    """:func:`fit_normal_dose` on the intercept alone, ``N(ā, s²)``, in closed form.

    The least-squares fit on a column of ones is the mean, its bread ``(1'1/n)⁻¹ = 1``
    (the QR's answer up to round-off), with no factorisation to pay for; its design is
    a read-only view of one 1 (no n-vector of ones is written).  ``squares``, when given
    (shape (n,)), receives ``e_i²`` (the caller's buffer: the MSM's weights and sandwich
    read them).
    """
    n = len(a)
    if n <= 1:
        raise EstimationError(
            f"the dose model has 1 coefficient for {n} rows; use fewer covariates",
            details={"rows": n, "coefficients": 1},
        )
    # numpy.mean(a) bit for bit (its sum over n), without its dispatch
    m = float(np.add.reduce(a) / n)
    e = a - m
    sigma2 = float(e @ e / (n - 1))
    if dose_var is None or squares is not None:
        # numpy.var(a) bit for bit: the same mean, squares and sum
        sq = np.multiply(e, e, out=squares)
        if dose_var is None:
            dose_var = float(np.add.reduce(sq) / n)
    _check_sigma2(sigma2, a, dose_var)
    # a column of ones as one shared 1 (stride 0, read-only): nothing n-long is written
    one = np.ndarray((n, 1), buffer=np.ones(1), strides=(0, 0))
    one.flags.writeable = False
    return NormalDoseModel(np.array([m]), sigma2, e, one, np.ones((1, 1)))
