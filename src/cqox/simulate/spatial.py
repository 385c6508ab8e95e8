"""Seeded spatial designs with known direct and spillover effects.

Places are drawn uniformly in a square around a reference point and given latitude and
longitude in decimal degrees (an equirectangular map of the square, exact to well under
a per cent at the sizes used), so the estimators see real coordinates and compute
great-circle distances themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cqox.inference.spatial_hac import EARTH_RADIUS_KM, great_circle_km, unit_vectors

#: Kilometres per degree of latitude on the sphere of :data:`EARTH_RADIUS_KM`.
KM_PER_DEGREE = float(np.pi * EARTH_RADIUS_KM / 180.0)
#: Places per km² when ``extent_km`` is not given (1,000 places on a 60 km square).
DEFAULT_DENSITY = 0.28


def places(
    n: int,
    extent_km: float,
    rng: np.random.Generator,
    centre: tuple[float, float] = (45.0, 10.0),
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` places uniform on a square of side ``extent_km`` around ``centre`` (lat, lon)."""
    lat0, lon0 = centre
    north = (rng.random(n) - 0.5) * extent_km
    east = (rng.random(n) - 0.5) * extent_km
    lat = lat0 + north / KM_PER_DEGREE
    lon = lon0 + east / (KM_PER_DEGREE * np.cos(np.radians(lat0)))
    return lat, lon


def nearest_distance_km(
    lat: np.ndarray, lon: np.ndarray, to_lat: np.ndarray, to_lon: np.ndarray
) -> np.ndarray:
    """Great-circle distance (km) from each place to the nearest of ``to`` (brute force)."""
    if len(to_lat) == 0:
        return np.full(len(lat), np.inf)
    a, b = unit_vectors(lat, lon), unit_vectors(to_lat, to_lon)
    chord = np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))
    out: np.ndarray = great_circle_km(chord.min(axis=1))
    return out


def ring_spillover_panel(
    n_units: int = 1000,
    n_periods: int = 6,
    cohorts: Sequence[int] = (4,),
    treated_share: float = 0.1,
    direct: float = 2.0,
    spillover: Sequence[float] = (1.0, 0.5, 0.25),
    ring_edges_km: Sequence[float] = (1.0, 2.0, 3.0),
    extent_km: float | None = None,
    noise: float = 1.0,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """A panel of places with a direct effect and spillovers that fall with distance.

    A share ``treated_share`` of the places is treated, from a period drawn among
    ``cohorts`` on; ``y_it = α_i + λ_t + direct·D_it + Σ_k spillover_k·R_k,it + ε_it``
    where ``R_k,it`` is 1 when place ``i`` is untreated in period ``t`` and its nearest
    place treated in ``t`` lies in ring ``k`` — ``[0, e_1]``, ``(e_1, e_2]``, … of
    ``ring_edges_km`` — as in Butts (2021, arXiv:2105.03737).  Beyond the last edge there
    is no spillover, so the ring DiD with the same edges is unbiased.

    Returns
    -------
    df : DataFrame
        ``unit``, ``time``, ``y``, ``d`` (treated in the period), ``cohort`` (first
        treated period, 0 = never), ``lat``, ``lon``.
    truth : dict
        ``direct`` (float), ``spillover`` (list, one per ring), ``ring_edges_km``.
    """
    if len(spillover) != len(ring_edges_km):
        raise ValueError("one spillover effect per ring edge is needed")
    rng = np.random.default_rng(seed)
    extent = np.sqrt(n_units / DEFAULT_DENSITY) if extent_km is None else float(extent_km)
    lat, lon = places(n_units, extent, rng)
    treated = rng.random(n_units) < treated_share
    cohort = np.where(treated, rng.choice(np.asarray(cohorts, dtype=np.int64), n_units), 0)
    t = np.arange(1, n_periods + 1)
    alpha = rng.standard_normal(n_units)
    lam = 0.3 * t + 0.5 * np.sin(t)
    edges = np.asarray(ring_edges_km, dtype=float)
    effect = np.zeros((n_units, n_periods))
    for k, tt in enumerate(t):
        on = (cohort > 0) & (cohort <= tt)
        effect[on, k] = direct
        if on.any():
            dist = nearest_distance_km(lat[~on], lon[~on], lat[on], lon[on])
            ring = np.searchsorted(edges, dist, side="left")  # 0 for d ≤ e_1
            spill = np.append(np.asarray(spillover, dtype=float), 0.0)[ring]
            effect[~on, k] = spill
    y = alpha[:, None] + lam[None, :] + effect + noise * rng.standard_normal(effect.shape)
    d = (cohort[:, None] > 0) & (cohort[:, None] <= t[None, :])
    df = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "time": np.tile(t, n_units),
            "y": y.ravel(),
            "d": d.ravel().astype(np.int64),
            "cohort": np.repeat(cohort, n_periods),
            "lat": np.repeat(lat, n_periods),
            "lon": np.repeat(lon, n_periods),
        }
    )
    truth: dict[str, object] = {
        "direct": float(direct),
        "spillover": [float(s) for s in spillover],
        "ring_edges_km": [float(e) for e in edges],
    }
    return df, truth


def boundary_rd(
    n: int = 2000,
    effect: float = 1.0,
    extent_km: float = 60.0,
    zigzag_km: float = 5.0,
    n_bends: int = 6,
    noise: float = 0.5,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Places on both sides of a zigzag border, those on its left treated (Keele & Titiunik).

    The border runs south to north through the middle of a square of side ``extent_km``,
    swinging ``zigzag_km`` east and west at ``n_bends`` bends.  Places west of it (on its
    left walking north) are treated; ``y = 0.03·north + 0.04·east + 0.5·sin(north/8) +
    effect·treated + ε`` (km), smooth across the border, so the effect at the border is
    ``effect`` everywhere along it.

    Returns
    -------
    df : DataFrame
        ``y``, ``t`` (treated), ``lat``, ``lon``, ``east_km``, ``north_km``.
    truth : dict
        ``ATE(c)`` (the effect at the border) and ``boundary`` (``[[lon, lat], …]``,
        GeoJSON order).
    """
    from cqox.data.boundary import parse_boundary, signed_distance_km

    rng = np.random.default_rng(seed)
    lat0, lon0 = 45.0, 10.0
    km_lon = KM_PER_DEGREE * np.cos(np.radians(lat0))
    north_b = np.linspace(-extent_km, extent_km, n_bends + 1)  # runs past the square
    east_b = zigzag_km * np.where(np.arange(n_bends + 1) % 2 == 0, 1.0, -1.0)
    # the border is these points, rounded to 1e-4 degrees (so it can be written down)
    line = [
        [round(float(lon0 + e / km_lon), 4), round(float(lat0 + s / KM_PER_DEGREE), 4)]
        for e, s in zip(east_b, north_b, strict=True)
    ]
    lat, lon = places(n, extent_km, rng, (lat0, lon0))
    north = (lat - lat0) * KM_PER_DEGREE
    east = (lon - lon0) * km_lon
    side = signed_distance_km(lat, lon, parse_boundary(line)).signed_km
    t = (side >= 0).astype(np.int64)
    y = (
        0.03 * north
        + 0.04 * east
        + 0.5 * np.sin(north / 8.0)
        + effect * t
        + noise * rng.standard_normal(n)
    )
    df = pd.DataFrame({"y": y, "t": t, "lat": lat, "lon": lon, "east_km": east, "north_km": north})
    return df, {"ATE(c)": float(effect), "boundary": line}
