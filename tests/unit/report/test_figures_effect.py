"""The effect-over-time animation: its path read from the estimators' tables, and its
three renderings (PNG, Plotly frames, animated GIF with one frame per period)."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image

import cqox
from cqox.analysis.analysis import Analysis
from cqox.report.figures_effect import (
    FRAME_MS,
    effect_gif,
    effect_paths,
    effect_plotly,
    frame_counts,
)
from cqox.report.gallery import figure_specs
from cqox.simulate.its import its_ar1
from cqox.simulate.panel import staggered_panel


@pytest.fixture(scope="module")
def its() -> Analysis:
    df, _ = its_ar1(n_pre=12, n_post=8, seed=1)
    return cqox.analyze(
        df,
        roles={"outcome": "y", "time": "t"},
        estimators=["its"],
        params={"its": {"interruption": 12}},
    )


def test_its_path_is_observed_minus_counterfactual_from_the_first_treated_period(
    its: Analysis,
) -> None:
    [path] = effect_paths(its)  # one path although its ran two estimands
    fit = its.estimates[0].tables["fit"]
    assert path.periods == [float(t) for t in fit["time"]]
    assert path.effect == pytest.approx(list(fit["observed"] - fit["counterfactual"]))
    assert path.first_post == 12 and not path.has_band


def test_gif_has_one_frame_per_period_and_holds_the_last(its: Analysis) -> None:
    [path] = effect_paths(its)
    gif = Image.open(io.BytesIO(effect_gif(path)))
    assert gif.format == "GIF" and gif.n_frames == len(path.periods) == 20
    durations = []
    for k in range(gif.n_frames):
        gif.seek(k)
        durations.append(gif.info["duration"])
    assert durations[:-1] == [FRAME_MS] * 19 and durations[-1] == 3 * FRAME_MS
    assert gif.info.get("loop") == 0


def test_plotly_animation_has_a_frame_and_a_slider_step_per_period(its: Analysis) -> None:
    [path] = effect_paths(its)
    fig = effect_plotly(path)
    assert len(fig["frames"]) == len(fig["layout"]["sliders"][0]["steps"]) == 20
    assert len(fig["frames"][4]["data"][-1]["x"]) == 5  # frame k shows the first k periods
    assert fig["frames"][-1]["data"][-1]["y"] == path.effect


def test_event_study_keeps_its_interval_and_the_gallery_lists_an_animated_gif() -> None:
    df, _ = staggered_panel(n_units=60, n_periods=6, seed=2)
    an = cqox.analyze(
        df,
        roles={"outcome": "y", "unit": "unit", "time": "time", "cohort": "cohort"},
        estimators=["did_cs"],
    )
    [path] = effect_paths(an)
    table = an.estimates[0].tables["event_study"]
    assert path.effect == pytest.approx(list(table["att"]))
    assert path.has_band and path.low == pytest.approx(list(table["ci_low"]))
    spec = next(s for s in figure_specs(an) if s.name == "effect_animation_did_cs")
    assert spec.gif is not None and spec.gif().startswith(b"GIF89a")
    assert all(s.gif is None for s in figure_specs(an) if not s.name.startswith("effect_"))


def test_a_long_series_is_cut_to_at_most_forty_frames_ending_with_the_whole_path() -> None:
    assert frame_counts(20) == list(range(1, 21))
    counts = frame_counts(120)
    assert len(counts) == 40 and counts[-1] == 120 and counts == sorted(set(counts))
    assert all(b - a == 3 for a, b in itertools.pairwise(counts))
