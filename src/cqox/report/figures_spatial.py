"""Figures of a spatial spillover analysis (``ring_did``).

* ``spatial_ring_map`` — every place at its longitude and latitude (equirectangular, the
  axes scaled by ``cos(latitude)`` so distances look right), coloured by the effect the
  ring DiD estimates for it in the last period: the direct effect for treated places,
  the spillover of its ring for places near treatment, zero for the pure controls;
  hover gives the ring, the distance to the nearest treated place and the interval.
  At most :data:`MAX_PLACES` places are drawn (an evenly spaced subset beyond that).
* ``spatial_ring_profile`` — the estimates with their intervals against distance: the
  direct effect at 0 and each ring's spillover at the ring's midpoint, with the ring's
  extent as a horizontal bar: how fast the spillover fades.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from cqox.report.figure_spec import FigureSpec, register_figures
from cqox.report.figures import _png
from cqox.report.plotly_figures import _json

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis
    from cqox.core.estimate import Estimate

#: Places drawn on the map at most (browsers slow down beyond).
MAX_PLACES = 5000
#: Diverging colour scale centred on zero effect.
COLOURSCALE = "RdBu_r"


def ring_places(est: Estimate) -> pd.DataFrame:
    """The places to draw: ``unit_rings`` with each place's estimated ``effect`` and label.

    Columns ``lat``, ``lon``, ``ring``, ``distance_km``, ``effect``, ``ci_lower``,
    ``ci_upper``, ``label``; evenly thinned to :data:`MAX_PLACES` rows.
    """
    places = est.tables["unit_rings"]
    rings = est.tables["rings"].set_index("ring")
    n_rings = len(rings) - 1
    ring = places["ring"].to_numpy()
    known = ring <= n_rings  # 0 treated, 1..K rings; K + 1 pure controls
    effect = np.zeros(len(places))
    lo = np.zeros(len(places))
    hi = np.zeros(len(places))
    effect[known] = rings.loc[ring[known], "estimate"].to_numpy()
    lo[known] = rings.loc[ring[known], "ci_lower"].to_numpy()
    hi[known] = rings.loc[ring[known], "ci_upper"].to_numpy()
    label = np.where(
        ring == 0,
        "treated (direct effect)",
        np.where(known, "ring " + ring.astype(str), "pure control"),
    )
    out = places.assign(effect=effect, ci_lower=lo, ci_upper=hi, label=label)
    if len(out) > MAX_PLACES:
        out = out.iloc[np.linspace(0, len(out) - 1, MAX_PLACES).astype(int)]
    return out.reset_index(drop=True)


def _aspect(lat: pd.Series) -> float:
    """Degrees of latitude per degree of longitude on screen: ``1 / cos(mean latitude)``."""
    return float(1.0 / max(np.cos(np.radians(float(lat.mean()))), 0.05))


def ring_map_plotly(est: Estimate) -> dict[str, Any]:
    """Places coloured by their estimated effect (see the module)."""
    p = ring_places(est)
    hover = [
        f"{lab}<br>{d:.3g} km to treatment<br>effect {e:.3g} [{a:.3g}, {b:.3g}]"
        if np.isfinite(d)
        else f"{lab}<br>effect {e:.3g}"
        for lab, d, e, a, b in zip(
            p["label"], p["distance_km"], p["effect"], p["ci_lower"], p["ci_upper"], strict=True
        )
    ]
    bound = float(np.max(np.abs(p["effect"]))) or 1.0
    fig = go.Figure(
        go.Scatter(
            x=p["lon"].tolist(),
            y=p["lat"].tolist(),
            mode="markers",
            text=hover,
            hoverinfo="text",
            marker={
                "color": p["effect"].tolist(),
                "colorscale": COLOURSCALE,
                "cmin": -bound,
                "cmax": bound,
                "size": np.where(p["ring"] == 0, 9, 6).tolist(),
                "symbol": np.where(p["ring"] == 0, "diamond", "circle").tolist(),
                "colorbar": {"title": "effect"},
                "line": {"width": 0},
            },
            name="places",
        )
    )
    fig.update_layout(
        title="Estimated effects by distance ring (last period)",
        xaxis_title="longitude",
        yaxis_title="latitude",
        yaxis={"scaleanchor": "x", "scaleratio": _aspect(p["lat"])},
    )
    return _json(fig)


def ring_map_png(est: Estimate) -> bytes:
    """PNG of the same map."""
    p = ring_places(est)
    bound = float(np.max(np.abs(p["effect"]))) or 1.0
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.subplots()
    sc = ax.scatter(
        p["lon"],
        p["lat"],
        c=p["effect"],
        cmap=COLOURSCALE,
        vmin=-bound,
        vmax=bound,
        s=np.where(p["ring"] == 0, 22, 9),
        marker="o",
        linewidths=0,
    )
    fig.colorbar(sc, ax=ax, label="effect")
    ax.set_aspect(_aspect(p["lat"]))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title("Estimated effects by distance ring (last period)")
    return _png(fig)


def ring_profile(est: Estimate) -> pd.DataFrame:
    """Estimates against distance: ``x`` (0 or the ring midpoint), ``half_width``, CI."""
    r = est.tables["rings"]
    inner = r["inner_km"].fillna(0.0).to_numpy(float)
    outer = r["outer_km"].fillna(0.0).to_numpy(float)
    return pd.DataFrame(
        {
            "label": np.where(r["ring"] == 0, "direct", "ring " + r["ring"].astype(str)),
            "x": (inner + outer) / 2,
            "half_width": (outer - inner) / 2,
            "estimate": r["estimate"],
            "ci_lower": r["ci_lower"],
            "ci_upper": r["ci_upper"],
        }
    )


def ring_profile_plotly(est: Estimate) -> dict[str, Any]:
    """Direct effect at 0 and each ring's spillover at its midpoint, with intervals."""
    p = ring_profile(est)
    fig = go.Figure(
        go.Scatter(
            x=p["x"].tolist(),
            y=p["estimate"].tolist(),
            mode="markers",
            text=p["label"].tolist(),
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (p["ci_upper"] - p["estimate"]).tolist(),
                "arrayminus": (p["estimate"] - p["ci_lower"]).tolist(),
            },
            error_x={"type": "data", "array": p["half_width"].tolist()},
            name="estimate",
        )
    )
    fig.add_hline(y=0.0, line={"color": "#7f7f7f", "dash": "dot"})
    fig.update_layout(
        title="Direct and spillover effects by distance",
        xaxis_title="distance to the nearest treated place (km)",
        yaxis_title="effect",
    )
    return _json(fig)


def ring_profile_png(est: Estimate) -> bytes:
    """PNG of the same profile."""
    p = ring_profile(est)
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    ax.errorbar(
        p["x"],
        p["estimate"],
        yerr=[p["estimate"] - p["ci_lower"], p["ci_upper"] - p["estimate"]],
        xerr=p["half_width"],
        fmt="o",
        capsize=3,
    )
    ax.axhline(0.0, color="#7f7f7f", linestyle=":")
    ax.set_xlabel("distance to the nearest treated place (km)")
    ax.set_ylabel("effect")
    ax.set_title("Direct and spillover effects by distance")
    return _png(fig)


@register_figures(order=75)
def spatial_figures(an: Analysis) -> list[FigureSpec]:
    """The ring map and the effect-by-distance profile of the first ring DiD estimate."""
    est = next((e for e in an.estimates if {"rings", "unit_rings"} <= set(e.tables)), None)
    if est is None:
        return []
    return [
        FigureSpec(
            "spatial_ring_map",
            "Spatial map of effects by ring",
            "Each place at its coordinates, coloured by the effect estimated for it in the "
            "last period: the direct effect (diamonds, treated places), the spillover of "
            "its distance ring, zero for the pure controls beyond the last ring.",
            lambda: ring_map_png(est),
            lambda: ring_map_plotly(est),
        ),
        FigureSpec(
            "spatial_ring_profile",
            "Effects by distance",
            "The direct effect (at 0 km) and each ring's spillover at the ring's midpoint, "
            "with its confidence interval; the horizontal bar spans the ring.",
            lambda: ring_profile_png(est),
            lambda: ring_profile_plotly(est),
        ),
    ]
