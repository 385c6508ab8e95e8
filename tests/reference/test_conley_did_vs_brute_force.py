"""Conley SEs of ``did_2x2`` and ``did_cs`` against brute-force twins.

``did_2x2``: the twin fits ``y ~ 1 + G + Post + G·Post [+ X]`` by explicit weighted least
squares, takes the row ``a`` of ``(Z'WZ)⁻¹Z'W`` of the interaction and sums
``a_i a_j ε̂_i ε̂_j K_ij`` over all n² row pairs with haversine distances (``K_ij =
k(d_ij / c)`` in the same period within the cutoff, 1 for the same unit).

``did_cs``: with one cohort, never-treated comparisons and no covariates, the ``simple``
(= ``group``) aggregation is the difference in means of ``Δ̄_i = mean_{t ≥ g} Y_it −
Y_i,g−1`` between the cohort and the never treated — a linear estimator ``Σ ℓ_i Δ̄_i``
whose influence function the twin writes down (``ℓ_i ε̂_i``) and sums over all unit
pairs.  For any aggregation, places stacked in far-apart groups make the uniform-kernel
Conley SE the analytic SE clustered by group.  Neither twin shares code with
:mod:`cqox.inference.spatial_hac`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.errors import ParameterError, RoleError
from cqox.simulate.spatial import ring_spillover_panel

pytestmark = pytest.mark.reference

#: Same sums, different algebra (explicit design vs cell sums, pair search vs n²).
RTOL = 1e-8
R_KM = 6371.0088
ROLES = {"unit": "unit", "time": "time", "lat": "lat", "lon": "lon"}


def haversine(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * R_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def kernel_matrix(lat: np.ndarray, lon: np.ndarray, cutoff: float, kernel: str) -> np.ndarray:
    d = haversine(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    out: np.ndarray = np.where(d <= cutoff, 1.0 if kernel == "uniform" else 1.0 - d / cutoff, 0.0)
    return out


def panel(weights: bool = False, unbalanced: bool = False, covariate: bool = False) -> pd.DataFrame:
    df, _ = ring_spillover_panel(n_units=150, n_periods=4, cohorts=(3,), seed=4)
    rng = np.random.default_rng(8)
    if weights:
        df["w"] = np.repeat(rng.uniform(0.5, 2.0, 150), 4)
    if covariate:
        df["x"] = rng.normal(size=len(df))
    if unbalanced:
        df = df.drop(index=rng.choice(len(df), 40, replace=False)).reset_index(drop=True)
    return df


def twin_2x2_se(
    df: pd.DataFrame, cutoff: float, kernel: str, w: str | None, x: str | None
) -> float:
    group = df.groupby("unit")["d"].transform("max").to_numpy(float)
    post = (df["time"] >= 3).to_numpy(float)
    cols = [np.ones(len(df)), group, post, group * post]
    if x is not None:
        cols.append(df[x].to_numpy(float))
    Z = np.column_stack(cols)
    ww = np.ones(len(df)) if w is None else df[w].to_numpy(float)
    a = np.linalg.solve((Z * ww[:, None]).T @ Z, (Z * ww[:, None]).T)[3]
    coef = np.linalg.lstsq(Z * np.sqrt(ww)[:, None], df["y"] * np.sqrt(ww), rcond=None)[0]
    e = df["y"].to_numpy(float) - Z @ coef
    k = kernel_matrix(df["lat"].to_numpy(), df["lon"].to_numpy(), cutoff, kernel)
    same_t = df["time"].to_numpy()[:, None] == df["time"].to_numpy()[None, :]
    same_u = df["unit"].to_numpy()[:, None] == df["unit"].to_numpy()[None, :]
    K = np.where(same_u, 1.0, np.where(same_t, k, 0.0))
    ae = a * e
    return float(np.sqrt(ae @ K @ ae))


@pytest.mark.parametrize("kernel", ["uniform", "bartlett"])
@pytest.mark.parametrize(
    ("weights", "unbalanced", "covariate"), [(False, False, False), (True, True, True)]
)
def test_did_2x2_conley_se_matches_the_twin(
    kernel: str, weights: bool, unbalanced: bool, covariate: bool
) -> None:
    df = panel(weights, unbalanced, covariate)
    roles = {**ROLES, **({"weight": "w"} if weights else {})}
    est = cqox.estimate(
        "did_2x2",
        df,
        outcome="y",
        treatment="d",
        roles=roles,
        covariates=["x"] if covariate else None,
        se_method="conley",
        conley_cutoff_km=2.5,
        conley_kernel=kernel,
    )
    want = twin_2x2_se(df, 2.5, kernel, "w" if weights else None, "x" if covariate else None)
    assert est.se == pytest.approx(want, rel=RTOL)
    assert est.diagnostics["conley_cutoff_km"] == 2.5
    assert "Conley" in est.method


def test_did_2x2_conley_with_a_vanishing_cutoff_is_cr0_by_unit() -> None:
    df = panel()
    cr1 = cqox.estimate("did_2x2", df, outcome="y", treatment="d", roles=ROLES)
    est = cqox.estimate(
        "did_2x2",
        df,
        outcome="y",
        treatment="d",
        roles=ROLES,
        se_method="conley",
        conley_cutoff_km=1e-4,
    )
    n, g, k = len(df), df["unit"].nunique(), 4
    adj = g / (g - 1) * (n - 1) / (n - k)
    assert est.se == pytest.approx(cr1.se / np.sqrt(adj), rel=1e-10)
    assert est.diagnostics["se_cr1"] == pytest.approx(cr1.se, rel=1e-12)


def twin_cs_simple_se(df: pd.DataFrame, cutoff: float, kernel: str) -> tuple[float, float]:
    wide = df.pivot(index="unit", columns="time", values="y")
    first = df.groupby("unit")["d"].max().to_numpy(float)
    delta = wide[[3, 4]].mean(axis=1).to_numpy() - wide[2].to_numpy()
    n1, n0 = first.sum(), (1 - first).sum()
    mu1, mu0 = delta[first == 1].mean(), delta[first == 0].mean()
    ell = first / n1 - (1 - first) / n0
    e = delta - np.where(first == 1, mu1, mu0)
    coords = df.groupby("unit")[["lat", "lon"]].first()
    K = kernel_matrix(coords["lat"].to_numpy(), coords["lon"].to_numpy(), cutoff, kernel)
    psi = ell * e
    return float(mu1 - mu0), float(np.sqrt(psi @ K @ psi))


@pytest.mark.parametrize("kernel", ["uniform", "bartlett"])
@pytest.mark.parametrize("aggregation", ["simple", "group"])
def test_did_cs_conley_se_matches_the_twin(kernel: str, aggregation: str) -> None:
    df = panel()
    est = cqox.estimate(
        "did_cs",
        df,
        outcome="y",
        treatment="d",
        roles=ROLES,
        method="reg",
        aggregation=aggregation,
        se_method="conley",
        conley_cutoff_km=2.5,
        conley_kernel=kernel,
    )
    att, se = twin_cs_simple_se(df, 2.5, kernel)
    assert est.estimate == pytest.approx(att, rel=1e-10)
    assert est.se == pytest.approx(se, rel=RTOL)
    # no spatial multiplier bootstrap: the tables carry no uniform bands
    assert "band_low" not in est.tables["att_gt"].columns


def test_did_cs_conley_over_stacked_groups_is_the_group_clustered_se() -> None:
    df, _ = ring_spillover_panel(n_units=240, n_periods=5, cohorts=(3, 4), seed=6)
    # 40 groups of 6 units, each group at one place, groups ≥ 50 km apart
    group = df["unit"] % 40
    df = df.assign(
        lat=40.0 + (group // 8) * 1.0, lon=5.0 + (group % 8) * 1.0, grp=group.astype(str)
    )
    for aggregation in ("group", "dynamic", "calendar", "simple"):
        common = {"outcome": "y", "treatment": "d", "aggregation": aggregation, "n_boot": 0}
        clustered = cqox.estimate("did_cs", df, roles={**ROLES, "cluster": "grp"}, **common)
        conley = cqox.estimate(
            "did_cs", df, roles=ROLES, se_method="conley", conley_cutoff_km=20.0, **common
        )
        assert conley.se == pytest.approx(clustered.se, rel=1e-10)
        assert conley.diagnostics["pretrend_statistic"] == pytest.approx(
            clustered.diagnostics["pretrend_statistic"], rel=1e-8
        )
        for table in ("att_gt", "event_study", "group", "calendar"):
            np.testing.assert_allclose(
                conley.tables[table]["se"], clustered.tables[table]["se"], rtol=1e-10
            )


def test_did_cs_conley_with_a_vanishing_cutoff_is_the_analytic_se() -> None:
    df = panel()
    common = {"outcome": "y", "treatment": "d", "roles": ROLES, "n_boot": 0}
    analytic = cqox.estimate("did_cs", df, **common)
    conley = cqox.estimate("did_cs", df, se_method="conley", conley_cutoff_km=1e-4, **common)
    assert conley.se == pytest.approx(analytic.se, rel=1e-10)


def test_conley_parameters_and_coordinates_are_checked() -> None:
    df = panel()
    for name in ("did_2x2", "did_cs"):
        with pytest.raises(ParameterError, match="conley_cutoff_km"):
            cqox.estimate(name, df, outcome="y", treatment="d", roles=ROLES, se_method="conley")
        with pytest.raises(RoleError, match="'lat'"):
            cqox.estimate(
                name,
                df,
                outcome="y",
                treatment="d",
                roles={"unit": "unit", "time": "time"},
                se_method="conley",
                conley_cutoff_km=2.0,
            )
    moved = df.assign(lat=df["lat"] + np.where(df["time"] == 4, 0.01, 0.0))
    with pytest.raises(RoleError, match="varies within unit"):
        cqox.estimate(
            "did_cs",
            moved,
            outcome="y",
            treatment="d",
            roles=ROLES,
            se_method="conley",
            conley_cutoff_km=2.0,
        )
