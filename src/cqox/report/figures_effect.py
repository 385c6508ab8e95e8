"""The effect over time as an animation, period by period, for DiD, synthetic control and ITS.

Read from the tables the estimators publish (the same rules as the dashboard's
``frontend/src/lib/paths.ts``):

- ``did_cs`` ``event_study``: event time, ATT and its interval (``ci_low``, ``ci_high``);
- ``synth`` ``path``: the gap ``treated − synthetic`` by period (no interval);
- ``its`` ``fit``: ``observed − counterfactual`` by period (no interval).

Three renderings of one :class:`EffectPath`: a PNG of the whole path, a Plotly figure
with one frame per period (play/pause and a slider) and an animated GIF (Matplotlib's
Pillow writer, one frame per period; :func:`effect_gif`), which the service serves as
``GET /api/analyses/{id}/figures/effect_animation_<estimator>?format=gif``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from cqox.report.figure_spec import FigureSpec, register_figures

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from cqox.analysis.analysis import Analysis

#: Milliseconds a period stays on screen (the dashboard's animation uses the same).
FRAME_MS = 600
#: Most frames of a GIF (a long series advances several periods a frame).
MAX_FRAMES = 40
BLUE = "#2456a6"
BAND = (0.141, 0.337, 0.651, 0.15)


@dataclass(frozen=True)
class EffectPath:
    """An effect by period: ``effect[i]`` at ``periods[i]``, with an interval when known."""

    estimator: str
    axis: str
    periods: list[float]
    effect: list[float]
    low: list[float | None]
    high: list[float | None]
    #: Index of the first treated period (effects before it are placebo checks).
    first_post: int

    @property
    def has_band(self) -> bool:
        """Whether the path has a confidence interval (DiD event studies do)."""
        return any(v is not None for v in self.low)


def _float(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _first_post(table: pd.DataFrame, periods: list[float]) -> int:
    if "post" in table.columns:
        flags = [bool(v) for v in table["post"]]
        return flags.index(True) if True in flags else len(periods)
    return next((i for i, p in enumerate(periods) if p >= 0), len(periods))


def _path(estimator: str, tables: Mapping[str, Any]) -> EffectPath | None:
    event = tables.get("event_study")
    path = tables.get("path")
    fit = tables.get("fit")
    if isinstance(event, pd.DataFrame) and {"event_time", "att"} <= set(event.columns):
        t = event[event["event_time"].notna() & event["att"].notna()].reset_index(drop=True)
        periods = [float(v) for v in t["event_time"]]
        return EffectPath(
            estimator,
            "event time (periods since treatment)",
            periods,
            [float(v) for v in t["att"]],
            [_float(v) for v in t.get("ci_low", [None] * len(t))],
            [_float(v) for v in t.get("ci_high", [None] * len(t))],
            next((i for i, p in enumerate(periods) if p >= 0), len(periods)),
        )
    if isinstance(path, pd.DataFrame) and {"time", "gap", "synthetic"} <= set(path.columns):
        t = path[path["time"].notna() & path["gap"].notna()].reset_index(drop=True)
        periods = [float(v) for v in t["time"]]
        none: list[float | None] = [None] * len(t)
        gap = [float(v) for v in t["gap"]]
        return EffectPath(estimator, "period", periods, gap, none, none, _first_post(t, periods))
    if isinstance(fit, pd.DataFrame) and {"time", "observed", "counterfactual"} <= set(fit.columns):
        t = fit[fit["time"].notna() & fit["observed"].notna()].reset_index(drop=True)
        periods = [float(v) for v in t["time"]]
        none = [None] * len(t)
        gap = [float(o) - float(c) for o, c in zip(t["observed"], t["counterfactual"], strict=True)]
        return EffectPath(estimator, "period", periods, gap, none, none, _first_post(t, periods))
    return None


def effect_paths(an: Analysis) -> list[EffectPath]:
    """One path per estimator that publishes one (an estimator run per estimand repeats it)."""
    out: dict[str, EffectPath] = {}
    for e in an.estimates:
        if e.estimator in out:
            continue
        p = _path(e.estimator, e.tables)
        if p is not None and p.periods:
            out[e.estimator] = p
    return list(out.values())


def _limits(p: EffectPath) -> tuple[float, float]:
    values = [v for v in [*p.effect, *p.low, *p.high] if v is not None and math.isfinite(v)]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    pad = (hi - lo or 1.0) * 0.08
    return lo - pad, hi + pad


def _draw(ax: Axes, p: EffectPath, upto: int) -> None:
    """The path up to period ``upto`` (1-based count) on fixed axes."""
    x = p.periods[:upto]
    if p.has_band:
        low = [math.nan if v is None else v for v in p.low[:upto]]
        high = [math.nan if v is None else v for v in p.high[:upto]]
        ax.fill_between(x, low, high, color=BAND, linewidth=0, label="confidence interval")
    ax.plot(x, p.effect[:upto], marker="o", markersize=3, color=BLUE, label="effect")
    ax.axhline(0, color="#999", linewidth=0.8)
    if p.first_post < len(p.periods):
        ax.axvline(p.periods[p.first_post] - 0.5, color="#777", linestyle=":", linewidth=1)
    ax.set_xlim(min(p.periods) - 0.5, max(p.periods) + 0.5)
    ax.set_ylim(*_limits(p))
    ax.set_xlabel(p.axis)
    ax.set_ylabel("effect")
    last = p.periods[upto - 1]
    shown = int(last) if float(last).is_integer() else last
    ax.set_title(f"{p.estimator}: effect up to {shown}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, frameon=False)


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=90)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.9, bottom=0.15)
    return fig


def effect_png(p: EffectPath) -> bytes:
    """The whole path (the animation's last frame) as PNG."""
    fig = _figure()
    _draw(fig.subplots(), p, len(p.periods))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def frame_counts(n: int, max_frames: int = MAX_FRAMES) -> list[int]:
    """How many periods each GIF frame shows (at most ``max_frames`` counts, ending at n).

    Every period when there are at most ``max_frames``, else evenly spaced counts.
    """
    if n <= max_frames:
        return list(range(1, n + 1))
    return sorted({math.ceil(k * n / max_frames) for k in range(1, max_frames + 1)})


def effect_gif(p: EffectPath, frame_ms: int = FRAME_MS) -> bytes:
    """The animation as an animated GIF: each frame shows the first periods up to one more.

    At most :data:`MAX_FRAMES` frames (:func:`frame_counts`), drawn with Matplotlib's
    Agg canvas — the axes once (blitting), then only the line, band and label of each
    frame — and
    assembled by Pillow (a dependency of Matplotlib).  The last frame holds three times
    as long before the loop starts again.
    """
    from PIL import Image

    fig = _figure()
    ax = fig.subplots()
    _draw(ax, p, len(p.periods))  # axes, limits and legend of the whole path
    ax.set_title(f"{p.estimator}: effect by period", fontsize=10)
    line = ax.lines[0]
    band = ax.collections[0] if p.has_band else None
    label = ax.text(0.99, 0.03, "", transform=ax.transAxes, ha="right", fontsize=9)
    for artist in (line, band, label):
        if artist is not None:
            artist.set_animated(True)  # left out of the background, drawn per frame
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    frames: list[Image.Image] = []
    for upto in frame_counts(len(p.periods)):
        fig.canvas.restore_region(background)
        if band is not None:
            band.remove()
            low = [math.nan if v is None else v for v in p.low[:upto]]
            high = [math.nan if v is None else v for v in p.high[:upto]]
            band = ax.fill_between(
                p.periods[:upto], low, high, color=BAND, linewidth=0, animated=True
            )
            ax.draw_artist(band)
        line.set_data(p.periods[:upto], p.effect[:upto])
        ax.draw_artist(line)
        last = p.periods[upto - 1]
        label.set_text(f"up to {int(last) if float(last).is_integer() else last}")
        ax.draw_artist(label)
        rgba = Image.frombuffer(
            "RGBA", fig.canvas.get_width_height(), bytes(fig.canvas.buffer_rgba())
        )
        frames.append(rgba.convert("RGB").quantize(colors=64))
    durations = [frame_ms] * len(frames)
    durations[-1] = 3 * frame_ms
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=0,
        optimize=False,
    )
    return buf.getvalue()


def effect_plotly(p: EffectPath) -> dict[str, Any]:
    """Plotly figure with one frame per period, a play/pause button and a slider."""

    def traces(upto: int) -> list[dict[str, Any]]:
        x = p.periods[:upto]
        out: list[dict[str, Any]] = []
        if p.has_band:
            out.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": [*x, *x[::-1]],
                    "y": [*p.high[:upto], *p.low[:upto][::-1]],
                    "fill": "toself",
                    "fillcolor": "rgba(36,86,166,0.15)",
                    "line": {"width": 0},
                    "name": "confidence interval",
                    "hoverinfo": "skip",
                }
            )
        out.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": x,
                "y": p.effect[:upto],
                "name": "effect",
                "line": {"color": BLUE},
            }
        )
        return out

    n = len(p.periods)
    names = [str(int(t) if float(t).is_integer() else t) for t in p.periods]
    lo, hi = _limits(p)
    play = {"frame": {"duration": FRAME_MS, "redraw": False}, "fromcurrent": True}
    shapes = (
        [
            {
                "type": "line",
                "x0": p.periods[p.first_post] - 0.5,
                "x1": p.periods[p.first_post] - 0.5,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"dash": "dot", "color": "#777"},
            }
        ]
        if p.first_post < n
        else []
    )
    return {
        "data": traces(n),
        "frames": [{"name": names[k - 1], "data": traces(k)} for k in range(1, n + 1)],
        "layout": {
            "title": {"text": f"Effect over time: {p.estimator}"},
            "xaxis": {
                "title": {"text": p.axis},
                "range": [min(p.periods) - 0.5, max(p.periods) + 0.5],
            },
            "yaxis": {"title": {"text": "effect"}, "range": [lo, hi]},
            "shapes": shapes,
            "margin": {"b": 110},
            "updatemenus": [
                {
                    "type": "buttons",
                    "showactive": False,
                    "x": 0,
                    "y": -0.32,
                    "xanchor": "left",
                    "buttons": [
                        {"label": "Play", "method": "animate", "args": [None, play]},
                        {
                            "label": "Pause",
                            "method": "animate",
                            "args": [[None], {"mode": "immediate"}],
                        },
                    ],
                }
            ],
            "sliders": [
                {
                    "x": 0.15,
                    "y": -0.3,
                    "len": 0.85,
                    "currentvalue": {"prefix": "up to "},
                    "steps": [
                        {
                            "label": name,
                            "method": "animate",
                            "args": [[name], {"mode": "immediate", "frame": {"redraw": False}}],
                        }
                        for name in names
                    ],
                }
            ],
        },
    }


def gif_name(estimator: str) -> str:
    """The gallery name of an estimator's effect animation."""
    return f"effect_animation_{estimator}"


@register_figures(order=52)
def effect_figures(an: Analysis) -> list[FigureSpec]:
    """One animation per estimator with an effect path (PNG, Plotly frames, GIF)."""
    return [
        FigureSpec(
            gif_name(p.estimator),
            f"Effect over time, animated ({p.estimator})",
            "The effect period by period (press Play, or drag the slider); the dotted line "
            "marks the first treated period. Also as an animated GIF.",
            partial(effect_png, p),
            partial(effect_plotly, p),
            partial(effect_gif, p),
        )
        for p in effect_paths(an)
    ]
