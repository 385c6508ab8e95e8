"""Treatment-distance rings of a spatial panel (Butts 2021): the array functions.

For each period ``t`` the places treated in ``t`` are known from each place's first
treated period (its cohort).  An untreated place-period ``(i, t)`` lies in ring ``k`` when
the great-circle distance from ``i`` to the nearest place treated in ``t`` is in
``(e_{k−1}, e_k]`` (ring 1 is ``[0, e_1]``), with ``e_1 < … < e_K`` the outer edges
``ring_edges_km``.  Untreated place-periods beyond ``e_K`` (or in a period with nothing
treated yet) are the "pure" controls.  Distances come from a KD-tree of the treated
places as unit vectors (chord → arc), never an ``n × n`` matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from cqox.errors import ParameterError
from cqox.inference.spatial_hac import MAX_CUTOFF_KM, great_circle_km, unit_vectors

#: Most rings (each ring is a regressor; a handful is what the design can support).
MAX_RINGS = 20
#: Text of the ``ring_edges_km`` rule (error messages and ``cqox estimators``).
RING_EDGES_RULE = (
    f"1 to {MAX_RINGS} strictly increasing distances in km in (0, {MAX_CUTOFF_KM:.1f}] "
    "(a list, or text such as '1,2,3'), the outer edges of the rings, or None"
)


def parse_ring_edges(value: Any, owner: str = "ring_did") -> tuple[float, ...] | None:
    """``ring_edges_km`` as a tuple of floats, or :class:`ParameterError` naming it.

    Accepts a sequence of numbers or text (``"1,2,3"``, ``"[1, 2, 3]"``) from the
    command line; ``None`` stays ``None`` (edges chosen from the data).
    """
    if value is None:
        return None
    items: Sequence[Any]
    if isinstance(value, str):
        text = value.strip().strip("[]()")
        items = [s for s in text.replace(";", ",").split(",") if s.strip()]
    elif isinstance(value, Sequence | np.ndarray):
        items = list(value)
    else:
        items = [value]
    edges: list[float] = []
    ok = 1 <= len(items) <= MAX_RINGS
    for item in items if ok else ():
        try:
            if isinstance(item, bool):
                raise TypeError
            e = float(item)
        except (TypeError, ValueError):
            ok = False
            break
        ok = bool(np.isfinite(e) and 0.0 < e <= MAX_CUTOFF_KM and (not edges or e > edges[-1]))
        if not ok:
            break
        edges.append(e)
    if not ok:
        shown = value if not isinstance(value, Sequence) or len(value) <= 25 else "a long list"
        raise ParameterError(
            f"The 'ring_edges_km' parameter of {owner} must be {RING_EDGES_RULE}. "
            f"Got {shown!r} instead.",
            details={"parameter": "ring_edges_km", "estimator": owner},
        )
    return tuple(edges)


def nearest_km(
    lat: np.ndarray, lon: np.ndarray, to_lat: np.ndarray, to_lon: np.ndarray
) -> np.ndarray:
    """Great-circle distance (km) from each place to the nearest of the ``to`` places.

    ``inf`` everywhere when there is no ``to`` place.  A KD-tree of the ``to`` places
    as unit vectors; memory O(n + m).
    """
    if len(to_lat) == 0:
        return np.full(len(lat), np.inf)
    tree = cKDTree(unit_vectors(to_lat, to_lon))
    chord, _ = tree.query(unit_vectors(lat, lon), k=1)
    out: np.ndarray = great_circle_km(np.asarray(chord, dtype=float))
    return out


@dataclass(frozen=True)
class RingDesign:
    """Ring indicators of a panel.

    Attributes
    ----------
    rings : ndarray of float, shape (n, K)
        ``R_k,it``: 1 when row ``(i, t)`` is untreated and its nearest place treated in
        ``t`` lies in ring ``k``.
    ring_of_row : ndarray of int, shape (n,)
        0 for a treated row, ``k`` in ``1..K`` for a row in ring ``k``, ``K + 1`` for a
        pure control.
    distance_km : ndarray, shape (n,)
        Distance from the row's place to the nearest place treated in its period
        (``inf`` when none is treated; 0 for treated rows).
    """

    rings: np.ndarray
    ring_of_row: np.ndarray
    distance_km: np.ndarray


def distance_to_treated(
    lat_u: np.ndarray,
    lon_u: np.ndarray,
    cohort_u: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    times: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's distance (km) to the nearest place treated in its period.

    Also returns whether the row itself is treated.

    Parameters
    ----------
    lat_u, lon_u : ndarray, shape (n_units,)
        Each place's coordinates (decimal degrees).
    cohort_u : ndarray, shape (n_units,)
        First treated period of each place (0 = never).
    unit, time : ndarray of int, shape (n,)
        Each row's place and period code (``times[time]`` is the period).
    times : ndarray, shape (n_times,)
        The sorted periods.

    Returns
    -------
    distance_km : ndarray, shape (n,)
        0 for treated rows, ``inf`` for rows of a period with nothing treated.
    treated_row : ndarray of bool, shape (n,)
    """
    dist = np.zeros(len(unit))
    treated_row = np.zeros(len(unit), dtype=bool)
    for code, period in enumerate(times):
        rows = np.flatnonzero(time == code)
        if len(rows) == 0:
            continue
        on = (cohort_u > 0) & (cohort_u <= period)
        here = unit[rows]
        treated_row[rows] = on[here]
        off = rows[~on[here]]
        dist[off] = nearest_km(lat_u[unit[off]], lon_u[unit[off]], lat_u[on], lon_u[on])
    return dist, treated_row


def ring_design(
    distance_km: np.ndarray, treated_row: np.ndarray, edges: Sequence[float]
) -> RingDesign:
    """The ring indicators of every row from :func:`distance_to_treated`.

    ``edges``: the outer ring edges ``e_1 < … < e_K`` in km.
    """
    e = np.asarray(edges, dtype=float)
    # ring k holds distances in (e_{k-1}, e_k]: searchsorted(side="left") is 0 for d ≤ e_1
    ring = np.searchsorted(e, distance_km, side="left") + 1
    ring = np.where(treated_row, 0, ring)
    R = np.zeros((len(distance_km), len(e)))
    exposed = (ring >= 1) & (ring <= len(e))
    R[np.flatnonzero(exposed), ring[exposed] - 1] = 1.0
    return RingDesign(R, ring.astype(np.int64), distance_km)


def default_ring_edges(
    distance_km: np.ndarray, treated_row: np.ndarray, n_rings: int = 3
) -> tuple[float, ...]:
    """Equal-width rings out to the median distance of the untreated rows to treatment.

    A data-driven start for when no subject knowledge gives the edges: about half the
    untreated place-periods (with something treated) fall in the rings and half remain
    as pure controls.
    """
    d = distance_km[~treated_row & np.isfinite(distance_km)]
    if len(d) == 0 or not np.median(d) > 0:
        raise ParameterError(
            "ring_edges_km cannot be chosen from the data: no untreated place has a "
            "treated place at a positive distance; give 'ring_edges_km'",
            details={"parameter": "ring_edges_km"},
        )
    m = float(np.median(d))
    return tuple(m * (k + 1) / n_rings for k in range(n_rings))
