"""E-values (VanderWeele & Ding 2017, doi:10.7326/M16-2607).

The E-value is the minimum strength of association, on the risk-ratio scale, that an
unmeasured confounder would need with both treatment and outcome to fully explain
away an observed risk ratio ``RR``: ``E = RR + sqrt(RR·(RR − 1))`` for ``RR ≥ 1``
(use ``1/RR`` below 1).  For a continuous outcome, the standardised mean difference
``d = effect / sd(Y)`` is mapped to ``RR ≈ exp(0.91·d)`` (VanderWeele & Ding 2017,
Table 2; Chinn 2000).  The E-value of the confidence interval uses the limit nearest
the null (1 if the interval crosses it).

Other effect measures are first put on the risk-ratio scale (VanderWeele & Ding 2017,
Table 2):

- odds ratio, rare outcome (< 15%): ``RR ≈ OR``; common outcome: ``RR ≈ sqrt(OR)``;
- hazard ratio, rare outcome: ``RR ≈ HR``; common outcome:
  ``RR ≈ (1 − 0.5^sqrt(HR)) / (1 − 0.5^sqrt(1/HR))``;
- mean difference: ``RR ≈ exp(0.91·d)``, ``d`` the standardised difference, and for its
  interval ``exp(0.91·d ± 1.78·s_d)`` (= ``0.91·(d ± 1.96·s_d)``).

:func:`evalue` is the one entry point for all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def evalue_rr(rr: float) -> float:
    """E-value of a risk ratio."""
    if not rr > 0:
        raise ValueError(f"risk ratio must be positive; got {rr}")
    r = rr if rr >= 1 else 1 / rr
    return r + math.sqrt(r * (r - 1))


@dataclass(frozen=True)
class EValue:
    """E-value of a point estimate and of its confidence limit nearest the null."""

    scale: str
    rr: float
    evalue: float
    rr_ci_limit: float
    evalue_ci: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "scale": self.scale,
            "rr": self.rr,
            "evalue": self.evalue,
            "rr_ci_limit": self.rr_ci_limit,
            "evalue_ci": self.evalue_ci,
        }


def evalue_from_rr(rr: float, lo: float, hi: float, scale: str = "risk_ratio") -> EValue:
    """E-values for a risk ratio and its CI ``[lo, hi]``."""
    if lo <= 1 <= hi:
        limit, e_ci = 1.0, 1.0
    else:
        limit = lo if rr > 1 else hi
        e_ci = evalue_rr(limit)
    return EValue(scale, rr, evalue_rr(rr), limit, e_ci)


MEASURES = ("RR", "OR", "HR", "SMD")


def to_risk_ratio(value: float, measure: str, rare: bool = True) -> float:
    """Approximate risk ratio of an ``OR``/``HR`` (``RR`` is returned as is)."""
    if measure == "RR" or (measure in ("OR", "HR") and rare):
        return value
    if not value > 0:
        raise ValueError(f"{measure} must be positive; got {value}")
    if measure == "OR":
        return math.sqrt(value)
    if measure == "HR":
        return (1 - 0.5 ** math.sqrt(value)) / (1 - 0.5 ** math.sqrt(1 / value))
    raise ValueError(f"measure must be one of {MEASURES}; got {measure!r}")


def evalue(
    estimate: float,
    lo: float | None = None,
    hi: float | None = None,
    *,
    measure: str = "RR",
    rare: bool = True,
    se: float | None = None,
) -> EValue:
    """E-value of an estimate and of its CI limit nearest the null.

    Parameters
    ----------
    estimate : float
        A risk, odds or hazard ratio, or (``measure="SMD"``) a standardised mean
        difference ``d``.
    lo, hi : float, optional
        Confidence limits (same scale).  For ``SMD`` give ``se`` (of ``d``) instead.
    measure : {"RR", "OR", "HR", "SMD"}
    rare : bool
        Whether the outcome is rare (< 15%), for ``OR``/``HR``.

    Example
    -------
    >>> round(evalue(3.9, 1.8, 8.45).evalue, 2), round(evalue(3.9, 1.8, 8.45).evalue_ci, 2)
    (7.26, 3.0)
    """
    if measure == "SMD":
        rr = math.exp(0.91 * estimate)
        if se is not None:
            lo_rr, hi_rr = (
                math.exp(0.91 * estimate - 1.78 * se),
                math.exp(0.91 * estimate + 1.78 * se),
            )
        elif lo is not None and hi is not None:
            lo_rr, hi_rr = math.exp(0.91 * lo), math.exp(0.91 * hi)
        else:
            lo_rr = hi_rr = rr
        return evalue_from_rr(rr, lo_rr, hi_rr, "standardized_difference")
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}; got {measure!r}")
    scale = {
        "RR": "risk_ratio",
        "OR": "odds_ratio_rare" if rare else "odds_ratio_common",
        "HR": "hazard_ratio_rare" if rare else "hazard_ratio_common",
    }[measure]
    rr = to_risk_ratio(estimate, measure, rare)
    lo_rr = rr if lo is None else to_risk_ratio(lo, measure, rare)
    hi_rr = rr if hi is None else to_risk_ratio(hi, measure, rare)
    return evalue_from_rr(rr, lo_rr, hi_rr, scale)


def evalue_continuous(effect: float, ci: tuple[float, float], sd_outcome: float) -> EValue:
    """E-values for a mean difference via the standardised difference ``d = effect/sd``."""
    if not sd_outcome > 0:
        raise ValueError(f"sd of the outcome must be positive; got {sd_outcome}")
    to_rr = lambda v: math.exp(0.91 * v / sd_outcome)  # noqa: E731
    return evalue_from_rr(to_rr(effect), to_rr(ci[0]), to_rr(ci[1]), "standardized_difference")
