"""Sensitivity analysis: how much unmeasured confounding would overturn an estimate.

- :func:`evalue` — E-values for risk, odds and hazard ratios and standardised
  differences (VanderWeele & Ding 2017);
- :func:`rosenbaum_bounds` — Wilcoxon signed-rank p-value bounds over ``Γ`` for
  matched pairs, and the critical ``Γ`` (Rosenbaum 2002);
- :func:`ovb_sensitivity` — robustness values and benchmarked partial-R² bounds for a
  regression estimate (Cinelli & Hazlett 2020).
"""

from cqox.sensitivity.evalue import (
    EValue,
    evalue,
    evalue_continuous,
    evalue_from_rr,
    evalue_rr,
    to_risk_ratio,
)
from cqox.sensitivity.ovb import (
    OVBResult,
    bias_bound,
    ovb_sensitivity,
    partial_r2,
    robustness_value,
)
from cqox.sensitivity.rosenbaum import RosenbaumBounds, rosenbaum_bounds

__all__ = [
    "EValue",
    "OVBResult",
    "RosenbaumBounds",
    "bias_bound",
    "evalue",
    "evalue_continuous",
    "evalue_from_rr",
    "evalue_rr",
    "ovb_sensitivity",
    "partial_r2",
    "robustness_value",
    "rosenbaum_bounds",
    "to_risk_ratio",
]
