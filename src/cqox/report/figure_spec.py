"""What a figure is, and how figure modules register the figures an Analysis can show.

A figure module (``cqox/report/figures*.py``) registers a *provider* with
:func:`register_figures`, as an estimator registers itself: a function from an
:class:`~cqox.analysis.analysis.Analysis` to the :class:`FigureSpec` list it can draw
from it (usually from the tables its estimators published).  :mod:`cqox.report.gallery`
imports every figure module once and asks each provider, so adding a design family's
figures touches that family's figure module only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cqox.analysis.analysis import Analysis


@dataclass(frozen=True)
class FigureSpec:
    """A figure: stable ``name``, a title, a caption, and its renderers.

    ``gif`` renders an animated figure as an animated GIF (``None``: not animated).
    """

    name: str
    title: str
    caption: str
    png: Callable[[], bytes]
    plotly: Callable[[], dict[str, Any]]
    gif: Callable[[], bytes] | None = None


FigureProvider = Callable[["Analysis"], list[FigureSpec]]

_PROVIDERS: dict[str, tuple[int, FigureProvider]] = {}


def register_figures(order: int) -> Callable[[FigureProvider], FigureProvider]:
    """Decorator: register a figure provider; ``order`` places its figures in the report."""

    def add(provider: FigureProvider) -> FigureProvider:
        _PROVIDERS[f"{provider.__module__}.{provider.__qualname__}"] = (order, provider)
        return provider

    return add


def providers() -> list[FigureProvider]:
    """Every registered provider, in report order."""
    return [p for _, (_, p) in sorted(_PROVIDERS.items(), key=lambda kv: (kv[1][0], kv[0]))]
