"""Seeded benchmark designs with a known truth.

Each generator returns a :class:`Design` with the table, the roles, and the true
values of the estimands (population values where they have a closed form, and the
sample values of the simulated units otherwise), so every library is scored against
the same truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special


@dataclass(frozen=True)
class Design:
    """A benchmark data set: table, roles, truth by estimand, and per-unit truth."""

    name: str
    frame: pd.DataFrame
    roles: dict[str, Any]
    truth: dict[str, float]
    tau: np.ndarray | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def cross_section(n: int = 10_000, p: int = 50, seed: int = 0) -> Design:
    """Confounded binary treatment, heterogeneous effect, ``p`` covariates.

    ``e(x) = expit(0.6 x1 − 0.4 x2 + 0.3 x3 − 0.2 x4)``; ``τ(x) = 1 + 0.5 x1 + 0.5·1[x2 > 0]``;
    ``y = sin(x1) + x2 + 0.5 x3² + 0.3 x5 + t·τ(x) + ε``.  Confounding runs through
    x1–x4; x6…xp are noise.  Truth: sample ATE/ATT and τ(x_i) for PEHE.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    e = special.expit(0.6 * X[:, 0] - 0.4 * X[:, 1] + 0.3 * X[:, 2] - 0.2 * X[:, 3])
    t = (rng.random(n) < e).astype(np.int64)
    tau = 1.0 + 0.5 * X[:, 0] + 0.5 * (X[:, 1] > 0)
    y = (
        np.sin(X[:, 0])
        + X[:, 1]
        + 0.5 * X[:, 2] ** 2
        + 0.3 * X[:, 4]
        + t * tau
        + rng.standard_normal(n)
    )
    cols = [f"x{j + 1}" for j in range(p)]
    df = pd.DataFrame(X, columns=cols)
    df.insert(0, "t", t)
    df.insert(0, "y", y)
    return Design(
        "cross_section",
        df,
        {"outcome": "y", "treatment": "t", "covariates": cols},
        {"ATE": float(tau.mean()), "ATT": float(tau[t == 1].mean())},
        tau,
        f"{n} rows × {p} covariates, confounded, heterogeneous τ(x)",
    )


def iv(n: int = 10_000, seed: int = 0) -> Design:
    """One binary instrument, one endogenous continuous treatment, 5 exogenous covariates.

    ``d = 0.5 z + x'γ + v``, ``y = 1.5 d + x'β + u`` with ``corr(u, v) = 0.5``.
    Truth: the structural coefficient 1.5 (constant effect).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    z = rng.integers(0, 2, n)
    u, v = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], n).T
    d = 0.5 * z + X @ np.full(5, 0.2) + v
    y = 1.5 * d + X @ np.linspace(0.5, -0.5, 5) + u
    cols = [f"x{j + 1}" for j in range(5)]
    df = pd.DataFrame(X, columns=cols).assign(y=y, d=d, z=z)
    return Design(
        "iv",
        df,
        {"outcome": "y", "treatment": "d", "instrument": ["z"], "covariates": cols},
        {"LATE": 1.5},
        notes=f"{n} rows, 1 instrument, endogenous treatment, 5 covariates",
    )


def sharp_rd(n: int = 10_000, seed: int = 0) -> Design:
    """Sharp RD at 0: ``y = 0.5 + 0.8x − 0.3x² + 2·1[x ≥ 0] + 0.5x·1[x≥0] + ε``; jump 2."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    d = (x >= 0).astype(float)
    y = 0.5 + 0.8 * x - 0.3 * x**2 + 2.0 * d + 0.5 * x * d + 0.5 * rng.standard_normal(n)
    return Design(
        "sharp_rd",
        pd.DataFrame({"y": y, "x": x}),
        {"outcome": "y", "running": "x", "cutoff": 0.0},
        {"LATE": 2.0},
        notes=f"{n} rows, sharp RD at 0, jump 2",
    )


def staggered_panel(
    n_units: int = 2000,
    n_periods: int = 8,
    seed: int = 0,
    cohorts: tuple[int, ...] = (4, 6),
    name: str = "staggered_panel",
    dynamic: float = 0.2,
) -> Design:
    """Staggered adoption with dynamic, cohort-specific effects and a never-treated group.

    Cohorts first treated in periods 4, 6 (and never), effect ``0.5 + dynamic·(t − g)``
    for ``t ≥ g`` (``dynamic = 0.2`` by default; 0 gives a constant effect 0.5, under
    which two-way fixed effects is unbiased); unit and time effects; parallel trends
    hold.  Truth: the overall (group-
    aggregated) ATT of Callaway & Sant'Anna, and the simple weighted ATT.  With one
    cohort (``cohorts=(4,)``) it is a two-group panel whose pre/post ATT is the simple ATT.
    """
    rng = np.random.default_rng(seed)
    share = 0.6 / len(cohorts)
    cohort = rng.choice([*cohorts, 0], size=n_units, p=[share] * len(cohorts) + [0.4])
    alpha = rng.standard_normal(n_units)
    times = np.arange(1, n_periods + 1)
    unit = np.repeat(np.arange(n_units), n_periods)
    time = np.tile(times, n_units)
    g = np.repeat(cohort, n_periods)
    treated = (g > 0) & (time >= g)
    effect = np.where(treated, 0.5 + dynamic * (time - g), 0.0)
    y = np.repeat(alpha, n_periods) + 0.1 * time + effect + rng.standard_normal(len(unit))
    df = pd.DataFrame({"unit": unit, "time": time, "cohort": g, "d": treated.astype(int), "y": y})
    # group aggregation: mean over groups (weighted by group size) of each group's mean
    # post-treatment effect
    group_effects = {c: float(np.mean(0.5 + dynamic * (times[times >= c] - c))) for c in cohorts}
    sizes = {c: int((cohort == c).sum()) for c in cohorts}
    overall = sum(group_effects[c] * sizes[c] for c in cohorts) / sum(sizes.values())
    simple = float(effect[treated].mean())
    return Design(
        name,
        df,
        {"outcome": "y", "unit": "unit", "time": "time", "cohort": "cohort", "treatment": "d"},
        # ATT_lead0: the effect in the adoption period, 0.5 for every cohort (panel matching)
        {"ATT": overall, "ATT_simple": simple, "ATT_lead0": 0.5},
        notes=f"{n_units} units × {n_periods} periods, cohorts "
        + "/".join(str(c) for c in cohorts)
        + "/never",
        extra={"post_period": min(cohorts)},
    )


def two_group_panel(n_units: int = 2000, n_periods: int = 8, seed: int = 0) -> Design:
    """One adoption cohort (period 4) and never-treated units: the 2x2 DiD design.

    Collapsed to pre (t < 4) and post (t ≥ 4), the DiD estimand is the mean effect over
    the treated unit-periods, ``mean(0.5 + 0.2·(t − 4))`` for t = 4…8, i.e. 0.9.
    """
    d = staggered_panel(n_units, n_periods, seed, cohorts=(4,), name="two_group_panel")
    roles = {k: v for k, v in d.roles.items() if k != "cohort"}
    return Design(
        d.name, d.frame, roles, {"ATT": d.truth["ATT_simple"]}, notes=d.notes, extra=d.extra
    )


def its_series(n_pre: int = 120, n_post: int = 80, seed: int = 0) -> Design:
    """Interrupted time series: ``y = 10 + 0.05 s + 2·D + 0.03 (s − T0) D + u``, AR(1) ``u``.

    ``s = 0 … n−1`` with the interruption at ``T0 = n_pre``; ``u_s = 0.5 u_{s−1} + e_s``.
    Truth: level change 2, slope change 0.03.
    """
    rng = np.random.default_rng(seed)
    n = n_pre + n_post
    e = rng.standard_normal(n)
    u = np.empty(n)
    u[0] = e[0] / np.sqrt(1 - 0.25)
    for i in range(1, n):
        u[i] = 0.5 * u[i - 1] + e[i]
    s = np.arange(n, dtype=float)
    D = (s >= n_pre).astype(float)
    y = 10 + 0.05 * s + 2.0 * D + 0.03 * (s - n_pre) * D + u
    return Design(
        "its_series",
        pd.DataFrame({"t": np.arange(n), "y": y, "d": D.astype(int)}),
        {"outcome": "y", "time": "t"},
        {"level_change": 2.0, "slope_change": 0.03},
        notes=f"{n} periods ({n_pre} pre), AR(1) errors, level change 2, slope change 0.03",
        extra={"interruption": n_pre},
    )


def synth_panel(n_donors: int = 40, n_periods: int = 30, t0: int = 20, seed: int = 0) -> Design:
    """Factor model, one treated unit in the convex hull of the donors, effect −1 after t0."""
    rng = np.random.default_rng(seed)
    k = 3
    loadings = rng.uniform(0, 1, (n_donors, k))
    w = rng.dirichlet(np.ones(4))
    treated_loading = w @ loadings[:4]
    factors = np.cumsum(rng.standard_normal((n_periods, k)) * 0.3, axis=0) + 5
    L = np.vstack([treated_loading, loadings])
    Y = factors @ L.T + 0.1 * rng.standard_normal((n_periods, n_donors + 1))
    Y[t0:, 0] += -1.0
    units = np.repeat(np.arange(n_donors + 1), n_periods)
    times = np.tile(np.arange(1, n_periods + 1), n_donors + 1)
    y = Y.T.reshape(-1)
    d = ((units == 0) & (times > t0)).astype(int)
    df = pd.DataFrame({"unit": units, "time": times, "y": y, "d": d})
    return Design(
        "synth_panel",
        df,
        {"outcome": "y", "unit": "unit", "time": "time", "treatment": "d"},
        {"ATT": -1.0},
        notes=f"1 treated, {n_donors} donors, {n_periods} periods (T0={t0})",
        extra={"treated_unit": 0, "treatment_time": t0 + 1},
    )
