"""E-values (VanderWeele & Ding 2017, doi:10.7326/M16-2607).

The E-value is the minimum strength of association, on the risk-ratio scale, that an
unmeasured confounder would need with both treatment and outcome to fully explain
away an observed risk ratio ``RR``: ``E = RR + sqrt(RR·(RR − 1))`` for ``RR ≥ 1``
(use ``1/RR`` below 1).  For a continuous outcome, the standardised mean difference
``d = effect / sd(Y)`` is mapped to ``RR ≈ exp(0.91·d)`` (VanderWeele & Ding 2017,
Table 2; Chinn 2000).  The E-value of the confidence interval uses the limit nearest
the null (1 if the interval crosses it).
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


def evalue_continuous(effect: float, ci: tuple[float, float], sd_outcome: float) -> EValue:
    """E-values for a mean difference via the standardised difference ``d = effect/sd``."""
    if not sd_outcome > 0:
        raise ValueError(f"sd of the outcome must be positive; got {sd_outcome}")
    to_rr = lambda v: math.exp(0.91 * v / sd_outcome)  # noqa: E731
    return evalue_from_rr(to_rr(effect), to_rr(ci[0]), to_rr(ci[1]), "standardized_difference")
