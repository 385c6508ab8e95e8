"""``ring_did`` against pyfixest on ring indicators built by hand.

The test builds Butts's (2021) ring indicators itself — haversine distances from every
untreated place-period to every place treated in that period, by brute force, then
``1{e_{k−1} < d ≤ e_k}`` — and fits ``y ~ d + ring_1 + … + ring_K | unit + time`` with
pyfixest's CRV1 variance.  ``ring_did`` (KD-tree distances, absorbed two-way effects)
must give the same direct and spillover coefficients and SEs: single and staggered
adoption, an unbalanced panel, covariates, weights and a coarser cluster.  pyfixest's
outputs are stored in golden/pyfixest.json for machines without it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.simulate.spatial import ring_spillover_panel
from tests.reference.golden import PYFIXEST

pytestmark = pytest.mark.reference

#: Same model, same small-sample factor: only floating-point rounding separates the two
#: (observed differences ~1e-13).
RTOL = 1e-6
#: Mean Earth radius (km) used by both sides.
R_KM = 6371.0088
EDGES = (1.0, 2.0, 3.0)
ROLES = {"unit": "unit", "time": "time", "lat": "lat", "lon": "lon"}


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> Any:
    """Great-circle distance by the haversine formula (broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * R_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def hand_rings(df: pd.DataFrame, edges: tuple[float, ...]) -> pd.DataFrame:
    """``df`` with columns ``ring1..ringK`` built row by row, by brute force."""
    out = df.copy()
    places = df.groupby("unit")[["lat", "lon", "cohort"]].first()
    for k in range(1, len(edges) + 1):
        out[f"ring{k}"] = 0.0
    for t, rows in df.groupby("time").groups.items():
        on = places[(places["cohort"] > 0) & (places["cohort"] <= t)]
        if on.empty:
            continue
        sub = df.loc[rows]
        untreated = sub[~((sub["cohort"] > 0) & (sub["cohort"] <= t))]
        d = haversine_km(
            untreated["lat"].to_numpy()[:, None],
            untreated["lon"].to_numpy()[:, None],
            on["lat"].to_numpy()[None, :],
            on["lon"].to_numpy()[None, :],
        ).min(axis=1)
        lower = 0.0
        for k, upper in enumerate(edges, start=1):
            inside = (d <= upper) & ((d > lower) if k > 1 else True)
            out.loc[untreated.index[inside], f"ring{k}"] = 1.0
            lower = upper
    return out


def pyfixest_rings(
    case: str,
    df: pd.DataFrame,
    edges: tuple[float, ...],
    *,
    covariates: str = "",
    cluster: str = "unit",
    weights: str | None = None,
) -> dict[str, list[float]]:
    def fit() -> dict[str, list[float]]:
        import pyfixest as pf

        data = hand_rings(df, edges)
        names = ["d", *(f"ring{k}" for k in range(1, len(edges) + 1))]
        formula = f"y ~ {' + '.join(names)}{covariates} | unit + time"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = pf.feols(formula, data=data, vcov={"CRV1": cluster}, weights=weights)
        return {
            "coef": [float(m.coef()[n]) for n in names],
            "se": [float(m.se()[n]) for n in names],
        }

    out: dict[str, list[float]] = PYFIXEST.outputs(f"ring_did/{case}", fit)
    return out


def ours(df: pd.DataFrame, edges: tuple[float, ...], **kw: Any) -> tuple[list[float], list[float]]:
    roles = {**ROLES, **kw.pop("roles", {})}
    est = cqox.estimate(
        "ring_did", df, outcome="y", treatment="d", roles=roles, ring_edges_km=list(edges), **kw
    )
    rings = est.tables["rings"]
    assert est.estimate == pytest.approx(rings["estimate"].iloc[0])
    return rings["estimate"].tolist(), rings["se"].tolist()


def _panel(seed: int, **kw: Any) -> pd.DataFrame:
    df, _ = ring_spillover_panel(n_units=kw.pop("n_units", 400), seed=seed, **kw)
    return df


@pytest.mark.parametrize(
    ("case", "kw"),
    [
        ("single_adoption", {"cohorts": (4,)}),
        ("staggered", {"cohorts": (3, 5), "n_periods": 7}),
        ("two_rings", {"cohorts": (3,), "spillover": (0.8, 0.0), "ring_edges_km": (1.5, 3.0)}),
    ],
)
def test_ring_did_matches_pyfixest_on_hand_built_rings(case: str, kw: dict[str, Any]) -> None:
    df = _panel(11, **kw)
    edges = tuple(kw.get("ring_edges_km", EDGES))
    ref = pyfixest_rings(case, df, edges)
    coef, se = ours(df, edges)
    np.testing.assert_allclose(coef, ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(se, ref["se"], rtol=RTOL)


def test_ring_did_matches_pyfixest_unbalanced_with_covariate_weights_and_cluster() -> None:
    rng = np.random.default_rng(3)
    df = _panel(12, cohorts=(3, 4), n_periods=6)
    df["x"] = rng.standard_normal(len(df))
    df["y"] = df["y"] + 0.5 * df["x"]
    df["w"] = np.repeat(rng.uniform(0.5, 2.0, df["unit"].nunique()), 6)
    # clusters: a coarse 5 km grid of the places
    df["region"] = (
        np.floor((df["lat"] - df["lat"].min()) * 111.2 / 5).astype(int) * 100
        + np.floor((df["lon"] - df["lon"].min()) * 78.6 / 5).astype(int)
    ).astype(str)
    df = df.drop(index=rng.choice(len(df), size=len(df) // 10, replace=False)).reset_index(
        drop=True
    )
    ref = pyfixest_rings(
        "unbalanced_x_weights_region",
        df,
        EDGES,
        covariates=" + x",
        cluster="region",
        weights="w",
    )
    coef, se = ours(
        df, EDGES, covariates=["x"], roles={"weight": "w", "cluster": "region", "cohort": "cohort"}
    )
    np.testing.assert_allclose(coef, ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(se, ref["se"], rtol=RTOL)


def test_hand_rings_and_ring_did_put_the_same_rows_in_each_ring() -> None:
    df = _panel(13, cohorts=(3, 5), n_periods=6)
    hand = hand_rings(df, EDGES)
    est = cqox.estimate(
        "ring_did", df, outcome="y", treatment="d", roles=ROLES, ring_edges_km=list(EDGES)
    )
    n_rows = est.tables["rings"]["n_rows"].tolist()[1:]
    assert n_rows == [int(hand[f"ring{k}"].sum()) for k in (1, 2, 3)]
    assert min(n_rows) > 50  # every ring is populated: the comparison is not vacuous
