"""k-class instrumental-variable estimators (2SLS, LIML, Fuller) and their covariances.

Model: ``y = X β + ε`` with regressors ``X = [W, D]`` — exogenous ``W`` (intercept and
covariates) and endogenous ``D`` — and instruments ``Z = [W, Z_x]`` (the exogenous
regressors plus the excluded instruments ``Z_x``).  With ``P_Z`` the projection on
``Z`` and ``M_Z = I − P_Z``, the k-class estimator is

    β̂(κ) = [X'(I − κ M_Z) X]⁻¹ X'(I − κ M_Z) y

(Theil 1958; Nagar 1959): ``κ = 1`` is two-stage least squares, ``κ = κ_LIML`` (the
smallest root of ``det(Ē'M_W Ē − κ Ē'M_Z Ē) = 0`` with ``Ē = [y, D]``; Anderson &
Rubin 1949, doi:10.1214/aoms/1177730090) is limited-information maximum likelihood,
and ``κ = κ_LIML − α/(n − L)`` (``L`` columns of ``Z``) is Fuller's (1977,
doi:10.2307/1913786) modification.

Covariances follow the conventions of ``linearmodels`` (Sheppard), so that the numbers
can be compared digit for digit.  With ``V = (1−κ)X'X/n + κ X'P_Z X/n``, ``X̂ = P_Z X``
and residuals ``e = y − Xβ̂``:

- ``unadjusted``: ``Σ = s² V⁻¹ / n`` with ``s² = e'e/n``;
- ``robust``: ``Σ = V⁻¹ S V⁻¹ / n`` with ``S = Σᵢ x̂ᵢx̂ᵢ' eᵢ² / n`` (HC0 — linearmodels'
  default);
- ``clustered``: ``S = Σ_g (Σ_{i∈g} x̂ᵢeᵢ)(Σ_{i∈g} x̂ᵢeᵢ)' / n``.

``debiased=True`` scales ``S`` (or ``s²``) by ``n/(n−k)`` (HC1 for ``robust``) and, for
``clustered``, by ``G/(G−1)·(n−1)/(n−k)`` (Stata's small-sample factor); inference then
uses ``t(n−k)`` instead of the normal.  Weights ``w`` (rescaled to mean one) enter as
``√w`` multiplying every row of ``y``, ``X`` and ``Z``.

One factorisation serves the fit, its covariance and every diagnostic: the R factor of
the thin QR of ``M = [W, Z_x, D, y]`` (:class:`IVArrays`).  The column order nests the
spans, so the coordinates of every column of the model in the orthonormal basis ``Q``
are a block of ``R`` (``Q'X``, ``Q'y``), the first ``L`` coordinates lie in the span of
``Z`` and the rest are orthogonal to it.  Least squares among the columns of ``M`` are
then least squares among the columns of ``R`` (``‖Qc‖ = ‖c‖``), and the n-row work left is
forming the residual vectors that the sandwich covariances weight (``M`` times a small
coefficient matrix) and their weighted cross-products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

from cqox.core.linalg import crossprod
from cqox.errors import EstimationError
from cqox.inference.spatial_hac import conley_meat

COV_TYPES: tuple[str, ...] = ("unadjusted", "robust", "clustered")
_EPS = float(np.finfo(float).eps)


class IVArrays:
    """An IV model's data ``M = [W, Z_x, D, y]`` and the R factor of its thin QR.

    Rows are multiplied by ``√w`` when weighted.  ``Q`` is never formed: with the
    column order above, ``Q'W = R[:, :k_w]``, ``Q'Z = R[:, :L]``, ``Q'X = R[:, x]`` (``x``
    the columns of ``[W, D]``) and ``Q'y = R[:, −1]``; the first ``L = k_w + q``
    coordinates span ``Z`` (``‖P_Z a‖ = ‖(Q'a)[:L]‖``) and the others are orthogonal to
    it (``‖M_Z a‖ = ‖(Q'a)[L:]‖``) for every ``a`` in the span of ``M``.

    Attributes
    ----------
    M : ndarray, shape (n, m), column-major
        ``[W, Z_x, D, y]``, ``m = k_w + q + k_d + 1``; ``W`` has the intercept first.
    R : ndarray, shape (m, m)
        Upper-triangular factor of the thin QR of ``M`` (:func:`r_factor`).
    separated : bool
        Every column of ``M`` keeps at least :data:`CHOLESKY_MIN_ANGLE` of its norm off
        the span of the columns before it (``R`` is then the Cholesky factor of
        ``M'M``); ``False`` says nothing.
    kw, q, kd : int
        Columns of ``W``, ``Z_x`` and ``D``.
    L, k, n : int
        ``k_w + q`` instruments, ``k_w + k_d`` coefficients, rows.
    x_index : ndarray of int
        Columns of ``M`` that form ``X = [W, D]`` (read-only, shared).
    Rx : ndarray, shape (m, k)
        ``Q'X = R[:, x_index]``.
    Sx : ndarray, shape (m, k)
        Selection of ``X`` from ``M``: ``X b = M (S_x b)``.
    clusters : ndarray of int, shape (n,), or None
        Cluster codes ``0..G−1``.
    sqrt_w : ndarray, shape (n,), or None
        Square roots of the weights normalised to mean one (``None``: unweighted).
    """

    __slots__ = (
        "L",
        "M",
        "R",
        "Rx",
        "Sx",
        "_rinv_z",
        "clusters",
        "k",
        "kd",
        "kw",
        "n",
        "q",
        "separated",
        "sqrt_w",
        "x_index",
    )

    def __init__(
        self,
        M: np.ndarray,
        kw: int,
        q: int,
        kd: int,
        clusters: np.ndarray | None,
        sqrt_w: np.ndarray | None,
    ) -> None:
        self.M, self.kw, self.q, self.kd = M, kw, q, kd
        self.L, self.k, self.n = kw + q, kw + kd, int(M.shape[0])
        self.x_index, self.Sx = _selection(M.shape[1], kw, q, kd)
        self.clusters, self.sqrt_w = clusters, sqrt_w
        self.R, self.separated = _r_factor(M)
        # take with an index array: a fifth of the cost of indexing with a list
        self.Rx = self.R.take(self.x_index, axis=1)
        self._rinv_z: np.ndarray | None = None

    def rinv_z(self) -> np.ndarray:
        """``R_Z⁻¹``, the inverse of the instruments' block ``R[:L, :L]`` (upper triangular).

        ``(Z'Z)⁻¹ = R_Z⁻¹R_Z⁻ᵀ``; OLS on ``Z`` of a column ``a`` of ``M`` is
        ``R_Z⁻¹(Q'a)[:L]``; the leading ``k_w`` block is ``R_W⁻¹``.  Raises
        :class:`EstimationError` when ``Z`` is rank deficient.
        """
        if self._rinv_z is None:
            L = self.L
            RZ = self.R[:L, :L]
            d = [abs(v) for v in RZ.diagonal().tolist()]
            if min(d) <= max(self.n, L) * _EPS * max(d):
                raise EstimationError(
                    "the instruments and exogenous regressors are linearly dependent; drop "
                    "the redundant instrument(s)"
                )
            self._rinv_z = lapack.dtrtri(RZ)[0]
        return self._rinv_z

    def partialled_instruments(self) -> np.ndarray:
        """``Z̃ = M_W Z_x``: the excluded instruments net of ``W``, shape (n, q)."""
        kw, L = self.kw, self.L
        # Z_x on W: R_W⁻¹ R_{W,Z_x}; R_W⁻¹ is the leading block of R_Z⁻¹
        coef = self.rinv_z()[:kw, :kw] @ self.R[:kw, kw:L]
        return np.asarray(self.M[:, kw:L] - self.M[:, :kw] @ coef)


def iv_matrix(
    M: np.ndarray,
    kw: int,
    q: int,
    kd: int,
    weight: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> IVArrays:
    """Check the order condition and the weights, scale by ``√w`` and factorise ``M``.

    ``M = [W, Z_x, D, y]`` (column-major, ``k_w``, ``q`` and ``k_d`` columns before
    ``y``) is not modified: weighted rows are scaled in a copy.
    """
    if q < kd:
        raise EstimationError(
            f"the model is under-identified: {q} excluded instrument(s) for "
            f"{kd} endogenous regressor(s); add instruments or drop endogenous "
            "regressors",
            details={"instruments": q, "endogenous": kd},
        )
    codes = None if clusters is None else np.unique(clusters, return_inverse=True)[1]
    if weight is None:
        return IVArrays(M, kw, q, kd, codes, None)
    if np.any(weight <= 0) or not np.all(np.isfinite(weight)):
        raise EstimationError("role 'weight': weights must be positive and finite")
    sw = np.sqrt(weight / weight.mean())
    return IVArrays(np.asfortranarray(M * sw[:, None]), kw, q, kd, codes, np.asarray(sw))


def iv_arrays(
    y: np.ndarray,
    W: np.ndarray,
    D: np.ndarray,
    Zx: np.ndarray,
    weight: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> IVArrays:
    """:func:`iv_matrix` of ``[W, Z_x, D, y]`` given as separate arrays."""
    n, kw, q, kd = len(y), W.shape[1], Zx.shape[1], D.shape[1]
    M = np.empty((n, kw + q + kd + 1), order="F")
    M[:, :kw], M[:, kw : kw + q], M[:, kw + q : kw + q + kd], M[:, -1] = W, Zx, D, y
    return iv_matrix(M, kw, q, kd, weight, clusters)


def r_factor(M: np.ndarray) -> np.ndarray:
    """R of the thin QR of ``M``: the Cholesky factor of ``M'M``, or Householder's.

    ``M = QR`` with ``R`` upper triangular is also ``M'M = R'R``, the Cholesky
    factorisation of the Gram matrix (Householder's ``R`` has signs on its rows that
    every use of ``R`` here cancels).  One BLAS ``gemm`` and LAPACK ``dpotrf`` cost a
    third of ``dgeqrf`` (5 µs against 18 µs at 1,000 × 9: the Householder reflections
    are level-2 BLAS).  Squaring the matrix squares its condition number, so the
    Cholesky factor is kept only when every column keeps at least
    :data:`CHOLESKY_MIN_ANGLE` of its norm off the span of the columns before it
    (``R_jj ≥ CHOLESKY_MIN_ANGLE · ‖m_j‖``): its entries are then within about
    ``1e-14`` of each column's norm of an extended-precision factor (Householder's:
    ``1e-16``) even for columns of very different scales, as Cholesky's rounding is
    relative to the diagonal (``tests/unit/test_iv_fast_paths.py``).  Otherwise
    (near-collinear columns, a near-constant instrument, an outcome fitted almost
    exactly, a failed Cholesky) ``R`` comes from LAPACK ``dgeqrf``, which the rank
    tests need.  ``Q`` is never formed: every product with it is taken in the
    coordinates ``R`` gives instead.
    """
    return _r_factor(M)[0]


def _r_factor(M: np.ndarray) -> tuple[np.ndarray, bool]:
    """:func:`r_factor`, and whether it is the Cholesky factor (every angle ≥ the guard)."""
    m = M.shape[1]
    G = crossprod(M)
    R, info = lapack.dpotrf(G)  # the upper triangle; the lower is set to zero
    g = G.diagonal().tolist()
    # a column beyond ~1e154 overflows the Gram (inf): Householder scales its norms
    if (
        info == 0
        and sum(g) < math.inf
        and all(r * r >= _MIN_ANGLE_SQ * v for r, v in zip(R.diagonal().tolist(), g, strict=True))
    ):
        return np.asarray(R), True
    qr, _, _, info = lapack.dgeqrf(M)  # on a copy: M is read later
    if info != 0:  # pragma: no cover - LAPACK argument errors only
        raise EstimationError(f"the QR factorisation failed (LAPACK info {info})")
    # below the diagonal dgeqrf leaves its Householder vectors: keep the upper triangle
    return np.asarray(qr[:m] * _upper(m)), False


#: Smallest ``R_jj / ‖m_j‖`` (the sine of the angle between a column and the span of
#: the columns before it) at which :func:`r_factor` keeps the Cholesky factor of ``M'M``.
CHOLESKY_MIN_ANGLE = 0.05
_MIN_ANGLE_SQ = CHOLESKY_MIN_ANGLE**2


@cache
def _upper(m: int) -> np.ndarray:
    """Ones on and above the diagonal of an ``m × m`` matrix (read-only, shared)."""
    mask = np.triu(np.ones((m, m)))
    mask.flags.writeable = False
    return mask


@cache
def _selection(m: int, kw: int, q: int, kd: int) -> tuple[np.ndarray, np.ndarray]:
    """The columns ``x`` of ``X = [W, D]`` in ``M`` and ``S`` with ``S[x_j, j] = 1``.

    ``M[:, x] b = M (S b)``; both read-only and shared by every fit of this shape.
    """
    x = np.array([*range(kw), *range(kw + q, kw + q + kd)])
    S = np.zeros((m, len(x)))
    S[x, np.arange(len(x))] = 1.0
    x.flags.writeable = False
    S.flags.writeable = False
    return x, S


@dataclass(frozen=True)
class ConleySpec:
    """Coordinates (rows of the data) and the cutoff/kernel of a Conley covariance."""

    lat: np.ndarray
    lon: np.ndarray
    cutoff_km: float
    kernel: str


@dataclass(frozen=True)
class KClassResult:
    """A k-class fit.

    Attributes
    ----------
    params : ndarray, shape (k,)
        Coefficients on ``[W, D]``.
    cov : ndarray, shape (k, k)
        Their covariance.
    se : ndarray, shape (k,)
    resid : ndarray, shape (n,)
        Weighted residuals ``√w (y − Xβ̂)``.
    resid_q : ndarray, shape (m,)
        The residuals' coordinates ``Q'ê`` (``ê = Q·resid_q``).
    kappa : float
        The κ used (1 for 2SLS).
    liml_kappa : float
        κ of LIML (NaN when not computed).
    df_resid : int
        ``n − k``.
    n_clusters : int or None
    score_gram : ndarray, shape (L, L), or None
        ``Σᵢ zᵢzᵢ'êᵢ²`` (``robust``) or its cluster form (``clustered``), the meat the
        covariance was built from; ``None`` for ``unadjusted`` or Conley.
    score_gram_kind : str or None
        ``robust`` or ``clustered`` (the kind of ``score_gram``).
    """

    params: np.ndarray
    cov: np.ndarray
    se: np.ndarray
    resid: np.ndarray
    resid_q: np.ndarray
    kappa: float
    liml_kappa: float
    df_resid: int
    n_clusters: int | None
    score_gram: np.ndarray | None = None
    score_gram_kind: str | None = None

    def __init__(
        self,
        params: np.ndarray,
        cov: np.ndarray,
        se: np.ndarray,
        resid: np.ndarray,
        resid_q: np.ndarray,
        kappa: float,
        liml_kappa: float,
        df_resid: int,
        n_clusters: int | None,
        score_gram: np.ndarray | None = None,
        score_gram_kind: str | None = None,
    ) -> None:
        # the dataclass's __init__ written out: one update of the instance's dict, not a
        # frozen object.__setattr__ per field (11 fields: 2.7 -> 0.9 µs, every fit)
        self.__dict__.update(
            {
                "params": params,
                "cov": cov,
                "se": se,
                "resid": resid,
                "resid_q": resid_q,
                "kappa": kappa,
                "liml_kappa": liml_kappa,
                "df_resid": df_resid,
                "n_clusters": n_clusters,
                "score_gram": score_gram,
                "score_gram_kind": score_gram_kind,
            }
        )


def cluster_sums(scores: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per-cluster sums of score rows, shape (G, k)."""
    G = int(codes.max()) + 1
    return np.column_stack(
        [np.bincount(codes, weights=scores[:, j], minlength=G) for j in range(scores.shape[1])]
    )


def score_gram(
    scores: np.ndarray, codes: np.ndarray | None, se_method: str
) -> tuple[np.ndarray, int | None]:
    """The meat before scaling: ``Σᵢ sᵢsᵢ'`` or ``Σ_g (Σ_{i∈g} sᵢ)(Σ_{i∈g} sᵢ)'``, and ``G``."""
    if se_method == "clustered":
        if codes is None:
            raise EstimationError("se_method 'clustered' needs the 'cluster' role")
        sums = cluster_sums(scores, codes)
        G = sums.shape[0]
        if G < 2:
            raise EstimationError("a clustered covariance needs at least two clusters")
        return crossprod(sums), G
    return crossprod(scores), None


def meat_scale(n: int, k: int, n_clusters: int | None, debiased: bool) -> float:
    """``1/n`` times the small-sample factor: ``n/(n−k)``, or ``G/(G−1)·(n−1)/(n−k)``."""
    if not debiased:
        return 1.0 / n
    if n_clusters is None:
        return 1.0 / (n - k)
    G = n_clusters
    return G / (G - 1) * ((n - 1) / (n - k)) / n


def solve(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, int]:
    """``A⁻¹B`` by LAPACK ``dgesv`` (LU with partial pivoting, as ``np.linalg.solve``).

    Returns the solution and LAPACK's ``info`` (``> 0``: ``A`` is exactly singular), for
    the caller to raise its own error; ``B`` may be overwritten.  The small systems of
    the IV fit and its tests cost more in ``np.linalg``'s argument handling than in
    arithmetic.
    """
    _, _, x, info = lapack.dgesv(A, B, overwrite_b=1)
    return x, int(info)


def liml_kappa(a: IVArrays) -> float:
    """κ of LIML: the smallest eigenvalue of ``(Ē'M_Z Ē)⁻¹ Ē'M_W Ē``, ``Ē = [D, y]``.

    In the coordinates of ``Q``: ``M_Z Ē`` keeps the rows from ``L`` of ``Q'Ē =
    R[:, L:]`` and ``M_W Ē`` those from ``k_w``.
    """
    L, kw = a.L, a.kw
    if a.n - L < a.kd + 1:
        raise EstimationError(
            f"LIML needs at least {L + a.kd + 1} rows; got {a.n}",
            details={"rows": a.n},
        )
    E = a.R[:, L:]
    A = E[L:].T @ E[L:]
    if np.linalg.cond(A) > 1e14:
        raise EstimationError(
            "LIML's κ is not defined: the residuals of the outcome and the endogenous "
            "regressors on the instruments are linearly dependent"
        )
    B = E[kw:].T @ E[kw:]
    return float(linalg.eigh(B, A, eigvals_only=True, check_finite=False).min())


def kclass(
    a: IVArrays,
    kappa: float | None = 1.0,
    *,
    fuller: float = 0.0,
    se_method: str = "robust",
    debiased: bool = False,
    spatial: ConleySpec | None = None,
) -> KClassResult:
    """Fit the k-class estimator with ``κ`` (``None``: LIML's κ, less ``fuller/(n−L)``).

    Returns coefficients on ``[W, D]`` and their covariance of type ``se_method``; with
    ``spatial`` the Conley (1999) covariance ``V⁻¹ M V⁻¹ / n²``, ``M = Σ_i Σ_j K(d_ij/c)
    s_i s_j'`` over the scores ``s_i = P_Z x_i ε̂_i`` (``n/(n − k)`` when ``debiased``).
    The scores are ``P_Z X = Z Π̂`` with ``Π̂ = R_Z⁻¹ Q_Z'X``, so the robust meat is
    ``Π̂' (Σᵢ zᵢzᵢ'êᵢ²) Π̂``: an ``L × L`` cross-product of the rows of ``Z``.
    """
    n, k, L = a.n, a.k, a.L
    Rinv = a.rinv_z()
    liml_k = float("nan")
    if kappa is None:
        liml_k = liml_kappa(a)
        kappa = liml_k - fuller / (n - L)
    Rx = a.Rx  # Q'X
    r = a.R[:, -1]  # Q'y
    A = Rx[:L]  # Q_Z'X
    # X'P_Z X = (Q_Z'X)'(Q_Z'X) and X'P_Z y = (Q_Z'X)'(Q_Z'y): k_z × k products only
    if kappa == 1.0:  # 2SLS: X'X and X'y are not needed
        V, rhs = A.T @ A, A.T @ r[:L]
        # X'P_Z X = A'A is positive definite when X is identified: (A'A)⁻¹ = U⁻¹U⁻ᵀ from
        # its Cholesky factor U (dpotrf, dtrtri: half of an LU solve on the identity)
        U, info = lapack.dpotrf(V)
        if info == 0:
            Uinv = lapack.dtrtri(U)[0]
            Vinv = Uinv @ Uinv.T
    else:
        V = (1 - kappa) * (Rx.T @ Rx) + kappa * (A.T @ A)
        rhs = (1 - kappa) * (Rx.T @ r) + kappa * (A.T @ r[:L])
        info = 1
    if info != 0:
        # (X'(I − κM_Z)X)⁻¹, the bread of the text over n: LAPACK's LU solve against the
        # identity, what np.linalg.inv runs, without its per-call wrapping (also for a
        # 2SLS bread that rounding left without a Cholesky factor)
        Vinv, info = solve(V, np.eye(k))
    if info != 0:
        raise EstimationError(
            "the IV normal equations are singular: the instruments do not move the "
            "endogenous regressors (or regressors are collinear)"
        )
    params = Vinv @ rhs
    resid_q = r - Rx @ params
    # y − Xβ̂ = M c with c = e_y − S_x β̂ (one product, no subtraction over the rows)
    c = a.Sx @ -params
    c[-1] += 1.0
    e = a.M @ c
    gram, kind = None, None
    if spatial is not None:
        PX = a.M[:, :L] @ (Rinv @ A)
        meat = conley_meat(
            PX * e[:, None], spatial.lat, spatial.lon, spatial.cutoff_km, spatial.kernel
        )
        cov = Vinv @ meat @ Vinv * (n / (n - k) if debiased else 1.0)
        cov = (cov + cov.T) / 2
        if np.any(np.diag(cov) < 0):
            raise EstimationError(
                f"the Conley variance is negative with the {spatial.kernel} kernel at "
                f"conley_cutoff_km={spatial.cutoff_km}; use conley_kernel='bartlett' or a "
                "smaller cutoff",
                details={"parameter": "conley_kernel"},
            )
    elif se_method == "unadjusted":
        cov = Vinv * (float(resid_q @ resid_q) / (n - k if debiased else n))
    else:
        gram, G = score_gram(a.M[:, :L] * e[:, None], a.clusters, se_method)
        kind = se_method
        # P_Z X = Z Π̂ with Π̂ = R_Z⁻¹Q_Z'X: Σ = T' (Σᵢ zᵢzᵢ'êᵢ²) T with T = Π̂ Vinv
        T = Rinv @ A @ Vinv
        cov = T.T @ gram @ T * (meat_scale(n, k, G, debiased) * n)
    nc = None if a.clusters is None else int(a.clusters.max()) + 1
    return KClassResult(
        params,
        cov,
        np.sqrt(cov.diagonal()),
        e,
        resid_q,
        float(kappa),
        liml_k,
        n - k,
        nc,
        gram,
        kind,
    )
