"""``network_exposure`` through the public API: results, serialisation and named errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.simulate.network import network_interference


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    df, edges, _ = network_interference(n=300, mean_degree=3, seed=1)
    return df, edges


def fit(df: pd.DataFrame, edges: pd.DataFrame, **kw: object) -> cqox.Estimate:
    return cqox.estimate(
        "network_exposure",
        df,
        outcome="y",
        treatment="t",
        roles={"unit": "id"},
        network=edges,
        seed=3,
        **{"n_draws": 400, "n_perm": 200, **kw},
    )


def test_estimate_is_complete_serialisable_and_reproducible(data: tuple) -> None:
    df, edges = data
    before = (df.copy(), edges.copy())
    est = fit(df, edges, estimand="spillover")
    assert df.equals(before[0]) and edges.equals(before[1])
    assert est.estimand == "spillover" and est.se > 0
    assert est.ci[0] < est.estimate < est.ci[1]
    assert 0 < est.p_value <= 1 and est.diagnostics["p_value_randomization"] == est.p_value
    assert est.params["network"] == f"edge table ({len(edges)} edges)"
    assert est.counts["n_edges"] == len(edges)
    d = json.loads(json.dumps(est.to_dict(), allow_nan=False))
    assert d["estimator"] == "network_exposure"
    again = fit(df, edges, estimand="spillover")
    assert again.estimate == est.estimate and again.se == est.se


def test_designs_and_mappings_run(data: tuple) -> None:
    df, edges = data
    df = df.assign(cl=np.arange(len(df)) // 3)
    df["t"] = (df["cl"] % 2).astype(int)
    clu = cqox.estimate(
        "network_exposure",
        df,
        outcome="y",
        treatment="t",
        roles={"unit": "id", "cluster": "cl"},
        network=edges,
        design="cluster",
        n_draws=400,
        n_perm=0,
        seed=0,
    )
    assert clu.diagnostics["probabilities"].startswith("Monte Carlo")
    assert np.isfinite(clu.se)
    share = fit(
        df, edges, mapping="share", threshold=0.5, design="bernoulli", treat_probability=0.5
    )
    assert share.diagnostics["probabilities"] == "exact"
    w = edges.assign(w=1.0 + np.arange(len(edges)) % 3)
    weighted = fit(df, w, edge_weight="w", mapping="share", threshold=0.4, estimand="total")
    assert weighted.diagnostics["probabilities"].startswith("Monte Carlo")

    def assign(rng: np.random.Generator, size: int) -> np.ndarray:
        return (rng.random((len(df), size)) < 0.5).astype(float)

    custom = fit(df, edges, design="custom", assign=assign)
    assert custom.params["assign"] == "assign"


def test_errors_name_what_is_wrong(data: tuple) -> None:
    df, edges = data
    with pytest.raises(cqox.ParameterError, match="'network'"):
        cqox.estimate("network_exposure", df, outcome="y", treatment="t", roles={"unit": "id"})
    with pytest.raises(cqox.ParameterError, match=r"'threshold'.*\(0, 1\]"):
        fit(df, edges, mapping="share", threshold=2.0)
    with pytest.raises(cqox.ParameterError, match="'assign'"):
        fit(df, edges, design="custom")
    with pytest.raises(cqox.RoleError, match="'cluster' role"):
        fit(df, edges, design="cluster")
    bad = pd.concat([edges, pd.DataFrame({"source": [10_000], "target": [0]})])
    with pytest.raises(cqox.DataError, match="10000"):
        fit(df, bad)
    with pytest.raises(cqox.ParameterError, match="'n_draws'"):
        fit(df, edges, n_draws=10**9)
    missing = df.assign(y=df["y"].where(df.index != 5))
    with pytest.raises(cqox.DataError, match="every unit"):
        fit(missing, edges)
