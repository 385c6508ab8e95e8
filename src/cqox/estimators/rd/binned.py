"""Binned means and global polynomial fits on each side of the cutoff (the RD plot's data).

As in ``rdplot`` (Calonico, Cattaneo & Titiunik 2015, doi:10.1080/01621459.2015.1017578):
``n_bins`` evenly spaced bins on each side of the cutoff with the mean outcome of each,
and a global polynomial of order ``order`` fitted separately on each side to the raw
data.  The ``rd`` estimator publishes both as tables (``bins``, ``global_fit``), so the
report draws the plot from the estimate and recomputes nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Bins per side and order of the global polynomial (rdplot's evenly spaced default).
N_BINS = 20
GLOBAL_ORDER = 4


def binned_means(
    x: np.ndarray, y: np.ndarray, cutoff: float, n_bins: int = N_BINS, order: int = GLOBAL_ORDER
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(bins, global_fit)`` on each side of ``cutoff``.

    ``bins`` has one row per non-empty bin: ``side`` ("left"/"right"), ``x`` (bin
    midpoint), ``y`` (mean outcome), ``n`` (rows).  ``global_fit`` has one row per
    coefficient: ``side``, ``power`` (of ``x − cutoff``), ``coef``, and the side's
    support ``x_low``/``x_high``.  Rows with a missing ``x`` or ``y`` are left out.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    bins: list[pd.DataFrame] = []
    fits: list[pd.DataFrame] = []
    for side, mask in (("left", x < cutoff), ("right", x >= cutoff)):
        xs, ys = x[mask], y[mask]
        lo, hi = (float(xs.min()), cutoff) if side == "left" else (cutoff, float(xs.max()))
        edges = np.linspace(lo, hi, n_bins + 1)
        idx = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, n_bins - 1)
        counts = np.bincount(idx, minlength=n_bins)
        sums = np.bincount(idx, weights=ys, minlength=n_bins)
        keep = counts > 0
        mids = (edges[:-1] + edges[1:]) / 2
        bins.append(
            pd.DataFrame(
                {
                    "side": side,
                    "x": mids[keep],
                    "y": sums[keep] / counts[keep],
                    "n": counts[keep],
                }
            )
        )
        deg = int(min(order, max(np.unique(xs).size - 1, 0)))
        coef = np.polynomial.polynomial.polyfit(xs - cutoff, ys, deg)
        fits.append(
            pd.DataFrame(
                {"side": side, "power": np.arange(deg + 1), "coef": coef, "x_low": lo, "x_high": hi}
            )
        )
    return pd.concat(bins, ignore_index=True), pd.concat(fits, ignore_index=True)
