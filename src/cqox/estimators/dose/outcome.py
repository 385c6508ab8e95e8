"""The linear outcome model of the doubly robust dose-response estimators.

``μ(x, a) = E[Y | X = x, A = a]`` by least squares on ``b(x, a) = (1, a, a², x, a·x)``:
quadratic in the dose, linear in the covariates, with dose–covariate interactions, so
the effect of the dose may differ with ``x``.  Averaged over the sample the model gives
``m̂(a) = (1/n) Σ_j μ̂(X_j, a)`` in closed form, and ``μ̂(X_i, a) − m̂(a) = u_i + a·v_i``
with ``u = (X − X̄)β̂_x``, ``v = (X − X̄)β̂_ax``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cqox.nuisance.ols import fit_ols


def outcome_basis(a: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``(1, a, a², x, a·x)`` per row, shape (n, 3 + 2p)."""
    a = np.asarray(a, dtype=np.float64)
    return np.column_stack([np.ones(len(a)), a, a * a, X, X * a[:, None]])


@dataclass(frozen=True)
class LinearOutcome:
    """A fitted outcome model ``μ̂(x, a) = b(x, a)'β̂``.

    Attributes
    ----------
    coef : ndarray, shape (3 + 2p,)
        ``β̂`` of :func:`outcome_basis`.
    x_mean : ndarray, shape (p,)
        ``X̄`` of the fitting sample.
    influence : ndarray, shape (n, 3 + 2p)
        Influence of ``β̂``: ``(B'B/n)⁻¹ b_i e_i``.
    """

    coef: np.ndarray
    x_mean: np.ndarray
    influence: np.ndarray

    @property
    def p(self) -> int:
        """Number of covariates."""
        return len(self.x_mean)

    def predict(self, X: np.ndarray, a: np.ndarray) -> np.ndarray:
        """``μ̂(X_i, a_i)`` for each row."""
        return np.asarray(outcome_basis(a, X) @ self.coef)

    def marginal(self, a: np.ndarray) -> np.ndarray:
        """``m̂(a) = (1/n) Σ_j μ̂(X_j, a)`` at each dose."""
        a = np.asarray(a, dtype=np.float64)
        c0, c1, c2 = self.coef[:3]
        bx, bax = self.coef[3 : 3 + self.p], self.coef[3 + self.p :]
        return np.asarray(c0 + c1 * a + c2 * a * a + self.x_mean @ bx + a * (self.x_mean @ bax))

    def deviations(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(u, v)`` with ``μ̂(X_i, a) − m̂(a) = u_i + a·v_i``."""
        Xc = X - self.x_mean
        return Xc @ self.coef[3 : 3 + self.p], Xc @ self.coef[3 + self.p :]

    def mean_basis(self, a: np.ndarray) -> np.ndarray:
        """``b̄(a) = (1, a, a², X̄, a·X̄)``: ``∂m̂(a)/∂β``, shape (len(a), 3 + 2p)."""
        a = np.asarray(a, dtype=np.float64)
        Xbar = np.broadcast_to(self.x_mean, (len(a), self.p))
        return outcome_basis(a, Xbar)


def fit_linear_outcome(y: np.ndarray, a: np.ndarray, X: np.ndarray) -> LinearOutcome:
    """Least squares of ``y`` on :func:`outcome_basis`."""
    B = outcome_basis(a, X)
    ols = fit_ols(B, y)
    x_mean = X.mean(axis=0) if X.shape[1] else np.zeros(0)
    return LinearOutcome(np.asarray(ols.coef), x_mean, ols.influence(B))
