"""Signed great-circle distance to a boundary line: the running variable of a geographic RD.

A boundary is a polyline of points on the sphere, joined by great-circle arcs.  For a
place ``P`` and an arc ``AB`` with unit normal ``N = A×B / |A×B|``, ``sin θ = P·N`` is the
sine of the cross-track angle (positive when ``P`` lies to the left of ``A → B``) and the
foot of the perpendicular lies within the arc exactly when ``P·(N×A) ≥ 0`` and
``P·(B×N) ≥ 0``; the distance to the arc is then ``R·asin|P·N|``, else the distance to the
nearer end.  The signed distance to the polyline is the distance to the nearest arc with
the sign of its ``P·N`` (in the wedge beyond a vertex both neighbouring arcs give the same
side).  Places whose nearest point is an end of the polyline lie beyond it: their side
is that of the last arc extended, and they are counted.

Coordinates follow GeoJSON: a boundary is given as ``[[lon, lat], …]`` or as a GeoJSON
``LineString`` (or a ``Feature`` holding one); text is read as JSON (command line).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cqox.errors import ParameterError
from cqox.inference.spatial_hac import EARTH_RADIUS_KM, great_circle_km, unit_vectors

#: Most points of a boundary (a detailed national border has a few thousand).
MAX_BOUNDARY_POINTS = 100_000
#: Text of the ``boundary`` rule.
BOUNDARY_RULE = (
    f"a line of 2 to {MAX_BOUNDARY_POINTS:,} [lon, lat] points in decimal degrees (GeoJSON "
    "order), a GeoJSON LineString or a Feature holding one, or that as JSON text"
)
#: Arc-point pairs per block of the distance computation (bounds temporaries to ~100 MB).
_BLOCK = 2_000_000


def _fail(why: str, owner: str) -> ParameterError:
    return ParameterError(
        f"The 'boundary' parameter of {owner} must be {BOUNDARY_RULE}: {why}.",
        details={"parameter": "boundary", "estimator": owner},
    )


def parse_boundary(value: Any, owner: str = "geo_rd") -> np.ndarray:
    """The boundary's points as an array of (lat, lon), shape (m, 2).

    Raises :class:`ParameterError` naming ``boundary`` (and the point at fault).
    """
    if isinstance(value, str):
        if len(value) > 64 * MAX_BOUNDARY_POINTS:
            raise _fail("the text is too long", owner)
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _fail("the text is not JSON", owner) from None
    if isinstance(value, Mapping):
        if value.get("type") == "Feature":
            value = value.get("geometry") or {}
        if not isinstance(value, Mapping) or value.get("type") != "LineString":
            raise _fail("a GeoJSON object must be a LineString (or a Feature of one)", owner)
        value = value.get("coordinates")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise _fail(f"got a {type(value).__name__}", owner)
    m = len(value)
    if not 2 <= m <= MAX_BOUNDARY_POINTS:
        raise _fail(f"got {m} point(s)", owner)
    out = np.empty((m, 2))
    for k, point in enumerate(value):
        ok = isinstance(point, Sequence) and not isinstance(point, str) and len(point) in (2, 3)
        if ok:
            try:
                if any(isinstance(c, bool) for c in point):
                    raise TypeError
                lon, lat = float(point[0]), float(point[1])
            except (TypeError, ValueError):
                ok = False
        if not ok or not (np.isfinite(lat) and np.isfinite(lon)):
            raise _fail(f"point {k} is not a pair of numbers [lon, lat]", owner)
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 360.0):
            raise _fail(
                f"point {k} = [{lon:g}, {lat:g}] is outside lon [-180, 360], lat [-90, 90] "
                "(GeoJSON order is [lon, lat])",
                owner,
            )
        out[k] = (lat, lon)
    xyz = unit_vectors(out[:, 0], out[:, 1])
    step = np.linalg.norm(np.diff(xyz, axis=0), axis=1)
    if np.any(step < 1e-12):
        k = int(np.flatnonzero(step < 1e-12)[0])
        raise _fail(f"points {k} and {k + 1} are the same place", owner)
    if np.any(step > 2.0 - 1e-9):
        k = int(np.flatnonzero(step > 2.0 - 1e-9)[0])
        raise _fail(f"points {k} and {k + 1} are antipodal (no unique arc)", owner)
    return out


@dataclass(frozen=True)
class BoundaryDistance:
    """Signed distances of places to a boundary.

    Attributes
    ----------
    signed_km : ndarray, shape (n,)
        Great-circle distance to the boundary, positive on its left (walking from the
        first point to the last), negative on its right.
    segment : ndarray of int, shape (n,)
        Index of the nearest arc (``k`` joins points ``k`` and ``k + 1``).
    beyond_end : ndarray of bool, shape (n,)
        The nearest point of the boundary is its first or last point.
    """

    signed_km: np.ndarray
    segment: np.ndarray
    beyond_end: np.ndarray


def signed_distance_km(lat: np.ndarray, lon: np.ndarray, boundary: np.ndarray) -> BoundaryDistance:
    """Signed great-circle distance from each place to the ``boundary`` (m, 2) of (lat, lon).

    Exact on the sphere of radius :data:`EARTH_RADIUS_KM` (see the module); memory
    O(n + m) beyond blocks of :data:`_BLOCK` place-arc pairs.
    """
    P = unit_vectors(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float))
    V = unit_vectors(boundary[:, 0], boundary[:, 1])
    A, B = V[:-1], V[1:]
    N = np.cross(A, B)
    N /= np.linalg.norm(N, axis=1, keepdims=True)
    U, W = np.cross(N, A), np.cross(B, N)
    n, k = len(P), len(A)
    signed = np.empty(n)
    segment = np.empty(n, dtype=np.int64)
    beyond = np.zeros(n, dtype=bool)
    rows = max(1, _BLOCK // k)
    for start in range(0, n, rows):
        p = P[start : start + rows]
        s = p @ N.T
        inside = (p @ U.T >= 0.0) & (p @ W.T >= 0.0)
        to_a = great_circle_km(np.linalg.norm(p[:, None, :] - A[None, :, :], axis=2))
        to_b = great_circle_km(np.linalg.norm(p[:, None, :] - B[None, :, :], axis=2))
        across = EARTH_RADIUS_KM * np.arcsin(np.clip(np.abs(s), 0.0, 1.0))
        d = np.where(inside, across, np.minimum(to_a, to_b))
        j = np.argmin(d, axis=1)
        r = np.arange(len(p))
        sign = np.where(s[r, j] >= 0.0, 1.0, -1.0)
        signed[start : start + rows] = sign * d[r, j]
        segment[start : start + rows] = j
        at_first = (j == 0) & ~inside[r, 0] & (to_a[r, 0] <= to_b[r, 0])
        at_last = (j == k - 1) & ~inside[r, k - 1] & (to_b[r, k - 1] < to_a[r, k - 1])
        beyond[start : start + rows] = at_first | at_last
    return BoundaryDistance(signed, segment, beyond)
