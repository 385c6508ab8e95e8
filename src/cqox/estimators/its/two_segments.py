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

So one DCT-II call on ten rows (``O(n log n)``; from :data:`CLOSED_FORMS_FROM` periods
on, four rows and the transforms of ``1, c, c²`` in closed form,
:func:`segment_cosine_sums`) and a handful of small matrix products give the fit, its
EWC standard errors and the reference law — what
:func:`~cqox.estimators.its.segmented.ols_ewc` and
:func:`~cqox.estimators.its.segmented.fixed_b` compute through the QR of the design,
two transform batches and about seventy NumPy calls.  The bare design has full column
rank whenever each segment has two periods (the basis ``q`` above is orthonormal), so
no rank test is needed.  The numbers agree with the QR route to rounding
(tests/unit/test_its_two_segments.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from scipy import fftpack

from cqox.estimators.its import segmented
from cqox.estimators.its.segmented import FixedB, HACFit, ewc_cross_moments, newey_west_meat

T = TypeVar("T")


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
    M = 2 * nu + 1
    closed = n >= CLOSED_FORMS_FROM
    c = n / (n - 4) if correction else 1.0
    key = (n, p, nu, bool(correction))
    law = _LAWS.get(key)  # the fixed-b law depends on the design only, not on y
    K = segment_constants(p, r)
    # the rows 1_pre, 1_post, c_pre, c_post (each zero off its segment), then, when the
    # law is to be computed from short series' transforms, the rows c²_pre, c²_post and
    # four rows for the products with ε̂
    batch = law is None and not closed
    W = np.zeros((10 if batch else 4, n))
    W[0, :p] = 1.0
    W[1, p:] = 1.0
    s = np.arange(n, dtype=np.float64)
    np.subtract(s[:p], 0.5 * (p - 1), out=W[2, :p])
    np.subtract(s[p:], s0 + 0.5 * (r - 1), out=W[3, p:])
    rows = W[:4]
    sums = rows @ y  # Σ_pre y, Σ_post y, Σ_pre c y, Σ_post c y
    fitted = (sums * K[:4]) @ rows  # each segment's level plus slope times c
    resid = y - fitted
    A = K[4:20].reshape(4, 4)
    coef = A @ sums
    # the unnormalised DCT-II 2 Σ_s x_s cos(πm(s+½)/n) of the rows times ε̂ (written over
    # the rows) and, in the batch, of the rows 1, c, c² themselves (twice their cosine
    # sums)
    if batch:
        np.multiply(W[2:4], W[2:4], out=W[4:6])
        np.multiply(rows, resid, out=W[6:])
        F = _dct2(W)
        sums6 = F[:6, :M]
        F = F[6:]
    else:
        np.multiply(rows, resid, out=W)
        F = _dct2(W)
    # Γ = √½ A · DCT(rows ε̂) at frequencies 1 … ν; the √½ enters the covariance
    Gamma = A @ F[:, 1 : nu + 1]
    cov = Gamma @ Gamma.T
    cov *= 0.5 * c / nu
    if law is None:
        if closed:
            sums6 = segment_cosine_sums(n, p, M, K[_SUMS:])
        # c_j(m) (4 rows) and Q'D_{a_j}Φ (16 rows): weighted sums of the cosine sums of
        # 1, c and c² on each segment
        # (the weights carry the ½ of the DCT's doubled sums below CLOSED_FORMS_FROM)
        out = K[_WEIGHTS:_SUMS].reshape(20, 6) @ sums6
        trA, trA2 = ewc_cross_moments(out[:4], out[4:, 1 : nu + 1].reshape(4, 4, nu), nu)
        # a_j'a_j = Σ_s a_j(s)² (K[20:24])
        law = _remember(
            _LAWS, key, FixedB(_frozen(np.sqrt(K[20:24] / (c * trA))), _frozen(trA**2 / trA2))
        )
    return HACFit(coef, cov, np.sqrt(cov.diagonal()), resid, fitted, nu, "ewc", None), law


def hac_two_segments(y: np.ndarray, s0: int, lag: int, correction: bool = False) -> HACFit:
    """OLS of ``y`` on the bare ITS design with the Newey–West covariance at lag ``lag``.

    The two segment fits of :func:`ewc_two_segments`, and the covariance as the
    Newey–West long-run variance of the coefficients' own scores ``a_j(s) ε̂_s``
    (:func:`cqox.estimators.its.segmented.newey_west_meat`, Bartlett weights
    ``1 − j/(L+1)``): ``(Z'Z)⁻¹ S (Z'Z)⁻¹`` with the rows ``a_j`` of ``(Z'Z)⁻¹Z'`` moved
    inside the sums, so no QR, no design matrix and no sandwich.  Times ``n/(n − 4)``
    with the correction.  Needs ``2 ≤ s0 ≤ n − 2``; ``factor`` is ``None``.
    """
    n = y.shape[0]
    p, r = s0, n - s0
    if p < 2 or r < 2:
        raise ValueError(f"needs 2 ≤ s0 ≤ n − 2; got n={n}, s0={s0}")
    K = segment_constants(p, r)
    W = np.zeros((4, n))
    W[0, :p] = 1.0
    W[1, p:] = 1.0
    s = np.arange(n, dtype=np.float64)
    np.subtract(s[:p], 0.5 * (p - 1), out=W[2, :p])
    np.subtract(s[p:], s0 + 0.5 * (r - 1), out=W[3, p:])
    sums = W @ y
    fitted = (sums * K[:4]) @ W
    resid = y - fitted
    A = K[4:20].reshape(4, 4)
    W *= resid
    cov = newey_west_meat(A @ W, min(lag, n - 1))  # the scores a_j(s) ε̂_s, 4 × n
    if correction:
        cov *= n / (n - 4)
    return HACFit(A @ sums, cov, np.sqrt(cov.diagonal()), resid, fitted, lag, "bartlett", None)


#: Laws and design constants kept per design (the oldest entry goes first when full):
#: a series is often estimated more than once (both estimands, another ``ci_level``, a
#: control, the dashboard's re-runs), and its fixed-b law and segment constants depend on
#: the design's integers only — ~60 % of the default route's arithmetic at 1,000 periods
#: (the transforms of the design rows, :func:`ewc_cross_moments`).  A few KB each.
CACHE_SIZE = 64

_LAWS: dict[tuple[int, int, int, bool], FixedB] = {}
_CONSTANTS: dict[tuple[int, int], np.ndarray] = {}


def clear_caches() -> None:
    """Forget every kept law, segment constant and quantile of the ``its`` routes.

    The next call of each design computes them afresh (what a first call costs: the
    benchmarks time it so).
    """
    _LAWS.clear()
    _CONSTANTS.clear()
    segmented.clear_caches()


def _remember(cache: dict[Any, T], key: Any, value: T) -> T:
    """Store ``value`` under ``key``, dropping the oldest entry when ``cache`` is full."""
    if len(cache) >= CACHE_SIZE:
        cache.pop(next(iter(cache), None), None)  # another thread may have dropped it
    cache[key] = value
    return value


def _frozen(a: np.ndarray) -> np.ndarray:
    """``a`` made read-only (a kept array is shared by every caller that reads it)."""
    a.flags.writeable = False
    return a


def segment_constants(p: int, r: int) -> np.ndarray:
    """:func:`_segment_constants` of the segments (read-only), kept per design.

    With the constants of :func:`segment_cosine_sums` only from :data:`CLOSED_FORMS_FROM`
    periods on (below, the design rows' transforms come from the DCT batch).
    """
    K = _CONSTANTS.get((p, r))
    if K is None:
        K = _segment_constants(p, r, p + r >= CLOSED_FORMS_FROM)
        _remember(_CONSTANTS, (p, r), _frozen(K))
    return K


#: Where the weights and the cosine-sum constants begin in :func:`_segment_constants`.
_WEIGHTS, _SUMS = 24, 144

#: From this length on the cosine sums of the design rows come in closed form
#: (:func:`segment_cosine_sums`, ~20 NumPy calls on 6 × (2ν + 1) numbers); below it
#: they are six more rows of the DCT batch, which is cheaper there (measured: equal
#: near 1,500 periods; at 1,000 the closed forms cost ~0.03 ms more per call, at
#: 10,000 ~0.15 ms less).
CLOSED_FORMS_FROM = 1500

#: Below this ``L·πm/(2n)`` (segment length times half the angle) the closed forms of
#: :func:`segment_cosine_sums` lose digits (``D1`` below is a difference of two terms
#: that agree to ``O((Lx)²)``, relative): those frequencies are summed directly.
DIRECT_BELOW = 0.5


def segment_cosine_sums(n: int, s0: int, M: int, constants: np.ndarray | None = None) -> np.ndarray:
    """``Σ_s c_s^k cos(πm(s+½)/n)`` over each segment, ``k = 0, 1, 2``, ``m = 0 … M−1``.

    Row ``2k + g`` for the pre (``g = 0``, periods ``0 … s0−1``) and the post (``g = 1``)
    segment, ``c_s`` the period's offset from its segment's mean (shape (6, M)): half
    the DCT-II of the rows ``1, c, c²`` of each segment, from Dirichlet-kernel closed
    forms in ``O(M)`` instead of transforms of length ``n``.

    With ``x = πm/(2n)``, a segment of ``L`` periods with offsets ``u = −(L−1)/2 …
    (L−1)/2`` and ``ψ = 2x(μ + ½)`` for its mean period ``μ``::

        Σ_u cos(ψ + 2xu)    =  cos ψ · D0,   D0 = Σ cos(2xu)   = sin(Lx)/sin x
        Σ_u u cos(ψ + 2xu)  = −sin ψ · D1,   D1 = Σ u sin(2xu) = ½ (D0 cos x − L cos Lx)/sin x
        Σ_u u² cos(ψ + 2xu) =  cos ψ · D2,   D2 = Σ u² cos(2xu) = ¼ (L² − 1) D0 − cot x · D1

    (``D1 = −dD0/dθ``, ``D2 = dD1/dθ``, ``θ = 2x``).  The pre segment has ``ψ = Lx``,
    the post one ``ψ = πm − Lx`` (``cos ψ = (−1)^m cos Lx``), so with ``g_k =
    cos^{k−1}x / sin^k x`` every sum is a combination of the products of ``1,
    sin 2Lx, cos 2Lx`` (times ``(−1)^m`` on the post segment) with ``g_1, g_2, g_3``:
    one matrix of products, one small matrix product.  Angles are reduced modulo
    ``2π`` exactly (integer multiples of ``π/(2n)``) before the sines are taken.
    ``m = 0`` is exact (``L``, ``0``, ``L(L²−1)/12``).

    The difference in ``D1`` loses ``O((Lx)^{-2})`` ulps: where ``Lx < DIRECT_BELOW``
    (the lowest frequencies of a short segment) the sums are taken directly over the
    segment (``O(n)`` work in all).  ``constants`` is :func:`_cosine_sum_constants` as
    an array (built here when not given).
    """
    p, r = s0, n - s0
    k = np.array(_cosine_sum_constants(p, r)) if constants is None else constants
    S = np.empty((6, M))
    S[:, 0] = k[:6]  # m = 0
    if M > 1:
        # θ = ω·x for ω = 2p, 2r + 2n, 1, 2n: 2px, 2rx + πm, x, πm (x = πm/(2n)), the
        # multiples of π/(2n) reduced modulo 2π exactly before they are scaled
        theta = k[6:10, None] * np.arange(1.0, M)
        np.fmod(theta, 4.0 * n, out=theta)
        theta *= math.pi / (2 * n)
        T = np.empty((8, M - 1))
        np.sin(theta, out=T[:4])
        np.cos(theta, out=T[4:])
        # T: sin 2px, (−1)^m sin 2rx, sin x, sin πm (= 0, made the constant 1 here),
        # cos 2px, (−1)^m cos 2rx, cos x, (−1)^m
        T[3] = 1.0
        g1 = 1.0 / T[2]
        g2 = T[6] * g1
        g2 *= g1  # cos x / sin² x
        # the products t·g of the closed forms: (sin 2Lx)·(g1, g3) on both segments
        # (g3 = g2·cot x), then (1, cos 2px, (−1)^m cos 2rx, cos x (unused), (−1)^m)·g2
        P = np.empty((9, M - 1))
        np.multiply(T[0:2], g1, out=P[0:2])
        np.multiply(T[0:2], g2, out=P[2:4])
        P[2:4] *= T[6]
        P[2:4] *= g1
        np.multiply(T[3:8], g2, out=P[4:9])
        np.matmul(k[10:].reshape(6, 9), P, out=S[:, 1:])
    q = math.pi / (2 * n)
    for g, (a, size) in enumerate(((0, p), (p, r))):
        top = min(M, math.ceil(DIRECT_BELOW / (size * q)))  # the first m with L·x ≥ the bound
        if top > 1:
            S[g::2, 1:top] = _direct_sums(n, a, size, top)
    return S


def _cosine_sum_constants(p: int, r: int) -> list[float]:
    """The numbers of :func:`segment_cosine_sums`: ``[m = 0 column (6), ω (4), weights (6 × 9)]``.

    The weights of the nine products of sines and cosines with ``g1, g2, g3`` (rows of
    ``P`` there), from the closed forms expanded with ``sin Lx cos Lx = ½ sin 2Lx``,
    ``sin² Lx = ½(1 − cos 2Lx)``, ``cos² Lx = ½(1 + cos 2Lx)``::

        Σ 1    = ½ sin 2Lx g1
        Σ u    = ∓¼ (1 − cos 2Lx) g2 ± ¼ L sin 2Lx g1                (pre: upper sign)
        Σ u²   = ⅛ (L² − 1) sin 2Lx g1 − ¼ sin 2Lx g3 + ¼ L (1 + cos 2Lx) g2

    each times ``(−1)^m`` on the post segment (``2Lx + πm`` there).
    """
    n = p + r
    lp, lr = 0.25 * p, 0.25 * r
    # columns: sin2p·g1, sin2r·g1, sin2p·g3, sin2r·g3, g2, cos2p·g2, cos2r·g2, cos x·g2, (−1)^m·g2
    w = [
        (0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),  # Σ 1, pre
        (0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),  # Σ 1, post
        (lp, 0.0, 0.0, 0.0, -0.25, 0.25, 0.0, 0.0, 0.0),  # Σ u, pre
        (0.0, -lr, 0.0, 0.0, 0.0, 0.0, -0.25, 0.0, 0.25),  # Σ u, post
        (0.125 * (p * p - 1), 0.0, -0.25, 0.0, lp, lp, 0.0, 0.0, 0.0),  # Σ u², pre
        (0.0, 0.125 * (r * r - 1), 0.0, -0.25, 0.0, 0.0, lr, 0.0, lr),  # Σ u², post
    ]
    m0 = [float(p), float(r), 0.0, 0.0, p * (p * p - 1) / 12.0, r * (r * r - 1) / 12.0]
    return [*m0, 2.0 * p, 2.0 * (r + n), 1.0, 2.0 * n, *(v for row in w for v in row)]


def _direct_sums(n: int, a: int, size: int, top: int) -> np.ndarray:
    """``Σ_s c_s^k cos(πm(2s+1)/(2n))``, periods ``a … a+size−1``, ``m = 1 … top−1`` (3 rows).

    The phase ``m(2s+1)`` is reduced modulo ``4n`` in integers before it is scaled, so
    every cosine is accurate to rounding whatever ``m`` and ``s``.
    """
    s = np.arange(a, a + size)
    u = s - (a + 0.5 * (size - 1))
    phase = np.multiply.outer(np.arange(1, top), 2 * s + 1) % (4 * n)
    cosines = np.cos(phase * (math.pi / (2 * n)))  # (top − 1, size)
    return np.stack([np.ones(size), u, u * u]) @ cosines.T


def _segment_constants(p: int, r: int, closed: bool = True) -> np.ndarray:
    """The design's numbers, one array: ``[1/‖row_i‖² (4), A (16), a_j'a_j (4), weights (120), …]``.

    ``A`` (4 × 4): ``β_j = Σ_i A_ji ⟨row_i, y⟩`` for the rows ``1_pre, 1_post, c_pre,
    c_post`` (squared norms ``p, r, Λ²_pre, Λ²_post``): ``β1 = b_pre``, ``β0 = ȳ_pre + b_pre
    (s0 − m_pre)``, ``β2 = ȳ_post + b_post (s0 − m_post) − β0`` and ``β3 = b_post − b_pre``
    with the segment slopes ``b = Σ c y / Λ²``, ``s0 − m_pre = (p + 1)/2`` and
    ``s0 − m_post = −(r − 1)/2``.  ``a_j'a_j = Σ_i A_ji² ‖row_i‖²`` (orthogonal rows).

    The weights (20 × 6) on the cosine sums ``Σ_s w_s cos(πm(s+½)/n)`` of ``w = 1, c, c²``
    on each segment (rows ``1_pre, 1_post, c_pre, c_post, c²_pre, c²_post``, from
    :func:`segment_cosine_sums`): rows 0–3 ``c_j = Σ_s a_j(s)² cos(πm(s+½)/n)`` with
    ``a_j² = A_j0² 1 + 2A_j0A_j2 c + A_j2² c²`` on the pre segment (likewise on the post
    one); rows 4 + 4j + a ``√½ DCT(q_a a_j) = √2 Σ_s q_a a_j cos(πm(s+½)/n)`` for the
    orthonormal basis ``q = [1_pre/√p, 1_post/√r, c_pre/Λ_pre, c_post/Λ_post]``.  Then, when
    ``closed``, the constants of :func:`segment_cosine_sums`.  Built in Python and converted
    once: NumPy's calls on 4 × 4 arrays cost more than the arithmetic.
    """
    lp2, lr2 = p * (p * p - 1) / 12.0, r * (r * r - 1) / 12.0
    d_pre, d_post = 0.5 * (p + 1) / lp2, -0.5 * (r - 1) / lr2
    A = (
        (1.0 / p, 0.0, d_pre, 0.0),
        (0.0, 0.0, 1.0 / lp2, 0.0),
        (-1.0 / p, 1.0 / r, -d_pre, d_post),
        (0.0, 0.0, -1.0 / lp2, 1.0 / lr2),
    )
    # below CLOSED_FORMS_FROM the weights act on the DCT's sums, twice the cosine sums:
    # they carry the ½ (a power of 2: the same numbers as halving the product after)
    f = 1.0 if closed else 0.5
    h = f * math.sqrt(2.0)
    ip, ir, ilp, ilr = h / math.sqrt(p), h / math.sqrt(r), h / math.sqrt(lp2), h / math.sqrt(lr2)
    flat = [1.0 / p, 1.0 / r, 1.0 / lp2, 1.0 / lr2, *A[0], *A[1], *A[2], *A[3]]
    flat += [u * u * p + w * w * r + v * v * lp2 + x * x * lr2 for u, w, v, x in A]
    z = 0.0
    for u, w, v, x in A:  # the weights of a_j on 1 and c, pre (u, v) and post (w, x)
        fu, fw = f * u, f * w
        flat += (fu * u, fw * w, 2.0 * fu * v, 2.0 * fw * x, f * v * v, f * x * x)
    for u, w, v, x in A:
        flat += (u * ip, z, v * ip, z, z, z, z, w * ir, z, x * ir, z, z)
        flat += (z, z, u * ilp, z, v * ilp, z, z, z, z, w * ilr, z, x * ilr)
    if closed:
        flat += _cosine_sum_constants(p, r)
    # fromiter: ~1 µs less than np.array's scan of a list of floats
    return np.fromiter(flat, np.float64, len(flat))


def _dct2(x: np.ndarray) -> np.ndarray:
    """Unnormalised DCT-II of each row, ``2 Σ_s x_s cos(πm(s+½)/n)``, computed in place.

    SciPy's legacy ``fftpack.dct`` runs the same pocketfft transform as ``scipy.fft.dct``
    (equal to the last bit) without the backend dispatch of ``scipy.fft``, which costs
    ~8 µs a call, as much as the transform of four rows of 1,000.  The pocketfft
    binding itself (:data:`_POCKETFFT_DCT`, when this SciPy has it) skips the wrapper's
    argument handling too: ~3 µs less on ten rows of 1,000, the same numbers.
    """
    if _POCKETFFT_DCT is not None:
        return np.asarray(_POCKETFFT_DCT(x, 2, (1,), 0, x, 1))  # type II, unnormalised, in place
    return np.asarray(fftpack.dct(x, type=2, axis=1, overwrite_x=True))


def _pocketfft_dct() -> Callable[..., Any] | None:
    """SciPy's pocketfft ``dct(a, type, axes, inorm, out, nthreads)``, or ``None``.

    A private module of SciPy (the one ``fftpack.dct`` calls): taken only when it
    imports and gives ``fftpack.dct``'s numbers to the last bit on a probe, so another
    SciPy release that moves or changes it falls back to ``fftpack.dct``.
    """
    try:
        from scipy.fft._pocketfft import pypocketfft

        probe = np.array([[1.0, -2.5, 0.25, 3.0, 7.0], [0.5, 0.0, -1.0, 2.0, 4.0]])
        want = fftpack.dct(probe, type=2, axis=1)
        got = probe.copy()
        pypocketfft.dct(got, 2, (1,), 0, got, 1)
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    return pypocketfft.dct if np.array_equal(got, want) else None


#: The pocketfft binding of :func:`_pocketfft_dct` (``None``: ``fftpack.dct`` instead).
_POCKETFFT_DCT = _pocketfft_dct()
