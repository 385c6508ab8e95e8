"""Compiled local-polynomial fits of the RD estimator and of its bandwidth selector.

An RD estimate with its default gates runs some fifty weighted least-squares fits of
order 1 to 4 on windows of a few hundred rows (three bandwidth selections of twelve
fits, eight side fits); written with NumPy, each fit is some thirty array calls whose
overhead exceeds the arithmetic.  Here each fit is one compiled pass over its window:

- the window: the rows of the sorted running variable ``x`` with positive weight
  ``K(x/h)/h`` (binary search for ``|x| ≤ h(1 + 1e-12)``, then the weights decide);
- the Gram matrix ``G = RᵀWR`` of ``R = [1, x, …, x^o]`` and ``RᵀWY``;
- ``G⁻¹`` by Cholesky (``G = LLᵀ``, ``G⁻¹ = L⁻ᵀL⁻¹``), or, when ``G`` is not numerically
  positive definite, the pseudo-inverse from its eigen-decomposition (cyclic Jacobi:
  ``G`` is symmetric, so this is the SVD's pseudo-inverse, NumPy's ``pinv``), computed
  by a separate call and the fit repeated with it;
- residuals: nearest-neighbour (``vce="nn"``, :func:`nn_residuals`) or plug-in with an HC
  factor;
- sandwich variances ``[G⁻¹ (Σ_i r_i² (w_iR_i)(w_iR_i)ᵀ) G⁻¹]``.

The formulas are those of :mod:`cqox.estimators.rd.local_poly` (CCT 2014) and
:mod:`cqox.estimators.rd.bandwidth` (``rdrobust_bw``), written as scalar loops (no
array expressions, fancy indexing or BLAS calls); only the order of the floating-point
sums differs from NumPy's matrix products (``tests/unit/test_rd_compiled_fits.py``
bounds the effect).

Numba compiles these functions on the first RD fit of a process with an empty cache:
about 7–8 s of CPU on the 2-core test machine, then it reads them from the cache
(about 0.5 s more per fresh process than without Numba: its import and the loads).
Most of that is LLVM optimising and generating machine code, and Numba links every
compiled callee into each caller and optimises it again there, so the layout keeps
that work small: two entry points (:func:`side_kernel` and :func:`bw_terms`, which
serves all of the selector's steps), :func:`sandwich` called from Python with a Python
``int`` (a literal index inside compiled code compiles a second specialisation), and
the rare pseudo-inverse (:func:`pinv_sym`) called from Python and compiled only if a
Gram matrix is ever not positive definite.  Inlining the helpers (``inline="always"``)
made it slower (12–21 s), and so did merging the two entry points (no gain).  Compiled
alone, the helpers take about 4.7 s and the two entry points add 1.6–1.8 s each.

``cqox warm-up`` compiles them at installation and a service copies that cache into
each worker (:mod:`cqox.analysis.kernel_cache`), so no analysis compiles them.  Every
compiled function that another one here calls lives in this file (:func:`nn_residuals`
too): Numba checks a cached kernel against its own source file only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Numba's options for every function here: cached machine code, no GIL, and NumPy's
#: floating-point semantics (a division by zero gives inf/NaN, as the array code did).
compiled = njit(cache=True, nogil=True, error_model="numpy")
#: ``fit_side`` status: fitted, or too few distinct values in the window.
OK, TOO_FEW = 0, 1
#: Status of the compiled fits: a Gram matrix (of the order-p or order-q fit) is not
#: numerically positive definite; the fit is repeated with its pseudo-inverse.
NOT_PD, NOT_PD_Q = 2, 3
#: Relative cut-off of the pseudo-inverse's eigenvalues (NumPy's ``pinv`` default).
PINV_RCOND = 1e-15
#: The ``s`` of a sharp design (one entry, 1.0) that :func:`pilot_terms` passes on.
_ONE = np.ones(1)
#: "No inverse given" for :func:`wls`: compute ``G⁻¹``.
NO_INVERSE = np.empty((0, 0))
#: What one side's fit returns (:func:`side_kernel`, :func:`fit_side`): ``(status, β̂_p,
#: β̂_bc, G_p⁻¹, RW_p, Q_q, ε̂_h, ε̂_b, n_h, n_b, rows)``.
SideResult = tuple[
    int,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    int,
    int,
    np.ndarray,
]


@compiled
def gather(
    x: np.ndarray, Y: np.ndarray, h: float, b: float, kern: int
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int, int, int
]:  # pragma: no cover - compiled
    """The rows of sorted ``x`` with positive weight under the larger of ``h`` and ``b``.

    Returns ``(ex, eY, w_h, w_b, rows, n_h, n_b, d_h, d)``: their ``x``, ``Y``, kernel
    weights ``K(x/h)/h`` and ``K(x/b)/b`` (kernel code ``kern``: triangular, uniform,
    Epanechnikov), positions; the numbers of rows with positive weight under ``h`` and
    under ``b``; the numbers of distinct ``x`` with positive weight under ``h`` and among
    the rows returned.  The rows are found by binary search for
    ``|x| ≤ max(h, b)(1 + 1e-12)``; the weights then decide.
    """
    reach = max(h, b) * (1.0 + 1e-12)
    lo, hi = 0, x.shape[0]
    while lo < hi:  # first x ≥ −reach
        mid = (lo + hi) // 2
        if x[mid] < -reach:
            lo = mid + 1
        else:
            hi = mid
    start, hi = lo, x.shape[0]
    while lo < hi:  # first x > reach
        mid = (lo + hi) // 2
        if x[mid] <= reach:
            lo = mid + 1
        else:
            hi = mid
    m, k = lo - start, Y.shape[1]
    ex, eY = np.empty(m), np.empty((m, k))
    w_h, w_b = np.empty(m), np.empty(m)
    rows = np.empty(m, np.int64)
    wt = np.empty(2)
    n_h = n_b = d_h = d = j = 0
    last_h = last = 0.0
    for i in range(start, start + m):
        for t in range(2):
            bw = h if t == 0 else b
            u = abs(x[i] / bw)
            wt[t] = 0.0
            if u <= 1.0:
                if kern == 1:
                    wt[t] = 0.5 / bw
                elif kern == 2:
                    wt[t] = 0.75 * (1.0 - u * u) / bw
                else:
                    wt[t] = (1.0 - u) / bw
        n_h += wt[0] > 0
        n_b += wt[1] > 0
        if (wt[0] > 0) if h > b else (wt[1] > 0):
            ex[j], w_h[j], w_b[j], rows[j] = x[i], wt[0], wt[1], i
            for c in range(k):
                eY[j, c] = Y[i, c]
            if d == 0 or x[i] != last:
                d += 1
                last = x[i]
            if wt[0] > 0 and (d_h == 0 or x[i] != last_h):
                d_h += 1
                last_h = x[i]
            j += 1
    return ex[:j], eY[:j], w_h[:j], w_b[:j], rows[:j], n_h, n_b, d_h, d


@compiled
def tie_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """For sorted ``x``: size of each row's tie group and its 1-based rank inside it."""
    n = x.shape[0]
    dups, dupsid = np.empty(n, np.int64), np.empty(n, np.int64)
    start = 0
    for i in range(1, n + 1):
        if i == n or x[i] != x[i - 1]:
            for j in range(start, i):
                dups[j] = i - start
                dupsid[j] = j - start + 1
            start = i
    return dups, dupsid


@compiled
def pinv_sym(A: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Pseudo-inverse of a symmetric matrix: ``Σ_{|λ| > rcond·max|λ|} v vᵀ/λ`` (cyclic Jacobi).

    Called from Python (:func:`fit_side`, :func:`pilot_terms`, :func:`bias_terms`) when a
    compiled fit reports a Gram matrix that is not numerically positive definite.
    """
    n = A.shape[0]
    D = A.copy()
    V = np.zeros((n, n))
    for i in range(n):
        V[i, i] = 1.0
    for _ in range(100):
        off = 0.0
        for p in range(n):
            for q in range(p + 1, n):
                off += D[p, q] * D[p, q]
        if off == 0.0 or not np.isfinite(off):
            break
        for p in range(n):
            for q in range(p + 1, n):
                if D[p, q] == 0.0:
                    continue
                theta = (D[q, q] - D[p, p]) / (2.0 * D[p, q])
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(n):  # D ← JᵀDJ, V ← VJ
                    dkp, dkq = D[k, p], D[k, q]
                    D[k, p], D[k, q] = c * dkp - s * dkq, s * dkp + c * dkq
                for k in range(n):
                    dpk, dqk = D[p, k], D[q, k]
                    D[p, k], D[q, k] = c * dpk - s * dqk, s * dpk + c * dqk
                for k in range(n):
                    vkp, vkq = V[k, p], V[k, q]
                    V[k, p], V[k, q] = c * vkp - s * vkq, s * vkp + c * vkq
    top = 0.0
    for i in range(n):
        top = max(top, abs(D[i, i]))
    out = np.zeros((n, n))
    for k in range(n):
        if abs(D[k, k]) > PINV_RCOND * top:
            for a in range(n):
                for b in range(n):
                    out[a, b] += V[a, k] * V[b, k] / D[k, k]
    return out


@compiled
def wls(
    ex: np.ndarray, eY: np.ndarray, w: np.ndarray, o: int, inv_given: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:  # pragma: no cover - compiled
    """``(R, RW, G⁻¹, β̂, True)`` of the order-``o`` weighted fit of ``eY`` on ``ex``.

    ``R = [1, x, …, x^o]``, ``RW = R·diag(w)``, ``G = RᵀWR`` (the Hankel matrix of the
    weighted moments ``Σ w x^j``, ``j ≤ 2o``), ``β̂ = G⁻¹RᵀWY``.  ``G⁻¹`` is
    ``inv_given`` when that is ``(o+1) × (o+1)``, else by Cholesky (``G = LLᵀ`` from the
    lower triangle, ``G⁻¹ = L⁻ᵀL⁻¹``).  A non-positive or non-finite pivot (``G`` not
    numerically positive definite) returns ``(R, RW, G, 0, False)``: the caller computes
    the pseudo-inverse (:func:`pinv_sym`, called from Python) and fits again with it.
    Keeping that rare branch out of the compiled fits keeps its code out of every
    function that calls this one, which Numba would otherwise compile again in each.
    """
    n, d, k = ex.shape[0], o + 1, eY.shape[1]
    R, RW = np.empty((n, d)), np.empty((n, d))
    S, RWY = np.zeros(2 * d - 1), np.zeros((d, k))
    for i in range(n):
        R[i, 0] = 1.0
        for a in range(1, d):
            R[i, a] = R[i, a - 1] * ex[i]
        for a in range(d):
            RW[i, a] = R[i, a] * w[i]
            for c in range(k):
                RWY[a, c] += RW[i, a] * eY[i, c]
        power = RW[i, d - 1]  # the moments Σ w x^j, j ≤ 2o: G is their Hankel matrix
        for j in range(d):
            S[j] += RW[i, j]
        for j in range(d, 2 * d - 1):
            power *= ex[i]
            S[j] += power
    G = np.empty((d, d))
    for a in range(d):
        for b in range(d):
            G[a, b] = S[a + b]
    invG = inv_given
    if inv_given.shape[0] != d:
        L = np.zeros((d, d))
        for j in range(d):
            piv = G[j, j]
            for m in range(j):
                piv -= L[j, m] * L[j, m]
            if not (piv > 0 and np.isfinite(piv)):
                return R, RW, G, np.zeros((d, k)), False
            L[j, j] = math.sqrt(piv)
            for i in range(j + 1, d):
                t = G[i, j]
                for m in range(j):
                    t -= L[i, m] * L[j, m]
                L[i, j] = t / L[j, j]
                if not np.isfinite(L[i, j]):
                    return R, RW, G, np.zeros((d, k)), False
        Li = np.zeros((d, d))  # L⁻¹, lower triangular, by forward substitution
        for j in range(d):
            Li[j, j] = 1.0 / L[j, j]
            for i in range(j + 1, d):
                t = 0.0
                for m in range(j, i):
                    t -= L[i, m] * Li[m, j]
                Li[i, j] = t / L[i, i]
        invG = np.empty((d, d))
        for a in range(d):
            for b in range(a, d):
                t = 0.0
                for m in range(b, d):
                    t += Li[m, a] * Li[m, b]
                invG[a, b] = t
                invG[b, a] = t
    beta = np.zeros((d, k))
    for a in range(d):
        for b in range(d):
            for c in range(k):
                beta[a, c] += invG[a, b] * RWY[b, c]
    return R, RW, invG, beta, True


@njit(cache=True, nogil=True)  # Python's error model, as it always had
def nn_residuals(
    x: np.ndarray, Y: np.ndarray, dups: np.ndarray, dupsid: np.ndarray, matches: int
) -> np.ndarray:  # pragma: no cover - compiled
    """Nearest-neighbour residuals ``√(J/(J+1))·(Y_i − mean of its J neighbours)``.

    ``x`` is sorted; the window around ``i`` starts with ``i``'s ties and grows by whole
    tie groups towards the nearer side (both when equidistant) until it holds at least
    ``matches`` other rows (Abadie & Imbens 2006; CCT 2014, §3).
    """
    n, k = Y.shape
    out = np.zeros((n, k))
    tol = np.sqrt(np.finfo(np.float64).eps)
    cap = matches if matches < n - 1 else n - 1
    for i in range(n):
        right = dups[i] - dupsid[i]
        left = dupsid[i] - 1
        while left + right < cap:
            if i - left - 1 < 0:
                right += dups[i + right + 1]
            elif i + right + 1 >= n:
                left += dups[i - left - 1]
            else:
                dl = x[i] - x[i - left - 1]
                dr = x[i + right + 1] - x[i]
                eps = (dl if dl > dr else dr) * tol
                if dl - dr > eps:
                    right += dups[i + right + 1]
                elif dr - dl > eps:
                    left += dups[i - left - 1]
                else:
                    right += dups[i + right + 1]
                    left += dups[i - left - 1]
        lo = i - left
        hi = i + right + 1
        J = hi - lo - 1
        f = (J / (J + 1.0)) ** 0.5
        for col in range(k):
            s = 0.0
            for j in range(lo, hi):
                s += Y[j, col]
            s -= Y[i, col]
            out[i, col] = f * (Y[i, col] - s / J)
    return out


@compiled
def residuals(
    ex: np.ndarray,
    eY: np.ndarray,
    R: np.ndarray,
    RW: np.ndarray,
    beta: np.ndarray,
    invG: np.ndarray,
    vce: int,
    nnmatch: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """Residuals for the variance: nearest-neighbour (``vce`` 0), or plug-in with an HC factor.

    Plug-in ``ε̂ = Y − Rβ̂``: ``hc0`` (1) as is, ``hc1`` (2) times ``√(n/(n − d))``,
    ``hc2``/``hc3`` (3, 4) times ``(1 − h_ii)^{-1/2}``/``(1 − h_ii)^{-1}`` with the
    leverage ``h_ii = R_i G⁻¹ (w_iR_i)ᵀ`` floored so that ``1 − h_ii ≥ 1e-8``.
    """
    if vce == 0:
        dups, dupsid = tie_groups(ex)
        return nn_residuals(ex, eY, dups, dupsid, nnmatch)
    n, d = R.shape
    k = eY.shape[1]
    e = np.empty((n, k))
    for i in range(n):
        f = 1.0
        if vce == 2:
            f = math.sqrt(n / (n - d))
        elif vce > 2:
            hii = 0.0
            for a in range(d):
                ra = 0.0
                for b in range(d):
                    ra += R[i, b] * invG[b, a]
                hii += ra * RW[i, a]
            one_minus = max(1.0 - hii, 1e-8)
            f = math.sqrt(1.0 / one_minus) if vce == 3 else 1.0 / one_minus
        for c in range(k):
            fit = 0.0
            for a in range(d):
                fit += R[i, a] * beta[a, c]
            e[i, c] = (eY[i, c] - fit) * f
    return e


@compiled
def sandwich(
    invG: np.ndarray, RW: np.ndarray, res: np.ndarray, s: np.ndarray, a: int
) -> float:  # pragma: no cover - compiled
    """``[G⁻¹ (Σ_i (RW_i r_i)(RW_i r_i)ᵀ) G⁻¹]_aa`` with ``r = ε̂ s``."""
    d = RW.shape[1]
    meat = np.zeros((d, d))
    for i in range(RW.shape[0]):
        r = 0.0
        for c in range(s.shape[0]):
            r += res[i, c] * s[c]
        for p in range(d):
            for q in range(d):
                meat[p, q] += (RW[i, p] * r) * (RW[i, q] * r)
    out = 0.0
    for q in range(d):
        t = 0.0
        for p in range(d):
            t += invG[a, p] * meat[p, q]
        out += t * invG[q, a]
    return out


@compiled
def bw_terms(
    x: np.ndarray,
    Y: np.ndarray,
    h: float,
    kern: int,
    o: int,
    nu: int,
    s: np.ndarray,
    pilot: bool,
    with_variance: bool,
    vce: int,
    nnmatch: int,
    inv_given: np.ndarray,
) -> tuple[int, float, float, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The order-``o`` fit at ``h`` of ``rdrobust_bw``'s V step (``pilot``) or B/R step.

    One compiled function serves both steps (they share the window, the fit, the
    residuals and the sandwich), so that Numba compiles those once, not once per step.
    Returns ``(status, t₁, t₂, s, G⁻¹)``: for the V step ``(V_V, B_const)`` and the
    ``s`` it derives, for the B/R step ``(s'β̂_o, V_B)`` and the ``s`` given; see
    :func:`pilot_terms` and :func:`bias_terms`.  ``G⁻¹`` is ``inv_given`` if that fits
    (:func:`wls`); with status ``NOT_PD`` the last value is ``G``.
    """
    ex, eY, w, _, _, _, _, _, n_values = gather(x, Y, h, h, kern)
    if pilot:
        s = np.ones(1)
    if n_values < o + 1:
        return TOO_FEW, np.nan, np.nan, s, np.empty((0, 0))
    R, RW, invG, beta, fitted = wls(ex, eY, w, o, inv_given)
    if not fitted:
        return NOT_PD, np.nan, np.nan, s, invG
    a = o
    if pilot:
        a = nu
        if eY.shape[1] == 2:
            fact = 1.0
            for j in range(2, nu + 1):
                fact *= j
            tY, tT = fact * beta[nu, 0], fact * beta[nu, 1]
            s = np.array([1 / tT, -tY / tT**2])
    V = 0.0
    if pilot or with_variance:
        res = residuals(ex, eY, R, RW, beta, invG, vce, nnmatch)
        V = sandwich(invG, RW, res, s, a)
    if pilot:
        v = np.zeros(o + 1)  # RᵀW u^{o+1}
        for i in range(ex.shape[0]):
            u_pow = (ex[i] / h) ** (o + 1)
            for b in range(o + 1):
                v[b] += RW[i, b] * u_pow
        B_const = 0.0
        for b in range(o + 1):
            B_const += invG[nu, b] * v[b]
        return OK, V, h**nu * B_const, s, invG
    b_s = 0.0
    for c in range(s.shape[0]):
        b_s += beta[o, c] * s[c]
    return OK, b_s, V, s, invG


def _bw_fit(
    x: np.ndarray,
    Y: np.ndarray,
    h: float,
    kern: int,
    o: int,
    nu: int,
    s: np.ndarray,
    pilot: bool,
    with_variance: bool,
    vce: int,
    nnmatch: int,
) -> tuple[int, float, float, np.ndarray]:
    """:func:`bw_terms`, again with the pseudo-inverse if the Gram matrix is not PD."""
    inv = NO_INVERSE
    for _ in range(2):
        status, t1, t2, s_out, G = bw_terms(
            x, Y, h, kern, o, nu, s, pilot, with_variance, vce, nnmatch, inv
        )
        if status != NOT_PD:
            break
        inv = pinv_sym(G)
    return status, t1, t2, s_out


def pilot_terms(
    x: np.ndarray, Y: np.ndarray, h: float, kern: int, o: int, nu: int, vce: int, nnmatch: int
) -> tuple[float, float, np.ndarray]:
    """``rdrobust_bw``'s V-step: ``(V_V, B_const, s)`` of the order-``o`` fit at ``h``.

    ``V_V = [G⁻¹ M G⁻¹]_νν`` (``M`` the meat of ``ε̂ s``),
    ``B_const = h^ν [G⁻¹ RᵀW u^{o+1}]_ν`` with ``u = x/h``; ``s = (1/τ_T, −τ_Y/τ_T²)``
    for a fuzzy design (``τ`` the ``ν``-th derivatives), ``(1)`` for a sharp one.
    NaNs when the window holds fewer than ``o + 1`` distinct values.
    """
    _, V_V, B_const, s = _bw_fit(x, Y, h, kern, o, nu, _ONE, True, True, vce, nnmatch)
    return V_V, B_const, s


def bias_terms(
    x: np.ndarray,
    Y: np.ndarray,
    h: float,
    kern: int,
    o: int,
    s: np.ndarray,
    with_variance: bool,
    vce: int,
    nnmatch: int,
) -> tuple[bool, float, float]:
    """``(ok, s'β̂_o, V_B)`` of the order-``o`` fit at ``h`` (``rdrobust_bw``'s B and R steps).

    ``β̂_o`` is the leading coefficient; ``V_B = [G⁻¹ M G⁻¹]_oo`` its variance (0 unless
    ``with_variance``).
    """
    status, b_s, V_B, _ = _bw_fit(x, Y, h, kern, o, 0, s, False, with_variance, vce, nnmatch)
    return status == OK, b_s, V_B


@compiled
def side_kernel(
    xc: np.ndarray,
    Y: np.ndarray,
    h: float,
    b: float,
    p: int,
    q: int,
    kern: int,
    vce: int,
    nnmatch: int,
    inv_p: np.ndarray,
    inv_q: np.ndarray,
) -> SideResult:  # pragma: no cover - compiled
    """One side's conventional and bias-corrected fits (CCT 2014, eq. 9), see ``SideFit``.

    Returns ``(status, β̂_p, β̂_bc, G_p⁻¹, RW_p, Q_q, ε̂_h, ε̂_b, n_h, n_b, rows)`` over the
    rows with positive weight under the larger of ``h`` and ``b``:
    ``Q_q = RW_p − h^{p+1} (R_q G_q⁻¹ e_{p+1} w_b) Lᵀ`` with ``L = RW_pᵀ u^{p+1}``,
    ``u = x/h``; ``β̂_bc = G_p⁻¹ Q_qᵀ Y``.
    """
    ex, eY, W_h, W_b, rows, n_h, n_b, d_h, d = gather(xc, Y, h, b, kern)
    e = np.empty((0, 0))
    if d_h < p + 1 or d < q + 1:
        return TOO_FEW, e, e, e, e, e, e, e, n_h, n_b, rows
    R_p, RW_p, inv_g_p, beta_p, fitted = wls(ex, eY, W_h, p, inv_p)
    if not fitted:  # inv_g_p is G_p: the caller fits again with its pseudo-inverse
        return NOT_PD, e, e, inv_g_p, e, e, e, e, n_h, n_b, rows
    R_q, RW_q, invG_q, beta_q, fitted = wls(ex, eY, W_b, q, inv_q)
    if not fitted:
        return NOT_PD_Q, e, e, invG_q, e, e, e, e, n_h, n_b, rows
    m = ex.shape[0]
    L = np.zeros(p + 1)
    for i in range(m):
        u_pow = (ex[i] / h) ** (p + 1)
        for a in range(p + 1):
            L[a] += RW_p[i, a] * u_pow
    hp = h ** (p + 1)
    Q_q = np.empty((m, p + 1))
    for i in range(m):
        mi = 0.0
        for a in range(q + 1):
            mi += R_q[i, a] * invG_q[p + 1, a]
        mi *= W_b[i]
        for a in range(p + 1):
            Q_q[i, a] = RW_p[i, a] - hp * mi * L[a]
    k = eY.shape[1]
    QY = np.zeros((p + 1, k))
    for i in range(m):
        for a in range(p + 1):
            for c in range(k):
                QY[a, c] += Q_q[i, a] * eY[i, c]
    beta_bc = np.zeros((p + 1, k))
    for a in range(p + 1):
        for b_ in range(p + 1):
            for c in range(k):
                beta_bc[a, c] += inv_g_p[a, b_] * QY[b_, c]
    res_h = residuals(ex, eY, R_p, RW_p, beta_p, inv_g_p, vce, nnmatch)
    res_b = res_h
    if vce != 0:
        res_b = residuals(ex, eY, R_q, RW_q, beta_q, invG_q, vce, nnmatch)
    return OK, beta_p, beta_bc, inv_g_p, RW_p, Q_q, res_h, res_b, n_h, n_b, rows


def fit_side(
    xc: np.ndarray,
    Y: np.ndarray,
    h: float,
    b: float,
    p: int,
    q: int,
    kern: int,
    vce: int,
    nnmatch: int,
) -> SideResult:
    """:func:`side_kernel`, again with the pseudo-inverse of a Gram matrix not PD.

    Status ``OK`` or ``TOO_FEW``; at most three compiled passes (the second and third
    only when ``G_p`` or ``G_q`` is not numerically positive definite).
    """
    inv_p = inv_q = NO_INVERSE
    for _ in range(3):
        out = side_kernel(xc, Y, h, b, p, q, kern, vce, nnmatch, inv_p, inv_q)
        if out[0] == NOT_PD:
            inv_p = pinv_sym(out[3])
        elif out[0] == NOT_PD_Q:
            inv_q = pinv_sym(out[3])
        else:
            break
    return out


def side_variances(
    inv_g_p: np.ndarray,
    RW_p: np.ndarray,
    Q_q: np.ndarray,
    res_h: np.ndarray,
    res_b: np.ndarray,
    s: np.ndarray,
) -> tuple[float, float]:
    """Conventional and robust variances of ``s'β̂[0, :]`` on one side.

    Two calls of :func:`sandwich` from Python: the index ``0`` as a Python ``int`` keeps
    one compiled signature (a literal ``0`` inside compiled code would compile a second).
    """
    return sandwich(inv_g_p, RW_p, res_h, s, 0), sandwich(inv_g_p, Q_q, res_b, s, 0)
