"""Conley SEs of the fixed-effects estimators against a brute-force twin.

``did_twfe`` and ``ring_did`` with ``se_method="conley"``: the scores of places within
``conley_cutoff_km`` are correlated within a period and every period of a place with
every other.  The twin shares no code with ``cqox.inference.spatial_hac``: it fits the
regression with explicit unit and period dummies (weighted least squares), takes the
rows ``a`` of ``(X'WX)⁻¹X'W`` of the coefficients of interest, and sums
``a_i a_j ε̂_i ε̂_j K_ij`` over all n² row pairs with haversine distances
(``K_ij = k(d_ij / c)`` in the same period within the cutoff, 1 for the same place).
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

#: Same sandwich, different algebra (dummies vs absorbed effects): rounding only.
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


def twin_se(
    df: pd.DataFrame, regressors: list[str], cutoff: float, kernel: str, w: str | None
) -> np.ndarray:
    units = pd.get_dummies(df["unit"], drop_first=False).to_numpy(float)
    times = pd.get_dummies(df["time"], drop_first=True).to_numpy(float)
    X = np.column_stack([df[regressors].to_numpy(float), units, times])
    ww = np.ones(len(df)) if w is None else df[w].to_numpy(float)
    XtWX = (X * ww[:, None]).T @ X
    A = np.linalg.solve(XtWX, (X * ww[:, None]).T)[: len(regressors)]  # (k, n)
    beta = A @ df["y"].to_numpy(float)
    full = np.linalg.lstsq(X * np.sqrt(ww)[:, None], df["y"] * np.sqrt(ww), rcond=None)[0]
    np.testing.assert_allclose(full[: len(regressors)], beta, rtol=1e-9)
    e = df["y"].to_numpy(float) - X @ full
    lat, lon = df["lat"].to_numpy(), df["lon"].to_numpy()
    d = haversine(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    same_t = df["time"].to_numpy()[:, None] == df["time"].to_numpy()[None, :]
    same_u = df["unit"].to_numpy()[:, None] == df["unit"].to_numpy()[None, :]
    k = np.where(d <= cutoff, 1.0 if kernel == "uniform" else 1.0 - d / cutoff, 0.0)
    K = np.where(same_u, 1.0, np.where(same_t, k, 0.0))
    AE = A * e[None, :]
    out: np.ndarray = np.sqrt(np.einsum("ki,ij,kj->k", AE, K, AE))
    return out


def panel(weights: bool, unbalanced: bool) -> pd.DataFrame:
    df, _ = ring_spillover_panel(n_units=150, n_periods=4, cohorts=(3,), seed=4)
    rng = np.random.default_rng(8)
    if weights:
        df["w"] = np.repeat(rng.uniform(0.5, 2.0, 150), 4)
    if unbalanced:
        df = df.drop(index=rng.choice(len(df), 40, replace=False)).reset_index(drop=True)
    return df


@pytest.mark.parametrize("kernel", ["uniform", "bartlett"])
@pytest.mark.parametrize(("weights", "unbalanced"), [(False, False), (True, True)])
def test_did_twfe_conley_se_matches_the_twin(kernel: str, weights: bool, unbalanced: bool) -> None:
    df = panel(weights, unbalanced)
    roles = {**ROLES, **({"weight": "w"} if weights else {})}
    est = cqox.estimate(
        "did_twfe", df, outcome="y", treatment="d", roles=roles,
        se_method="conley", conley_cutoff_km=4.0, conley_kernel=kernel,
    )  # fmt: skip
    ref = twin_se(df, ["d"], 4.0, kernel, "w" if weights else None)
    assert est.se == pytest.approx(ref[0], rel=RTOL)
    assert est.diagnostics["se_cr1"] != pytest.approx(est.se, rel=1e-3)


def test_ring_did_conley_ses_match_the_twin_for_every_ring() -> None:
    df = panel(weights=False, unbalanced=False)
    est = cqox.estimate(
        "ring_did", df, outcome="y", treatment="d", roles=ROLES, ring_edges_km=[1.0, 2.0],
        se_method="conley", conley_cutoff_km=3.0,
    )  # fmt: skip
    from cqox.estimators.spatial.rings import distance_to_treated, ring_design

    first = df.groupby("unit")[["lat", "lon", "cohort"]].first()
    dist, treated = distance_to_treated(
        first["lat"].to_numpy(), first["lon"].to_numpy(), first["cohort"].to_numpy(),
        df["unit"].to_numpy(), df["time"].to_numpy() - 1, np.arange(1.0, 5.0),
    )  # fmt: skip
    rings = ring_design(dist, treated, [1.0, 2.0]).rings
    df = df.assign(ring1=rings[:, 0], ring2=rings[:, 1])
    ref = twin_se(df, ["d", "ring1", "ring2"], 3.0, "uniform", None)
    np.testing.assert_allclose(est.tables["rings"]["se"], ref, rtol=RTOL)


def test_a_vanishing_cutoff_is_the_cr0_cluster_by_unit_se() -> None:
    df = panel(weights=False, unbalanced=False)
    conley = cqox.estimate(
        "did_twfe", df, outcome="y", treatment="d", roles=ROLES,
        se_method="conley", conley_cutoff_km=1e-6,
    )  # fmt: skip
    cr1 = cqox.estimate("did_twfe", df, outcome="y", treatment="d", roles=ROLES)
    n, g, k = len(df), df["unit"].nunique(), cr1.diagnostics["df_k"]
    factor = g / (g - 1) * (n - 1) / (n - k)
    assert conley.se == pytest.approx(cr1.se / np.sqrt(factor), rel=RTOL)


def test_conley_parameters_of_did_twfe_are_checked_naming_them() -> None:
    df = panel(weights=False, unbalanced=False)
    with pytest.raises(ParameterError, match="'conley_cutoff_km' parameter of did_twfe is req"):
        cqox.estimate("did_twfe", df, outcome="y", treatment="d", roles=ROLES, se_method="conley")
    with pytest.raises(ParameterError, match="applies to se_method='conley' only"):
        cqox.estimate("did_twfe", df, outcome="y", treatment="d", roles=ROLES, conley_cutoff_km=3.0)
    with pytest.raises(RoleError, match="role 'lat' is required by se_method='conley'"):
        cqox.estimate(
            "did_twfe", df, outcome="y", treatment="d", roles={"unit": "unit", "time": "time"},
            se_method="conley", conley_cutoff_km=3.0,
        )  # fmt: skip
