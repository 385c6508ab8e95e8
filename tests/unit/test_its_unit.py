"""Unit checks of ``its``: interface, counterfactual, comparative ITS, errors, figure."""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.report.figures_its import its_plotly, its_png
from cqox.simulate.its import its_ar1


def test_noise_free_series_recovers_level_and_slope_exactly() -> None:
    df, _truth = its_ar1(n_pre=30, n_post=20, level=3.0, slope=0.2, sigma=1e-12, seed=0)
    lev = cqox.estimate("its", df, outcome="y", roles={"time": "t"}, interruption=30)
    assert lev.estimate == pytest.approx(3.0, abs=1e-9)
    assert lev.diagnostics["slope_change"] == pytest.approx(0.2, abs=1e-9)
    fit = lev.tables["fit"]
    post = fit["post"].to_numpy()
    gap = (fit["fitted"] - fit["counterfactual"]).to_numpy()[post]
    np.testing.assert_allclose(gap, 3.0 + 0.2 * np.arange(20), atol=1e-8)


def test_treatment_role_gives_the_interruption() -> None:
    df, _ = its_ar1(n_pre=40, n_post=30, seed=1)
    a = cqox.estimate("its", df, outcome="y", treatment="post", roles={"time": "t"})
    b = cqox.estimate("its", df, outcome="y", roles={"time": "t"}, interruption=40)
    assert a.estimate == b.estimate and a.diagnostics["interruption"] == 40


def test_shuffled_rows_give_the_same_answer_and_data_untouched() -> None:
    df, _ = its_ar1(n_pre=40, n_post=30, seed=2)
    shuffled = df.sample(frac=1.0, random_state=0)
    before = shuffled.copy()
    a = cqox.estimate("its", df, outcome="y", roles={"time": "t"}, interruption=40)
    b = cqox.estimate("its", shuffled, outcome="y", roles={"time": "t"}, interruption=40)
    assert shuffled.equals(before)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)


def test_comparative_its_removes_a_common_shock() -> None:
    df, _ = its_ar1(n_pre=40, n_post=40, level=1.0, with_control=True, seed=3)
    df = df.copy()
    shock = np.where(df["t"] >= 40, 5.0, 0.0)  # a co-interruption hitting both series
    df["y"] += shock
    df["c"] += shock
    naive = cqox.estimate("its", df, outcome="y", roles={"time": "t"}, interruption=40)
    comp = cqox.estimate("its", df, outcome="y", roles={"time": "t"}, interruption=40, control="c")
    assert abs(naive.estimate - 1.0) > 3 and abs(comp.estimate - 1.0) < 4 * comp.se
    assert comp.diagnostics["comparative"]


def test_non_monotone_treatment_is_a_design_error() -> None:
    df, _ = its_ar1(n_pre=20, n_post=20, seed=4)
    df = df.copy()
    df.loc[30, "post"] = 0
    with pytest.raises(cqox.DesignError, match="0 up to the interruption"):
        cqox.estimate("its", df, outcome="y", treatment="post", roles={"time": "t"})


def test_short_segment_warns_and_figure_renders() -> None:
    df, _ = its_ar1(n_pre=30, n_post=5, seed=5)
    est = cqox.estimate(
        "its", df, outcome="y", roles={"time": "t"}, interruption=30, season_period=12
    )
    assert est.gates[0].name == "its_segment_length" and est.gates[0].status == "warn"
    assert its_png(est)[:4] == b"\x89PNG"
    assert len(its_plotly(est)["data"]) == 4
    assert est.to_dict()["tables"]["coefficients"]


# --- inference options and the design-adjusted fixed-b reference distribution -------------

#: Same linear algebra by two routes (dense n×n matrices vs the O(n) kernel algebra).
ALGEBRA_RTOL = 1e-9


def _dense_kernel(kernel: str, n: int, width: int) -> np.ndarray:
    """Dense ``K``: Bartlett ``(1 − |s−t|/(L+1))_+`` or EWC ``ΦΦ'/ν`` (written out here)."""
    if kernel == "bartlett":
        gap = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
        return np.clip(1.0 - gap / (width + 1.0), 0.0, None)
    s = np.arange(n) + 0.5
    phi = np.sqrt(2.0) * np.cos(np.pi * np.outer(s, np.arange(1, width + 1)) / n)
    return phi @ phi.T / width


@pytest.mark.parametrize(
    ("kernel", "width"), [("bartlett", 9), ("bartlett", 59), ("ewc", 6), ("ewc", 40)]
)
def test_fixed_b_moments_match_dense_quadratic_forms(kernel: str, width: int) -> None:
    from cqox.estimators.its.segmented import fixed_b, its_design, ols_ewc, ols_hac

    n = 60
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, 1))
    Z, _ = its_design(n, 36, 12, "fourier", 2, X, ["x"])
    y = rng.normal(size=n)
    fit = ols_hac(y, Z, width) if kernel == "bartlett" else ols_ewc(y, Z, width)
    fb = fixed_b(fit)
    K = _dense_kernel(kernel, n, width)
    M = np.eye(n) - Z @ np.linalg.solve(Z.T @ Z, Z.T)
    rows = np.linalg.solve(Z.T @ Z, Z.T)
    e = M @ y
    for j, a in enumerate(rows):
        A = M @ (a[:, None] * K * a[None, :]) @ M
        assert fit.cov[j, j] == pytest.approx((a * e) @ K @ (a * e), rel=ALGEBRA_RTOL)
        assert fb.scale[j] == pytest.approx(np.sqrt(a @ a / np.trace(A)), rel=ALGEBRA_RTOL)
        assert fb.df[j] == pytest.approx(np.trace(A) ** 2 / np.sum(A * A), rel=ALGEBRA_RTOL)


def test_ewc_on_a_mean_only_design_is_exactly_t_nu() -> None:
    from scipy import stats

    from cqox.estimators.its.segmented import fixed_b, ols_ewc

    fb = fixed_b(ols_ewc(np.random.default_rng(0).normal(size=100), np.ones((100, 1)), 8))
    assert fb.scale[0] == pytest.approx(1.0, rel=1e-12)
    assert fb.df[0] == pytest.approx(8.0, rel=1e-12)
    assert fb.critical_value(0.95)[0] == pytest.approx(stats.t.ppf(0.975, 8), rel=1e-12)


def test_bartlett_smoothing_equals_the_dense_kernel_product() -> None:
    from cqox.estimators.its.segmented import bartlett_smooth

    V = np.random.default_rng(1).normal(size=(3, 40, 2))
    for lag in (0, 1, 7, 39):
        np.testing.assert_allclose(
            bartlett_smooth(V, lag), np.matmul(_dense_kernel("bartlett", 40, lag), V), rtol=1e-10
        )


def test_inference_choice_is_resolved_and_reported() -> None:
    df, _ = its_ar1(n_pre=60, n_post=40, seed=8)
    kw: dict[str, object] = {"outcome": "y", "roles": {"time": "t"}, "interruption": 60}
    ewc = cqox.estimate("its", df, **kw)
    assert ewc.diagnostics["se_method"] == "ewc" and ewc.diagnostics["ewc_terms"] == 9
    assert "EWC SE (9 cosine terms)" in ewc.method and "fixed-b" in ewc.method
    nw = cqox.estimate("its", df, hac_lag=5, **kw)
    assert nw.diagnostics["se_method"] == "fixed_b" and nw.diagnostics["hac_lag"] == 5
    llsw = cqox.estimate("its", df, se_method="fixed_b", **kw)
    assert llsw.diagnostics["hac_lag"] == 13  # floor(1.3 · 100^(1/2))
    normal = cqox.estimate("its", df, se_method="normal", **kw)
    assert normal.diagnostics["hac_lag"] == 4 and normal.method.endswith("normal CI")
    # the interval and p-value use the reported critical value
    for est in (ewc, nw, llsw):
        c = est.diagnostics["critical_value"]
        assert est.ci[0] == pytest.approx(est.estimate - c * est.se, rel=1e-12)
        assert c > 1.96
    assert normal.ci[1] == pytest.approx(normal.estimate + 1.959963984540054 * normal.se)
    with pytest.raises(cqox.ParameterError, match="hac_lag"):
        cqox.estimate("its", df, se_method="ewc", hac_lag=3, **kw)
    with pytest.raises(cqox.ParameterError, match="ewc_terms"):
        cqox.estimate("its", df, se_method="normal", ewc_terms=5, **kw)


def test_p_value_is_five_percent_at_the_interval_bound() -> None:
    """Duality: the 95% CI is the set of nulls a 5% test keeps (shifted data, same t law)."""
    df, _ = its_ar1(n_pre=40, n_post=30, seed=9)
    kw: dict[str, object] = {"outcome": "y", "roles": {"time": "t"}, "interruption": 40}
    for inference in ("ewc", "fixed_b", "normal"):
        est = cqox.estimate("its", df, se_method=inference, **kw)
        shifted = df.copy()
        shifted["y"] = df["y"] - est.ci[1] * (df["t"] >= 40)
        moved = cqox.estimate("its", shifted, se_method=inference, **kw)
        assert moved.p_value == pytest.approx(0.05, rel=1e-8)


def test_small_sample_factor_leaves_the_fixed_b_interval_unchanged() -> None:
    df, _ = its_ar1(n_pre=40, n_post=30, seed=10)
    kw: dict[str, object] = {"outcome": "y", "roles": {"time": "t"}, "interruption": 40}
    a = cqox.estimate("its", df, **kw)
    b = cqox.estimate("its", df, small_sample=True, **kw)
    assert b.se > a.se
    assert b.ci == pytest.approx(a.ci, rel=1e-12) and b.p_value == pytest.approx(a.p_value)


def test_as_many_coefficients_as_periods_is_a_design_error() -> None:
    df, _ = its_ar1(n_pre=2, n_post=2, seed=1)
    with pytest.raises(cqox.DesignError, match="4 coefficients but only 4 periods"):
        cqox.estimate("its", df, outcome="y", roles={"time": "t"}, interruption=2)
