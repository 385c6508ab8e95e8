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
    # each is zero off its segment (only those halves are zeroed: the rest is written)
    W = np.empty((10, n))
    W[0:6:2, p:] = 0.0
    W[1:6:2, :p] = 0.0
    W[0, :p] = 1.0
    W[1, p:] = 1.0
    s = np.arange(n, dtype=np.float64)
    np.subtract(s[:p], 0.5 * (p - 1), out=W[2, :p])
    np.subtract(s[p:], s0 + 0.5 * (r - 1), out=W[3, p:])
    rows = W[:4]
    np.multiply(W[2:4], W[2:4], out=W[4:6])
    K = _segment_constants(p, r)
    sums = rows @ y  # Σ_pre y, Σ_post y, Σ_pre c y, Σ_post c y
    fitted = (sums * K[:4]) @ rows  # each segment's level plus slope times c
    resid = y - fitted
    np.multiply(rows, resid, out=W[6:])
    A = K[4:20].reshape(4, 4)
    coef = A @ sums
    # the unnormalised DCT-II: F[i, m] = 2 Σ_s W[i, s] cos(πm(s+½)/n)
    F = fft.dct(W, type=2, axis=1, overwrite_x=True)
    # c_j(m) (4 rows) and Q'D_{a_j}Φ (16 rows): weighted sums of the transforms of 1, c, c²
    out = K[24:].reshape(20, 6) @ F[:6, : 2 * nu + 1]
    # Γ = √½ A · DCT(rows ε̂) at frequencies 1 … ν; the √½ enters the covariance
    Gamma = A @ F[6:, 1 : nu + 1]
    cov = Gamma @ Gamma.T
    c = n / (n - 4) if correction else 1.0
    cov *= 0.5 * c / nu
    trA, trA2 = ewc_cross_moments(out[:4], out[4:, 1 : nu + 1].reshape(4, 4, nu), nu)
    fit = HACFit(coef, cov, np.sqrt(cov.diagonal()), resid, fitted, nu, "ewc", None)
    # a_j'a_j = Σ_s a_j(s)² (K[20:24])
    return fit, FixedB(np.sqrt(K[20:24] / (c * trA)), trA**2 / trA2)


def _segment_constants(p: int, r: int) -> np.ndarray:
    """The design's numbers, as one array: ``[1/‖row_i‖² (4), A (16), a_j'a_j (4), weights (120)]``.

    ``A`` (4 × 4): ``β_j = Σ_i A_ji ⟨row_i, y⟩`` for the rows ``1_pre, 1_post, c_pre,
    c_post`` (squared norms ``p, r, Λ²_pre, Λ²_post``): ``β1 = b_pre``, ``β0 = ȳ_pre + b_pre
    (s0 − m_pre)``, ``β2 = ȳ_post + b_post (s0 − m_post) − β0`` and ``β3 = b_post − b_pre``
    with the segment slopes ``b = Σ c y / Λ²``, ``s0 − m_pre = (p + 1)/2`` and
    ``s0 − m_post = −(r − 1)/2``.  ``a_j'a_j = Σ_i A_ji² ‖row_i‖²`` (orthogonal rows).

    The weights (20 × 6) on the transforms of ``1, c, c²`` on each segment (rows ``1_pre,
    1_post, c_pre, c_post, c²_pre, c²_post``): rows 0–3 ``c_j = ½ DCT(a_j²)`` with
    ``a_j² = A_j0² 1 + 2A_j0A_j2 c + A_j2² c²`` on the pre segment (likewise on the post
    one); rows 4 + 4j + a ``√½ DCT(q_a a_j)`` for the orthonormal basis
    ``q = [1_pre/√p, 1_post/√r, c_pre/Λ_pre, c_post/Λ_post]``.  Built in Python and
    converted once: NumPy's calls on 4 × 4 arrays cost more than the arithmetic.
    """
    lp2, lr2 = p * (p * p - 1) / 12.0, r * (r * r - 1) / 12.0
    d_pre, d_post = 0.5 * (p + 1) / lp2, -0.5 * (r - 1) / lr2
    A = (
        (1.0 / p, 0.0, d_pre, 0.0),
        (0.0, 0.0, 1.0 / lp2, 0.0),
        (-1.0 / p, 1.0 / r, -d_pre, d_post),
        (0.0, 0.0, -1.0 / lp2, 1.0 / lr2),
    )
    h = math.sqrt(0.5)
    ip, ir, ilp, ilr = h / math.sqrt(p), h / math.sqrt(r), h / math.sqrt(lp2), h / math.sqrt(lr2)
    flat = [1.0 / p, 1.0 / r, 1.0 / lp2, 1.0 / lr2, *A[0], *A[1], *A[2], *A[3]]
    flat += [u * u * p + w * w * r + v * v * lp2 + x * x * lr2 for u, w, v, x in A]
    z = 0.0
    for u, w, v, x in A:  # the weights of a_j on 1 and c, pre (u, v) and post (w, x)
        flat += (0.5 * u * u, 0.5 * w * w, u * v, w * x, 0.5 * v * v, 0.5 * x * x)
    for u, w, v, x in A:
        flat += (u * ip, z, v * ip, z, z, z, z, w * ir, z, x * ir, z, z)
        flat += (z, z, u * ilp, z, v * ilp, z, z, z, z, w * ilr, z, x * ilr)
    return np.array(flat)
