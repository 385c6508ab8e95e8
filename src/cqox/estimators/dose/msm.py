"""``dose_msm``: the stabilised-weight marginal structural model for a continuous dose.

The dose-response curve is modelled as a polynomial of ``degree`` in the dose,
``E[Y(a)] = β₀ + β₁a + … + β_d a^d`` (Robins, Hernán & Brumback 2000,
doi:10.1097/00001648-200009000-00011; Hernán & Robins, *Causal Inference: What If*,
ch. 12.4, Program 12.4), and fitted by weighted least squares of ``Y`` on
``b(A) = (1, A, …, A^d)`` with the stabilised weights

``SW_i = f(A_i) / f(A_i | X_i)``,

both densities normal: ``f(a)`` from the intercept-only model and ``f(a | x)`` from the
linear model on the covariates (:mod:`cqox.estimators.dose.density`), as in the book.
Under consistency, exchangeability given ``X``, positivity and correct models,
``μ̂(a) = b(a)'β̂`` estimates ``E[Y(a)]``.

Inference (``se_method``): ``analytic`` (default) stacks the two density models and
the weighted normal equations, so the SE accounts for the estimated weights:
``ψ_β = M⁻¹[SW·b·ε + H ψ_η]`` with ``M = B'WB/n``, ``H = mean(b ε ∂SW/∂η')``; ``robust``
treats the weights as known (the HC0 sandwich; the book's GEE with independence working
correlation).  The curve's influence is ``ψ(a) = ψ_β b(a)``.

Example
-------
>>> import cqox
>>> from cqox.simulate.dose import dose_polynomial
>>> df, truth = dose_polynomial(n=3000, seed=1)
>>> est = cqox.estimate("dose_msm", df, outcome="y", dose="a", covariates=["x1", "x2"])
>>> abs(est.estimate - truth["optimal_dose"]) < 4 * est.se
True
>>> est.curve([0.0, 2.0]).columns.tolist()
['dose', 'estimate', 'se', 'ci_lower', 'ci_upper']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from cqox.core.context import Context
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate, threshold_gate
from cqox.core.linalg import crossprod
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.estimators.base import Example
from cqox.estimators.common import se_method_param
from cqox.estimators.dose.curve import covariance_root, curve_inference, dose_grid
from cqox.estimators.dose.density import NormalDoseModel, fit_marginal_dose, fit_normal_dose
from cqox.estimators.dose.family import GRID_PARAMS, DoseResponseEstimator
from cqox.estimators.registry import register
from cqox.gates.weights import kish_ess


def polynomial_basis(a: np.ndarray, degree: int) -> np.ndarray:
    """``(1, a, …, a^degree)`` per dose, shape (len(a), degree + 1), row-major.

    The powers by repeated products, as ``numpy.vander`` (the same numbers), a whole
    column at a time: each column written in place as the product of the one before
    and the doses (strided, but one pass; the row-wise running product of ``vander``
    costs ~13× more, powers built as rows and transposed ~3.5×).
    """
    a = np.asarray(a, dtype=np.float64)
    out = np.empty((len(a), degree + 1))
    out[:, 0] = 1.0
    for j in range(1, degree + 1):
        np.multiply(out[:, j - 1], a, out=out[:, j])
    return out


def weighted_columns(B: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``B * w[:, None]`` (row-major, the same numbers) a column at a time.

    Broadcasting a column of weights over rows of ``q`` runs NumPy's inner loop along
    the short rows; q strided column products cost ~half as much.
    """
    out = np.empty_like(B)
    for j in range(B.shape[1]):
        np.multiply(B[:, j], w, out=out[:, j])
    return out


def quadratic_argmax(grid: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Per row ``c`` of ``C`` (m, 2 or 3), the index of the largest ``c₀ + c₁a + c₂a²`` on ``grid``.

    ``grid`` is equally spaced (:func:`~cqox.estimators.dose.curve.dose_grid`).  A concave
    parabola (``c₂ < 0``) is largest at the grid point nearest its vertex ``−c₁/(2c₂)``
    (``f(a) = c₂(a − v)² + const``; the nearest end when the vertex is off the grid),
    anything else at the end where it is larger (the first on a tie, as ``argmax``):
    the argmax of the m × G matrix of values, without the matrix.
    """
    G, m = len(grid), C.shape[0]
    # the coefficients as contiguous rows: every step below runs along m numbers in a row
    # (C's columns are strided by its width)
    rows = np.ascontiguousarray(C.T)
    c1 = rows[1]
    c2 = rows[2] if C.shape[1] > 2 else np.zeros(m)
    lo, hi = float(grid[0]), float(grid[-1])
    if not hi > lo:  # one dose (the grid's quantiles coincide): all equal, the first
        return np.zeros(m, dtype=np.intp)
    concave = c2 < 0
    near = np.divide(c1, -2 * c2, out=np.full(m, lo), where=concave)  # the vertex
    np.subtract(near, lo, out=near)
    np.multiply(near, (G - 1) / (hi - lo), out=near)
    np.rint(near, out=near)
    # numpy.clip's numbers without its dispatch
    np.minimum(np.maximum(near, 0, out=near), G - 1, out=near)
    # f(hi) − f(lo) = c₁(hi − lo) + c₂(hi² − lo²): which end is larger
    rises = c1 * (hi - lo) + c2 * (hi * hi - lo * lo) > 0
    index = rises.astype(np.intp)
    np.multiply(index, G - 1, out=index)
    np.copyto(index, near, casting="unsafe", where=concave)  # whole numbers: exact
    return index


@dataclass(frozen=True)
class MSMFit:
    """A fitted marginal structural model of the dose.

    Attributes
    ----------
    coef : ndarray, shape (degree + 1,)
        ``β̂`` of ``1, a, …, a^d``.
    cov : ndarray, shape (degree + 1, degree + 1)
        Covariance of ``β̂``: ``ψ_β'ψ_β/n²`` with ``ψ_β = M⁻¹[…]`` (module docstring).
    weights : ndarray, shape (n,)
        Stabilised weights ``SW_i``.
    numerator, denominator : NormalDoseModel
        ``f(a)`` and ``f(a | x)``.
    """

    coef: np.ndarray
    cov: np.ndarray
    weights: np.ndarray
    numerator: NormalDoseModel
    denominator: NormalDoseModel

    def evaluate(self, doses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(μ̂(a), Σ̂)`` at ``doses``: ``b(a)'β̂`` and ``B V̂_β B'`` (``ψ(a) = ψ_β b(a)``)."""
        B = polynomial_basis(doses, len(self.coef) - 1)
        return B @ self.coef, B @ self.cov @ B.T

    @cached_property
    def coef_root(self) -> np.ndarray:
        """``L`` ((d + 1) × r) with ``LL' = V̂_β``: the Cholesky factor (r = d + 1).

        A singular ``V̂_β`` (no Cholesky factor) gets its eigen-root over the non-null
        directions instead (:func:`covariance_root`).
        """
        try:
            return np.linalg.cholesky(self.cov)
        except np.linalg.LinAlgError:
            return covariance_root(self.cov)

    def factor(self, doses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`evaluate` and a root ``B L`` of ``B V̂_β B'`` (``LL' = V̂_β``).

        The band's draws then need the (d + 1) × (d + 1) coefficient covariance factored,
        not the G × G curve covariance (:func:`~cqox.estimators.dose.curve.curve_inference`).
        """
        B = polynomial_basis(doses, len(self.coef) - 1)
        return B @ self.coef, B @ self.cov @ B.T, B @ self.coef_root

    def draw_argmax(self, grid: np.ndarray, E: np.ndarray) -> np.ndarray:
        """Grid index maximising each draw ``B(β̂ + L e)`` (degree ≤ 2: :func:`quadratic_argmax`)."""
        return quadratic_argmax(grid, self.coef + E @ self.coef_root.T)


def fit_msm(
    y: np.ndarray, a: np.ndarray, X: np.ndarray, degree: int, se_method: str = "analytic"
) -> MSMFit:
    """Stabilised-weight MSM of degree ``degree``: weights, ``β̂`` and its covariance.

    ``ψ_β = M⁻¹ core`` per unit, so ``ψ_β'ψ_β/n² = M⁻¹ (core'core/n²) M⁻ᵀ``.  Each
    unit's ``core`` is linear in the n-vectors ``f = (b·u, 1, e_num, e_num², e_den²,
    z·e_den)`` (``u = SW·ε``): ``core_i = P'f_i`` with ``P`` ((q + 4 + k) × q) built from
    ``H`` below, so ``core'core = P'(F'F)P`` from one (q + 4 + k)² Gram of the rows of
    ``F`` — and ``H`` is read off that same Gram — without an n × q matrix per term.
    """
    n, p = X.shape
    q, k = degree + 1, p + 1
    # rows of F (the analytic SE's Gram below): b·u (q), 1, e_num, e_num², e_den², z·e_den
    # (k); the squares, needed by the weights too, are written there once
    F = np.empty((q + 4 + k, n))
    en2, ed2 = F[q + 2], F[q + 3]
    num = fit_marginal_dose(a, squares=en2)
    en = num.resid
    # Z = [1, X] column-major, as X is: the QR's blocks copy whole columns (the row-major
    # with_intercept costs 3×; the fit's numbers are the same)
    Z = np.empty((n, k), order="F")
    Z[:, 0] = 1.0
    Z[:, 1:] = X
    # numpy.var(a) bit for bit (e_num = a − mean(a)), the exact-fit check's scale
    den = fit_normal_dose(a, Z, float(np.add.reduce(en2) / n))
    ed = den.resid
    np.multiply(ed, ed, out=ed2)
    # SW = exp(log f(a) − log f(a | x)) from the residuals the fits kept (as
    # NormalDoseModel.log_density computes each, in place: the same numbers)
    log_num = en2 / (2 * num.sigma2)
    np.subtract(-0.5 * math.log(2 * math.pi * num.sigma2), log_num, out=log_num)
    log_den = ed2 / (2 * den.sigma2)
    np.subtract(-0.5 * math.log(2 * math.pi * den.sigma2), log_den, out=log_den)
    sw = np.exp(np.subtract(log_num, log_den, out=log_num), out=log_num)
    # B and SW·B row-major, as NumPy's products of them (below) want them: the same
    # layout gives the same BLAS calls, so the same numbers to the last bit
    B = polynomial_basis(a, degree)
    WB = weighted_columns(B, sw)
    M = WB.T @ B / n
    coef = np.linalg.solve(M, WB.T @ y / n)
    eps = y - B @ coef
    m_inv = np.linalg.inv(M)
    if se_method != "analytic":
        core = weighted_columns(WB, eps)  # SW·b·ε
        cov = m_inv @ crossprod(core) @ m_inv.T / (n * n)
        return MSMFit(coef, cov, sw, num, den)
    for j in range(q):
        np.multiply(WB[:, j], eps, out=F[j])  # SW·b·ε, the robust core
    # F's other rows, one n-vector product each
    F[q] = 1.0
    F[q + 1] = en
    F[q + 4] = ed  # z₀ = 1
    for j in range(p):
        np.multiply(X[:, j], ed, out=F[q + 5 + j])
    gram = crossprod(F.T)  # FF'
    cross = gram[:q] / n  # mean(core f'): every H below is read off it
    s2n, s2d = num.sigma2, den.sigma2
    c_num, c_den = n / (n - 1), n / (n - k)
    # ∂SW/∂η = SW·(∂log f(a)/∂η_num, −∂log f(a|x)/∂η_den) with η = (ā, s², γ, σ²),
    # H = mean(core ∂log SW/∂η'); ψ_η = (e_num, c e_num² − s², (Z'Z/n)⁻¹ z e_den,
    # c e_den² − σ²) and core += H ψ_η, each term a combination of the rows of F
    h_mean = cross[:, q + 1] / s2n
    h_var_num = -0.5 / s2n * cross[:, q] + cross[:, q + 2] / (2 * s2n * s2n)
    h_var_den = 0.5 / s2d * cross[:, q] - cross[:, q + 3] / (2 * s2d * s2d)
    h_gamma = -cross[:, q + 4 :] / s2d  # (q, k)
    P = np.zeros((q + 4 + k, q))
    P.ravel()[: q * q : q + 1] = 1.0  # the identity on top (a basic slice of the diagonal)
    P[q] = -s2n * h_var_num - s2d * h_var_den
    P[q + 1] = h_mean
    P[q + 2] = c_num * h_var_num
    P[q + 3] = c_den * h_var_den
    P[q + 4 :] = den.bread @ h_gamma.T  # γ̂'s influence (Z'Z/n)⁻¹ z e
    meat = P.T @ gram @ P
    cov = m_inv @ meat @ m_inv.T / (n * n)
    return MSMFit(coef, cov, sw, num, den)


def weight_gates(w: np.ndarray, ctx: Context) -> list[Gate]:
    """Kish ESS / n and the largest weight over the mean weight of the stabilised weights."""
    limit = ctx.threshold("effective_sample_size")
    ess = kish_ess(w)
    return [
        threshold_gate(
            "effective_sample_size",
            ess / len(w),
            limit,
            higher_is_better=True,
            label="ESS / n",
            fail_threshold=limit / 3,
            details={"ess": ess, "n": len(w)},
        ),
        threshold_gate(
            "max_weight_ratio",
            # max / mean: numpy's numbers, without the methods' dispatch
            float(np.maximum.reduce(w) / (np.add.reduce(w) / len(w))),
            ctx.threshold("max_weight_ratio"),
            higher_is_better=False,
            label="max weight / mean weight",
        ),
    ]


@register
class DoseMSM(DoseResponseEstimator):
    """Stabilised-weight marginal structural model, polynomial in the dose."""

    name = "dose_msm"
    summary_line = (
        "Dose-response curve by a stabilised-weight MSM (normal densities, polynomial of "
        "`degree` in the dose; What If ch. 12.4), uniform band and optimal dose"
    )
    example = Example(
        "dose.dose_polynomial",
        {"n": 600, "seed": 1},
        {"outcome": "y", "dose": "a", "covariates": ["x1", "x2"]},
        params={"n_sim": 200},
    )
    parameters = (
        Param("degree", 2, "int", "degree of the polynomial in the dose", low=1, high=6),
        se_method_param(
            ("analytic", "robust"),
            "analytic",
            note="analytic: stacked M-estimation, weights estimated; robust: HC0 sandwich "
            "with the weights as known (the book's GEE)",
        ),
        *GRID_PARAMS,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        a = data.t
        fit = fit_msm(data.y, a, data.X, params["degree"], params["se_method"])
        grid = dose_grid(a, params["n_grid"], params["grid_quantile"])
        inference = curve_inference(
            fit.evaluate,
            grid,
            params["ci_level"],
            params["n_sim"],
            ctx.rng(0),
            fit.factor,
            fit.draw_argmax if params["degree"] <= 2 else None,
        )
        w = fit.weights
        se = np.sqrt(fit.cov.diagonal())
        coefs = {"term": [f"a^{k}" if k > 1 else ("a" if k else "1") for k in range(len(se))],
                 "estimate": fit.coef, "se": se}  # fmt: skip
        diagnostics = {
            # the ndarray methods' numbers, without their dispatch
            "weight_mean": float(np.add.reduce(w) / len(w)),
            "weight_min": float(np.minimum.reduce(w)),
            "weight_max": float(np.maximum.reduce(w)),
            "dose_model_sigma": float(np.sqrt(fit.denominator.sigma2)),
            "coef": fit.coef.tolist(),
        }
        return self._curve_estimate(
            data,
            params,
            inference,
            fit.evaluate,
            gates=weight_gates(w, ctx),
            diagnostics=diagnostics,
            tables={"coefficients": coefs},
            warnings=[],
            method=f"stabilised-weight MSM, polynomial of degree {params['degree']} in the "
            f"dose, normal densities; {params['se_method']} SE, sup-t uniform band",
        )
