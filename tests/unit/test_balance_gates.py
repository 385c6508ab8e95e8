"""Balance, variance-ratio, VIF, matched-share and trimming gates."""

from __future__ import annotations

import numpy as np
import pytest

from cqox.core.context import Context
from cqox.gates.balance import (
    balance_table,
    data_gates,
    matched_share_gate,
    smd_gate,
    trim_to_common_support,
    variance_ratio_gate,
    vif,
    vif_gate,
)
from tests.reference.golden import STATSMODELS

#: Closed forms computed two ways: rounding only.
ROUNDING = 1e-10


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((500, 3))
    t = (rng.random(500) < 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    return X, t


def test_smd_and_variance_ratio_match_hand_formulas() -> None:
    X, t = _data()
    table = balance_table(X, t, ["a", "b", "c"])
    x1, x0 = X[t == 1, 0], X[t == 0, 0]
    smd = (x1.mean() - x0.mean()) / np.sqrt((x1.var() + x0.var()) / 2)
    assert table.smd_before[0] == pytest.approx(smd, rel=ROUNDING)
    assert table.vr_before[0] == pytest.approx(x1.var() / x0.var(), rel=ROUNDING)


def test_weighted_smd_uses_weighted_means_and_unweighted_scale() -> None:
    X, t = _data(1)
    w = np.random.default_rng(2).random(500) + 0.5
    table = balance_table(X, t, ["a", "b", "c"], w)
    x1, x0 = X[t == 1, 1], X[t == 0, 1]
    m1 = np.average(x1, weights=w[t == 1])
    m0 = np.average(x0, weights=w[t == 0])
    assert table.smd_after is not None
    assert table.smd_after[1] == pytest.approx(
        (m1 - m0) / np.sqrt((x1.var() + x0.var()) / 2), rel=ROUNDING
    )


def test_smd_gate_names_worst_covariate_and_warns_before_adjustment() -> None:
    X, t = _data()
    gate = smd_gate(balance_table(X, t, ["a", "b", "c"]), Context(), after=False)
    assert gate.name == "covariate_balance_raw"
    assert gate.status == "warn" and "(a)" in gate.message
    assert set(gate.details["smd"]) == {"a", "b", "c"}


def test_balance_gates_pass_in_a_randomised_design() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20_000, 3))
    t = (rng.random(20_000) < 0.5).astype(float)
    table = balance_table(X, t, ["a", "b", "c"])
    assert smd_gate(table, Context(), after=False).status == "pass"
    assert variance_ratio_gate(table, Context(), after=False).status == "pass"


def test_vif_equals_statsmodels() -> None:
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 3))
    X[:, 2] = X[:, 0] + 0.3 * X[:, 1] + 0.2 * rng.standard_normal(300)
    Z = np.column_stack([np.ones(300), X])

    def statsmodels_vif() -> list[float]:
        from statsmodels.stats.outliers_influence import variance_inflation_factor

        return [variance_inflation_factor(Z, j) for j in (1, 2, 3)]

    want = STATSMODELS.outputs("vif/collinear-seed4", statsmodels_vif)
    assert vif(X) == pytest.approx(want, rel=1e-8)
    assert vif_gate(X, ["a", "b", "c"], Context()).status == "warn"


def test_matched_share_gate_thresholds_are_overridable() -> None:
    assert matched_share_gate(70, 100, Context(), "treated").status == "warn"
    assert matched_share_gate(30, 100, Context(), "treated").status == "fail"
    ctx = Context(thresholds={"matched_share": 0.6})
    assert matched_share_gate(70, 100, ctx, "treated").status == "pass"


def test_trimming_counts_rows_outside_support() -> None:
    e = np.array([0.05, 0.2, 0.5, 0.3, 0.6, 0.95])
    t = np.array([0, 0, 0, 1, 1, 1.0])
    trim = trim_to_common_support(e, t)
    # support = [max(0.3, 0.05), min(0.95, 0.5)] = [0.3, 0.5]
    assert trim.keep.tolist() == [False, False, True, True, False, False]
    assert trim.counts() == {"n_trimmed": 4, "n_trimmed_treated": 2, "n_trimmed_control": 2}


def test_data_gates_cover_balance_vif_overlap_and_weights() -> None:
    X, t = _data()
    e = 1 / (1 + np.exp(-X[:, 0]))
    names = {g.name for g in data_gates(X, t, ["a", "b", "c"], Context(), e)}
    assert names == {
        "covariate_balance_raw",
        "vif",
        "common_support",
        "effective_sample_size",
        "max_weight_ratio",
    }
