"""Conley (1999) spatial-HAC variance over great-circle distance.

Conley's estimator lets the scores of units closer than a cutoff distance be
correlated (Conley 1999, *J. Econometrics* 92(1), doi:10.1016/S0304-4076(98)00084-0).
With scores ``s_i`` (an estimator's influence function, or ``x_i ε̂_i`` for OLS) the
meat of the sandwich is

    M = Σ_i Σ_j K(d_ij / c) s_i s_j'

where ``d_ij`` is the great-circle distance of units ``i`` and ``j`` in km, ``c`` the
cutoff (``conley_cutoff_km``) and ``K`` the kernel:

- ``"uniform"``: ``K = 1{d_ij ≤ c}`` — Hsiang's (2010, PNAS, doi:10.1073/pnas.1009510107)
  ``ols_spatial_HAC`` default, also the ``acreg``/``conleyreg`` default;
- ``"bartlett"``: ``K = (1 − d_ij / c) 1{d_ij ≤ c}`` — Conley's (1999) Bartlett
  weights, which keep ``M`` positive semi-definite.

No small-sample factor is applied (as HC0; Hsiang's implementation applies none), so
with a cutoff below the smallest distance between distinct locations ``M = Σ_i s_i
s_i'``, the HC0 meat.  Units at the same location (``d_ij = 0``) always count as
neighbours.  Distances are great-circle (haversine on a sphere of radius
:data:`EARTH_RADIUS_KM`), not Hsiang's flat-earth approximation.

Memory is linear in the number of pairs within the cutoff, never ``n × n``: the
locations become 3-D unit vectors, a :class:`scipy.spatial.cKDTree` finds the pairs
whose chord is at most ``2 sin(c / 2R)`` (the chord of arc ``c``), and the meat is
accumulated over those pairs in blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from cqox.errors import LimitExceededError, ParameterError, RoleError

#: Mean Earth radius R₁ (IUGG), km.
EARTH_RADIUS_KM = 6371.0088
#: Half the circumference: the largest great-circle distance, and the largest cutoff.
MAX_CUTOFF_KM = float(np.pi * EARTH_RADIUS_KM)
#: Kernels of :func:`conley_meat`.
CONLEY_KERNELS: tuple[str, ...] = ("uniform", "bartlett")
#: Candidate pairs per block of rows (bounds the temporary arrays to ~100 MB).
_BLOCK = 1_000_000
#: Most pairs of distinct units within the cutoff a Conley variance accumulates.  A pair
#: costs ~0.4 µs of CPU (search plus meat; 7.1M pairs in 2.8 s measured), so the cap is
#: about 100 s; a cutoff spanning the whole sample makes the work O(n²), which a 1M-row
#: table turns into days, and is refused instead.
MAX_CONLEY_PAIRS = 250_000_000
#: Rows whose neighbours are counted to estimate the pairs of a large table.
_COUNT_SAMPLE = 256


@dataclass(frozen=True)
class SpatialPairs:
    """Pairs ``i < j`` of units within the cutoff.

    Attributes
    ----------
    i, j : ndarray of int64, shape (m,)
        Row indices of each pair (``i < j``).
    dist_km : ndarray, shape (m,)
        Great-circle distance of each pair, km.
    """

    i: np.ndarray
    j: np.ndarray
    dist_km: np.ndarray


def check_coordinates(
    lat: np.ndarray, lon: np.ndarray, lat_column: str = "lat", lon_column: str = "lon"
) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes in [−90, 90] and longitudes in [−180, 360] as float arrays.

    Raises :class:`cqox.errors.RoleError` naming the role and the column at fault.
    """
    out = []
    for role, column, values, bound in (
        ("lat", lat_column, lat, 90.0),
        ("lon", lon_column, lon, 360.0),
    ):
        try:
            v = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise RoleError(
                f"role '{role}': column '{column}' must be numeric (decimal degrees)",
                details={"role": role, "column": column},
            ) from None
        low = -90.0 if role == "lat" else -180.0
        bad = ~np.isfinite(v) | (v < low) | (v > bound)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise RoleError(
                f"role '{role}': column '{column}' has {int(bad.sum())} value(s) outside "
                f"[{low:g}, {bound:g}] degrees (first: {v[k]!r} in row {k}); "
                f"{'latitude' if role == 'lat' else 'longitude'} must be decimal degrees",
                details={"role": role, "column": column, "row": k},
            )
        out.append(v)
    return out[0], out[1]


def check_cutoff(cutoff_km: float, parameter: str = "conley_cutoff_km") -> float:
    """The cutoff as a float in (0, π R]; :class:`ParameterError` naming ``parameter``."""
    try:
        c = float(cutoff_km)
    except (TypeError, ValueError):
        c = float("nan")
    if not (np.isfinite(c) and 0.0 < c <= MAX_CUTOFF_KM):
        raise ParameterError(
            f"The '{parameter}' parameter must be a distance in km in (0, {MAX_CUTOFF_KM:.1f}]. "
            f"Got {cutoff_km!r} instead.",
            details={"parameter": parameter},
        )
    return c


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere, shape (n, 3), of latitudes/longitudes in degrees."""
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return np.column_stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)])


def great_circle_km(chord: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) of a chord length between unit vectors: ``2R asin(c/2)``."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))


def estimated_pairs(tree: Any, xyz: np.ndarray, radius: float) -> float:
    """Pairs ``i < j`` whose chord is at most ``radius``.

    Exact for up to :data:`_COUNT_SAMPLE` rows; beyond, the neighbours of every
    ``n // _COUNT_SAMPLE``-th row are counted (a dual-tree count, whose cost does not
    grow with ``n`` times the cutoff's reach) and scaled by ``n / m``.
    """
    from scipy.spatial import cKDTree

    n = len(xyz)
    step = max(n // _COUNT_SAMPLE, 1)
    sample = xyz[::step]
    # every sampled row is its own neighbour once
    within = float(cKDTree(sample).count_neighbors(tree, radius)) - len(sample)
    # each unordered pair is counted from both ends
    return within * n / len(sample) / 2.0


def iter_pairs_within(
    lat: np.ndarray, lon: np.ndarray, cutoff_km: float, max_pairs: int = _BLOCK
) -> Iterator[SpatialPairs]:
    """Every pair ``i < j`` at great-circle distance at most ``cutoff_km``, in blocks.

    Rows are split so that each block holds about ``max_pairs`` candidate pairs (counted
    first, memory O(n)); each block's pairs come from a KD-tree of the block against the
    tree of every point, so memory is bounded by the block, not by all pairs.  More
    than :data:`MAX_CONLEY_PAIRS` pairs (estimated by :func:`estimated_pairs` before
    any search) is a :class:`~cqox.errors.LimitExceededError` naming
    ``conley_cutoff_km``.
    """
    # imported here: scipy.spatial costs ~0.05 s and only spatial analyses need it
    from scipy.spatial import cKDTree

    xyz = unit_vectors(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float))
    angle = min(cutoff_km / EARTH_RADIUS_KM, np.pi)
    # a hair over the exact chord so pairs at the cutoff are not lost to rounding; the
    # exact distance filter below decides
    radius = 2.0 * np.sin(angle / 2.0) * (1.0 + 1e-12) + 1e-15
    tree = cKDTree(xyz)
    pairs = estimated_pairs(tree, xyz, radius)
    if pairs > MAX_CONLEY_PAIRS:
        raise LimitExceededError(
            f"About {pairs:.2g} pairs of units lie within conley_cutoff_km={cutoff_km:g} of "
            f"each other, more than the {MAX_CONLEY_PAIRS:.3g} a Conley variance "
            f"accumulates (its work grows with the pairs): use a smaller cutoff.",
            details={
                "parameter": "conley_cutoff_km",
                "pairs": int(pairs),
                "limit": MAX_CONLEY_PAIRS,
            },
        )
    counts = np.asarray(tree.query_ball_point(xyz, radius, return_length=True), dtype=np.int64)
    block_of = np.cumsum(counts) // max(int(max_pairs), 1)
    edges = np.flatnonzero(np.diff(block_of)) + 1
    for rows in np.split(np.arange(len(xyz)), edges):
        if len(rows) == 0:
            continue
        found = cKDTree(xyz[rows]).sparse_distance_matrix(tree, radius, output_type="ndarray")
        i = rows[found["i"].astype(np.int64)]
        j = found["j"].astype(np.int64)
        keep = j > i
        i, j = i[keep], j[keep]
        dist = great_circle_km(np.linalg.norm(xyz[i] - xyz[j], axis=1))
        near = dist <= cutoff_km
        yield SpatialPairs(i[near], j[near], dist[near])


def pairs_within(lat: np.ndarray, lon: np.ndarray, cutoff_km: float) -> SpatialPairs:
    """Every pair ``i < j`` at great-circle distance at most ``cutoff_km``, at once."""
    blocks = list(iter_pairs_within(lat, lon, cutoff_km))
    if not blocks:
        empty = np.zeros(0, dtype=np.int64)
        return SpatialPairs(empty, empty, np.zeros(0))
    return SpatialPairs(
        np.concatenate([b.i for b in blocks]),
        np.concatenate([b.j for b in blocks]),
        np.concatenate([b.dist_km for b in blocks]),
    )


def kernel_weights(dist_km: np.ndarray, cutoff_km: float, kernel: str) -> np.ndarray:
    """``K(d / c)`` of :func:`conley_meat` for distances within the cutoff."""
    if kernel == "uniform":
        return np.ones_like(dist_km)
    if kernel == "bartlett":
        return 1.0 - dist_km / cutoff_km
    raise ParameterError(
        f"The 'conley_kernel' parameter must be one of {', '.join(CONLEY_KERNELS)}. "
        f"Got {kernel!r} instead.",
        details={"parameter": "conley_kernel"},
    )


def conley_meat(
    scores: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    cutoff_km: float,
    kernel: str = "uniform",
) -> np.ndarray:
    """``M = Σ_i Σ_j K(d_ij / c) s_i s_j'`` over great-circle distance (see the module).

    Parameters
    ----------
    scores : ndarray, shape (n,) or (n, k)
        Per-unit scores (influence function values).
    lat, lon : ndarray, shape (n,)
        Coordinates in decimal degrees (checked by :func:`check_coordinates` first).
    cutoff_km : float
        Distance beyond which scores are taken as uncorrelated.
    kernel : {"uniform", "bartlett"}

    Returns
    -------
    ndarray, shape (k, k)
        The meat (``k = 1`` for a vector of scores).
    """
    c = check_cutoff(cutoff_km)
    S = np.asarray(scores, dtype=float)
    S = S[:, None] if S.ndim == 1 else S
    if len(S) != len(lat) or len(S) != len(lon):
        raise ValueError(f"{len(S)} scores but {len(lat)} latitudes and {len(lon)} longitudes")
    meat = S.T @ S
    kernel_weights(np.zeros(0), c, kernel)  # an unknown kernel fails before the search
    cross = np.zeros_like(meat)
    for pairs in iter_pairs_within(lat, lon, c):
        w = kernel_weights(pairs.dist_km, c, kernel)
        cross += S[pairs.i].T @ (w[:, None] * S[pairs.j])
    # each unordered pair counted once above; M has both (i, j) and (j, i)
    out: np.ndarray = meat + cross + cross.T
    return out


def conley_se(
    psi: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    cutoff_km: float,
    kernel: str = "uniform",
) -> float:
    """Standard error of a mean-type estimator with influence function ``psi``.

    ``se = √(Σ_i Σ_j K(d_ij / c) ψ_i ψ_j) / n``; equal to ``√(Σ ψ_i²) / n`` (HC0) when no
    two units lie within the cutoff.
    """
    psi = np.asarray(psi, dtype=float)
    v = float(conley_meat(psi, lat, lon, cutoff_km, kernel)[0, 0])
    # a uniform kernel can give a negative quadratic form; report it rather than nan
    if v < 0:
        raise ParameterError(
            f"the Conley variance is negative ({v:.3g}) with the uniform kernel at "
            f"conley_cutoff_km={cutoff_km}; use conley_kernel='bartlett' or a smaller cutoff",
            details={"parameter": "conley_cutoff_km"},
        )
    return float(np.sqrt(v) / len(psi))


def conley_ols_cov(
    X: np.ndarray,
    resid: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    cutoff_km: float,
    kernel: str = "uniform",
) -> np.ndarray:
    """Conley covariance of OLS coefficients: ``(X'X)⁻¹ M (X'X)⁻¹`` with ``s_i = x_i ε̂_i``.

    Returns the (k, k) covariance; with no pair within the cutoff it is the HC0 sandwich.
    """
    X = np.asarray(X, dtype=float)
    bread = np.linalg.pinv(X.T @ X)
    meat = conley_meat(X * np.asarray(resid, dtype=float)[:, None], lat, lon, cutoff_km, kernel)
    out: np.ndarray = bread @ meat @ bread
    return out


def conley_panel_meat(
    scores: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    cutoff_km: float,
    kernel: str = "uniform",
) -> np.ndarray:
    """Meat of a panel: spatial within each period, serial within each unit.

    ``M = Σ_t Σ_{i,j} K(d_ij / c) s_it s_jt' + Σ_i Σ_{t≠t'} s_it s_it'`` — the scores of
    places within the cutoff are correlated in the same period (Conley 1999), and every
    period of one unit is correlated with every other (as clustering by unit; Hsiang's
    2010 ``ols_spatial_HAC`` with an unbounded lag cutoff, the ``conleyreg`` default).
    With a cutoff below the smallest distance between distinct places it is the
    cluster-by-unit meat ``Σ_i S_i S_i'`` without small-sample factor (CR0).

    Parameters
    ----------
    scores : ndarray, shape (n,) or (n, k)
        Per-row scores (``w x̃ ε̂`` of a fixed-effects regression).
    lat, lon : ndarray, shape (n,)
        Each row's coordinates (decimal degrees).
    unit, time : ndarray of int, shape (n,)
        Unit and period codes ``0..``.
    """
    S = np.asarray(scores, dtype=float)
    S = S[:, None] if S.ndim == 1 else S
    unit = np.asarray(unit, dtype=np.int64)
    time = np.asarray(time, dtype=np.int64)
    meat = np.zeros((S.shape[1], S.shape[1]))
    for t in np.unique(time):
        rows = np.flatnonzero(time == t)
        meat += conley_meat(S[rows], lat[rows], lon[rows], cutoff_km, kernel)
    by_unit = np.zeros((int(unit.max()) + 1, S.shape[1]))
    np.add.at(by_unit, unit, S)
    # the unit sums hold each row's own square once more than wanted (it is in the
    # spatial part already)
    out: np.ndarray = meat + by_unit.T @ by_unit - S.T @ S
    return out


def conley_panel_vcov(
    X: np.ndarray,
    resid: np.ndarray,
    w: np.ndarray | None,
    lat: np.ndarray,
    lon: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    cutoff_km: float,
    kernel: str,
) -> np.ndarray:
    """Conley sandwich of a (weighted) least-squares fit on a panel.

    ``V = (X'WX)⁻¹ M (X'WX)⁻¹`` with ``M`` the :func:`conley_panel_meat` of the scores
    ``w_i e_i X_i``.  A negative variance (possible with the uniform kernel) is an error
    naming ``conley_kernel``.
    """
    ww = np.ones(len(resid)) if w is None else w
    bread = np.linalg.inv(X.T @ (X * ww[:, None]))
    meat = conley_panel_meat(X * (ww * resid)[:, None], lat, lon, unit, time, cutoff_km, kernel)
    vcov: np.ndarray = bread @ meat @ bread
    if np.any(np.diag(vcov) < 0):
        raise ParameterError(
            f"the Conley variance is negative with the {kernel} kernel at "
            f"conley_cutoff_km={cutoff_km}; use conley_kernel='bartlett' or a smaller cutoff",
            details={"parameter": "conley_kernel"},
        )
    return vcov
