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
