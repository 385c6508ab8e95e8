"""Consensus across estimators of the same estimand (never across estimands).

Estimates from different estimators on the same data are strongly correlated, so an
inverse-variance pool would overstate precision.  The consensus is therefore
descriptive: the median estimate, the range, and how many estimators' intervals
contain that median (agreement).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cqox.core.estimate import Estimate


def consensus(estimates: list[Estimate]) -> dict[str, dict[str, Any]]:
    """Per-estimand consensus of the estimates that did not fail a gate."""
    by_estimand: dict[str, list[Estimate]] = {}
    for e in estimates:
        if np.isfinite(e.estimate):
            by_estimand.setdefault(e.estimand, []).append(e)
    out: dict[str, dict[str, Any]] = {}
    for estimand, group in by_estimand.items():
        usable = [e for e in group if e.status != "fail"] or group
        values = np.array([e.estimate for e in usable])
        median = float(np.median(values))
        inside = [e.estimator for e in usable if e.ci[0] <= median <= e.ci[1]]
        signs = {int(np.sign(e.estimate)) for e in usable}
        significant = [e.estimator for e in usable if e.p_value < 1 - e.ci_level]
        out[estimand] = {
            "estimate": median,
            "min": float(values.min()),
            "max": float(values.max()),
            "n_estimators": len(usable),
            "estimators": [e.estimator for e in usable],
            "excluded_failed_gates": [e.estimator for e in group if e not in usable],
            "agreement": len(inside) / len(usable),
            "same_sign": len(signs) == 1,
            "n_significant": len(significant),
            "method": "median of estimators; agreement = share of CIs containing it",
        }
    return out
