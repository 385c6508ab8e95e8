"""Gate thresholds: the table lives in :mod:`cqox.core.thresholds` (kept importable here)."""

from __future__ import annotations

from cqox.core.thresholds import (
    DEFAULT_THRESHOLDS,
    DEPRECATED_THRESHOLDS,
    Threshold,
    resolve_thresholds,
)

__all__ = ["DEFAULT_THRESHOLDS", "DEPRECATED_THRESHOLDS", "Threshold", "resolve_thresholds"]
