"""A panel with treatment switching on and off, for panel matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special


def panel_switching(
    n_units: int = 200,
    n_periods: int = 15,
    effect: float = 1.0,
    confounding: float = 1.0,
    outcome_on_x: float = 0.0,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Simulate ``(unit, time, y, d, x)`` with a contemporaneous effect ``effect``.

    Model::

        x_it = 0.6 x_i,t−1 + N(0, 1)
        P(d_it = 1) = expit(−1 + 1.5 d_i,t−1 + confounding · (0.5 x_i,t−1 + 0.5 α_i))
        y_it = α_i + γ_t + effect · d_it + outcome_on_x · x_it + N(0, 1)

    The effect is contemporaneous (no carry-over), so ``ATT(0) = effect`` exactly.
    Switching depends on the unit level ``α_i`` (removed by the before/after
    differences) and on lagged ``x``.  With ``outcome_on_x = 0`` the panel-matching
    assumption (parallel trends given the treatment history) holds; with
    ``outcome_on_x ≠ 0`` lagged ``x`` also predicts the change in ``y`` (mean
    reversion), a time-varying confounder that only covariate refinement can address.
    """
    rng = np.random.default_rng(seed)
    N, T = n_units, n_periods
    x = np.empty((N, T))
    d = np.zeros((N, T))
    alpha = rng.standard_normal(N)
    x[:, 0] = rng.standard_normal(N)
    d[:, 0] = rng.random(N) < 0.3
    for t in range(1, T):
        x[:, t] = 0.6 * x[:, t - 1] + rng.standard_normal(N)
        eta = -1.0 + 1.5 * d[:, t - 1] + confounding * (0.5 * x[:, t - 1] + 0.5 * alpha)
        d[:, t] = rng.random(N) < special.expit(eta)
    gamma = np.cumsum(rng.normal(0.1, 0.3, T))
    y = alpha[:, None] + gamma[None] + effect * d + outcome_on_x * x + rng.standard_normal((N, T))
    uu, tt = np.meshgrid(np.arange(N), np.arange(T), indexing="ij")
    df = pd.DataFrame(
        {
            "unit": uu.ravel(),
            "time": tt.ravel(),
            "y": y.ravel(),
            "d": d.ravel().astype(np.int64),
            "x": x.ravel(),
        }
    )
    return df, {"ATT": float(effect)}
