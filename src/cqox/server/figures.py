"""Figures of a stored analysis, as Plotly JSON and as PNG, and its HTML report.

Both renderings come from the engine's figure gallery (:mod:`cqox.report.gallery`):
one :class:`~cqox.report.gallery.FigureSpec` per figure the analysis has (estimator
comparison, propensity overlap, balance, sensitivity, and the figures of other designs),
each with a PNG and a Plotly renderer built from the same numbers.  Rendering is
serialised by a lock, so concurrent requests cannot interleave Matplotlib state.
"""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

from cqox.analysis.analysis import Analysis
from cqox.core.jsonable import to_jsonable
from cqox.server.problems import NotFoundError

_render_lock = threading.Lock()


def load_analysis(path: Path) -> Analysis:
    """The pickled Analysis a worker wrote (a file of the service, never of a user)."""
    if not path.exists():
        raise NotFoundError("the analysis's figure data is no longer stored")
    with open(path, "rb") as fh:
        analysis = pickle.load(fh)
    if not isinstance(analysis, Analysis):
        raise NotFoundError("the analysis's figure data is unreadable")
    return analysis


def _specs(an: Analysis) -> list[Any]:
    from cqox.report.gallery import figure_specs

    return list(figure_specs(an))


def available(an: Analysis) -> list[dict[str, Any]]:
    """Name, title, caption of every figure; ``animated``: it also renders as a GIF."""
    return [
        {"name": s.name, "title": s.title, "caption": s.caption, "animated": s.gif is not None}
        for s in _specs(an)
    ]


def _spec(an: Analysis, name: str) -> Any:
    specs = _specs(an)
    for spec in specs:
        if spec.name == name:
            return spec
    names = ", ".join(s.name for s in specs) or "none"
    raise NotFoundError(
        f"figure {name[:40]!r} not found (this analysis has: {names})",
        details={"figure": name[:40]},
    )


def plotly_figure(an: Analysis, name: str) -> dict[str, Any]:
    """The figure as a Plotly figure dictionary (``{"data": [...], "layout": {...}}``)."""
    spec = _spec(an, name)
    with _render_lock:
        out: dict[str, Any] = to_jsonable(spec.plotly())
    return out


def gif_figure(an: Analysis, name: str) -> bytes:
    """An animated figure as an animated GIF (404 naming the animated ones otherwise)."""
    spec = _spec(an, name)
    if spec.gif is None:
        animated = ", ".join(s.name for s in _specs(an) if s.gif is not None) or "none"
        raise NotFoundError(
            f"figure {name[:40]!r} is not animated (animated figures here: {animated})",
            details={"figure": name[:40], "format": "gif"},
        )
    with _render_lock:
        data: bytes = spec.gif()
    return data


def png_figure(an: Analysis, name: str) -> bytes:
    """The figure as PNG bytes."""
    spec = _spec(an, name)
    with _render_lock:
        data: bytes = spec.png()
    return data


def report_html(an: Analysis) -> str:
    """The self-contained HTML report, its figures interactive (:mod:`cqox.report.interactive`)."""
    from cqox.report.html import render_report

    with _render_lock:
        return render_report(an, interactive=True)


def report_csp() -> str:
    """The content security policy of a served report (its two inline scripts by hash)."""
    from cqox.report.interactive import script_hashes
    from cqox.server.headers import csp_with_scripts

    return csp_with_scripts(*script_hashes())
