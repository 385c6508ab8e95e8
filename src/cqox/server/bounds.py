"""Sensitivity analysis from a reported estimate and confidence interval.

- E-value (VanderWeele & Ding 2017, doi:10.7326/M16-2607) through
  :mod:`cqox.sensitivity.evalue`: risk, odds and hazard ratios, standardised mean
  differences, and mean differences via ``d = effect / sd(Y)``.
- With matched-pair differences: the engine's Wilcoxon signed-rank Rosenbaum bounds
  (:func:`cqox.sensitivity.rosenbaum.rosenbaum_bounds`).
- Without them, the sign-test bounds recovered from the summary
  (:func:`cqox.sensitivity.rosenbaum.sign_test_bounds`).

The maths lives in :mod:`cqox.sensitivity`; this module checks HTTP input only.
"""

from __future__ import annotations

from typing import Any

from cqox.errors import ParameterError
from cqox.sensitivity import evalue as evalue_of
from cqox.sensitivity import evalue_continuous, rosenbaum_bounds
from cqox.sensitivity.rosenbaum import sign_test_bounds

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


def rosenbaum(
    estimate: float,
    ci: tuple[float, float],
    ci_level: float,
    n_pairs: int | None,
    gammas: list[float] | None,
    alpha: float,
) -> dict[str, Any]:
    """Approximate bounds from the summary (:func:`cqox.sensitivity.rosenbaum.sign_test_bounds`)."""
    if n_pairs is None:
        return {
            "applicable": False,
            "reason": "Rosenbaum bounds need the number of matched pairs ('n_pairs')",
        }
    return sign_test_bounds(estimate, ci, ci_level, n_pairs, gammas, alpha)
