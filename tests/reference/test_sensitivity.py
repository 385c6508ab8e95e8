"""Sensitivity analysis against published worked examples and exact identities.

- E-values: VanderWeele & Ding (2017, Ann. Intern. Med. 167:268), worked example
  RR 3.9 (CI 1.8–8.45) → E-value 7.26, CI limit → 3.0; and their Table 2 conversions.
- Rosenbaum bounds: Rosenbaum (2002, *Observational Studies*, ch. 4) lead-exposure pairs
  (Morton et al. 1982; the data as shipped with R's rbounds): at Γ = 1 the bound equals
  the ordinary Wilcoxon signed-rank test (SciPy); exact bounds equal SciPy's exact test
  at Γ = 1 and a Monte-Carlo draw from the bounding distribution at Γ > 1.
- OVB: Cinelli & Hazlett (2020, JRSS-B 82:39), Darfur example — t = 0.09731582 /
  0.02325654, df = 783 gives R²_{Y~D|X} = 2.19%, RV = 13.88%, RV_{α=0.05} = 7.63%
  (published, and sensemakr's 0.02187 / 0.13878 / 0.07626); and the in-sample identity
  of the OVB formula against statsmodels OLS with the confounder included (its outputs
  stored in golden/statsmodels.json for machines without it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from cqox.sensitivity import (
    bias_bound,
    evalue,
    ovb_sensitivity,
    partial_r2,
    robustness_value,
    rosenbaum_bounds,
)
from tests.reference.golden import STATSMODELS

#: Published values are printed to 2 decimals (E-values) or 5 (sensemakr).
E_PRINT = 0.005
SENSEMAKR_PRINT = 5e-6
#: Identities computed two ways: rounding only.
ROUNDING = 1e-9

LEAD_EXPOSED = [38, 23, 41, 18, 37, 36, 23, 62, 31, 34, 24, 14, 21, 17, 16, 20, 15]
LEAD_EXPOSED += [10, 45, 39, 22, 35, 49, 48, 44, 35, 43, 39, 34, 13, 73, 25, 27]
LEAD_CONTROL = [16, 18, 18, 24, 19, 11, 10, 15, 16, 18, 18, 13, 19, 10, 16, 16, 24]
LEAD_CONTROL += [13, 9, 14, 21, 19, 7, 18, 19, 12, 11, 22, 25, 16, 13, 11, 13]


def test_evalue_worked_example() -> None:
    e = evalue(3.9, 1.8, 8.45)
    assert e.evalue == pytest.approx(7.26, abs=E_PRINT)
    assert e.evalue_ci == pytest.approx(3.0, abs=E_PRINT)


def test_evalue_protective_and_null_crossing() -> None:
    assert evalue(1 / 3.9).evalue == pytest.approx(evalue(3.9).evalue, rel=ROUNDING)
    assert evalue(1.5, 0.9, 2.5).evalue_ci == 1.0


@pytest.mark.parametrize(
    ("measure", "rare", "value", "rr"),
    [
        ("OR", True, 2.0, 2.0),
        ("OR", False, 4.0, 2.0),
        ("HR", True, 2.0, 2.0),
        ("HR", False, 2.0, (1 - 0.5 ** math.sqrt(2)) / (1 - 0.5 ** math.sqrt(0.5))),
    ],
)
def test_evalue_conversions_follow_table_2(
    measure: str, rare: bool, value: float, rr: float
) -> None:
    e = evalue(value, measure=measure, rare=rare)
    assert e.rr == pytest.approx(rr, rel=ROUNDING)
    assert e.evalue == pytest.approx(rr + math.sqrt(rr * (rr - 1)), rel=ROUNDING)


def test_evalue_standardised_difference() -> None:
    e = evalue(0.5, measure="SMD", se=0.1)
    assert e.rr == pytest.approx(math.exp(0.91 * 0.5), rel=ROUNDING)
    assert e.rr_ci_limit == pytest.approx(math.exp(0.91 * 0.5 - 1.78 * 0.1), rel=ROUNDING)


def test_rosenbaum_gamma_one_is_the_wilcoxon_test() -> None:
    b = rosenbaum_bounds(LEAD_EXPOSED, LEAD_CONTROL, gammas=[1.0])
    d = np.subtract(LEAD_EXPOSED, LEAD_CONTROL)
    ref = stats.wilcoxon(d, alternative="greater", method="approx", correction=False)
    assert b.statistic == pytest.approx(float(ref.statistic))
    assert b.p_upper[0] == pytest.approx(ref.pvalue, rel=1e-9)
    assert b.p_lower[0] == pytest.approx(ref.pvalue, rel=1e-9)
    assert b.n_pairs == 32 and b.n_zero == 1  # one pair has equal lead levels


def test_rosenbaum_lead_bounds_bracket_and_grow_with_gamma() -> None:
    b = rosenbaum_bounds(LEAD_EXPOSED, LEAD_CONTROL, gammas=[1, 2, 3, 4, 5, 6])
    assert np.all(np.diff(b.p_upper) > 0) and np.all(np.diff(b.p_lower) <= 0)
    assert np.all(b.p_lower <= b.p_upper)
    # the study stays significant at 5% up to a critical Γ between 4 and 5
    assert 4.0 < b.gamma_critical < 5.0
    at_critical = rosenbaum_bounds(LEAD_EXPOSED, LEAD_CONTROL, gammas=[b.gamma_critical])
    assert at_critical.p_upper[0] == pytest.approx(0.05, abs=1e-8)


def test_rosenbaum_exact_equals_scipy_exact_without_ties() -> None:
    d = np.array([1.3, -0.4, 2.2, 3.1, 0.9, -1.7, 2.8, 0.2, 4.4, 1.1, -0.6, 3.6])
    b = rosenbaum_bounds(d, gammas=[1.0], method="exact")
    ref = stats.wilcoxon(d, alternative="greater", method="exact")
    assert b.p_upper[0] == pytest.approx(ref.pvalue, rel=1e-12)


def test_rosenbaum_exact_upper_bound_equals_monte_carlo_of_bounding_law() -> None:
    d = np.subtract(LEAD_EXPOSED, LEAD_CONTROL)
    b = rosenbaum_bounds(d, gammas=[3.0], method="exact")
    d = d[d != 0]
    q = stats.rankdata(np.abs(d))
    rng = np.random.default_rng(0)
    draws = (rng.random((400_000, len(q))) < 0.75) @ q  # p⁺ = Γ/(1+Γ) = 3/4
    mc = np.mean(draws >= b.statistic)
    # Monte-Carlo SE of a proportion near 0.006 with 4·10⁵ draws ≈ 1.2e-4: allow 5 SE
    assert b.p_upper[0] == pytest.approx(mc, abs=6e-4)


def test_robustness_values_reproduce_darfur() -> None:
    t = 0.09731582 / 0.02325654
    assert partial_r2(t, 783) == pytest.approx(0.02187, abs=SENSEMAKR_PRINT)
    assert robustness_value(t, 783) == pytest.approx(0.13878, abs=SENSEMAKR_PRINT)
    assert robustness_value(t, 783, alpha=0.05) == pytest.approx(0.07626, abs=SENSEMAKR_PRINT)


def _confounded(seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n = 2000
    X = rng.standard_normal((n, 3))
    z = rng.standard_normal(n)
    d = 0.5 * X[:, 0] + 0.4 * z + rng.standard_normal(n)
    y = 1.0 * d + X @ np.array([1.0, 0.5, -0.5]) + 0.8 * z + rng.standard_normal(n)
    return y, d, X, z


def _ols(case: str, y: np.ndarray, X: np.ndarray) -> dict[str, Any]:
    """statsmodels OLS with a constant (params, bse, tvalues, df_resid), live or stored."""

    def fit() -> dict[str, Any]:
        import statsmodels.api as sm

        ols = sm.OLS(y, sm.add_constant(X)).fit()
        return {"params": ols.params, "bse": ols.bse, "tvalues": ols.tvalues, "df": ols.df_resid}

    out = STATSMODELS.outputs(f"ovb/{case}", fit)
    return {k: np.asarray(v) if isinstance(v, list) else v for k, v in out.items()}


def test_ovb_estimate_equals_statsmodels_ols() -> None:
    y, d, X, _ = _confounded()
    res = ovb_sensitivity(y, d, X, ["a", "b", "c"])
    ols = _ols("y-on-d-x-seed0", y, np.column_stack([d, X]))
    assert res.estimate == pytest.approx(ols["params"][1], rel=ROUNDING)
    assert res.se == pytest.approx(ols["bse"][1], rel=ROUNDING)
    assert res.dof == int(ols["df"])
    t = ols["tvalues"][1]
    assert res.r2yd_x == pytest.approx(t**2 / (t**2 + ols["df"]))


def test_ovb_bias_formula_is_exact_in_sample() -> None:
    """|τ̂_short − τ̂_long| = se_short·sqrt(df)·sqrt(R²yz·R²dz/(1 − R²dz)), sample R²s."""
    y, d, X, z = _confounded(1)
    short = _ols("y-on-d-x-seed1", y, np.column_stack([d, X]))
    long = _ols("y-on-d-x-z-seed1", y, np.column_stack([d, X, z]))
    r2yz = long["tvalues"][-1] ** 2 / (long["tvalues"][-1] ** 2 + long["df"])
    dz = _ols("d-on-x-z-seed1", d, np.column_stack([X, z]))
    r2dz = dz["tvalues"][-1] ** 2 / (dz["tvalues"][-1] ** 2 + dz["df"])
    bias = bias_bound(short["bse"][1], short["df"], r2yz, r2dz)
    assert bias == pytest.approx(abs(short["params"][1] - long["params"][1]), rel=1e-8)


def test_ovb_benchmark_bounds_use_observed_covariate_strength() -> None:
    y, d, X, _ = _confounded(2)
    res = ovb_sensitivity(y, d, X, ["a", "b", "c"], benchmarks=["a"], k=[1.0])
    row = res.bounds.iloc[0]
    dx = _ols("d-on-x-seed2", d, X)
    r2dxj = dx["tvalues"][1] ** 2 / (dx["tvalues"][1] ** 2 + dx["df"])
    assert row["r2dz_x"] == pytest.approx(r2dxj / (1 - r2dxj), rel=ROUNDING)
    bias = bias_bound(res.se, res.dof, row["r2yz_dx"], row["r2dz_x"])
    assert row["adjusted_estimate"] == pytest.approx(res.estimate - bias, rel=ROUNDING)
