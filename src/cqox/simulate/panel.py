"""Seeded panel generators for difference-in-differences with a known ATT(g,t)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def staggered_panel(
    n_units: int = 500,
    n_periods: int = 8,
    cohorts: Sequence[int] = (3, 5, 7),
    never_share: float = 0.3,
    effect: float = 1.0,
    dynamic: float = 0.0,
    cohort_effect: float = 0.0,
    covariate_trend: float = 0.0,
    noise: float = 1.0,
    unit_sd: float = 1.0,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Staggered adoption panel with a known group-time effect ATT(g,t).

    Periods are ``1..n_periods``; each unit belongs to a cohort ``g`` (first treated
    period, drawn uniformly among ``cohorts``) or, with probability ``never_share``,
    is never treated (``g = 0``).  With ``x ~ N(0, 1)`` a time-invariant covariate::

        y_it = α_i + λ_t + covariate_trend·x_i·t + τ_gt·1{t ≥ g} + ε_it
        τ_gt = effect + dynamic·(t − g) + cohort_effect·(g − g_min)

    When ``covariate_trend ≠ 0`` adoption is selected on ``x``: units with larger
    ``x`` adopt earlier and those with the smallest are never treated (equal cohort
    sizes), so parallel trends hold only conditionally on ``x``.  ``dynamic`` or
    ``cohort_effect`` ≠ 0 make the effect heterogeneous (the TWFE coefficient is
    then biased; Callaway–Sant'Anna is not).

    Returns
    -------
    df : DataFrame
        ``unit``, ``time``, ``y``, ``d`` (treated in the period), ``cohort``, ``x``.
    truth : dict
        ``att_gt`` (DataFrame of ``group``, ``time``, ``att`` for post cells, the
        population values), ``ATT`` (the cohort-size weighted average over post cells,
        the ``simple`` aggregation), ``ATT_group`` (group aggregation), ``event``
        (dict event time → effect averaged over cohorts with cohort-size weights).
    """
    rng = np.random.default_rng(seed)
    cohort_values = np.asarray(sorted(cohorts), dtype=np.int64)
    t = np.arange(1, n_periods + 1)
    x = rng.standard_normal(n_units)
    if covariate_trend != 0.0:
        # selection on x: rank units by x plus noise; the top (1 − never_share) adopt,
        # larger x earlier, the rest are never treated
        score = x + rng.standard_normal(n_units)
        order = np.argsort(-score)
        n_treated = round((1 - never_share) * n_units)
        k = len(cohort_values)
        g = np.zeros(n_units, dtype=np.int64)
        g[order[:n_treated]] = cohort_values[np.arange(n_treated) * k // max(n_treated, 1)]
    else:
        never = rng.random(n_units) < never_share
        g = np.where(never, 0, rng.choice(cohort_values, size=n_units))
    alpha = unit_sd * rng.standard_normal(n_units) + 0.5 * x
    lam = 0.3 * t + 0.5 * np.sin(t)
    gmin = float(cohort_values.min())

    def tau(gg: np.ndarray, tt: np.ndarray) -> np.ndarray:
        return effect + dynamic * (tt - gg) + cohort_effect * (gg - gmin)

    G = np.repeat(g, n_periods)
    T = np.tile(t, n_units)
    X = np.repeat(x, n_periods)
    treated = (G > 0) & (T >= G)
    y = (
        np.repeat(alpha, n_periods)
        + lam[T - 1]
        + covariate_trend * X * T
        + np.where(treated, tau(G, T), 0.0)
        + noise * rng.standard_normal(n_units * n_periods)
    )
    df = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "time": T,
            "y": y,
            "d": treated.astype(np.int64),
            "cohort": G,
            "x": X,
        }
    )
    # population cohort shares are uniform over cohorts
    rows = [
        (gg, tt, float(tau(np.array(gg), np.array(tt))))
        for gg in cohort_values
        for tt in t
        if tt >= gg
    ]
    att_gt = pd.DataFrame(rows, columns=["group", "time", "att"])
    simple = float(att_gt["att"].mean())
    group = float(att_gt.groupby("group")["att"].mean().mean())
    ev = (att_gt["time"] - att_gt["group"]).to_numpy()
    event = {int(k): float(att_gt["att"].to_numpy()[ev == k].mean()) for k in np.unique(ev)}
    truth: dict[str, object] = {
        "att_gt": att_gt,
        "ATT": simple,
        "ATT_group": group,
        "event": event,
    }
    return df, truth


def two_period_panel(
    n_units: int = 500,
    effect: float = 1.0,
    treated_share: float = 0.5,
    noise: float = 1.0,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Canonical 2x2 panel: two periods (0, 1), a treated group treated in period 1.

    ``y_it = α_i + 0.5·t + 0.3·G_i + effect·G_i·t + ε_it`` with ``α_i ~ N(0, 1)``;
    columns ``unit``, ``time``, ``y``, ``group`` (ever treated), ``d`` (treated now).
    """
    rng = np.random.default_rng(seed)
    grp = (rng.random(n_units) < treated_share).astype(np.int64)
    alpha = rng.standard_normal(n_units)
    T = np.tile([0, 1], n_units)
    G = np.repeat(grp, 2)
    y = (
        np.repeat(alpha, 2)
        + 0.5 * T
        + 0.3 * G
        + effect * G * T
        + noise * rng.standard_normal(2 * n_units)
    )
    df = pd.DataFrame(
        {"unit": np.repeat(np.arange(n_units), 2), "time": T, "y": y, "group": G, "d": G * T}
    )
    return df, {"ATT": float(effect)}
