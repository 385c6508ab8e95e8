"""Proximal estimators: bad input named, the relevance gate, the bridges' diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.proximal.scores import _bridge_terms
from cqox.simulate.proximal import BRIDGE_Q, proximal_bridges

KW = {"outcome": "y", "treatment": "t", "treatment_proxy": "z", "outcome_proxy": "w",
      "covariates": ["x"]}  # fmt: skip


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return proximal_bridges(n=1500, seed=8)[0]


def test_the_simulators_treatment_bridge_solves_its_moments() -> None:
    big, _ = proximal_bridges(n=400_000, seed=1)
    a = big["t"].to_numpy()
    n = len(a)
    F = np.column_stack([np.ones(n), a, big["z"], big["x"]])
    B = np.column_stack([np.ones(n), big["w"], big["x"]])
    _, _, m, _ = _bridge_terms(np.array(BRIDGE_Q), F, 2 * a - 1, B)
    assert np.all(np.abs(m.mean(axis=0)) < 4 * m.std(axis=0) / np.sqrt(n))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"covariates": ["x", "z"]}, "column 'z' is the treatment proxy"),
        ({"outcome_proxy": "z"}, "column 'z' is also the treatment proxy"),
        ({"treatment_proxy": "t"}, "column 't' is also the outcome or the treatment"),
        ({"outcome_proxy": "label"}, "role 'outcome_proxy': column 'label' must be numeric"),
        ({"treatment_proxy": "const"}, "column 'const' is constant"),
    ],
)
@pytest.mark.parametrize("name", ["proximal_2sls", "proximal_dr"])
def test_bad_input_is_refused_naming_the_column(
    df: pd.DataFrame, name: str, change: dict[str, object], message: str
) -> None:
    data = df.assign(label="a", const=1.0)
    with pytest.raises(cqox.CqoxError, match=message):
        cqox.estimate(name, data, **{**KW, **change})


def test_a_proxy_unrelated_to_the_confounder_fails_the_relevance_gate(df: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    noise = df.assign(z=rng.standard_normal(len(df)))
    est = cqox.estimate("proximal_2sls", noise, **KW)
    gate = est.gates[0]
    assert gate.name == "proxy_relevance" and gate.status == "fail"
    strong = cqox.estimate("proximal_2sls", df, **KW)
    assert strong.gates[0].status == "pass" and strong.diagnostics["first_stage_f"] > 100


def test_dr_reports_both_bridges_and_the_2sls_estimate(df: pd.DataFrame) -> None:
    dr = cqox.estimate("proximal_dr", df, **KW)
    p2 = cqox.estimate("proximal_2sls", df, **KW)
    assert dr.diagnostics["proximal_2sls_estimate"] == pytest.approx(p2.estimate)
    assert set(dr.diagnostics["treatment_bridge"]) == {"intercept", "treatment",
                                                       "treatment_proxy", "x"}  # fmt: skip
    assert dr.diagnostics["outcome_bridge"]["outcome_proxy"] == pytest.approx(1.5, abs=0.3)


def test_analyze_with_proxies_runs_the_proximal_design(df: pd.DataFrame) -> None:
    an = cqox.analyze(df, estimators=["proximal_2sls", "proximal_dr"], **KW)
    assert "proximal" in [str(d) for d in an.designs]
    assert {e.estimator for e in an.estimates} == {"proximal_2sls", "proximal_dr"}
