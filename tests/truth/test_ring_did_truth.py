"""``ring_did`` recovers known direct and spillover effects, with honest intervals.

Data (``ring_spillover_panel``): places uniform on a square (0.28 per km²), 10 % treated
from period 3 or 4 of 5; direct effect 2, spillovers 1, 0.5 and 0.25 on untreated places
whose nearest treated place is within 1, 1–2 and 2–3 km, none beyond (Butts 2021's
setting with the rings known).  Places, treatment and noise are redrawn each replication.

- default: one fit through ``cqox.estimate``, every effect within 3 SE of the truth, and
  the ring-free TWFE (``did_twfe``) biased by the contaminated controls;
- ``ci_bounded`` (< 60 s): 500 replications of 500 places: bias within Monte-Carlo noise
  and 95 % CR1 intervals covering in the band below;
- ``slow``: 3000 replications of 1000 places: coverage in the issue's 93–97 %.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cqox
from cqox.estimators.did.twfe import twfe_fit
from cqox.estimators.spatial.rings import distance_to_treated, ring_design
from cqox.simulate.spatial import ring_spillover_panel

DIRECT = 2.0
SPILLOVER = (1.0, 0.5, 0.25)
EDGES = (1.0, 2.0, 3.0)
N_PERIODS = 5
COHORTS = (3, 4)
ROLES = {"unit": "unit", "time": "time", "lat": "lat", "lon": "lon"}
#: Band of a 95 % coverage rate: R = 500 → ±3.6 Monte-Carlo SEs (σ = 0.0097);
#: R = 3000 → the issue's 93–97 % (±5 MC SEs).
BOUNDED = (0.915, 0.985)
FULL = (0.93, 0.97)
#: Bias allowed: this many Monte-Carlo SEs of the mean estimate (sd / √R).
BIAS_MC_SE = 4.0


def draw(n_units: int, seed: int) -> pd.DataFrame:
    df, _ = ring_spillover_panel(
        n_units=n_units,
        n_periods=N_PERIODS,
        cohorts=COHORTS,
        direct=DIRECT,
        spillover=SPILLOVER,
        ring_edges_km=EDGES,
        seed=seed,
    )
    return df


def fit_arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Direct and ring coefficients and CR1 SEs through the estimator's array functions."""
    unit = df["unit"].to_numpy()
    time = df["time"].to_numpy() - 1
    first = df.groupby("unit")[["lat", "lon", "cohort"]].first()
    dist, treated = distance_to_treated(
        first["lat"].to_numpy(),
        first["lon"].to_numpy(),
        first["cohort"].to_numpy(),
        unit,
        time,
        np.arange(1, N_PERIODS + 1, dtype=float),
    )
    rings = ring_design(dist, treated, EDGES).rings
    res = twfe_fit(df["y"].to_numpy(), np.column_stack([df["d"], rings]), unit, time, unit)
    return res.coef, res.se


def study(n_units: int, reps: int, seed: int) -> dict[str, np.ndarray]:
    truth = np.array([DIRECT, *SPILLOVER])
    z = float(stats.norm.ppf(0.975))
    coefs, hits = [], []
    for r in range(reps):
        coef, se = fit_arrays(draw(n_units, seed * 100_003 + r))
        coefs.append(coef)
        hits.append(np.abs(coef - truth) <= z * se)
    c = np.array(coefs)
    return {
        "bias": c.mean(0) - truth,
        "mc_se": c.std(0, ddof=1) / np.sqrt(reps),
        "coverage": np.array(hits).mean(0),
    }


def check(res: dict[str, np.ndarray], band: tuple[float, float]) -> None:
    print({k: np.round(v, 4).tolist() for k, v in res.items()})
    assert np.all(np.abs(res["bias"]) <= BIAS_MC_SE * res["mc_se"]), res
    assert np.all((res["coverage"] >= band[0]) & (res["coverage"] <= band[1])), res


def test_every_effect_within_three_se_and_twfe_without_rings_is_biased() -> None:
    df = draw(1500, seed=4)
    rings = None
    for estimand, truth in (("direct", DIRECT), ("spillover", SPILLOVER[0])):
        est = cqox.estimate(
            "ring_did", df, outcome="y", treatment="d", roles=ROLES, estimand=estimand,
            ring_edges_km=list(EDGES),
        )  # fmt: skip
        assert abs(est.estimate - truth) <= 3 * est.se, (estimand, est.estimate, est.se)
        rings = est.tables["rings"]
    assert rings is not None
    for k, truth in enumerate(SPILLOVER, start=1):
        row = rings.iloc[k]
        assert abs(row["estimate"] - truth) <= 3 * row["se"], row.to_dict()
    # controls near treated places also gain: ignoring the rings understates the effect
    twfe = cqox.estimate("did_twfe", df, outcome="y", treatment="d", roles=ROLES)
    ring_direct = float(rings["estimate"].iloc[0])
    assert DIRECT - twfe.estimate > 2 * twfe.se
    assert abs(ring_direct - DIRECT) < DIRECT - twfe.estimate


def test_array_path_equals_the_estimator() -> None:
    df = draw(400, seed=9)
    coef, se = fit_arrays(df)
    est = cqox.estimate(
        "ring_did", df, outcome="y", treatment="d", roles=ROLES, ring_edges_km=list(EDGES)
    )
    np.testing.assert_allclose(est.tables["rings"]["estimate"], coef, rtol=1e-10)
    np.testing.assert_allclose(est.tables["rings"]["se"], se, rtol=1e-10)


@pytest.mark.ci_bounded
def test_bias_and_coverage_bounded() -> None:
    check(study(500, 500, seed=21), BOUNDED)


@pytest.mark.slow
def test_bias_and_coverage_full_study() -> None:
    check(study(1000, 3000, seed=22), FULL)
