"""``its`` against statsmodels ``OLS(...).fit(cov_type="HAC")`` on the same design.

statsmodels' outputs are stored in golden/statsmodels.json for machines without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import cqox
from cqox.estimators.its.segmented import auto_lag, its_design
from cqox.simulate.its import its_ar1
from tests.reference.golden import STATSMODELS


def _hac_ols(case: str, y: np.ndarray, Z: np.ndarray, **cov_kwds: Any) -> dict[str, Any]:
    """statsmodels' OLS with HAC covariance: coefficients, SEs, CI and p of column 2."""

    def fit() -> dict[str, Any]:
        import statsmodels.api as sm

        ref = sm.OLS(y, Z).fit(cov_type="HAC", cov_kwds=cov_kwds)
        return {
            "params": ref.params,
            "bse": ref.bse,
            "ci2": ref.conf_int(alpha=0.05)[2],
            "p2": ref.pvalues[2],
        }

    return STATSMODELS.outputs(f"its/{case}", fit)  # type: ignore[no-any-return]


#: Same linear algebra up to the QR vs normal-equations route: 1e-8 relative.
RTOL = 1e-8

CASES = [
    # (hac_lag, small_sample, season_period, season_method, control)
    (None, False, None, "fourier", False),
    (3, False, None, "fourier", False),
    (0, True, None, "fourier", False),
    (6, True, 12, "fourier", False),
    (None, False, 12, "dummies", False),
    (4, False, None, "fourier", True),
]


@pytest.mark.parametrize(("lag", "small", "period", "method", "control"), CASES)
def test_coefficients_and_hac_se_match_statsmodels(
    lag: int | None, small: bool, period: int | None, method: str, control: bool
) -> None:
    df, _ = its_ar1(n_pre=50, n_post=46, season_amplitude=1.0, with_control=control, seed=4)
    params: dict[str, object] = {
        "interruption": 50,
        "inference": "normal",
        "hac_lag": lag,
        "small_sample": small,
        "season_period": period,
        "season_method": method,
    }
    if control:
        params["control"] = "c"
    lev = cqox.estimate("its", df, outcome="y", roles={"time": "t"}, **params)
    slo = cqox.estimate(
        "its", df, outcome="y", roles={"time": "t"}, estimand="slope_change", **params
    )
    n = len(df)
    # the design built independently of its_design for the basic columns
    s = np.arange(n, dtype=float)
    D = (s >= 50).astype(float)
    Z, _ = its_design(n, 50, period, method)
    np.testing.assert_array_equal(Z[:, :4], np.column_stack([np.ones(n), s - 50, D, (s - 50) * D]))
    y = df["y"].to_numpy() - (df["c"].to_numpy() if control else 0.0)
    L = auto_lag(n) if lag is None else lag
    case = f"hac-lag={L}-small={small}-period={period}-{method}-control={control}"
    ref = _hac_ols(case, y, Z, maxlags=L, use_correction=small)
    assert lev.estimate == pytest.approx(ref["params"][2], rel=RTOL)
    assert lev.se == pytest.approx(ref["bse"][2], rel=RTOL)
    assert slo.estimate == pytest.approx(ref["params"][3], rel=RTOL)
    assert slo.se == pytest.approx(ref["bse"][3], rel=RTOL)
    lo, hi = ref["ci2"]
    assert lev.ci[0] == pytest.approx(lo, rel=RTOL) and lev.ci[1] == pytest.approx(hi, rel=RTOL)
    assert lev.p_value == pytest.approx(ref["p2"], rel=1e-6, abs=1e-12)
    coefs = lev.tables["coefficients"]
    np.testing.assert_allclose(coefs["coef"], ref["params"], rtol=RTOL, atol=1e-10)
    np.testing.assert_allclose(coefs["se"], ref["bse"], rtol=RTOL)


def test_automatic_lag_is_statsmodels_default_rule() -> None:
    x = np.random.default_rng(0).normal(size=(150, 2))

    def hac() -> dict[str, Any]:
        from statsmodels.stats.sandwich_covariance import S_hac_simple

        return {"default": S_hac_simple(x), "by_lag": [S_hac_simple(x, nlags=k) for k in range(8)]}

    ref = STATSMODELS.outputs("its/S_hac_simple-default-lag-n150", hac)
    assert auto_lag(150) == 4
    np.testing.assert_allclose(ref["default"], ref["by_lag"][auto_lag(150)])
    assert not np.allclose(ref["default"], ref["by_lag"][3])  # the lag is identified


@pytest.mark.parametrize("lag", [None, 7])
def test_fixed_b_newey_west_se_is_statsmodels_hac_at_the_llsw_lag(lag: int | None) -> None:
    """inference='fixed_b' keeps the Newey–West SE; only the critical value changes."""
    from cqox.estimators.its.segmented import llsw_lag

    df, _ = its_ar1(n_pre=50, n_post=46, seed=5)
    est = cqox.estimate(
        "its",
        df,
        outcome="y",
        roles={"time": "t"},
        interruption=50,
        inference="fixed_b",
        hac_lag=lag,
    )
    n = len(df)
    L = llsw_lag(n) if lag is None else lag
    assert est.diagnostics["hac_lag"] == L == (12 if lag is None else 7)
    Z, _ = its_design(n, 50)
    ref = _hac_ols(f"fixed-b-lag={L}", df["y"].to_numpy(), Z, maxlags=L)
    assert est.estimate == pytest.approx(ref["params"][2], rel=RTOL)
    assert est.se == pytest.approx(ref["bse"][2], rel=RTOL)
    assert est.diagnostics["slope_change_se"] == pytest.approx(ref["bse"][3], rel=RTOL)
