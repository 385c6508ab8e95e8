"""Unit checks of ``panel_match``: matched sets, errors, balance table, determinism."""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.estimators.panel_match.matching import history_sets
from cqox.simulate.panel_match import panel_switching

ROLES = {"unit": "unit", "time": "time"}


def test_history_sets_match_identical_histories_only() -> None:
    D = np.array(
        [
            [0, 1, 0, 1],  # treated at t=3, history (lag1=0, lag2=1)
            [0, 1, 0, 0],  # same history, control at t=3
            [1, 0, 0, 0],  # history (0, 0): not a match for unit 0
            [0, 1, 0, 1],  # treated too, so not a control
        ]
    )
    unit, time, sets = history_sets(D, 2)
    got = {(int(u), int(t)): s.tolist() for u, t, s in zip(unit, time, sets, strict=True)}
    assert got[(0, 3)] == [1] and got[(3, 3)] == [1]


def test_same_seed_same_bootstrap_and_data_untouched() -> None:
    df, _ = panel_switching(n_units=60, n_periods=8, seed=2)
    before = df.copy()
    kw = {
        "outcome": "y",
        "treatment": "d",
        "covariates": ["x"],
        "roles": ROLES,
        "n_bootstrap": 100,
        "lags": 2,
        "leads": 1,
    }
    a = cqox.estimate("panel_match", df, seed=4, **kw)
    b = cqox.estimate("panel_match", df, seed=4, **kw)
    assert df.equals(before)
    assert a.se == b.se and a.estimate == b.estimate
    bal = a.tables["balance"]
    assert set(bal["lag"]) == {1, 2} and set(bal["covariate"]) == {"x", "y"}
    assert {g.name for g in a.gates} == {"panel_match_balance", "panel_match_matched_share"}
    assert a.to_dict()["tables"]["leads"]


def test_unbalanced_panel_is_a_data_error() -> None:
    df, _ = panel_switching(n_units=30, n_periods=6, seed=1)
    with pytest.raises(cqox.DataError, match="balanced panel"):
        cqox.estimate("panel_match", df.iloc[1:], outcome="y", treatment="d", roles=ROLES)


def test_lead_above_leads_is_named() -> None:
    df, _ = panel_switching(n_units=30, n_periods=6, seed=1)
    with pytest.raises(cqox.ParameterError, match="'lead'"):
        cqox.estimate("panel_match", df, outcome="y", treatment="d", roles=ROLES, lead=3, leads=1)
