"""``geo_rd`` against its two parts, each checked separately.

- The signed distance to a boundary against a brute-force twin that shares no code with
  :mod:`cqox.data.boundary`: every arc sampled densely by spherical interpolation,
  haversine distances to every sample, the side from the local tangent at the nearest
  sample.  Regional borders, one crossing the ±180° meridian, one near the pole.
- ``geo_rd`` equals ``rd`` run on the computed running variable with cutoff 0: estimate,
  SE, interval, p-value and every diagnostic — sharp, fuzzy, right-hand treated side and
  with covariates for the continuity gate.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.data.boundary import parse_boundary, signed_distance_km
from cqox.simulate.spatial import boundary_rd

pytestmark = pytest.mark.reference

R_KM = 6371.0088
#: Samples per arc of the twin; the twin's distance is above the exact one by at most
#: the half-spacing's sagitta, and its spacing is below 10 m on these arcs.
SAMPLES = 4000
#: 10 m: the twin's sampling error bound on the distance, in km.
DIST_ATOL = 0.01
#: Same rd computation on the same numbers: rounding only.
RTOL = 1e-12


def xyz(lat: Any, lon: Any) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def haversine(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Great-circle km between unit vectors via latitude/longitude and the haversine."""
    la1, lo1 = np.arcsin(p[..., 2]), np.arctan2(p[..., 1], p[..., 0])
    la2, lo2 = np.arcsin(q[..., 2]), np.arctan2(q[..., 1], q[..., 0])
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * R_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def twin(lat: np.ndarray, lon: np.ndarray, line: list[list[float]]) -> np.ndarray:
    """Signed distance by dense sampling (slerp) of the boundary's arcs."""
    pts = xyz(np.array([p[1] for p in line]), np.array([p[0] for p in line]))
    samples = []
    for a, b in itertools.pairwise(pts):
        omega = np.arccos(np.clip(a @ b, -1, 1))
        s = np.linspace(0, 1, SAMPLES)[:, None]
        samples.append((np.sin((1 - s) * omega) * a + np.sin(s * omega) * b) / np.sin(omega))
    S = np.concatenate(samples)
    P = xyz(lat, lon)
    d = haversine(P[:, None, :], S[None, :, :])
    k = d.argmin(axis=1)
    lo, hi = np.clip(k - 1, 0, len(S) - 1), np.clip(k + 1, 0, len(S) - 1)
    tangent = S[hi] - S[lo]
    # left of the direction of travel: (tangent × (P − S)) points outwards (along S)
    side = np.sign(np.einsum("ij,ij->i", np.cross(tangent, P - S[k]), S[k]))
    out: np.ndarray = side * d[np.arange(len(P)), k]
    return out


CASES = {
    "zigzag_po_valley": [[10.0636, 44.4604], [9.9364, 44.6403], [10.0636, 44.8201], [9.9364, 45.0]],
    "across_the_date_line": [[179.2, -17.0], [180.4, -16.2], [181.1, -16.9]],
    "near_the_pole": [[-40.0, 84.0], [20.0, 85.5], [80.0, 84.5]],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_signed_distance_matches_a_dense_sampling_twin(case: str) -> None:
    line = CASES[case]
    rng = np.random.default_rng(len(case))
    lats = np.array([p[1] for p in line])
    lons = np.array([p[0] for p in line])
    lat = rng.uniform(lats.min() - 0.5, lats.max() + 0.5, 300)
    lon = rng.uniform(lons.min() - 1.0, lons.max() + 1.0, 300)
    ours = signed_distance_km(lat, np.where(lon > 180, lon - 360, lon), parse_boundary(line))
    ref = twin(lat, lon, line)
    np.testing.assert_allclose(np.abs(ours.signed_km), np.abs(ref), atol=DIST_ATOL)
    clear = np.abs(ref) > 5 * DIST_ATOL  # the side is defined away from the line
    assert np.array_equal(np.sign(ours.signed_km[clear]), np.sign(ref[clear]))
    assert clear.mean() > 0.9 and (ref > 0).any() and (ref < 0).any()


def _same(a: cqox.Estimate, b: cqox.Estimate) -> None:
    assert a.estimand == b.estimand
    for x, y in ((a.estimate, b.estimate), (a.se, b.se), (a.p_value, b.p_value)):
        assert x == pytest.approx(y, rel=RTOL)
    np.testing.assert_allclose(a.ci, b.ci, rtol=RTOL)
    for key in ("tau_bias_corrected", "se_robust", "h", "b", "n_h_left", "n_h_right"):
        np.testing.assert_allclose(a.diagnostics[key], b.diagnostics[key], rtol=RTOL)
    assert [(g.name, g.status) for g in a.gates] == [(g.name, g.status) for g in b.gates]
    for ga, gb in zip(a.gates, b.gates, strict=True):
        if ga.value is not None:
            assert ga.value == pytest.approx(gb.value, rel=1e-9)


@pytest.mark.parametrize("variant", ["sharp", "fuzzy", "right_side", "covariates"])
def test_geo_rd_equals_rd_on_the_computed_running_variable(variant: str) -> None:
    df, truth = boundary_rd(n=1500, seed=7)
    df = df.assign(x=df["east_km"] + np.random.default_rng(1).normal(size=len(df)))
    kw: dict[str, Any] = {}
    signed = signed_distance_km(
        df["lat"].to_numpy(), df["lon"].to_numpy(), parse_boundary(truth["boundary"])
    ).signed_km
    running = signed
    if variant == "fuzzy":
        flip = np.random.default_rng(2).random(len(df)) < 0.1
        df = df.assign(t=np.where(flip, 1 - df["t"], df["t"]))
    if variant == "right_side":
        df = df.assign(t=1 - df["t"], y=df["y"] - 2 * truth["ATE(c)"] * df["t"])
        running = -signed
        kw["treated_side"] = "right"
    if variant == "covariates":
        kw["covariates"] = ["x"]
    geo = cqox.estimate(
        "geo_rd", df, outcome="y", treatment="t", lat="lat", lon="lon",
        boundary=truth["boundary"], **kw,
    )  # fmt: skip
    rd = cqox.estimate(
        "rd", df.assign(r=running), outcome="y", treatment="t",
        roles={"running": "r", "cutoff": 0.0},
        **{k: v for k, v in kw.items() if k == "covariates"},
    )  # fmt: skip
    _same(geo, rd)
    assert geo.diagnostics["treated_side"] == ("right" if variant == "right_side" else "left")
    assert geo.estimand == ("LATE(c)" if variant == "fuzzy" else "ATE(c)")
    assert isinstance(geo.tables["distance"], pd.DataFrame)
