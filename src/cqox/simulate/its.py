"""An interrupted time series with AR(1) errors and a known level and slope change."""

from __future__ import annotations

import numpy as np
import pandas as pd


def its_ar1(
    n_pre: int = 60,
    n_post: int = 60,
    level: float = 2.0,
    slope: float = 0.05,
    trend: float = 0.02,
    phi: float = 0.5,
    sigma: float = 1.0,
    season_amplitude: float = 0.0,
    season_period: int = 12,
    with_control: bool = False,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Simulate ``y_s = 10 + trend·(s − s0) + level·D + slope·(s − s0)·D + season + ε_s``.

    ``ε_s = φ ε_{s−1} + N(0, σ²)`` (stationary start), ``s0 = n_pre`` and
    ``D = 1{s ≥ s0}``; ``season = season_amplitude · sin(2π s / season_period)``.  With
    ``with_control`` a control series ``c`` shares the trend, season and a common AR(1)
    shock (so the comparative ITS removes it) but has no interruption.

    Returns
    -------
    df : DataFrame
        ``t`` (0 … n−1), ``y``, ``post`` (D), and ``c`` when ``with_control``.
    truth : dict
        ``level_change``, ``slope_change``, ``interruption`` (= ``n_pre``).
    """
    rng = np.random.default_rng(seed)
    n = n_pre + n_post

    def ar1() -> np.ndarray:
        e = np.empty(n)
        e[0] = rng.normal(0, sigma / np.sqrt(1 - phi**2))
        shocks = rng.normal(0, sigma, n)
        for i in range(1, n):
            e[i] = phi * e[i - 1] + shocks[i]
        return e

    s = np.arange(n, dtype=float)
    D = (s >= n_pre).astype(float)
    base = 10 + trend * (s - n_pre) + season_amplitude * np.sin(2 * np.pi * s / season_period)
    common = ar1() if with_control else np.zeros(n)
    y = base + level * D + slope * (s - n_pre) * D + ar1() + common
    df = pd.DataFrame({"t": np.arange(n), "y": y, "post": D.astype(np.int64)})
    if with_control:
        df["c"] = base + ar1() + common
    return df, {"level_change": level, "slope_change": slope, "interruption": float(n_pre)}
