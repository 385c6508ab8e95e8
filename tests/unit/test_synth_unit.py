"""Unit checks of the synthetic-control pieces: the simplex QP, the interface, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.estimators.synth._qp import simplex_qp
from cqox.report.figures_synth import (
    synth_gap_plotly,
    synth_gap_png,
    synth_path_plotly,
    synth_path_png,
)
from cqox.simulate.synth import synth_factor_model

#: KKT residual tolerance of the exact active-set solution.
KKT_TOL = 1e-8


def _brute_force_simplex_qp(P: np.ndarray, q: np.ndarray) -> float:
    """Minimum over every face of the simplex by solving its KKT system (tiny J only)."""
    J = len(q)
    best = np.inf
    for r in range(1, J + 1):
        for F in itertools.combinations(range(J), r):
            idx = list(F)
            K = np.zeros((r + 1, r + 1))
            K[:r, :r] = P[np.ix_(idx, idx)]
            K[:r, r] = K[r, :r] = 1.0
            try:
                sol = np.linalg.solve(K, np.concatenate([-q[idx], [1.0]]))
            except np.linalg.LinAlgError:
                continue
            if np.all(sol[:r] >= -1e-12):
                w = np.zeros(J)
                w[idx] = sol[:r]
                best = min(best, 0.5 * w @ P @ w + q @ w)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_simplex_qp_matches_brute_force_over_faces(seed: int) -> None:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(8, 6))
    P, q = A.T @ A, -A.T @ rng.normal(size=8)
    res = simplex_qp(P, q)
    assert res.w.min() >= 0 and res.w.sum() == pytest.approx(1.0, abs=1e-12)
    assert res.objective == pytest.approx(_brute_force_simplex_qp(P, q), abs=KKT_TOL)
    g = P @ res.w + q
    on = res.w > 0
    # KKT: equal gradient on the support, no smaller gradient off it
    assert np.ptp(g[on]) <= KKT_TOL and g[~on].min(initial=np.inf) >= g[on].max() - KKT_TOL


def _sim() -> pd.DataFrame:
    df, _ = synth_factor_model(n_donors=8, n_pre=12, n_post=4, seed=2)
    return df


def test_treatment_role_and_parameters_give_the_same_fit() -> None:
    df = _sim()
    common = {"v_method": "equal", "placebo": False, "leave_one_out": False}
    a = cqox.estimate(
        "synth",
        df,
        outcome="y",
        roles={"unit": "unit", "time": "time", "treatment": "treated"},
        **common,
    )
    b = cqox.estimate(
        "synth",
        df,
        outcome="y",
        roles={"unit": "unit", "time": "time"},
        treated_unit=0,
        treatment_time=13,
        **common,
    )
    assert a.estimate == b.estimate
    assert a.diagnostics["treatment_time"] == 13 and a.n_control == 8


def test_two_treated_units_is_a_design_error() -> None:
    df = _sim()
    df.loc[(df["unit"] == 3) & (df["time"] > 12), "treated"] = 1
    with pytest.raises(cqox.DesignError, match="exactly one treated unit"):
        cqox.estimate(
            "synth", df, outcome="y", roles={"unit": "unit", "time": "time", "treatment": "treated"}
        )


def test_missing_treatment_information_names_the_parameters() -> None:
    with pytest.raises(cqox.RoleError, match="treated_unit"):
        cqox.estimate("synth", _sim(), outcome="y", roles={"unit": "unit", "time": "time"})


def test_wrong_custom_v_length_is_named() -> None:
    with pytest.raises(cqox.ParameterError, match="custom_v"):
        cqox.estimate(
            "synth",
            _sim(),
            outcome="y",
            roles={"unit": "unit", "time": "time", "treatment": "treated"},
            predictors=["x1", "x2"],
            custom_v=[1.0],
        )


def test_user_data_not_mutated_and_result_serialisable_with_figures() -> None:
    df = _sim()
    before = df.copy()
    est = cqox.estimate(
        "synth",
        df,
        outcome="y",
        roles={"unit": "unit", "time": "time", "treatment": "treated"},
        predictors=["x1", "x2"],
        v_method="equal",
    )
    assert df.equals(before)
    d = est.to_dict()
    assert {"path", "weights", "placebos", "placebo_gaps", "leave_one_out"} <= set(d["tables"])
    assert 0 < est.p_value <= 1 and est.se > 0 and est.ci[0] <= est.ci[1]
    assert synth_path_png(est)[:4] == b"\x89PNG" and synth_gap_png(est)[:4] == b"\x89PNG"
    assert len(synth_gap_plotly(est)["data"]) == 9 and synth_path_plotly(est)["data"]


def test_penalty_moves_weights_towards_nearest_donors() -> None:
    df = _sim()
    common = {
        "roles": {"unit": "unit", "time": "time", "treatment": "treated"},
        "v_method": "equal",
        "placebo": False,
        "leave_one_out": False,
    }
    w0 = cqox.estimate("synth", df, outcome="y", **common).tables["weights"]
    w1 = cqox.estimate("synth", df, outcome="y", penalty=100.0, **common).tables["weights"]
    # a huge λ puts all weight on the single nearest donor (nearest-neighbour matching)
    assert w1["weight"].max() == pytest.approx(1.0, abs=1e-6)
    assert (w0["weight"] > 1e-6).sum() >= (w1["weight"] > 1e-6).sum()


def test_command_line_strings_match_numeric_units_and_periods() -> None:
    df = _sim()
    common = {"v_method": "equal", "placebo": False, "leave_one_out": False}
    a = cqox.estimate(
        "synth",
        df,
        outcome="y",
        roles={"unit": "unit", "time": "time"},
        treated_unit="0",
        treatment_time="13",
        donors=["1", "2", "3"],
        **common,
    )
    b = cqox.estimate(
        "synth",
        df,
        outcome="y",
        roles={"unit": "unit", "time": "time"},
        treated_unit=0,
        treatment_time=13,
        donors=[1, 2, 3],
        **common,
    )
    assert a.estimate == b.estimate and a.n_control == 3
