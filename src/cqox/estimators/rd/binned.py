"""Binned means and global polynomial fits on each side of the cutoff (the RD plot's data).

As in ``rdplot`` (Calonico, Cattaneo & Titiunik 2015, doi:10.1080/01621459.2015.1017578):
``n_bins`` evenly spaced bins on each side of the cutoff with the mean outcome of each,
and a global polynomial of order ``order`` fitted separately on each side to the raw
data.  The ``rd`` estimator publishes both as tables (``bins``, ``global_fit``), so the
report draws the plot from the estimate and recomputes nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cqox.estimators.rd.local_poly import n_distinct_sorted

#: Bins per side and order of the global polynomial (rdplot's evenly spaced default).
N_BINS = 20
GLOBAL_ORDER = 4


def binned_columns(
    x: np.ndarray,
    y: np.ndarray,
    cutoff: float,
    n_bins: int = N_BINS,
    order: int = GLOBAL_ORDER,
    presorted: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns of ``(bins, global_fit)`` on each side of ``cutoff``.

    ``bins`` has one row per non-empty bin: ``side`` ("left"/"right"), ``x`` (bin
    midpoint), ``y`` (mean outcome), ``n`` (rows).  ``global_fit`` has one row per
    coefficient: ``side``, ``power`` (of ``x − cutoff``), ``coef``, and the side's
    support ``x_low``/``x_high``.  Rows with a missing ``x`` or ``y`` are left out.
    ``presorted=True`` says ``x`` is ascending (distinct values counted without a sort).
    """
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    # the columns of both sides, gathered first; the estimator hands them over as
    # columns (cqox.core.tables.Tables): pandas construction costs more than the
    # arithmetic at any n, and most readers never build the DataFrames
    bins: dict[str, list[Any]] = {"side": [], "x": [], "y": [], "n": []}
    fits: dict[str, list[Any]] = {"side": [], "power": [], "coef": [], "x_low": [], "x_high": []}
    for side, mask in (("left", x < cutoff), ("right", x >= cutoff)):
        xs, ys = x[mask], y[mask]
        lo, hi = (float(xs.min()), cutoff) if side == "left" else (cutoff, float(xs.max()))
        edges = np.linspace(lo, hi, n_bins + 1)
        idx = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, n_bins - 1)
        counts = np.bincount(idx, minlength=n_bins)
        sums = np.bincount(idx, weights=ys, minlength=n_bins)
        keep = counts > 0
        mids = (edges[:-1] + edges[1:]) / 2
        bins["side"] += [side] * int(keep.sum())
        bins["x"].append(mids[keep])
        bins["y"].append(sums[keep] / counts[keep])
        bins["n"].append(counts[keep])
        distinct = n_distinct_sorted(xs) if presorted else np.unique(xs).size
        deg = int(min(order, max(distinct - 1, 0)))
        coef = np.polynomial.polynomial.polyfit(xs - cutoff, ys, deg)
        fits["side"] += [side] * (deg + 1)
        fits["power"].append(np.arange(deg + 1))
        fits["coef"].append(coef)
        fits["x_low"].append(np.full(deg + 1, lo))
        fits["x_high"].append(np.full(deg + 1, hi))
    return _columns(bins), _columns(fits)


def _columns(columns: dict[str, list[Any]]) -> dict[str, Any]:
    return {k: v if k == "side" else np.concatenate(v) for k, v in columns.items()}
