"""The default ``its`` inference on the bare design in one pass: two line fits, EWC, fixed-b.

The bare ITS design ``[1, s − s0, D, (s − s0)·D]`` (no seasonal term, no covariate)
spans the lines on the pre segment (``p = s0`` periods) and on the post segment
(``r = n − s0`` periods).  With ``c_s`` the period's offset from the mean period of its
segment (``Σ c = 0`` on each segment, ``Λ² = Σ c² = p(p² − 1)/12``), least squares is
the two segment fits (level ``Σ y / p``, slope ``Σ c y / Λ²``) and every coefficient is a
linear functional ``β_j = Σ_s a_j(s) y_s`` whose weights combine four rows::

    a_j = A_j0 · 1_pre + A_j1 · 1_post + A_j2 · c_pre + A_j3 · c_post

(``β1`` the pre slope, ``β0`` the pre line at ``s0``, ``β2`` and ``β3`` the post line's
level at ``s0`` and slope minus the pre ones: the matrix ``A`` of :func:`_coefficient_rows`).

Everything the EWC variance and its design-adjusted fixed-b law
(:func:`cqox.estimators.its.segmented.fixed_b`) need is a cosine transform of products
of these rows with each other or with the residuals ``ε̂``:

* EWC (Lazarus, Lewis, Stock & Watson 2018, doi:10.1080/07350015.2018.1506926):
  ``Var β̂ = Γ Γ'/ν`` with ``Γ_jv = Σ_s √2 cos(πv(s+½)/n) a_j(s) ε̂_s`` (``v = 1 … ν``),
  the transforms of ``ε̂`` and ``c ε̂`` on each segment;
* the fixed-b law: ``c_j(m) = Σ_s a_j(s)² cos(πm(s+½)/n)`` (``m = 0 … 2ν``) and
  ``Q'D_{a_j}Φ`` for the orthonormal basis ``q = [1_pre/√p, 1_post/√r, c_pre/Λ_pre,
  c_post/Λ_post]``, the transforms of ``1``, ``c`` and ``c²`` on each segment.

So one DCT-II call on ten rows (``O(n log n)``) and a handful of small matrix products
give the fit, its EWC standard errors and the reference law — what
:func:`~cqox.estimators.its.segmented.ols_ewc` and
:func:`~cqox.estimators.its.segmented.fixed_b` compute through the QR of the design,
two transform batches and about seventy NumPy calls.  The bare design has full column
rank whenever each segment has two periods (the basis ``q`` above is orthonormal), so
no rank test is needed.  The numbers agree with the QR route to rounding
(tests/unit/test_its_two_segments.py).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft

from cqox.estimators.its.segmented import FixedB, HACFit, ewc_cross_moments


def ewc_two_segments(
    y: np.ndarray, s0: int, terms: int, correction: bool = False
) -> tuple[HACFit, FixedB]:
    """OLS of ``y`` on the bare ITS design, its EWC covariance and fixed-b law.

    Parameters
    ----------
    y : ndarray, shape (n,)
        The series in period order.
    s0 : int
        Position of the first post-interruption period (``2 ≤ s0 ≤ n − 2``).
    terms : int
        Cosine terms ``ν`` of the EWC estimator (``2ν + 1 ≤ n``).
    correction : bool
        Multiply the covariance by ``n/(n − 4)`` (the fixed-b interval is unchanged).

    Returns
    -------
    fit : HACFit
        Coefficients ``[β0, β1, β2, β3]``, EWC covariance and SEs, residuals and fitted
        values (``factor`` is ``None``: no QR is formed).
    law : FixedB
        The design-adjusted fixed-b reference distribution of each t-ratio.
    """
    n = y.shape[0]
    p, r, nu = s0, n - s0, terms
    if p < 2 or r < 2 or 2 * nu + 1 > n:
        raise ValueError(f"needs 2 ≤ s0 ≤ n − 2 and 2ν + 1 ≤ n; got n={n}, s0={s0}, ν={nu}")
    # the rows 1_pre, 1_post, c_pre, c_post, c²_pre, c²_post, then ε̂ times the first four;
    # each is zero off its segment
    W = np.zeros((10, n))
    W[0, :p] = 1.0
    W[1, p:] = 1.0
    s = np.arange(n, dtype=np.float64)
    np.subtract(s[:p], 0.5 * (p - 1), out=W[2, :p])
    np.subtract(s[p:], s0 + 0.5 * (r - 1), out=W[3, p:])
    rows = W[:4]
    np.multiply(W[2:4], W[2:4], out=W[4:6])
    sums = rows @ y  # Σ_pre y, Σ_post y, Σ_pre c y, Σ_post c y
    norms = np.array([p, r, p * (p * p - 1) / 12.0, r * (r * r - 1) / 12.0])  # Σ of each row²
    fitted = (sums / norms) @ rows  # each segment's level plus slope times c
    resid = y - fitted
    np.multiply(rows, resid, out=W[6:])
    A = _coefficient_rows(p, r, norms)
    coef = A @ sums
    # the unnormalised DCT-II: F[i, m] = 2 Σ_s W[i, s] cos(πm(s+½)/n)
    F = fft.dct(W, type=2, axis=1, overwrite_x=True)
    # every product of A with a row block in one matrix product: c_j(m) (4 rows),
    # Q'D_{a_j}Φ (16 rows) and Γ (4 rows)
    out = _transform_weights(A, norms) @ F[:, : 2 * nu + 1]
    Gamma = out[20:, 1 : nu + 1]
    cov = Gamma @ Gamma.T
    cov *= (n / (n - 4) if correction else 1.0) / nu
    se = np.sqrt(cov.diagonal())
    # a_j'a_j = Σ_s a_j(s)²: the four rows are orthogonal with squared norms ``norms``
    aa = (A * A) @ norms
    trA, trA2 = ewc_cross_moments(out[:4], out[4:20, 1 : nu + 1].reshape(4, 4, nu), nu)
    scale = np.sqrt(aa / ((n / (n - 4) if correction else 1.0) * trA))
    fit = HACFit(coef, cov, se, resid, fitted, nu, "ewc", None)
    return fit, FixedB(scale, trA**2 / trA2)


def _coefficient_rows(p: int, r: int, norms: np.ndarray) -> np.ndarray:
    """``A`` (4 × 4): ``β_j = Σ_i A_ji ⟨row_i, y⟩`` for the rows ``1_pre, 1_post, c_pre, c_post``.

    ``β0 = ȳ_pre + b_pre (s0 − m_pre)`` and ``β2 = ȳ_post + b_post (s0 − m_post) − β0``
    with the segment slopes ``b = Σ c y / Λ²`` and mean periods ``m``: ``s0 − m_pre =
    (p + 1)/2`` and ``s0 − m_post = −(r − 1)/2``.
    """
    lp2, lr2 = float(norms[2]), float(norms[3])
    d_pre, d_post = 0.5 * (p + 1) / lp2, -0.5 * (r - 1) / lr2
    return np.array(
        [
            [1.0 / p, 0.0, d_pre, 0.0],
            [0.0, 0.0, 1.0 / lp2, 0.0],
            [-1.0 / p, 1.0 / r, -d_pre, d_post],
            [0.0, 0.0, -1.0 / lp2, 1.0 / lr2],
        ]
    )


def _transform_weights(A: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Weights (24 × 10) on the ten transformed rows of :func:`ewc_two_segments`.

    Rows 0–3: ``c_j = ½ DCT(a_j²)`` with ``a_j² = A_j0² 1 + 2A_j0A_j2 c + A_j2² c²`` on the
    pre segment (likewise on the post one); rows 4 + 4j + a: ``√½ DCT(q_a a_j)`` for the
    orthonormal basis ``q_a`` (so ``Σ_s √2 cos(πv(s+½)/n) q_a a_j`` at ``v ≥ 1``); rows
    20–23: ``Γ_j = √½ DCT(a_j ε̂)``.
    """
    h = math.sqrt(0.5)
    ip, ir, ilp, ilr = (h / math.sqrt(float(x)) for x in norms)
    weights = []
    for u, w, v, x in A.tolist():  # the pre and post weights of a_j on 1 and c
        half_square = [0.5 * u * u, 0.5 * w * w, u * v, w * x, 0.5 * v * v, 0.5 * x * x]
        weights.append(half_square + [0.0] * 4)
    for u, w, v, x in A.tolist():
        weights += [
            [u * ip, 0.0, v * ip, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, w * ir, 0.0, x * ir, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, u * ilp, 0.0, v * ilp, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, w * ilr, 0.0, x * ilr, 0.0, 0.0, 0.0, 0.0],
        ]
    for u, w, v, x in A.tolist():
        weights.append([0.0] * 6 + [h * u, h * w, h * v, h * x])
    return np.array(weights)
