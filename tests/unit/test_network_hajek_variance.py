"""The Hájek small-sample corrections reduce to the textbook formulas with equal weights."""

from __future__ import annotations

import numpy as np
import pytest

from cqox.estimators.network.horvitz_thompson import hajek_residuals, kish


def test_kish_size_is_the_count_with_equal_weights_and_smaller_otherwise() -> None:
    assert kish(np.full(7, 0.2)) == pytest.approx(7.0)
    assert kish(np.array([0.5, 0.5, 0.005])) < 2.0


def test_equal_weights_give_n_over_n_minus_one_and_welch_degrees_of_freedom() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=30)
    in_a = np.zeros(30, dtype=bool)
    in_a[:10] = True
    in_b = ~in_a
    pi = np.where(in_a, 1 / 3, 2 / 3)  # realised totals equal N: 10·3 = 20·1.5 = 30
    mean_a, mean_b = y[in_a].mean(), y[in_b].mean()
    e, df = hajek_residuals(y, pi, in_a, in_b, mean_a, mean_b, 30.0, 30.0, 30)
    np.testing.assert_allclose(e[in_a], (y[in_a] - mean_a) * np.sqrt(10 / 9))
    np.testing.assert_allclose(e[in_b], (y[in_b] - mean_b) * np.sqrt(20 / 19))
    # Welch–Satterthwaite with the per-cell parts v_c = Σ (e/π)²
    va = np.sum((e[in_a] / pi[in_a]) ** 2)
    vb = np.sum((e[in_b] / pi[in_b]) ** 2)
    assert df == pytest.approx((va + vb) ** 2 / (va**2 / 9 + vb**2 / 19))


def test_a_cell_whose_weights_total_less_than_n_gets_larger_residuals() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    in_a = np.array([True, True, False, False])
    pi = np.full(4, 0.5)
    e, _ = hajek_residuals(y, pi, in_a, ~in_a, 1.5, 3.5, 2.0, 4.0, 4)
    # cell a carries half of N's weight: its residuals double (times √(2/1))
    np.testing.assert_allclose(np.abs(e[in_a]), 0.5 * 2.0 * np.sqrt(2.0))
    np.testing.assert_allclose(np.abs(e[~in_a]), 0.5 * 1.0 * np.sqrt(2.0))
