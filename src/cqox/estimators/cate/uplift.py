"""Uplift and targeting: whom to treat when rows are ranked by τ̂.

Rows are ranked by decreasing priority ``τ̂``; the gain of treating the top share
``q`` (and no one else) is estimated with the doubly robust scores ``φ`` (which have
mean ``τ(x)`` given ``x``, so no randomised data are needed):

- **uplift (gain) curve** ``G(q) = (1/n) Σ_{i in top q} φ_i``: the average effect per
  row of the population of treating the top ``q`` (Radcliffe 2007's cumulative
  gain, in effect units);
- **Qini curve** ``Q(q) = G(q) − q·τ̄``: the gain above treating a random share
  ``q`` (Radcliffe 2007, "Using control groups to target on predicted lift", DMA
  Analytic Council Newsletter; Qini coefficient = its area);
- **TOC** ``TOC(q) = mean_{top q} φ − τ̄`` (Yadlowsky et al. 2021).

``AUUC = ∫₀¹ G(q) dq`` and the Qini coefficient ``∫₀¹ Q(q) dq`` are averages over the
grid ``q = 1/n, 2/n, …, 1``.

**Targeting table.**  Treating the top share ``q`` of ``n`` rows costs
``cost_per_treated · q`` per row of the population and returns
``value_per_outcome · G(q)``; its net benefit per row is the difference.  With
budgets (spend per row of the population), a coverage is feasible when its cost
is within the budget, and the feasible coverage with the largest net benefit is
marked optimal for that budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Coverages of the targeting table (share of rows treated).
COVERAGES: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 21))
#: Points of the uplift / Qini / TOC curves kept in the JSON.
CURVE_POINTS = 101


def _ranked(phi: np.ndarray, priority: np.ndarray) -> np.ndarray:
    return phi[np.argsort(-priority, kind="stable")]


def uplift_curves(
    phi: np.ndarray, priority: np.ndarray, n_points: int = CURVE_POINTS
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Uplift, Qini and TOC curves on ``n_points`` shares, with AUUC and Qini coefficient."""
    ps = _ranked(phi, priority)
    n = len(ps)
    j = np.arange(1, n + 1)
    cum = np.cumsum(ps)
    tau_bar = float(ps.mean())
    gain = cum / n
    qini = gain - j / n * tau_bar
    toc = cum / j - tau_bar
    q = np.linspace(0.0, 1.0, n_points)
    k = np.clip(np.round(q * n).astype(np.int64), 0, n)
    pad = np.concatenate([[0.0], gain]), np.concatenate([[0.0], qini])
    curve = pd.DataFrame(
        {
            "share_treated": q,
            "uplift": pad[0][k],
            "qini": pad[1][k],
            "toc": np.where(k > 0, np.concatenate([[np.nan], toc])[k], np.nan),
            "random": q * tau_bar,
        }
    )
    return curve, {"auuc": float(gain.mean()), "qini_coefficient": float(qini.mean())}


def targeting_table(
    phi: np.ndarray,
    priority: np.ndarray,
    cost_per_treated: float = 0.0,
    value_per_outcome: float = 1.0,
    budgets: Sequence[float] | None = None,
    coverages: Sequence[float] = COVERAGES,
) -> pd.DataFrame:
    """Net benefit of treating the top ``coverage`` by τ̂, per budget, optimum marked.

    Columns: ``budget`` (NaN: unconstrained), ``coverage``, ``n_treated``, ``gain``
    (``G(q)``), ``value``, ``cost``, ``net_benefit`` (all per row of the population),
    ``feasible`` and ``optimal``.
    """
    ps = _ranked(phi, priority)
    n = len(ps)
    cum = np.concatenate([[0.0], np.cumsum(ps)])
    rows = []
    for budget in [float("nan"), *(budgets or ())]:
        block = []
        for c in coverages:
            k = round(c * n)
            gain = float(cum[k] / n)
            cost = cost_per_treated * k / n
            value = value_per_outcome * gain
            feasible = bool(np.isnan(budget) or cost <= budget + 1e-12)
            block.append(
                {
                    "budget": budget,
                    "coverage": float(c),
                    "n_treated": k,
                    "gain": gain,
                    "value": value,
                    "cost": cost,
                    "net_benefit": value - cost,
                    "feasible": feasible,
                    "optimal": False,
                }
            )
        best = max(
            (r for r in block if r["feasible"]), key=lambda r: r["net_benefit"], default=None
        )
        if best is not None:
            best["optimal"] = True
        rows.extend(block)
    return pd.DataFrame(rows)
