"""Sensitivity analysis from a reported estimate and confidence interval.

- E-value (VanderWeele & Ding 2017, doi:10.7326/M16-2607) through
  :mod:`cqox.sensitivity.evalue`: risk, odds and hazard ratios, standardised mean
  differences, and mean differences via ``d = effect / sd(Y)``.
- With matched-pair differences: the engine's Wilcoxon signed-rank Rosenbaum bounds
  (:func:`cqox.sensitivity.rosenbaum.rosenbaum_bounds`).
- Without them, Rosenbaum bounds (Rosenbaum 2002, *Observational Studies*, 2nd ed., ch. 4,
  doi:10.1007/978-1-4757-3692-2) for the sign test of ``n`` matched pairs, recovered
  from the summary: the standard error is ``se = (high − low) / (2 z_{1−α/2})``, the
  deviate ``z = |estimate| / se``, and the number of pairs favouring the effect is
  taken as ``T = n/2 + z·√n/2`` (the sign test's normal approximation at Γ = 1).  Under
  hidden bias Γ a pair favours treatment with probability at most ``p_Γ = Γ/(1+Γ)``, so
  the one-sided p-value is at most ``1 − Φ((T − n p_Γ) / √(n p_Γ (1 − p_Γ)))``.
  ``gamma_star`` is the Γ at which this bound reaches α.  It is an approximation from
  summary numbers (the pair-level data would give the exact sign-rank bound).
"""

from __future__ import annotations

import math
from typing import Any

from scipy import stats

from cqox.errors import ParameterError
from cqox.sensitivity import evalue as evalue_of
from cqox.sensitivity import evalue_continuous, rosenbaum_bounds

DEFAULT_GAMMAS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0)


_MEASURE = {"risk_ratio": "RR", "odds_ratio": "OR", "hazard_ratio": "HR", "smd": "SMD"}


def evalue(
    estimate: float,
    ci: tuple[float, float],
    scale: str,
    sd_outcome: float | None,
    rare: bool = True,
) -> dict[str, Any]:
    """The E-value of an estimate and of its CI limit nearest the null."""
    if scale in _MEASURE:
        if scale != "smd" and (estimate <= 0 or ci[0] <= 0):
            raise ParameterError(
                f"a {scale.replace('_', ' ')} must be positive; got estimate "
                f"{estimate} and ci [{ci[0]}, {ci[1]}]",
                details={"parameter": "estimate"},
            )
        try:
            return evalue_of(estimate, ci[0], ci[1], measure=_MEASURE[scale], rare=rare).to_dict()
        except (ValueError, OverflowError) as exc:
            raise ParameterError(f"E-value: {exc}", details={"parameter": "estimate"}) from None
    if sd_outcome is None:
        raise ParameterError(
            "the E-value of a mean difference needs 'sd_outcome' (standard deviation of "
            "the outcome); or give scale='risk_ratio'",
            details={"parameter": "sd_outcome"},
        )
    try:
        return evalue_continuous(estimate, ci, sd_outcome).to_dict()
    except (ValueError, OverflowError) as exc:
        raise ParameterError(f"E-value: {exc}", details={"parameter": "sd_outcome"}) from None


def rosenbaum_pairs(
    differences: list[float], gammas: list[float] | None, alpha: float
) -> dict[str, Any]:
    """Exact-data Rosenbaum bounds (Wilcoxon signed rank) from matched-pair differences."""
    import numpy as np

    from cqox.sensitivity.rosenbaum import DEFAULT_GAMMAS as GRID

    d = np.asarray(differences, dtype=float)
    if not np.all(np.isfinite(d)):
        raise ParameterError("pair_differences must be finite numbers")
    if np.count_nonzero(d) < 2:
        raise ParameterError("pair_differences needs at least two non-zero differences")
    if np.median(d) < 0:  # the bounds test a positive effect; flip a negative one
        d = -d
    grid = sorted(set(gammas or GRID) | {1.0})
    out = rosenbaum_bounds(d, gammas=grid, alpha=alpha).to_dict()
    out["applicable"] = True
    return out


def _upper_p(t: float, n: int, gamma: float) -> float:
    p = gamma / (1.0 + gamma)
    z = (t - n * p) / math.sqrt(n * p * (1.0 - p))
    return float(stats.norm.sf(z))


def rosenbaum(
    estimate: float,
    ci: tuple[float, float],
    ci_level: float,
    n_pairs: int | None,
    gammas: list[float] | None,
    alpha: float,
) -> dict[str, Any]:
    """Upper bounds on the one-sided p-value over Γ, and the Γ where it reaches α."""
    if n_pairs is None:
        return {
            "applicable": False,
            "reason": "Rosenbaum bounds need the number of matched pairs ('n_pairs')",
        }
    crit = float(stats.norm.ppf(0.5 + ci_level / 2))
    se = (ci[1] - ci[0]) / (2 * crit)
    if not se > 0:
        return {"applicable": False, "reason": "the confidence interval has zero width"}
    z = abs(estimate) / se
    n = int(n_pairs)
    t = min(float(n), n / 2 + z * math.sqrt(n) / 2)
    grid = sorted(set(gammas or DEFAULT_GAMMAS) | {1.0})
    rows = [{"gamma": g, "p_upper": _upper_p(t, n, g)} for g in grid]
    if _upper_p(t, n, 1.0) >= alpha:
        gamma_star = 1.0
    else:
        lo, hi = 1.0, 1000.0
        if _upper_p(t, n, hi) < alpha:
            gamma_star = math.inf
        else:
            for _ in range(100):
                mid = math.sqrt(lo * hi)
                if _upper_p(t, n, mid) < alpha:
                    lo = mid
                else:
                    hi = mid
            gamma_star = hi
    return {
        "applicable": True,
        "method": "sign test, normal approximation from the estimate and CI",
        "z": z,
        "n_pairs": n,
        "alpha": alpha,
        "bounds": rows,
        "gamma_star": gamma_star if math.isfinite(gamma_star) else None,
    }
