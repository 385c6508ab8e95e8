"""Conformal inference for synthetic control (Chernozhukov, Wüthrich & Zhu 2021).

Hand computations of the p-value on a two-donor panel, exact uniformity of the
moving-block p-value over the cyclic shifts of a data set, the test-inversion ends of
the interval, and the estimator's ``inference`` switch.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

import cqox
from cqox.estimators.synth.conformal import (
    ConformalSC,
    conformal_inference,
    permutation_p_value,
    permutation_positions,
)
from cqox.simulate.synth import synth_factor_model

ROLES = {"unit": "unit", "time": "time", "treatment": "treated"}
#: p-values are ratios of small integers; only rounding separates ours from the hand ones.
P_TOL = 1e-12
#: The two-donor weight is a closed-form ratio; the active-set QP solves the same KKT
#: system (plus a 1e-11 relative ridge).
W_TOL = 1e-8
#: Relative step off each end of the interval when checking that it is the boundary of
#: the acceptance region (the ends are bisected to 1e-7 of the residual scale).
EDGE_STEP = 1e-4


def _two_donor_hand_p(
    y1: np.ndarray, Y0: np.ndarray, post: np.ndarray, theta: float
) -> tuple[float, float, float]:
    """Weight on donor 0 and the moving-block and all-subset p-values, by hand."""
    y = y1 - theta * post
    d = Y0[:, 0] - Y0[:, 1]
    a = float(np.clip(((y - Y0[:, 1]) @ d) / (d @ d), 0.0, 1.0))
    u = np.abs(y - a * Y0[:, 0] - (1 - a) * Y0[:, 1])
    T, idx = len(y), np.flatnonzero(post)
    s_obs = u[idx].sum()
    shifts = [u[(idx + s) % T].sum() for s in range(T)]
    p_mb = np.mean([s >= s_obs - 1e-12 for s in shifts])
    subsets = [u[list(c)].sum() for c in combinations(range(T), len(idx))]
    p_iid = np.mean([s >= s_obs - 1e-12 for s in subsets])
    return a, float(p_mb), float(p_iid)


@pytest.mark.parametrize("theta", [0.0, 1.3, -0.7, 5.0])
def test_p_value_equals_hand_computation_on_two_donors(theta: float) -> None:
    rng = np.random.default_rng(3)
    T = 8
    post = np.arange(T) >= 6
    Y0 = rng.normal(size=(T, 2)) + np.array([0.0, 1.0])
    y1 = 0.4 * Y0[:, 0] + 0.6 * Y0[:, 1] + rng.normal(0, 0.3, T) + 1.0 * post
    a, p_mb, p_iid = _two_donor_hand_p(y1, Y0, post, theta)
    model = ConformalSC(y1, Y0, post)
    w = model.weights(theta)
    assert w[0] == pytest.approx(a, abs=W_TOL)
    u = model.residuals(theta, w)
    for method, hand in (("moving_block", p_mb), ("iid", p_iid)):
        pos, sampled = permutation_positions(T, post, method, 10_000, None)
        assert not sampled  # 28 subsets ≤ 10,000: enumerated exactly
        assert permutation_p_value(u, pos) == pytest.approx(hand, abs=P_TOL)
    if theta == 0.0:
        assert conformal_inference(y1, Y0, post, 0.95).p_value == pytest.approx(p_mb, abs=P_TOL)


def test_moving_block_p_value_is_exactly_uniform_over_cyclic_shifts_of_the_data() -> None:
    # The SC fit on all periods does not depend on the order of the periods, so shifting
    # the rows cyclically shifts the residuals: over the T shifted data sets the observed
    # block takes every rank once and the p-values are exactly 1/T, 2/T, …, 1.
    rng = np.random.default_rng(0)
    T, J = 20, 6
    post = np.arange(T) >= 16
    Y0 = rng.normal(size=(T, J)).cumsum(axis=0)
    y1 = Y0[:, :3].mean(axis=1) + rng.normal(0, 0.5, T)
    ps = sorted(
        conformal_inference(np.roll(y1, s), np.roll(Y0, s, axis=0), post, 0.9).p_value
        for s in range(T)
    )
    np.testing.assert_allclose(ps, np.arange(1, T + 1) / T, atol=P_TOL)


def test_random_iid_permutations_use_one_plus_count_over_one_plus_draws() -> None:
    rng = np.random.default_rng(1)
    T = 30
    post = np.arange(T) >= 20
    pos, sampled = permutation_positions(T, post, "iid", 999, rng)
    assert sampled and pos.shape == (1000, 10)
    np.testing.assert_array_equal(pos[0], np.arange(20, 30))
    u = np.zeros(T)
    u[20:] = 1.0  # the observed block holds every large residual: only it reaches S
    assert permutation_p_value(u, pos) == pytest.approx(1 / 1000, abs=P_TOL)


def test_interval_ends_are_where_the_test_starts_rejecting() -> None:
    df, _ = synth_factor_model(n_donors=12, n_pre=30, n_post=10, seed=4)
    Y = df.pivot(index="time", columns="unit", values="y").to_numpy()
    y1, Y0, post = Y[:, 0], Y[:, 1:], np.arange(40) >= 30
    res = conformal_inference(y1, Y0, post, 0.95)
    lo, hi = res.ci
    assert lo < res.theta_hat < hi and res.n_permutations == 40 and res.connected
    model = ConformalSC(y1, Y0, post)
    pos, _ = permutation_positions(40, post, "moving_block", 0, None)

    def p(theta: float) -> float:
        return permutation_p_value(model.residuals(theta, model.weights(theta)), pos)

    step = EDGE_STEP * (hi - lo)
    assert p(lo + step) > 0.05 and p(hi - step) > 0.05
    assert p(lo - step) <= 0.05 and p(hi + step) <= 0.05
    # the whole interval is accepted on a fine grid (a connected set here)
    assert all(p(t) > 0.05 for t in np.linspace(lo + step, hi - step, 60))
    assert res.n_qp_solves < 200  # adaptive search, not a dense grid


def _est(df: object, **kw: object) -> cqox.Estimate:
    return cqox.estimate(
        "synth", df, outcome="y", roles=ROLES, v_method="equal", leave_one_out=False, **kw
    )


def test_inference_switch_keeps_placebo_diagnostics_and_names_the_interval() -> None:
    df, _ = synth_factor_model(n_donors=12, n_pre=20, n_post=8, seed=6)
    conf = _est(df)
    plac = _est(df, se_method="placebo")
    assert conf.estimate == plac.estimate and conf.se == plac.se
    assert "conformal inference (Chernozhukov–Wüthrich–Zhu 2021)" in conf.method
    assert "28 moving-block permutations" in conf.method
    assert "placebo-quantile (Conley–Taber)" in plac.method
    assert conf.ci == conf.diagnostics["conformal_ci"] == plac.diagnostics["conformal_ci"]
    assert plac.ci == plac.diagnostics["placebo_ci"] == conf.diagnostics["placebo_ci"]
    assert plac.p_value == conf.diagnostics["p_value_ratio"]
    assert conf.p_value == conf.diagnostics["conformal_p_value"]
    assert {"placebos", "placebo_gaps"} <= set(conf.tables)
    names = [g.name for g in conf.gates]
    assert "synth_placebo_resolution" in names and "synth_conformal_resolution" in names
    hull = _est(df, placebo=False, conformal_interval="hull")
    assert hull.ci == conf.diagnostics["conformal_hull"] and "hull of the set" in hull.method
    # conformal inference needs no placebo refits
    alone = _est(df, placebo=False)
    assert alone.ci == conf.ci and np.isnan(alone.se)


def test_short_panel_falls_back_to_iid_permutations_and_says_so() -> None:
    df, _ = synth_factor_model(n_donors=8, n_pre=12, n_post=4, seed=2)
    est = _est(df, placebo=False)
    assert est.diagnostics["conformal_permutations"] == "iid"
    assert est.diagnostics["conformal_n_permutations"] == 1820  # C(16, 4), enumerated
    assert "i.i.d. permutations" in est.method
    assert any("moving-block permutations, too few" in w for w in est.warnings)
    assert est.ci[0] < est.ci[1]


def test_too_few_permutations_give_an_unbounded_interval_and_a_warning_gate() -> None:
    df, _ = synth_factor_model(n_donors=6, n_pre=4, n_post=1, seed=2)
    est = _est(df, placebo=False)
    assert est.ci == (-np.inf, np.inf)
    gate = next(g for g in est.gates if g.name == "synth_conformal_resolution")
    assert gate.status == "warn" and gate.value == pytest.approx(0.2)


#: Spacing of the dense reference grid below (40 / 2000).
DENSE_STEP = 0.02


@pytest.mark.parametrize("seed", [0, 4, 7])
def test_set_pieces_match_a_dense_grid_when_the_effect_is_not_constant(seed: int) -> None:
    # A ramp effect 0.6, 1.2, …, 6: no constant effect is true, p̂(θ) is not monotone
    # and the accepted set has two pieces; the adaptive search must find both, and the
    # interval is the piece nearest the centre.
    df, _ = synth_factor_model(n_donors=12, n_pre=20, n_post=10, effect=0.0, seed=seed)
    Y = df.pivot(index="time", columns="unit", values="y").to_numpy()
    post = np.arange(30) >= 20
    y1 = Y[:, 0] + 0.6 * np.cumsum(post) * post
    res = conformal_inference(y1, Y[:, 1:], post, 0.95, centre=0.5)
    model = ConformalSC(y1, Y[:, 1:], post)
    pos, _ = permutation_positions(30, post, "moving_block", 0, None)
    grid = np.linspace(-15.0, 25.0, 2001)
    ok = [permutation_p_value(model.residuals(t, model.weights(t)), pos) > 0.05 for t in grid]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.array(ok, int), [0]])))
    dense = [(grid[i], grid[j - 1]) for i, j in zip(edges[::2], edges[1::2], strict=True)]
    assert len(res.components) == len(dense) == 2 and not res.connected
    for (a, b), (da, db) in zip(res.components, dense, strict=True):
        assert a == pytest.approx(da, abs=DENSE_STEP) and b == pytest.approx(db, abs=DENSE_STEP)
    assert res.hull == (res.components[0][0], res.components[1][1])
    assert res.ci == res.components[0]  # the piece that holds (or is nearest) 0.5


def test_post_periods_outside_the_effect_window_are_left_out() -> None:
    df, _ = synth_factor_model(n_donors=12, n_pre=20, n_post=8, seed=6)
    est = _est(df, placebo=False, effect_window="25:28")
    # 20 pre-treatment periods + the 4 effect periods: 24 cyclic shifts
    assert est.diagnostics["conformal_n_permutations"] == 24
    Y = df.pivot(index="time", columns="unit", values="y").to_numpy()
    rows = np.r_[0:20, 24:28]
    post = np.arange(24) >= 20
    att = est.estimate
    res = conformal_inference(Y[rows, 0], Y[rows, 1:], post, 0.95, anchors=(att,), centre=att)
    assert est.ci == res.ci and est.p_value == res.p_value
