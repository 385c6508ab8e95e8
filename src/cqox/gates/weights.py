"""Gates on weights and propensity overlap.

- ``effective_sample_size``: Kish's ESS ``(Σw)² / Σw²`` per arm, summed, over rows
  (Kish 1965); warn below ``effective_sample_size`` (default 0.70).
- ``max_weight_ratio``: the largest weight over the mean weight in its arm; warn above
  ``max_weight_ratio`` (default 20).
- ``common_support``: share of rows whose propensity lies in
  ``[max(min e|T=1, min e|T=0), min(max e|T=1, max e|T=0)]``; warn below
  ``common_support`` (default 0.90), fail below half of it.
"""

from __future__ import annotations

import numpy as np

from cqox.core.context import Context
from cqox.core.gate import Gate, threshold_gate


def kish_ess(w: np.ndarray) -> float:
    """Kish's effective sample size ``(Σw)² / Σw²``."""
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


def ess_gate(w: np.ndarray, t: np.ndarray, ctx: Context) -> Gate:
    """Effective sample size of weights ``w`` (per arm, summed) relative to rows."""
    ess1, ess0 = kish_ess(w[t == 1]), kish_ess(w[t == 0])
    ratio = (ess1 + ess0) / len(w)
    limit = ctx.threshold("effective_sample_size")
    return threshold_gate(
        "effective_sample_size",
        ratio,
        limit,
        higher_is_better=True,
        label="ESS / n",
        fail_threshold=limit / 3,
        details={"ess_treated": ess1, "ess_control": ess0, "n": len(w)},
    )


def max_weight_gate(w: np.ndarray, t: np.ndarray, ctx: Context) -> Gate:
    """Largest weight relative to the mean weight of its arm."""
    arms = (w[t == 1], w[t == 0])
    ratios = [float(arm.max() / arm.mean()) for arm in arms]
    worst = max(ratios)
    return threshold_gate(
        "max_weight_ratio",
        worst,
        ctx.threshold("max_weight_ratio"),
        higher_is_better=False,
        label="max weight / mean weight",
        details={"treated": ratios[0], "control": ratios[1]},
    )


def common_support(e: np.ndarray, t: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Common-support interval of the propensity and the mask of rows inside it."""
    e1, e0 = e[t == 1], e[t == 0]
    low = max(float(e1.min()), float(e0.min()))
    high = min(float(e1.max()), float(e0.max()))
    return low, high, (e >= low) & (e <= high)


def common_support_gate(e: np.ndarray, t: np.ndarray, ctx: Context) -> Gate:
    """Share of rows inside the propensity common support."""
    low, high, inside = common_support(e, t)
    outside = ~inside
    limit = ctx.threshold("common_support")
    extreme = ctx.threshold("common_support_extreme")
    return threshold_gate(
        "common_support",
        float(inside.mean()),
        limit,
        higher_is_better=True,
        label="share in common support",
        fail_threshold=limit / 2,
        details={
            "interval": [low, high],
            "outside_treated": int(np.count_nonzero(outside & (t == 1))),
            "outside_control": int(np.count_nonzero(outside & (t == 0))),
            "share_extreme": float(np.mean((e < extreme) | (e > 1 - extreme))),
            "e_min": float(e.min()),
            "e_max": float(e.max()),
        },
    )
