"""Conley spatial-HAC variance against a brute-force O(n²) twin and against HC0.

The twin computes every pairwise haversine distance and the full double sum
``Σ_i Σ_j K(d_ij / c) s_i s_j'``, so it shares no code with the KD-tree pair search of
:mod:`cqox.inference.spatial_hac`.  With a cutoff below the smallest distance between
units the meat is the HC0 one (no small-sample factor), checked against statsmodels.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

import cqox
from cqox.inference.spatial_hac import (
    EARTH_RADIUS_KM,
    conley_meat,
    conley_ols_cov,
    conley_se,
    iter_pairs_within,
    pairs_within,
)

#: Same formula, different summation order: only floating-point rounding differs.
TWIN_RTOL = 1e-10


def haversine_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """All pairwise great-circle distances (n × n), by the haversine formula."""
    phi, lam = np.radians(lat), np.radians(lon)
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    h = np.sin(dphi / 2) ** 2 + np.cos(phi)[:, None] * np.cos(phi)[None, :] * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def brute_force_meat(
    scores: np.ndarray, lat: np.ndarray, lon: np.ndarray, cutoff: float, kernel: str
) -> np.ndarray:
    S = scores[:, None] if scores.ndim == 1 else scores
    d = haversine_km(lat, lon)
    K = (d <= cutoff) * (1.0 if kernel == "uniform" else 1.0 - d / cutoff)
    np.fill_diagonal(K, 1.0)
    out: np.ndarray = S.T @ K @ S
    return out


def points(n: int, seed: int, region: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if region == "europe":
        return rng.uniform(40, 55, n), rng.uniform(-5, 20, n)
    if region == "dateline":  # pairs across ±180° must be neighbours
        return rng.uniform(-10, 10, n), rng.choice([-1, 1], n) * rng.uniform(178, 180, n)
    # near the pole: longitudes converge, flat-earth distances would be wrong
    return rng.uniform(85, 90, n), rng.uniform(-180, 180, n)


@pytest.mark.parametrize("region", ["europe", "dateline", "pole"])
@pytest.mark.parametrize("kernel", ["uniform", "bartlett"])
@pytest.mark.parametrize("cutoff", [50.0, 300.0, 2000.0])
def test_meat_equals_the_brute_force_double_sum(region: str, kernel: str, cutoff: float) -> None:
    lat, lon = points(400, seed=3, region=region)
    scores = np.random.default_rng(4).normal(size=(400, 3))
    got = conley_meat(scores, lat, lon, cutoff, kernel)
    want = brute_force_meat(scores, lat, lon, cutoff, kernel)
    np.testing.assert_allclose(got, want, rtol=TWIN_RTOL, atol=TWIN_RTOL * np.abs(want).max())
    assert not np.allclose(got, scores.T @ scores)  # the cutoff really binds pairs


def test_coincident_locations_are_neighbours_at_any_cutoff() -> None:
    lat = np.array([10.0, 10.0, 11.0])
    lon = np.array([20.0, 20.0, 20.0])
    s = np.array([1.0, 2.0, 3.0])
    assert conley_meat(s, lat, lon, 1e-6)[0, 0] == pytest.approx(1 + 4 + 9 + 2 * 2)
    np.testing.assert_allclose(
        conley_meat(s, lat, lon, 1e-6), brute_force_meat(s, lat, lon, 1e-6, "uniform")
    )


def test_ols_cutoff_to_zero_is_the_hc0_sandwich_of_statsmodels() -> None:
    rng = np.random.default_rng(7)
    n = 500
    lat, lon = points(n, seed=8, region="europe")
    X = sm.add_constant(rng.normal(size=(n, 2)))
    y = X @ np.array([1.0, 2.0, -1.0]) + rng.normal(size=n) * (1 + np.abs(X[:, 1]))
    fit = sm.OLS(y, X).fit(cov_type="HC0")
    got = conley_ols_cov(X, fit.resid, lat, lon, cutoff_km=1e-3)
    np.testing.assert_allclose(got, fit.cov_params(), rtol=TWIN_RTOL)


def test_ols_cov_equals_the_brute_force_sandwich() -> None:
    rng = np.random.default_rng(9)
    n = 300
    lat, lon = points(n, seed=10, region="europe")
    X = sm.add_constant(rng.normal(size=(n, 2)))
    resid = rng.normal(size=n)
    bread = np.linalg.inv(X.T @ X)
    want = bread @ brute_force_meat(X * resid[:, None], lat, lon, 400.0, "bartlett") @ bread
    got = conley_ols_cov(X, resid, lat, lon, 400.0, "bartlett")
    np.testing.assert_allclose(got, want, rtol=TWIN_RTOL)


def test_regression_adjustment_conley_se_matches_twin_and_reduces_to_hc0() -> None:
    df, _ = cqox.simulate.confounded_binary(n=600, seed=2)
    lat, lon = points(len(df), seed=11, region="europe")
    df = df.assign(lat_deg=lat, lon_deg=lon)
    roles = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2", "x3"]}
    base = cqox.estimate("regression_adjustment", df, **roles)
    tiny = cqox.estimate(
        "regression_adjustment",
        df,
        **roles,
        lat="lat_deg",
        lon="lon_deg",
        se_method="conley",
        conley_cutoff_km=1e-3,
    )
    wide = cqox.estimate(
        "regression_adjustment",
        df,
        **roles,
        lat="lat_deg",
        lon="lon_deg",
        se_method="conley",
        conley_cutoff_km=250.0,
        conley_kernel="bartlett",
    )
    assert tiny.estimate == base.estimate
    assert tiny.se == pytest.approx(base.se, rel=TWIN_RTOL)
    psi = np.asarray(base.influence)
    twin = np.sqrt(brute_force_meat(psi, lat, lon, 250.0, "bartlett")[0, 0]) / len(psi)
    assert wide.se == pytest.approx(twin, rel=TWIN_RTOL)
    assert wide.se != pytest.approx(base.se, rel=1e-6)
    assert wide.diagnostics["se_hc0"] == pytest.approx(base.se, rel=TWIN_RTOL)
    assert conley_se(psi, lat, lon, 250.0, "bartlett") == pytest.approx(twin, rel=TWIN_RTOL)


def test_small_blocks_find_the_same_pairs_as_one_block() -> None:
    lat, lon = points(500, seed=12, region="europe")
    whole = pairs_within(lat, lon, 300.0)
    blocks = list(iter_pairs_within(lat, lon, 300.0, max_pairs=100))
    assert len(blocks) > 10
    i = np.concatenate([b.i for b in blocks]).tolist()
    j = np.concatenate([b.j for b in blocks]).tolist()
    got = sorted(zip(i, j, strict=True))
    assert got == sorted(zip(whole.i.tolist(), whole.j.tolist(), strict=True))
    assert len(got) == int(((haversine_km(lat, lon) <= 300.0).sum() - 500) / 2)
