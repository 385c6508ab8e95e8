"""Every figure an Analysis can show, for the report, the dashboard and the API.

Figure modules register providers (:func:`cqox.report.figure_spec.register_figures`),
as estimators register themselves; :func:`figure_specs` imports every
``cqox.report.figures*`` module once and collects their figures in report order.  Each
:class:`~cqox.report.figure_spec.FigureSpec` renders lazily, as PNG bytes (report,
``/figures/{name}.png``) or as a Plotly dictionary (dashboard, ``/figures/{name}``);
both come from the same numbers.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from cqox.report.figure_spec import FigureSpec, providers

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis

_LOADED = False


def _load_all() -> None:
    """Import every figure module once (registration happens on import)."""
    global _LOADED
    if _LOADED:
        return
    import cqox.report as pkg

    for info in pkgutil.iter_modules(pkg.__path__, prefix="cqox.report."):
        if info.name.rsplit(".", 1)[1].startswith(("figures", "plotly_figures")):
            importlib.import_module(info.name)
    _LOADED = True


def figure_specs(an: Analysis) -> list[FigureSpec]:
    """The figures ``an`` can show, in report order (one per name)."""
    _load_all()
    specs: list[FigureSpec] = []
    seen: set[str] = set()
    for provider in providers():
        for spec in provider(an):
            if spec.name not in seen:
                seen.add(spec.name)
                specs.append(spec)
    return specs


__all__ = ["FigureSpec", "figure_specs"]
