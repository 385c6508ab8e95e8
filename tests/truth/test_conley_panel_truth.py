"""Conley SEs of the panel estimators cover the truth under spatially correlated shocks.

Data (``spatial_panel``): a G × G grid of places 0.1° (≈ 11.1 km) apart near the
equator, 4 periods.  The treated places are those where a smooth field exceeds 0.5
(treated places come in patches), all adopting in period 3; ``y_it = α_i + 0.2 t + τ
D_it + ε_it`` with ``τ = 1``, ``α_i`` iid, and each period's ``ε_·t`` an independent
moving-average field (iid normal shocks summed over a place and its four nearest
neighbours), correlated up to 2 cells (≈ 22 km) apart within a period and independent
beyond.  Clustering by place ignores the correlation between neighbouring places, which
the treated patches turn into variance of the DiD contrast; Conley's uniform kernel at
25 km covers every correlated pair.  One adoption period, so ``did_twfe``, ``did_2x2``
and ``did_cs`` estimate the same ATT.

- default: one panel, each estimator within 3 SE of τ and its Conley SE above the
  clustered one;
- ``ci_bounded`` (< 60 s): 150 replications at G = 30;
- ``slow``: 1000 replications at G = 30.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cqox

TAU = 1.0
CUTOFF_KM = 25.0
RADIUS = 1  # cells of the moving average
ROLES = {"unit": "unit", "time": "time", "lat": "lat", "lon": "lon"}
ESTIMATORS = ("did_twfe", "did_2x2", "did_cs")


def field(g: int, rng: np.random.Generator) -> np.ndarray:
    """A moving-average field on the grid, unit variance, correlated up to 2 cells."""
    offsets = [
        (a, b)
        for a in range(-RADIUS, RADIUS + 1)
        for b in range(-RADIUS, RADIUS + 1)
        if a * a + b * b <= RADIUS * RADIUS
    ]
    z = rng.normal(size=(g + 2 * RADIUS, g + 2 * RADIUS))
    f = sum(z[RADIUS + a : RADIUS + a + g, RADIUS + b : RADIUS + b + g] for a, b in offsets)
    return np.asarray(f).ravel() / np.sqrt(len(offsets))


def spatial_panel(g: int, rng: np.random.Generator, periods: int = 4) -> pd.DataFrame:
    """One draw of the design of the module docstring (long form)."""
    ii, jj = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
    n = g * g
    treated = (field(g, rng) > 0.5).astype(float)
    alpha = rng.normal(size=n)
    frames = []
    for t in range(1, periods + 1):
        d = treated * (t >= 3)
        frames.append(
            pd.DataFrame(
                {
                    "unit": np.arange(n),
                    "time": t,
                    "y": alpha + 0.2 * t + TAU * d + field(g, rng),
                    "d": d,
                    "lat": ii.ravel() * 0.1,
                    "lon": jj.ravel() * 0.1,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def fits(df: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """(estimate, Conley SE, clustered-by-place SE) of each estimator."""
    common = {"outcome": "y", "treatment": "d", "roles": ROLES}
    conley = {"se_method": "conley", "conley_cutoff_km": CUTOFF_KM}
    out = {}
    for name in ("did_twfe", "did_2x2"):
        est = cqox.estimate(name, df, **common, **conley)
        out[name] = (est.estimate, est.se, est.diagnostics["se_cr1"])
    cs = cqox.estimate("did_cs", df, **common, **conley, method="reg")
    cs_analytic = cqox.estimate("did_cs", df, **common, method="reg", n_boot=0)
    out["did_cs"] = (cs.estimate, cs.se, cs_analytic.se)
    return out


def coverage(g: int, reps: int, seed: int) -> dict[str, float]:
    """Share of 95 % normal intervals containing τ, Conley and clustered by place."""
    rng = np.random.default_rng(seed)
    z = float(stats.norm.ppf(0.975))
    hits = {f"{name}_{kind}": 0 for name in ESTIMATORS for kind in ("conley", "cluster")}
    for _ in range(reps):
        for name, (tau, se_conley, se_cluster) in fits(spatial_panel(g, rng)).items():
            hits[f"{name}_conley"] += abs(tau - TAU) <= z * se_conley
            hits[f"{name}_cluster"] += abs(tau - TAU) <= z * se_cluster
    return {key: v / reps for key, v in hits.items()}


def test_panel_estimates_within_three_conley_se_of_truth() -> None:
    for name, (tau, se_conley, se_cluster) in fits(
        spatial_panel(30, np.random.default_rng(0))
    ).items():
        assert abs(tau - TAU) <= 3 * se_conley, name
        # the spatial correlation is real: Conley's SE is above the clustered one
        assert se_conley > 1.05 * se_cluster, (name, se_conley, se_cluster)


#: Band of a 95 % coverage rate at R replications, widened by about 2 Monte-Carlo SEs.
BOUNDED = (0.90, 0.99)  # R = 150: MCSE 1.8 points
FULL = (0.923, 0.977)  # R = 1000: the 93–97 % band widened by one MCSE (0.7 points)
#: Clustering by place under-covers by more than the Monte-Carlo noise (≈ 0.85 measured).
CLUSTER_AT_MOST = {150: 0.92, 1000: 0.90}


def check(cov: dict[str, float], band: tuple[float, float], reps: int) -> None:
    print(cov)
    for name in ESTIMATORS:
        assert band[0] <= cov[f"{name}_conley"] <= band[1], (name, cov)
        assert cov[f"{name}_cluster"] <= CLUSTER_AT_MOST[reps], (name, cov)


@pytest.mark.ci_bounded
def test_coverage_bounded_conley_vs_clustered() -> None:
    check(coverage(30, 150, seed=41), BOUNDED, 150)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~100 s of CPU; more wall time on a shared machine
def test_coverage_full_study() -> None:
    check(coverage(30, 1000, seed=42), FULL, 1000)
