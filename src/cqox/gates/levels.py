"""Gates on the weights and overlap of a treatment with ``K ≥ 2`` levels.

The binary gates of :mod:`cqox.gates.weights`, one level at a time:

- ``effective_sample_size``: Kish's ESS ``(Σw)²/Σw²`` within each level, summed over
  levels, over rows (Kish 1965); warn below ``effective_sample_size`` (default 0.70),
  fail below a third of it.
- ``max_weight_ratio``: the largest weight over the mean weight of its level, worst
  level; warn above ``max_weight_ratio`` (default 20).
- ``common_support``: share of rows whose generalised propensity lies, for every level
  ``j``, inside ``[max_k min p_j | T=k, min_k max p_j | T=k]`` — the rectangular common
  support of Lopez & Gutman (2017, doi:10.1214/17-STS612); warn below
  ``common_support`` (default 0.90), fail below half of it.
"""

from __future__ import annotations

import numpy as np

from cqox.core.context import Context
from cqox.core.gate import Gate, threshold_gate
from cqox.gates.weights import kish_ess


def level_ess_gate(w: np.ndarray, codes: np.ndarray, ctx: Context) -> Gate:
    """Kish ESS of the weights within each level, summed, relative to the rows."""
    levels = np.unique(codes)
    ess = {int(j): kish_ess(w[codes == j]) for j in levels}
    limit = ctx.threshold("effective_sample_size")
    return threshold_gate(
        "effective_sample_size",
        sum(ess.values()) / len(w),
        limit,
        higher_is_better=True,
        label="ESS / n (summed over levels)",
        fail_threshold=limit / 3,
        details={"ess_by_level": ess, "n": len(w)},
    )


def level_max_weight_gate(w: np.ndarray, codes: np.ndarray, ctx: Context) -> Gate:
    """Largest weight relative to the mean weight of its level (worst level)."""
    arms = {int(j): w[codes == j] for j in np.unique(codes)}
    ratios = {j: float(arm.max() / arm.mean()) for j, arm in arms.items()}
    return threshold_gate(
        "max_weight_ratio",
        max(ratios.values()),
        ctx.threshold("max_weight_ratio"),
        higher_is_better=False,
        label="max weight / mean weight (worst level)",
        details={"by_level": ratios},
    )


def level_common_support(p_hat: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-level support intervals (K × 2) and the mask of rows inside all of them."""
    levels = np.unique(codes)
    low = np.max([p_hat[codes == k].min(axis=0) for k in levels], axis=0)
    high = np.min([p_hat[codes == k].max(axis=0) for k in levels], axis=0)
    inside = np.all((p_hat >= low) & (p_hat <= high), axis=1)
    return np.column_stack([low, high]), inside


def level_common_support_gate(p_hat: np.ndarray, codes: np.ndarray, ctx: Context) -> Gate:
    """Share of rows inside the rectangular common support of the generalised propensity."""
    bounds, inside = level_common_support(p_hat, codes)
    limit = ctx.threshold("common_support")
    extreme = ctx.threshold("common_support_extreme")
    own = p_hat[np.arange(len(codes)), codes]
    return threshold_gate(
        "common_support",
        float(inside.mean()),
        limit,
        higher_is_better=True,
        label="share in common support (all levels)",
        fail_threshold=limit / 2,
        details={
            "intervals": bounds.tolist(),
            "outside": int((~inside).sum()),
            "share_own_level_extreme": float(np.mean(own < extreme)),
            "own_level_min": float(own.min()),
        },
    )
