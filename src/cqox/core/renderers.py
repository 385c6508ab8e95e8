"""The plug where the report layer renders an :class:`~cqox.analysis.analysis.Analysis`.

``Analysis.report()`` and its notebook view are public conveniences of the analysis
layer, but HTML rendering lives in the report layer above it.  Instead of importing
upward, the analysis asks this module for the renderer, and the package's top level
(:mod:`cqox`, which sits above every layer and always runs first) plugs in the report
layer's functions.  Nothing here imports anything of ours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: renderer name ("report": the whole page, "estimates_table": the notebook view) →
#: function of the analysis returning HTML.
_RENDERERS: dict[str, Callable[[Any], str]] = {}


def plug(name: str, render: Callable[[Any], str]) -> None:
    """Plug ``render`` in as the renderer called ``name``."""
    _RENDERERS[name] = render


def render(name: str, analysis: Any) -> str:
    """Render ``analysis`` with the renderer ``name`` (a :class:`LookupError` if none)."""
    try:
        renderer = _RENDERERS[name]
    except KeyError:
        raise LookupError(
            f"no '{name}' renderer is plugged in; import cqox (its top level plugs in the "
            "report layer)"
        ) from None
    return renderer(analysis)
