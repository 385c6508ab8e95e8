"""``dose_kernel_dr``: the doubly robust kernel estimator of a dose-response curve.

Kennedy, Ma, McHugh & Small (2017, "Non-parametric methods for doubly robust estimation
of continuous treatment effects", JRSS-B 79(4), doi:10.1111/rssb.12212):

1. nuisances: the dose density ``π(a | x)`` — here the normal linear model
   ``A | X ~ N(z'γ, σ²)`` of :mod:`cqox.estimators.dose.density` — and the outcome
   regression ``μ(x, a) = E[Y | X = x, A = a]`` — here least squares on
   ``(1, a, a², x, a·x)`` (:func:`outcome_basis`);
2. the pseudo-outcome of each unit

   ``ξ_i = (Y_i − μ̂(X_i, A_i)) · ϖ̂(A_i)/π̂(A_i | X_i) + m̂(A_i)``

   with ``ϖ̂(a) = (1/n) Σ_j π̂(a | X_j)`` (the marginal dose density) and
   ``m̂(a) = (1/n) Σ_j μ̂(X_j, a)``; ``E[ξ | A = a] = μ(a)`` when either nuisance is
   right (double robustness);
3. the curve is the local linear regression of ``ξ`` on ``A`` with a Gaussian kernel
   ``K_h(t) = φ(t/h)/h``: ``θ̂_h(a) = e₁'D̂(a)⁻¹ Pₙ[g K_h(A − a) ξ]``, ``g = (1, (A − a)/h)``,
   ``D̂(a) = Pₙ[g g' K_h(A − a)]``;
4. the bandwidth ``h`` minimises the leave-one-out risk of that smoother,
   ``Σ_i ((ξ_i − θ̂_h(A_i)) / (1 − Ŵ_h(A_i)))²`` with ``Ŵ_h(a) = e₁'D̂(a)⁻¹e₁ K_h(0)/n``
   (the paper's §3.5, the ``ctseff`` code), over :data:`N_BANDWIDTHS` candidates, with
   the smoother's sums computed on :data:`LOO_BINS` linearly binned doses by FFT
   convolution (Fan & Marron 1994; the curve itself is computed exactly);
5. the SE is the paper's Theorem 3 sandwich: influence
   ``ψ_i(a) = e₁'D̂⁻¹[g_i K_h(A_i − a)(ξ_i − g_i'β̂(a)) + ∫ g(t) K_h(t − a)(μ̂(X_i, t) −
   m̂(t)) ϖ̂(t) dt]`` (the integral carries the marginalisation over ``X``), plus the
   parametric nuisances' own estimation error by the delta method,
   ``ψ_η,i'∂θ̂_h(a)/∂η`` with ``∂θ̂_h(a)/∂η = e₁'D̂⁻¹Pₙ[g K_h ∂ξ/∂η]`` over
   ``η = (β, γ, σ²)``.  That term vanishes asymptotically when both nuisances are right
   (double robustness), but not at n in the thousands: at n = 2000 without it the SE is
   5–9% low where the weights are largest (docs/validation_dose_response.md).

The interval covers the *smoothed* curve ``θ_h(a)``; the bias ``θ_h − θ`` is of order
``h²``.  ``undersmooth`` shrinks the selected bandwidth by ``n^(−undersmooth)`` so the bias
is of smaller order than the SE and the interval covers ``θ(a)`` itself (the default
``0.1`` takes an MSE-optimal ``h ∝ n^(−1/5)`` to ``n^(−3/10)``).

``ϖ̂`` and ``m̂`` are computed on :data:`INTEGRATION_POINTS` equally spaced doses over the
observed range and interpolated linearly at each ``A_i`` (as the paper's code does); with
the linear outcome model ``μ̂(X_i, t) − m̂(t) = u_i + t·v_i`` is exact, so the integral of
step 5 reduces to two integrals of the kernel against ``ϖ̂`` per dose.

Example
-------
>>> import cqox
>>> from cqox.simulate.dose import dose_polynomial
>>> df, truth = dose_polynomial(n=3000, seed=1)
>>> est = cqox.estimate("dose_kernel_dr", df, outcome="y", dose="a", covariates=["x1", "x2"])
>>> row = est.curve([1.0]).iloc[0]
>>> bool(abs(row.estimate - truth["curve"](1.0)) < 4 * row.se)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal

from cqox.core.context import Context
from cqox.core.estimate import Estimate
from cqox.core.params import Param
from cqox.data.prepare import CausalData
from cqox.errors import EstimationError
from cqox.estimators.base import Example
from cqox.estimators.dose.curve import curve_inference, dose_grid
from cqox.estimators.dose.density import NormalDoseModel, fit_normal_dose
from cqox.estimators.dose.family import GRID_PARAMS, DoseResponseEstimator
from cqox.estimators.dose.msm import weight_gates
from cqox.estimators.dose.outcome import LinearOutcome, fit_linear_outcome, outcome_basis
from cqox.estimators.registry import register
from cqox.nuisance.ols import with_intercept

#: Doses over the observed range on which ``ϖ̂`` and the variance integral are computed
#: (``ϖ̂`` is interpolated at each unit's dose).
INTEGRATION_POINTS = 400
#: Bins of the leave-one-out bandwidth search (equally spaced over the observed range;
#: the doses are linearly binned, the fits and hat values interpolated at each dose).
LOO_BINS = 1024
#: Candidate bandwidths of the leave-one-out search: ``sd(A) × geomspace(lo, hi)``.
N_BANDWIDTHS = 20
BANDWIDTH_RANGE = (0.05, 2.0)
#: Largest (row, dose) block held in memory at once (8 bytes each).
BLOCK_CELLS = 2_000_000
#: Largest number of (row, dose) cells kept between the two passes of
#: :meth:`KernelDRFit.evaluate` (8 bytes each: 24 MB); beyond it they are recomputed.
CACHE_CELLS = 3_000_000
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


def gaussian_kernel(d: np.ndarray, h: float) -> np.ndarray:
    """``K_h(d) = φ(d/h)/h``.

    ``exp(−0.5·u·u)/(√(2π)h)`` with ``u = d/h``, the steps in place in one array: on the
    (rows × doses) blocks here each fresh temporary is megabytes the system must fault
    in page by page, and the same operations in the same order give the same numbers.
    """
    u = np.asarray(d / h)
    k = -0.5 * u
    k *= u
    np.exp(k, out=k)
    k /= _SQRT_2PI * h
    return k


def _row_blocks(n: int, width: int) -> list[slice]:
    step = max(1, BLOCK_CELLS // max(1, width))
    return [slice(s, s + step) for s in range(0, n, step)]


def marginal_density(
    model: NormalDoseModel, Z: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``ϖ̂(t) = (1/n) Σ_j φ((t − z_j'γ̂)/σ̂)/σ̂`` at the doses ``t``, and ``∂ϖ̂(t)/∂(γ, σ²)``.

    The derivative is ``(1/n) Σ_j π̂(t | X_j) s_j(t)`` with ``s_j(t)`` the score of the
    normal dose model at dose ``t``: shape (len(t), k + 1).
    """
    n = len(model.mean)
    s2 = model.sigma2
    sd = float(np.sqrt(s2))
    out = np.zeros(len(t))
    grad = np.zeros((len(t), Z.shape[1] + 1))
    for rows in _row_blocks(n, len(t)):
        e = t[None, :] - model.mean[rows, None]
        f = gaussian_kernel(e, sd)
        out += f.sum(axis=0)
        grad[:, :-1] += (f * e).T @ Z[rows] / s2
        # f·(−0.5/σ² + e²/(2σ⁴)) in e's array (the same operations, no new temporaries)
        np.multiply(e, e, out=e)
        e /= 2 * s2 * s2
        np.add(-0.5 / s2, e, out=e)
        e *= f
        grad[:, -1] += np.sum(e, axis=0)
    return out / n, grad / n


def local_linear_sums(
    a: np.ndarray, xi: np.ndarray, at: np.ndarray, h: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(θ̂_h(at), D̂(at) (G, 2, 2), Pₙ[g K ξ] (G, 2))`` of the local linear smoother."""
    n = len(a)
    D = np.zeros((len(at), 2, 2))
    b = np.zeros((len(at), 2))
    for rows in _row_blocks(n, len(at)):
        d = (a[rows, None] - at[None, :]) / h
        K = gaussian_kernel(d * h, h)
        Kd = K * d
        D[:, 0, 0] += K.sum(axis=0)
        D[:, 0, 1] += Kd.sum(axis=0)
        D[:, 1, 1] += (Kd * d).sum(axis=0)
        b[:, 0] += xi[rows] @ K
        b[:, 1] += xi[rows] @ Kd
    D[:, 1, 0] = D[:, 0, 1]
    D /= n
    b /= n
    det = D[:, 0, 0] * D[:, 1, 1] - D[:, 0, 1] ** 2
    theta = (D[:, 1, 1] * b[:, 0] - D[:, 0, 1] * b[:, 1]) / det
    return theta, D, b


def linear_bins(a: np.ndarray, values: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Linear binning of ``(1, values)`` onto equally spaced ``centres``, shape (M, 1 + k).

    Each dose splits its unit weight (and its values) between the two nearest centres in
    proportion to its distance from each (Fan & Marron 1994, "Fast implementations of
    nonparametric curve estimators", JCGS 3(1), doi:10.1080/10618600.1994.10474629).
    """
    M = len(centres)
    pos = (a - centres[0]) / (centres[1] - centres[0])
    j = np.clip(np.floor(pos).astype(np.intp), 0, M - 2)
    f = np.clip(pos - j, 0.0, 1.0)
    cols = np.column_stack([np.ones(len(a)), values])
    out = np.empty((M, cols.shape[1]))
    for c in range(cols.shape[1]):
        out[:, c] = np.bincount(j, (1.0 - f) * cols[:, c], M) + np.bincount(
            j + 1, f * cols[:, c], M
        )
    return out


def binned_local_linear(
    bins: np.ndarray, centres: np.ndarray, h: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(θ̂_h, Ŵ_h)`` at the bin centres from binned sums (:func:`linear_bins` of ξ).

    On equally spaced centres ``K_h(c_l − c_m)`` depends on ``l − m`` only, so every sum
    ``Σ_l w_l K_h(c_l − c_m)((c_l − c_m)/h)^r`` is a convolution, done by FFT: ``O(M log M)``
    per bandwidth instead of ``O(n M)``.
    """
    M = len(centres)
    off = np.arange(-(M - 1), M) * (centres[1] - centres[0]) / h
    k0 = gaussian_kernel(off * h, h)
    k1, k2 = k0 * off, k0 * off * off

    def at_centres(w: np.ndarray, k: np.ndarray) -> np.ndarray:
        # S(m) = Σ_l w_l k(l − m): a convolution with the reversed kernel
        return np.asarray(signal.fftconvolve(w, k[::-1])[M - 1 : 2 * M - 1])

    d00 = at_centres(bins[:, 0], k0) / n
    d01 = at_centres(bins[:, 0], k1) / n
    d11 = at_centres(bins[:, 0], k2) / n
    b0 = at_centres(bins[:, 1], k0) / n
    b1 = at_centres(bins[:, 1], k1) / n
    det = d00 * d11 - d01**2
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = (d11 * b0 - d01 * b1) / det
        hat = d11 / det * k0[M - 1] / n
    return theta, hat


def loo_risk(
    a: np.ndarray, xi: np.ndarray, h: float, centres: np.ndarray, bins: np.ndarray
) -> float:
    """Leave-one-out risk ``mean(((ξ − θ̂_h(A))/(1 − Ŵ_h(A)))²)``.

    Fits and hat values come from the binned smoother at the centres, interpolated at
    each dose.
    """
    theta, hat = binned_local_linear(bins, centres, h, len(a))
    fit = np.interp(a, centres, theta)
    w = np.interp(a, centres, hat)
    if not (np.all(np.isfinite(fit)) and np.all(np.isfinite(w))) or np.any(w >= 1.0):
        return float("inf")
    return float(np.mean(((xi - fit) / (1.0 - w)) ** 2))


def select_bandwidth(a: np.ndarray, xi: np.ndarray) -> tuple[float, np.ndarray]:
    """The candidate bandwidth of least leave-one-out risk, and the candidates' risks."""
    sd = float(np.std(a))
    cands = sd * np.geomspace(*BANDWIDTH_RANGE, N_BANDWIDTHS)
    centres = np.linspace(float(a.min()), float(a.max()), LOO_BINS)
    bins = linear_bins(a, xi, centres)
    risks = np.array([loo_risk(a, xi, float(h), centres, bins) for h in cands])
    if not np.isfinite(risks).any():
        raise EstimationError(
            "no bandwidth gives a finite leave-one-out risk: the dose has too few distinct "
            "values for a kernel smoother",
            details={"parameter": "bandwidth"},
        )
    return float(cands[int(np.nanargmin(risks))]), np.column_stack([cands, risks])


@dataclass(frozen=True)
class KernelDRFit:
    """A fitted doubly robust kernel dose-response curve.

    Attributes
    ----------
    a, xi : ndarray, shape (n,)
        Doses and pseudo-outcomes ``ξ``.
    u, v : ndarray, shape (n,)
        ``μ̂(X_i, t) − m̂(t) = u_i + t v_i`` (linear outcome model).
    h : float
        Bandwidth of the curve (after undersmoothing).
    h_cv : float
        Leave-one-out bandwidth (``nan`` when ``bandwidth`` was given).
    t_grid, varpi : ndarray, shape (T,)
        Integration grid and ``ϖ̂`` on it.
    weights : ndarray, shape (n,)
        ``ϖ̂(A_i)/π̂(A_i | X_i)``, the stabilised weights of the pseudo-outcome.
    dxi : ndarray, shape (n, d)
        ``∂ξ_i/∂η`` for the nuisance parameters ``η = (β, γ, σ²)``.
    eta_influence : ndarray, shape (n, d)
        Influence of ``η̂``.
    risks : ndarray, shape (N_BANDWIDTHS, 2)
        Candidate bandwidths and their leave-one-out risks (empty when given).
    """

    a: np.ndarray
    xi: np.ndarray
    u: np.ndarray
    v: np.ndarray
    h: float
    h_cv: float
    t_grid: np.ndarray
    varpi: np.ndarray
    weights: np.ndarray
    dxi: np.ndarray
    eta_influence: np.ndarray
    risks: np.ndarray

    def evaluate(self, doses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(θ̂_h(a), Σ̂ = ψ'ψ/n²)`` at ``doses`` (``ψ`` of the module docstring, step 5)."""
        doses = np.asarray(doses, dtype=np.float64)
        n, h = len(self.a), self.h
        theta, D, b = local_linear_sums(self.a, self.xi, doses, h)
        det = D[:, 0, 0] * D[:, 1, 1] - D[:, 0, 1] ** 2
        # e₁'D⁻¹ = (D₁₁, −D₀₁)/det; the local slope β̂₁ = (D₀₀b₁ − D₀₁b₀)/det
        r0, r1 = D[:, 1, 1] / det, -D[:, 0, 1] / det
        beta1 = (D[:, 0, 0] * b[:, 1] - D[:, 0, 1] * b[:, 0]) / det
        # ∫ g(t) K_h(t − a) ϖ̂(t) (1, t) dt by the trapezoid rule on the integration grid
        dt = np.gradient(self.t_grid)
        dt[0] /= 2
        dt[-1] /= 2
        dg = (self.t_grid[:, None] - doses[None, :]) / h
        Kw = gaussian_kernel(dg * h, h) * (self.varpi * dt)[:, None]
        I0 = np.stack([Kw.sum(axis=0), (Kw * dg).sum(axis=0)])  # (2, G): ∫ g K ϖ
        Kt = Kw * self.t_grid[:, None]
        I1 = np.stack([Kt.sum(axis=0), (Kt * dg).sum(axis=0)])  # (2, G): ∫ g K ϖ t
        # ∂θ̂_h(a)/∂η = e₁'D̂⁻¹Pₙ[g K ∂ξ/∂η], shape (G, d)
        J0 = np.zeros((len(doses), self.dxi.shape[1]))
        J1 = np.zeros_like(J0)
        blocks = _row_blocks(n, len(doses))
        # the second pass reuses the first's kernel blocks while they fit in CACHE_CELLS
        # (the same numbers, computed once)
        cache: list[tuple[np.ndarray, np.ndarray]] = []
        keep = 2 * n * len(doses) <= CACHE_CELLS
        for rows in blocks:
            d = (self.a[rows, None] - doses[None, :]) / h
            K = gaussian_kernel(d * h, h)
            J0 += K.T @ self.dxi[rows]
            J1 += (K * d).T @ self.dxi[rows]
            if keep:
                cache.append((d, K))
        D_eta = (r0[:, None] * J0 + r1[:, None] * J1) / n
        cov = np.zeros((len(doses), len(doses)))
        for j, rows in enumerate(blocks):
            if cache:
                d, K = cache[j]
            else:
                d = (self.a[rows, None] - doses[None, :]) / h
                K = gaussian_kernel(d * h, h)
            res = K * (self.xi[rows, None] - theta[None, :] - d * beta1[None, :])
            s0 = res + self.u[rows, None] * I0[0] + self.v[rows, None] * I1[0]
            s1 = res * d + self.u[rows, None] * I0[1] + self.v[rows, None] * I1[1]
            psi = s0 * r0 + s1 * r1 + self.eta_influence[rows] @ D_eta.T
            cov += psi.T @ psi
        return theta, cov / (n * n)


def fit_kernel_dr(
    y: np.ndarray,
    a: np.ndarray,
    X: np.ndarray,
    bandwidth: float | None = None,
    undersmooth: float = 0.1,
) -> KernelDRFit:
    """Nuisances, pseudo-outcomes and bandwidth of Kennedy et al.'s estimator (steps 1–4)."""
    n = len(y)
    Z = with_intercept(X)
    den = fit_normal_dose(a, Z)
    out: LinearOutcome = fit_linear_outcome(y, a, X)
    t_grid = np.linspace(float(a.min()), float(a.max()), INTEGRATION_POINTS)
    varpi, dvarpi = marginal_density(den, Z, t_grid)
    varpi_a = np.interp(a, t_grid, varpi)
    weights = varpi_a / den.density(a)
    resid = y - out.predict(X, a)
    xi = resid * weights + out.marginal(a)
    # ∂ξ/∂β = −w·b(X, A) + b̄(A);  ∂ξ/∂(γ, σ²) = (Y − μ̂)·w·(∂log ϖ̂(A) − ∂log π̂(A | X))
    dlog_varpi = (
        np.column_stack([np.interp(a, t_grid, dvarpi[:, j]) for j in range(dvarpi.shape[1])])
        / varpi_a[:, None]
    )
    dxi = np.column_stack(
        [
            -weights[:, None] * outcome_basis(a, X) + out.mean_basis(a),
            (resid * weights)[:, None] * (dlog_varpi - den.score(a, Z)),
        ]
    )
    eta_influence = np.column_stack([out.influence, den.influence])
    if bandwidth is None:
        h_cv, risks = select_bandwidth(a, xi)
        h = h_cv * float(n) ** (-undersmooth)
    else:
        h_cv, risks, h = float("nan"), np.empty((0, 2)), float(bandwidth)
    u, v = out.deviations(X)
    return KernelDRFit(a, xi, u, v, h, h_cv, t_grid, varpi, weights, dxi, eta_influence, risks)


@register
class DoseKernelDR(DoseResponseEstimator):
    """Kennedy et al. (2017) doubly robust kernel estimator of the dose-response curve."""

    name = "dose_kernel_dr"
    summary_line = (
        "Dose-response curve by the doubly robust kernel estimator (Kennedy et al. 2017): "
        "local linear smoothing of the DR pseudo-outcome, leave-one-out bandwidth, "
        "uniform band and optimal dose"
    )
    example = Example(
        "dose.dose_polynomial",
        {"n": 600, "seed": 1},
        {"outcome": "y", "dose": "a", "covariates": ["x1", "x2"]},
        params={"n_sim": 200},
    )
    parameters = (
        Param(
            "bandwidth",
            None,
            "float",
            "kernel bandwidth in dose units; None: the leave-one-out choice shrunk by "
            "n^(−undersmooth)",
            low=0.0,
            closed="neither",
            nullable=True,
        ),
        Param(
            "undersmooth",
            0.1,
            "float",
            "the leave-one-out bandwidth is multiplied by n^(−undersmooth) so the "
            "smoothing bias is small against the SE (0: no undersmoothing; the interval "
            "then covers the smoothed curve)",
            low=0.0,
            high=0.5,
        ),
        *GRID_PARAMS,
    )

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        a = data.t
        fit = fit_kernel_dr(data.y, a, data.X, params["bandwidth"], params["undersmooth"])
        grid = dose_grid(a, params["n_grid"], params["grid_quantile"])
        inference = curve_inference(
            fit.evaluate, grid, params["ci_level"], params["n_sim"], ctx.rng(0)
        )
        tables = {}
        notes = []
        if len(fit.risks) and fit.h_cv >= fit.risks[-1, 0]:
            notes.append(
                f"the leave-one-out risk is smallest at the widest candidate bandwidth "
                f"({fit.h_cv:.4g}): the pseudo-outcome is very noisy (check the weight gates) "
                "and the curve may be oversmoothed; give 'bandwidth' to choose it"
            )
        if len(fit.risks):
            tables["bandwidth_risk"] = pd.DataFrame(
                {"bandwidth": fit.risks[:, 0], "loo_risk": fit.risks[:, 1]}
            )
        diagnostics = {
            "bandwidth": fit.h,
            "bandwidth_loo": fit.h_cv,
            "pseudo_outcome_sd": float(np.std(fit.xi)),
            "weight_max": float(fit.weights.max()),
        }
        return self._curve_estimate(
            data,
            params,
            inference,
            fit.evaluate,
            gates=weight_gates(fit.weights, ctx),
            diagnostics=diagnostics,
            tables=tables,
            warnings=notes,
            method=f"doubly robust kernel (normal dose model, linear outcome model with dose "
            f"interactions), local linear, bandwidth {fit.h:.4g}; influence-function SE, "
            "sup-t uniform band",
        )
