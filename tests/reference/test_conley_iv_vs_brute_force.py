"""Conley SEs of ``iv_2sls`` and ``iv_liml`` against a brute-force twin.

The twin shares no code with ``cqox.inference.spatial_hac`` or the k-class fit: 2SLS as
``β = (X̂'X)⁻¹ X̂'y`` with ``X̂ = Z(Z'Z)⁻¹Z'X`` (LIML: the k-class form with the
estimator's κ); the rows ``a`` of ``(X̂'X)⁻¹X̂'`` give
``Var(β_d) = Σ_i Σ_j a_i a_j ε̂_i ε̂_j K(d_ij / c)`` over all n² pairs with haversine
distances.  A vanishing cutoff gives the robust (HC0) SE exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.errors import ParameterError

pytestmark = pytest.mark.reference

#: Same sandwich, different algebra: rounding only.
RTOL = 1e-8
R_KM = 6371.0088
ROLES = {"instrument": ["z1", "z2"], "lat": "la", "lon": "lo"}


def haversine(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * R_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    df, _ = cqox.simulate.iv_linear(n=500, seed=3)
    rng = np.random.default_rng(3)
    return df.assign(la=rng.uniform(40, 41, len(df)), lo=rng.uniform(10, 11.3, len(df)))


def twin(df: pd.DataFrame, cutoff: float, kernel: str, kappa: float = 1.0) -> tuple[float, float]:
    """k-class ``β = ((1−κ)X'X + κX̂'X)⁻¹ ((1−κ)X' + κX̂')y``; scores ``x̂_i ε̂_i``."""
    one = np.ones(len(df))
    X = np.column_stack([one, df[["x1", "x2", "d"]]])
    Z = np.column_stack([one, df[["x1", "x2", "z1", "z2"]]])
    Xhat = Z @ np.linalg.solve(Z.T @ Z, Z.T @ X)
    bread = np.linalg.inv((1 - kappa) * X.T @ X + kappa * Xhat.T @ X)
    y = df["y"].to_numpy()
    beta = bread @ ((1 - kappa) * X.T @ y + kappa * Xhat.T @ y)
    A = bread @ Xhat.T
    e = df["y"].to_numpy() - X @ beta
    d = haversine(
        df["la"].to_numpy()[:, None], df["lo"].to_numpy()[:, None],
        df["la"].to_numpy()[None, :], df["lo"].to_numpy()[None, :],
    )  # fmt: skip
    K = np.where(d <= cutoff, 1.0 if kernel == "uniform" else 1.0 - d / cutoff, 0.0)
    ae = A[-1] * e
    return float(beta[-1]), float(np.sqrt(ae @ K @ ae))


@pytest.mark.parametrize("estimator", ["iv_2sls", "iv_liml"])
@pytest.mark.parametrize("kernel", ["uniform", "bartlett"])
def test_iv_conley_se_matches_the_twin(data: pd.DataFrame, estimator: str, kernel: str) -> None:
    est = cqox.estimate(
        estimator, data, outcome="y", treatment="d", covariates=["x1", "x2"], roles=ROLES,
        se_method="conley", conley_cutoff_km=25.0, conley_kernel=kernel,
    )  # fmt: skip
    beta, se = twin(data, 25.0, kernel, float(est.diagnostics["kappa"]))
    assert est.estimate == pytest.approx(beta, rel=RTOL)
    assert est.se == pytest.approx(se, rel=RTOL)
    assert est.diagnostics["se_method"] == "conley"


def test_a_vanishing_cutoff_gives_the_robust_se(data: pd.DataFrame) -> None:
    kw: dict[str, Any] = {"outcome": "y", "treatment": "d", "covariates": ["x1", "x2"]}
    conley = cqox.estimate(
        "iv_2sls", data, roles=ROLES, se_method="conley", conley_cutoff_km=1e-6, **kw
    )
    robust = cqox.estimate("iv_2sls", data, roles=ROLES, se_method="robust", **kw)
    assert conley.se == pytest.approx(robust.se, rel=1e-12)


def test_the_cutoff_without_conley_is_refused_naming_it(data: pd.DataFrame) -> None:
    with pytest.raises(ParameterError, match="'conley_cutoff_km' parameter of iv_2sls"):
        cqox.estimate(
            "iv_2sls", data, outcome="y", treatment="d", roles=ROLES, conley_cutoff_km=5.0
        )
