"""Uplift curves and the budget-constrained targeting table."""

from __future__ import annotations

import numpy as np
import pytest

from cqox.estimators.cate.uplift import targeting_table, uplift_curves


def test_curves_by_hand_on_four_rows() -> None:
    phi = np.array([1.0, 4.0, -2.0, 3.0])
    priority = np.array([0.1, 0.9, -1.0, 0.5])  # order: 4, 3, 1, -2
    curve, areas = uplift_curves(phi, priority, n_points=5)
    np.testing.assert_allclose(curve["uplift"], [0, 1.0, 1.75, 2.0, 1.5])
    np.testing.assert_allclose(curve["qini"], curve["uplift"] - curve["share_treated"] * 1.5)
    assert areas["auuc"] == pytest.approx(np.mean([1.0, 1.75, 2.0, 1.5]))
    assert curve["toc"][4] == pytest.approx(0.0)


def test_targeting_marks_the_best_feasible_coverage_per_budget() -> None:
    rng = np.random.default_rng(0)
    tau = rng.normal(1.0, 2.0, 5000)
    table = targeting_table(tau, tau, cost_per_treated=1.0, budgets=[0.1])
    free = table[table.budget.isna()]
    best = free[free.optimal].iloc[0]
    # treat while τ > cost: the share with τ > 1 is one half
    assert best.coverage == pytest.approx(0.5, abs=0.05)
    capped = table[table.budget == 0.1]
    assert capped[capped.optimal].iloc[0].coverage == pytest.approx(0.1)
    assert not capped[capped.coverage > 0.1].feasible.any()
