"""Exact quadratic programs on the probability simplex.

The synthetic-control weights solve, for a fixed predictor weighting ``V``,

    min_w  ½ wᵀ P w + qᵀ w    subject to  w ≥ 0,  1ᵀ w = 1,

with ``P = X0ᵀ V X0`` and ``q = −X0ᵀ V X1`` (plus ``λ/2·‖X1 − X0_j‖²_V`` per donor
for the penalised estimator of Abadie & L'Hour 2021, doi:10.1080/01621459.2021.1971535).
:func:`simplex_qp` solves it with a primal active-set method (Nocedal & Wright 2006,
*Numerical Optimization*, Algorithm 16.3): each step solves the equality-constrained
problem on the current free set exactly (one small KKT system), so the answer is exact
up to floating point and the number of steps is small (the optimum usually has few
donors).  The loop is compiled with Numba: the nested synthetic-control optimisation
calls it thousands of times.

Each KKT system is solved by LAPACK's ``dgesv`` through the routine Numba's own
``np.linalg.solve`` calls (:func:`_solve_lapack`, on the same column-major copy),
without the generic overload: its compilation (layouts, dimension checks, error
messages) was about 3 of the family's 10 s of warm-up CPU time.  That routine is
private to Numba (``numba_xgesv``, ``numba.np.linalg.F_INT_*``), so it is used only
when it imports and solves a probe system correctly when this module is imported
(:func:`_lapack_gesv`); otherwise :func:`_solve_numpy` calls Numba's public
``np.linalg.solve``, which makes the same LAPACK call on the same bytes (the same
weights to the last bit), at the cost of those 3 s of compilation
(:data:`KKT_SOLVER` says which).  Array expressions between two
arrays are written as loops for the same reason (each compiles a broadcasting check
and its message), and so are ``min``, ``max`` and ``flatnonzero`` (Numba's are generic
over dimensions and layouts); the arithmetic and comparisons are the same, element by
element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import types

#: Relative ridge added to ``P`` so that the KKT systems stay non-singular when there
#: are fewer predictors than donors (``P`` is then only semi-definite); 1e-11 of the
#: mean diagonal moves the optimum by far less than any reported digit.
RIDGE = 1e-11
#: Multiplier tolerance (relative to the gradient scale) for optimality.
KKT_TOL = 1e-10
#: A step shorter than this (weights live in [0, 1]) counts as no step: below it the
#: objective changes by less than rounding, and chasing it only walks along the flat
#: directions of a semi-definite ``P`` (treated unit inside the donors' convex hull).
STEP_TOL = 1e-10
#: Stop when the duality gap (an upper bound on the distance to the optimal objective)
#: is below this fraction of the mean diagonal of ``P``.  When ``P`` is nearly singular
#: (treated unit close to the donors' hull in the weighted predictor space) the
#: active set can otherwise crawl through many faces whose objectives differ by less
#: than rounding.
GAP_TOL = 1e-10
#: Predictor weights below e^-18 ≈ 1.5e-8 of the largest are floored there: smaller ones
#: change no weight visibly but make ``P`` so ill-conditioned that active-set steps
#: stall.
LOG_V_FLOOR = 18.0


def _lapack_gesv() -> tuple[Any, type[np.integer[Any]]] | None:
    """Numba's LAPACK ``?gesv`` wrapper as a kernel callee and its integer type, or ``None``.

    ``numba_xgesv`` (in Numba's helper library, resolved by name when Numba starts, so
    a cached kernel stays valid) is what ``np.linalg.solve`` calls in a kernel, and
    ``F_INT_nbtype``/``F_INT_nptype`` the Fortran integer of its pivots; all three are
    private to Numba.  They are taken only when they import, Numba's own LAPACK check
    passes (SciPy's ``cython_lapack`` loads, with the integer width Numba was built
    for) and the wrapper, called once through ``ctypes`` (no compilation), solves a
    2 × 2 system that needs a row swap exactly, with the pivots LAPACK must report.
    Any failure means another Numba: :func:`_solve_numpy` instead.
    """
    import ctypes

    try:
        from numba import _helperlib
        from numba.np import linalg as numba_linalg

        f_int_nb = numba_linalg.F_INT_nbtype
        f_int_np = numba_linalg.F_INT_nptype
        numba_linalg.ensure_lapack()
        gesv = ctypes.PYFUNCTYPE(  # the GIL held: the wrapper may import SciPy's LAPACK
            ctypes.c_int,
            ctypes.c_char,
            ctypes.c_ssize_t,
            ctypes.c_ssize_t,
            ctypes.c_void_p,
            ctypes.c_ssize_t,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_ssize_t,
        )(vars(_helperlib)["c_helpers"]["xgesv"])  # a C module: no stubs for mypy
        # A = [[0, 1], [2, 1]], b = (1, 4): x = (1.5, 1) after swapping the rows
        a = np.array([0.0, 2.0, 1.0, 1.0])  # column-major
        b = np.array([1.0, 4.0])
        # room for pivots twice as wide as Numba says: a wrong width shows in the
        # values read back instead of overwriting memory
        ipiv = np.zeros(4, dtype=f_int_np)
        info = gesv(b"d", 2, 1, a.ctypes.data, 2, ipiv.ctypes.data, b.ctypes.data, 2)
        external = types.ExternalFunction(
            "numba_xgesv",
            types.intc(
                types.char,  # kind: ord("d"), float64
                types.intp,  # n
                types.intp,  # nrhs
                types.CPointer(types.float64),  # a (column-major, overwritten by its LU)
                types.intp,  # lda
                types.CPointer(f_int_nb),  # ipiv
                types.CPointer(types.float64),  # b (overwritten by the solution)
                types.intp,  # ldb
            ),
        )
    except (ImportError, AttributeError, KeyError, TypeError, ValueError, RuntimeError, OSError):
        return None
    solved = info == 0 and b.tolist() == [1.5, 1.0] and ipiv.tolist() == [2, 2, 0, 0]
    return (external, f_int_np) if solved else None


_GESV = _lapack_gesv()
#: How the KKT systems are solved, chosen once at import (:func:`_lapack_gesv`):
#: ``"numba_xgesv"`` (Numba's LAPACK wrapper, called directly) or ``"np.linalg.solve"``
#: (Numba's public overload: the same numbers, about 3 s more compilation).  Numba's
#: cache is keyed by its version, so a cached kernel never mixes the two.
KKT_SOLVER = "np.linalg.solve" if _GESV is None else "numba_xgesv"
#: :func:`_solve_lapack`'s callee and pivot type (unused with ``np.linalg.solve``).
_xgesv: Any = None if _GESV is None else _GESV[0]  # Any: mypy cannot type a compiled call
_F_INT: Any = np.int32 if _GESV is None else _GESV[1]
#: ``kind`` of :data:`_xgesv` for float64.
_KIND_D = ord("d")


@dataclass(frozen=True)
class SimplexQPResult:
    """Solution of a simplex-constrained QP.

    Attributes
    ----------
    w : ndarray, shape (J,)
        The optimal weights (non-negative, summing to one).
    objective : float
        ``½ wᵀ P w + qᵀ w`` at ``w``.
    iterations : int
        Active-set steps taken.
    """

    w: np.ndarray
    objective: float
    iterations: int


@numba.njit(cache=True)
def _solve_lapack(a_t: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``x`` with ``A x = b`` for ``a_t = Aᵀ`` (C order: ``A`` column-major), by ``dgesv``.

    What ``np.linalg.solve(A, b)`` computes in a kernel (same LAPACK call on the same
    bytes, same errors); ``a_t`` and ``b`` are overwritten (LU factors, solution).
    """
    n = b.shape[0]
    for i in range(n):
        if not np.isfinite(b[i]):
            raise np.linalg.LinAlgError("Array must not contain infs or NaNs.")
        for j in range(n):
            if not np.isfinite(a_t[i, j]):
                raise np.linalg.LinAlgError("Array must not contain infs or NaNs.")
    ipiv = np.empty(n, dtype=_F_INT)
    info = _xgesv(_KIND_D, n, 1, a_t.ctypes, n, ipiv.ctypes, b.ctypes, n)
    if info != 0:
        raise np.linalg.LinAlgError("Matrix is singular to machine precision.")
    return b


@numba.njit(cache=True)
def _solve_numpy(a_t: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`_solve_lapack` through Numba's public ``np.linalg.solve`` (inputs kept).

    Numba's overload copies ``A = a_tᵀ`` to column-major order (the bytes of ``a_t``)
    and ``b``, then makes the same ``dgesv`` call, with the same errors.
    """
    return np.linalg.solve(a_t.T, b)


#: The KKT solver of :data:`KKT_SOLVER`.
_solve = _solve_numpy if _GESV is None else _solve_lapack


@numba.njit(cache=True)
def _min(x: np.ndarray) -> float:  # pragma: no cover - compiled
    """``x.min()`` of a non-empty vector (NaN when it holds one), as a plain loop.

    Numba's ``ndarray.min`` is generic over layouts and dimensions (``nditer``), which
    costs compile time for nothing here.
    """
    out = x[0]
    for i in range(1, x.shape[0]):
        if np.isnan(out):
            break
        if x[i] < out or np.isnan(x[i]):
            out = x[i]
    return out


@numba.njit(cache=True)
def _active_set(
    P: np.ndarray, q: np.ndarray, w: np.ndarray, max_iter: int
) -> tuple[np.ndarray, int]:  # pragma: no cover - compiled
    J = q.shape[0]
    scale = 0.0
    for i in range(J):
        scale += P[i, i]
    scale = scale / J if scale > 0 else 1.0
    Pr = P.copy()
    for i in range(J):
        Pr[i, i] += RIDGE * scale
    free = w > 0
    g = Pr @ w
    for i in range(J):
        g[i] += q[i]
    gscale = 1e-300
    for i in range(J):
        gscale = max(gscale, abs(g[i]), abs(Pr[i, i]))
    it = 0
    while it < max_iter:
        it += 1
        g = Pr @ w
        for i in range(J):
            g[i] += q[i]
        # Frank–Wolfe duality gap gᵀw − min_i g_i bounds f(w) − f* from above
        g_min = _min(g)
        if g @ w - g_min <= GAP_TOL * scale:
            break
        k = 0
        for i in range(J):
            k += free[i]
        F = np.empty(k, dtype=np.int64)  # np.flatnonzero(free)
        a = 0
        for i in range(J):
            if free[i]:
                F[a] = i
                a += 1
        # the KKT matrix K transposed (``K_t[b, a] = K[a, b]``): LAPACK's column-major K
        K_t = np.zeros((k + 1, k + 1))
        rhs = np.zeros(k + 1)
        for a in range(k):
            for b in range(k):
                K_t[b, a] = Pr[F[a], F[b]]
            K_t[k, a] = 1.0
            K_t[a, k] = 1.0
            rhs[a] = -g[F[a]]
        sol = _solve(K_t, rhs)
        pmax = 0.0
        for a in range(k):
            pmax = max(pmax, abs(sol[a]))
        if pmax <= STEP_TOL:
            nu = 0.0
            for a in range(k):
                nu += g[F[a]]
            nu /= k
            best = 0.0
            arg = -1
            for i in range(J):
                if not free[i]:
                    lam = g[i] - nu
                    if lam < best:
                        best = lam
                        arg = i
            if arg < 0 or best >= -KKT_TOL * gscale:
                break
            free[arg] = True
            continue
        alpha = 1.0
        block = -1
        for a in range(k):
            if sol[a] < 0:
                r = -w[F[a]] / sol[a]
                if r < alpha:
                    alpha = r
                    block = F[a]
        for a in range(k):
            w[F[a]] += alpha * sol[a]
        if block >= 0:
            w[block] = 0.0
            free[block] = False
        total = 0.0
        for i in range(J):
            if not free[i] or w[i] < 0:
                w[i] = 0.0
            total += w[i]
        for i in range(J):
            w[i] /= total
    return w, it


def simplex_qp(
    P: np.ndarray, q: np.ndarray, w0: np.ndarray | None = None, max_iter: int = 500
) -> SimplexQPResult:
    """Minimise ``½ wᵀPw + qᵀw`` over the simplex with a primal active-set method.

    Parameters
    ----------
    P : ndarray, shape (J, J)
        Symmetric positive semi-definite matrix.
    q : ndarray, shape (J,)
        Linear term.
    w0 : ndarray, shape (J,), optional
        Feasible warm start (e.g. the previous solution in a nested optimisation);
        by default the best single-donor vertex.
    max_iter : int
        Cap on active-set steps.

    Examples
    --------
    >>> import numpy as np
    >>> r = simplex_qp(np.eye(2), np.array([-1.0, 0.0]))
    >>> np.round(r.w, 6).tolist()
    [1.0, 0.0]
    """
    P = np.ascontiguousarray(P, dtype=np.float64)
    q = np.ascontiguousarray(q, dtype=np.float64)
    J = len(q)
    if w0 is None:
        w = np.zeros(J)
        w[int(np.argmin(0.5 * np.diag(P) + q))] = 1.0
    else:
        w = np.clip(np.asarray(w0, dtype=np.float64), 0.0, None)
        w = w / w.sum()
    w, it = _active_set(P, q, w.copy(), max_iter)
    return SimplexQPResult(w, float(0.5 * w @ P @ w + q @ w), int(it))


@numba.njit(cache=True)
def _start_vertex(P: np.ndarray, q: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    J = q.shape[0]
    best = np.inf
    arg = 0
    for j in range(J):
        f = 0.5 * P[j, j] + q[j]
        if f < best:
            best = f
            arg = j
    w = np.zeros(J)
    w[arg] = 1.0
    return w


@numba.njit(cache=True)
def nested_loss(
    theta: np.ndarray,
    X0s: np.ndarray,
    X1s: np.ndarray,
    Z0: np.ndarray,
    Z1: np.ndarray,
    penalty: float,
    max_iter: int,
) -> tuple[float, np.ndarray]:  # pragma: no cover - compiled
    """Outcome MSPE of the weights for ``V = softmax(theta)``, and those weights.

    The whole outer-loss evaluation in one compiled call: ``V`` from ``theta``, the QP
    data ``P = X0sᵀVX0s`` and ``q`` (with the Abadie–L'Hour term when ``penalty > 0``),
    the active-set solve from the best vertex, and ``mean((Z1 − Z0 w)²)``.
    """
    k, J = X0s.shape
    m = -_min(-theta)  # theta.max()
    v = np.exp(np.maximum(theta - m, -LOG_V_FLOOR))
    v = v / v.sum()
    P = np.zeros((J, J))
    q = np.zeros(J)
    for a in range(k):
        va = v[a]
        for i in range(J):
            xi = X0s[a, i] * va
            q[i] -= xi * X1s[a]
            if penalty > 0:
                d = X0s[a, i] - X1s[a]
                q[i] += 0.5 * penalty * va * d * d
            for j in range(i, J):
                P[i, j] += xi * X0s[a, j]
    for i in range(J):
        for j in range(i):
            P[i, j] = P[j, i]
    w, _ = _active_set(P, q, _start_vertex(P, q), max_iter)
    r = Z0 @ w
    for t in range(r.shape[0]):
        r[t] = Z1[t] - r[t]
    return float(r @ r) / r.shape[0], w
