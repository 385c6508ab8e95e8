"""Consensus across estimators of the same estimand (never across estimands).

Estimates from different estimators on the same data are strongly correlated, so an
inverse-variance pool would overstate precision.  The consensus is therefore
descriptive, over the *usable* estimates of one estimand:

* left out (and listed under ``excluded`` with the reason): estimates that failed a
  gate, and degenerate ones (not finite, or a standard error ≈ 0 relative to the
  outcome's spread — a perfect fit, see :func:`cqox.analysis.verdict.degenerate_reason`);
* ``estimate``: the median of the usable estimates; ``min``/``max`` their range;
* ``agreement``: the share of usable estimators whose confidence interval contains the
  median (1.0 = every interval covers it);
* ``same_sign``: whether every usable estimate has the same sign;
* ``n_significant``: how many usable estimates reject 0 at their interval's level.

An estimand whose every estimate is excluded has no consensus entry; the returned
``notes`` say why, and the Analysis shows them as warnings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cqox.analysis.verdict import degenerate_reason
from cqox.core.estimate import Estimate

METHOD = (
    "median of the usable estimators (gate failures and degenerate estimates left out); "
    "agreement = share of their CIs containing the median"
)


def exclusion_reason(e: Estimate, y_scale: float | None) -> str | None:
    """Why an estimate is left out of the consensus (``None`` when it is used)."""
    degenerate = degenerate_reason(e, y_scale)
    if degenerate is not None:
        return f"degenerate: {degenerate}"
    if e.status == "fail":
        failed = ", ".join(g.name for g in e.gates if g.status == "fail")
        return f"failed gate(s) {failed}"
    return None


def consensus_with_notes(
    estimates: list[Estimate], y_scale: float | None = None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per-estimand consensus of the usable estimates, and notes on estimands without one.

    ``y_scale`` is the outcome's standard deviation (for the degenerate-SE rule); without
    it only non-finite estimates count as degenerate.
    """
    by_estimand: dict[str, list[Estimate]] = {}
    for e in estimates:
        by_estimand.setdefault(e.estimand, []).append(e)
    out: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for estimand, group in by_estimand.items():
        reasons = {id(e): exclusion_reason(e, y_scale) for e in group}
        usable = [e for e in group if reasons[id(e)] is None]
        excluded = [
            {"estimator": e.estimator, "reason": reasons[id(e)]}
            for e in group
            if reasons[id(e)] is not None
        ]
        if not usable:
            notes.append(
                f"no consensus for {estimand}: every estimate was left out ("
                + "; ".join(f"{x['estimator']}: {x['reason']}" for x in excluded)
                + ")"
            )
            continue
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
            "excluded": excluded,
            "excluded_failed_gates": [
                x["estimator"] for x in excluded if str(x["reason"]).startswith("failed")
            ],
            "agreement": len(inside) / len(usable),
            "same_sign": len(signs) == 1,
            "n_significant": len(significant),
            "method": METHOD,
        }
    return out, notes


def consensus(estimates: list[Estimate], y_scale: float | None = None) -> dict[str, dict[str, Any]]:
    """Per-estimand consensus of the usable estimates (see the module docstring)."""
    return consensus_with_notes(estimates, y_scale)[0]
