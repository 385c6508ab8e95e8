"""Conley SEs of ``rd`` and ``geo_rd`` against a brute-force twin.

With ``se_method="conley"`` the local-polynomial estimate is a weighted sum over the
rows of both sides, ``τ̂ = Σ_i ℓ_i y_i``, and its variance is
``Σ_i Σ_j K(d_ij / c) ℓ_i ℓ_j ε̂_i ε̂_j`` with plug-in residuals.  The twin shares no code
with :mod:`cqox.estimators.rd` or :mod:`cqox.inference.spatial_hac`: on each side it
builds the polynomial designs and kernel weights itself, takes the conventional weights
``ℓ = e₀'(R_p'W_h R_p)⁻¹R_p'W_h`` and the bias-corrected ones of Calonico, Cattaneo &
Titiunik (2014, eq. 9: ``ℓ_bc = ℓ − h^{p+1} e₀'(R_p'W_h R_p)⁻¹R_p'W_h u^{p+1} ·
e_{p+1}'(R_q'W_b R_q)⁻¹R_q'W_b``), the residuals of the order-``p`` fit (conventional)
and of the order-``q`` fit (robust), and sums over all n² pairs of rows with haversine
distances.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.errors import ParameterError, RoleError
from cqox.estimators.rd.estimator import rd_estimate
from cqox.simulate.spatial import boundary_rd

pytestmark = pytest.mark.reference

#: Same sums, different algebra (explicit inverses vs Cholesky, pair search vs n²).
RTOL = 1e-8
R_KM = 6371.0088


def haversine(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * R_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def side_terms(
    x: np.ndarray, Y: np.ndarray, h: float, b: float, p: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows used, ℓ, ℓ_bc, intercepts and both residual matrices on one side (triangular)."""
    q = p + 1
    rows = np.flatnonzero(np.abs(x) < max(h, b))
    xs, Ys = x[rows], Y[rows]
    wh = np.clip(1 - np.abs(xs) / h, 0, None) / h
    wb = np.clip(1 - np.abs(xs) / b, 0, None) / b
    Rp = np.vander(xs, p + 1, increasing=True)
    Rq = np.vander(xs, q + 1, increasing=True)
    Gp = np.linalg.inv(Rp.T @ (Rp * wh[:, None]))
    Gq = np.linalg.inv(Rq.T @ (Rq * wb[:, None]))
    ell = (Gp @ (Rp * wh[:, None]).T)[0]
    lead_q = (Gq @ (Rq * wb[:, None]).T)[p + 1]
    L = (Rp * wh[:, None]).T @ (xs / h) ** (p + 1)
    ell_bc = ell - h ** (p + 1) * (Gp @ L)[0] * lead_q
    beta_p = Gp @ (Rp * wh[:, None]).T @ Ys
    beta_q = Gq @ (Rq * wb[:, None]).T @ Ys
    return rows, ell, ell_bc, beta_p[0], Ys - Rp @ beta_p, Ys - Rq @ beta_q


def twin_ses(
    x: np.ndarray,
    Y: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    h: float,
    b: float,
    cutoff: float,
    kernel: str,
) -> tuple[float, float]:
    """Conventional and robust Conley SEs of the jump at 0 (sharp: Y has one column)."""
    left = side_terms(x[x < 0], Y[x < 0], h, b)
    right = side_terms(x[x >= 0], Y[x >= 0], h, b)
    lat_s = [lat[x < 0], lat[x >= 0]]
    lon_s = [lon[x < 0], lon[x >= 0]]
    if Y.shape[1] == 1:
        s = np.array([1.0])
    else:
        tY = right[3][0] - left[3][0]
        tT = right[3][1] - left[3][1]
        s = np.array([1 / tT, -tY / tT**2])
    psi_cl, psi_rb, la, lo = [], [], [], []
    for side, sign in ((0, -1.0), (1, 1.0)):
        rows, ell, ell_bc, _, e_p, e_q = (left, right)[side]
        psi_cl.append(sign * ell * (e_p @ s))
        psi_rb.append(sign * ell_bc * (e_q @ s))
        la.append(lat_s[side][rows])
        lo.append(lon_s[side][rows])
    lat_all, lon_all = np.concatenate(la), np.concatenate(lo)
    d = haversine(lat_all[:, None], lon_all[:, None], lat_all[None, :], lon_all[None, :])
    K = np.where(d <= cutoff, 1.0 if kernel == "uniform" else 1.0 - d / cutoff, 0.0)
    out = []
    for psi in (np.concatenate(psi_cl), np.concatenate(psi_rb)):
        out.append(float(np.sqrt(psi @ K @ psi)))
    return out[0], out[1]


def places(n: int = 500, seed: int = 3) -> pd.DataFrame:
    """Places on a 40 km square; running variable the east-west position (km)."""
    rng = np.random.default_rng(seed)
    lat = 45.0 + rng.uniform(-0.18, 0.18, n)
    lon = 10.0 + rng.uniform(-0.25, 0.25, n)
    x = (lon - 10.0) * 111.32 * np.cos(np.radians(45.0))
    # a spatially smooth error (sum of bumps) plus noise: neighbours are correlated
    centres = rng.uniform([44.82, 9.75], [45.18, 10.25], size=(30, 2))
    bumps = np.exp(-haversine(lat[:, None], lon[:, None], centres[:, 0], centres[:, 1]) / 3.0)
    u = bumps @ rng.normal(size=30) + 0.3 * rng.normal(size=n)
    t_fuzzy = (rng.uniform(size=n) < np.where(x >= 0, 0.8, 0.2)).astype(float)
    y = 0.5 + 0.1 * x + 1.0 * t_fuzzy + u
    return pd.DataFrame({"lat": lat, "lon": lon, "x": x, "y": y, "t": t_fuzzy})


@pytest.mark.parametrize("kernel", ["uniform", "bartlett"])
@pytest.mark.parametrize("cutoff", [2.0, 6.0])
@pytest.mark.parametrize("fuzzy", [False, True])
def test_rd_conley_ses_match_the_twin(kernel: str, cutoff: float, fuzzy: bool) -> None:
    df = places()
    x, lat, lon = df["x"].to_numpy(), df["lat"].to_numpy(), df["lon"].to_numpy()
    order = np.argsort(x, kind="stable")
    Y = df[["y", "t"]].to_numpy() if fuzzy else df[["y"]].to_numpy()
    h, b = 8.0, 12.0
    res = rd_estimate(
        x,
        df["y"].to_numpy(),
        0.0,
        df["t"].to_numpy() if fuzzy else None,
        h=h,
        b=b,
        vce="hc0",
        conley=(lat, lon, cutoff, kernel),
    )
    se_cl, se_rb = twin_ses(x[order], Y[order], lat[order], lon[order], h, b, cutoff, kernel)
    assert res.fit.se_cl == pytest.approx(se_cl, rel=RTOL)
    assert res.fit.se_rb == pytest.approx(se_rb, rel=RTOL)
    # pairs within the cutoff count: the Conley SE is not the HC0 one
    hc0 = rd_estimate(x, df["y"].to_numpy(), 0.0, None, h=h, b=b, vce="hc0").fit.se_cl
    if not fuzzy:
        assert res.fit.se_cl != pytest.approx(hc0, rel=1e-4)


def test_rd_conley_with_a_vanishing_cutoff_is_hc0() -> None:
    df = places()
    common = {"outcome": "y", "roles": {"running": "x", "cutoff": 0.0}, "gates": False}
    hc0 = cqox.estimate("rd", df, se_method="hc0", **common)
    est = cqox.estimate(
        "rd", df, lat="lat", lon="lon", se_method="conley", conley_cutoff_km=1e-4, **common
    )
    assert est.se == pytest.approx(hc0.se, rel=1e-12)
    assert est.diagnostics["se_robust"] == pytest.approx(hc0.diagnostics["se_robust"], rel=1e-12)
    assert est.ci == pytest.approx(hc0.ci, rel=1e-12)
    assert est.diagnostics["conley_cutoff_km"] == 1e-4
    assert "Conley" in est.method


def test_geo_rd_conley_equals_rd_conley_on_the_distance() -> None:
    df, truth = boundary_rd(n=800, seed=2)
    params = {"se_method": "conley", "conley_cutoff_km": 3.0, "gates": False}
    geo = cqox.estimate(
        "geo_rd",
        df,
        outcome="y",
        treatment="t",
        lat="lat",
        lon="lon",
        boundary=truth["boundary"],
        **params,
    )
    table = df.assign(dist=geo.tables["distance"]["distance_km"].to_numpy())
    rd = cqox.estimate(
        "rd",
        table,
        outcome="y",
        treatment="t",
        lat="lat",
        lon="lon",
        roles={"running": "dist", "cutoff": 0.0},
        **params,
    )
    assert geo.se == pytest.approx(rd.se, rel=1e-12)
    assert geo.ci == pytest.approx(rd.ci, rel=1e-12)
    plain = cqox.estimate(
        "geo_rd",
        df,
        outcome="y",
        treatment="t",
        lat="lat",
        lon="lon",
        boundary=truth["boundary"],
        gates=False,
    )
    assert geo.se != pytest.approx(plain.se, rel=1e-3)


def test_rd_conley_needs_its_cutoff_and_coordinates() -> None:
    df = places(n=200)
    common = {"outcome": "y", "roles": {"running": "x", "cutoff": 0.0}, "gates": False}
    with pytest.raises(ParameterError, match="conley_cutoff_km"):
        cqox.estimate("rd", df, lat="lat", lon="lon", se_method="conley", **common)
    with pytest.raises(ParameterError, match="conley_cutoff_km"):
        cqox.estimate("rd", df, conley_cutoff_km=5.0, **common)
    with pytest.raises(RoleError, match="'lat'"):
        cqox.estimate("rd", df, se_method="conley", conley_cutoff_km=5.0, **common)
