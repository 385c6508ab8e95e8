"""Unit checks of rd: roles, sharp/fuzzy detection, errors, gates and the RD plot."""

from __future__ import annotations

import numpy as np
import pytest

import cqox
from cqox.estimators.rd.local_poly import nn_residuals, tie_groups
from cqox.report.figures_rd import rd_plot_data, rd_plot_plotly, rd_plot_png


def test_tie_groups_count_and_rank_duplicates() -> None:
    dups, dupsid = tie_groups(np.array([0.0, 1.0, 1.0, 1.0, 2.0]))
    assert dups.tolist() == [1, 3, 3, 3, 1]
    assert dupsid.tolist() == [1, 1, 2, 3, 1]


def test_nn_residuals_use_the_nearest_neighbours() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    Y = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    dups, dupsid = tie_groups(x)
    res = nn_residuals(x, Y, dups, dupsid, 1)
    # row 2 (x=2) is equidistant from x=1 and x=3: both enter, J = 2
    np.testing.assert_allclose(res[2, 0], np.sqrt(2 / 3) * (2.0 - 2.0))
    # row 4 (x=10): its one neighbour is x=3
    np.testing.assert_allclose(res[4, 0], np.sqrt(1 / 2) * (4.0 - 3.0))


def test_treatment_equal_to_the_cutoff_indicator_is_a_sharp_design() -> None:
    df, _ = cqox.simulate.rd_sharp(n=1500, seed=1)
    df["t"] = (df["x"] >= 0).astype(int)
    est = cqox.estimate(
        "rd", df, outcome="y", treatment="t", roles={"running": "x", "cutoff": 0.0}, gates=False
    )
    assert est.estimand == "ATE(c)"
    assert any("sharp" in w for w in est.warnings)


def test_cutoff_outside_the_running_variable_is_named() -> None:
    df, _ = cqox.simulate.rd_sharp(n=500, seed=1)
    with pytest.raises(cqox.RoleError, match="'cutoff'"):
        cqox.estimate("rd", df, outcome="y", roles={"running": "x", "cutoff": 5.0})


def test_q_not_above_p_is_a_parameter_error() -> None:
    df, _ = cqox.simulate.rd_sharp(n=500, seed=1)
    with pytest.raises(cqox.ParameterError, match="'q'"):
        cqox.estimate("rd", df, outcome="y", roles={"running": "x", "cutoff": 0.0}, q=1)


def test_manipulated_running_variable_fails_the_density_gate() -> None:
    df, _ = cqox.simulate.rd_sharp(n=4000, seed=2)
    x = df["x"].to_numpy()
    moved = (x > -0.1) & (x < 0) & (np.random.default_rng(0).random(x.size) < 0.5)
    df["x"] = np.where(moved, -x, x)
    est = cqox.estimate("rd", df, outcome="y", roles={"running": "x", "cutoff": 0.0})
    gate = next(g for g in est.gates if g.name == "density")
    assert gate.status == "warn"


def test_jumping_covariate_is_flagged_and_missing_covariates_keep_rows() -> None:
    df, _ = cqox.simulate.rd_sharp(n=3000, seed=4)
    df["jumpy"] = df["w"] + 2.0 * (df["x"] >= 0)
    df.loc[:99, "w"] = np.nan
    est = cqox.estimate(
        "rd", df, outcome="y", covariates=["w", "jumpy"], roles={"running": "x", "cutoff": 0.0}
    )
    assert est.diagnostics["n_left"] + est.diagnostics["n_right"] == 3000
    gate = next(g for g in est.gates if g.name == "covariate_continuity")
    assert gate.status == "warn" and "jumpy" in gate.message


def test_rd_plot_png_and_plotly() -> None:
    df, _ = cqox.simulate.rd_sharp(n=1000, seed=3)
    est = cqox.estimate("rd", df, outcome="y", roles={"running": "x", "cutoff": 0.0}, gates=False)
    data = rd_plot_data(df["x"].to_numpy(), df["y"].to_numpy(), 0.0, n_bins=15)
    assert data.bin_n.sum() == 1000
    assert np.all(data.bin_x[data.bin_x < 0] >= df["x"].min())
    png = rd_plot_png(data, est, xlabel="x", ylabel="y")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    fig = rd_plot_plotly(data, est)
    names = [t["name"] for t in fig["data"]]
    assert "local fit (left)" in names and "bin means (right)" in names
    assert fig["layout"]["shapes"][0]["x0"] == 0.0
