"""Conley standard errors cover the truth when errors are spatially correlated.

Data (``spatial_grid``): a G × G grid of places 0.1° apart near the equator (≈ 11.1 km).
Two independent moving-average fields — iid normal shocks summed over the place and
its four nearest neighbours — drive the treatment (``t = 1{u + x/2 > 0}``) and the
error ``ε``; both are correlated up to 2 cells (≈ 22.2 km) apart and independent beyond.
``y = 1 + τ t + x + ε`` with ``τ = 1``, so regression adjustment is unbiased and its
heteroskedasticity-robust (HC0/HC1) intervals under-cover, while Conley's with a
uniform kernel and a 25 km cutoff (which covers every correlated pair) should not.

- default: one estimate within 3 SE of τ through ``cqox.estimate``;
- ``ci_bounded`` (< 60 s): 500 replications at G = 40;
- ``slow``: 3000 replications at G = 40, regression adjustment and OLS.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cqox
from cqox.estimators.backdoor.regression_adjustment import regression_adjustment
from cqox.inference.spatial_hac import conley_ols_cov, conley_se

TAU = 1.0
CUTOFF_KM = 25.0
RADIUS = 1  # cells of the moving average
#: Band of a 95 % coverage rate: R = 500 → ±3.6 Monte-Carlo SEs (σ = 0.0097);
#: R = 3000 → the issue's 93–97 % (±5 MC SEs).
BOUNDED = (0.915, 0.985)
FULL = (0.93, 0.97)
#: HC intervals under-cover by far more than Monte-Carlo noise (≈ 0.86 measured).
HC_AT_MOST = 0.90


def spatial_grid(g: int, rng: np.random.Generator) -> pd.DataFrame:
    """One draw of the grid design of the module docstring."""
    offsets = [
        (a, b)
        for a in range(-RADIUS, RADIUS + 1)
        for b in range(-RADIUS, RADIUS + 1)
        if a * a + b * b <= RADIUS * RADIUS
    ]

    def field() -> np.ndarray:
        z = rng.normal(size=(g + 2 * RADIUS, g + 2 * RADIUS))
        f = sum(z[RADIUS + a : RADIUS + a + g, RADIUS + b : RADIUS + b + g] for a, b in offsets)
        return np.asarray(f).ravel() / np.sqrt(len(offsets))

    ii, jj = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
    x = rng.normal(size=g * g)
    t = (field() + 0.5 * x > 0).astype(float)
    y = 1.0 + TAU * t + x + field()
    return pd.DataFrame({"y": y, "t": t, "x": x, "lat": ii.ravel() * 0.1, "lon": jj.ravel() * 0.1})


def coverage(g: int, reps: int, seed: int) -> dict[str, float]:
    """Share of 95 % intervals containing τ, by standard error."""
    rng = np.random.default_rng(seed)
    z = float(stats.norm.ppf(0.975))
    hits = {"ra_conley": 0, "ra_hc0": 0, "ols_conley": 0, "ols_hc1": 0}
    for _ in range(reps):
        df = spatial_grid(g, rng)
        lat, lon = df["lat"].to_numpy(), df["lon"].to_numpy()
        y, t, x = df["y"].to_numpy(), df["t"].to_numpy(), df["x"].to_numpy()
        res = regression_adjustment(y, t, x[:, None], "ATE")
        hits["ra_conley"] += abs(res.tau - TAU) <= z * conley_se(res.psi, lat, lon, CUTOFF_KM)
        hits["ra_hc0"] += abs(res.tau - TAU) <= z * res.se
        Z = np.column_stack([np.ones_like(x), t, x])
        b, *_ = np.linalg.lstsq(Z, y, rcond=None)
        e = y - Z @ b
        n, k = Z.shape
        bread = np.linalg.inv(Z.T @ Z)
        score = Z * e[:, None]
        hc1 = bread @ score.T @ score @ bread * n / (n - k)
        v_conley = conley_ols_cov(Z, e, lat, lon, CUTOFF_KM)
        hits["ols_conley"] += abs(b[1] - TAU) <= z * np.sqrt(v_conley[1, 1])
        hits["ols_hc1"] += abs(b[1] - TAU) <= z * np.sqrt(hc1[1, 1])
    return {key: v / reps for key, v in hits.items()}


def test_conley_estimate_within_three_se_of_truth() -> None:
    df = spatial_grid(30, np.random.default_rng(0))
    est = cqox.estimate(
        "regression_adjustment", df, outcome="y", treatment="t", covariates=["x"],
        lat="lat", lon="lon", se_method="conley", conley_cutoff_km=CUTOFF_KM,
    )  # fmt: skip
    assert abs(est.estimate - TAU) <= 3 * est.se
    # the spatial correlation is real: the Conley SE is well above the HC0 one
    assert est.se > 1.15 * est.diagnostics["se_hc0"]


def check(cov: dict[str, float], band: tuple[float, float]) -> None:
    print(cov)
    for key in ("ra_conley", "ols_conley"):
        assert band[0] <= cov[key] <= band[1], (key, cov)
    for key in ("ra_hc0", "ols_hc1"):
        assert cov[key] <= HC_AT_MOST, (key, cov)


@pytest.mark.ci_bounded
def test_coverage_bounded_conley_vs_hc() -> None:
    check(coverage(40, 500, seed=11), BOUNDED)


@pytest.mark.slow
def test_coverage_full_study() -> None:
    check(coverage(40, 3000, seed=12), FULL)
