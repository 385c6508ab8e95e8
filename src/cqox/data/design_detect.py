"""Designs read from the data, not only from the roles' names.

* **Regression discontinuity from a threshold.**  A binary treatment that is exactly
  ``1[x ≥ c]`` (or ``1[x < c]``) for a continuous column ``x`` is a sharp RD with
  running variable ``x``: no treated and control unit share a value of ``x``, so the
  backdoor design has no overlap there.  :func:`find_threshold` finds such a column and
  the cutoff: the observed gap ``(max x of one arm, min x of the other]`` holds every
  cutoff consistent with the data, and the roundest number in it is taken (21 for ages
  20.9 | 21.0, 0 for margins −0.01 | 0.02) and stated.
* **Continuous treatments** go to the dose-response design (role ``dose``), and to the
  backdoor estimators that accept a continuous treatment (``dml_plr``).

Instrument-like names are suggested (never applied) by :mod:`cqox.data.infer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cqox.core.design import Design
from cqox.core.roles import Roles

#: Fewest rows on each side of a threshold for it to count as a design.
MIN_SIDE = 10
#: Fewest distinct values of a running variable (a few levels are categories).
MIN_DISTINCT = 10
#: Fewest distinct values of the running variable within each arm: a column that is
#: constant in one arm (an incentive amount, 0 for every control) is a dose of the
#: treatment, not a running variable.
MIN_DISTINCT_PER_SIDE = 5


@dataclass(frozen=True)
class Threshold:
    """A treatment that is a threshold function of a column."""

    running: str
    cutoff: float
    treated_above: bool
    gap: tuple[float, float]

    def reason(self, treatment: str) -> str:
        """One line saying what was found."""
        side = "≥" if self.treated_above else "<"
        return (
            f"'{treatment}' = 1['{self.running}' {side} {self.cutoff:g}] on every row: a "
            f"sharp regression discontinuity in '{self.running}' (no unit of one arm lies "
            f"between {self.gap[0]:g} and {self.gap[1]:g}; cutoff {self.cutoff:g}, the roundest "
            "value in that gap)"
        )


def roundest(lo: float, hi: float) -> float:
    """The roundest number in ``(lo, hi]`` (largest power-of-ten step, then 5 and 2 times)."""
    for k in range(9, -10, -1):
        for mult in (5.0, 2.0, 1.0):
            step = mult * 10.0**k
            c = (math.floor(lo / step) + 1) * step
            if lo < c <= hi:
                return float(round(c, 12))
    return float(hi)


def threshold_of(x: np.ndarray, t: np.ndarray) -> tuple[float, bool, tuple[float, float]] | None:
    """``(cutoff, treated_above, gap)`` when ``t`` is a threshold function of ``x``."""
    ok = np.isfinite(x) & np.isfinite(t)
    x, t = x[ok], t[ok]
    x0, x1 = x[t == 0], x[t == 1]
    if min(len(x0), len(x1)) < MIN_SIDE:
        return None
    # the O(n) gap test first: most columns fail it, and the distinct counts need a sort
    if x0.max() < x1.min():
        lo, hi, above = float(x0.max()), float(x1.min()), True
    elif x1.max() < x0.min():
        lo, hi, above = float(x1.max()), float(x0.min()), False
    else:
        return None
    if min(len(np.unique(x0)), len(np.unique(x1))) < MIN_DISTINCT_PER_SIDE:
        return None
    return roundest(lo, hi), above, (lo, hi)


def find_threshold(
    df: pd.DataFrame,
    treatment: str,
    candidates: list[str],
    nunique: dict[str, int] | None = None,
) -> Threshold | None:
    """The first candidate column of which the binary ``treatment`` is a threshold function.

    ``nunique`` (distinct values per column) saves recounting when the caller has it.
    """
    t = pd.to_numeric(df[treatment], errors="coerce").to_numpy(dtype=np.float64)
    if not set(np.unique(t[np.isfinite(t)])) <= {0.0, 1.0}:
        return None
    for c in candidates:
        s = df[c]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        distinct = nunique[c] if nunique is not None else int(s.nunique(dropna=True))
        if distinct < MIN_DISTINCT:
            continue
        found = threshold_of(s.to_numpy(dtype=np.float64), t)
        if found is not None:
            return Threshold(c, *found)
    return None


#: Smallest jump in the treatment's share at the cutoff for a fuzzy RD (the first stage);
#: below it the assignment barely moves the treatment and the RD would be weak.
FUZZY_MIN_JUMP = 0.2
#: Share of the rows on each side nearest to the cutoff over which the jump is measured.
FUZZY_WINDOW = 0.25


@dataclass(frozen=True)
class FuzzyThreshold:
    """A binary column that is a threshold of ``running`` and moves the treatment there."""

    threshold: Threshold
    assignment: str
    share_below: float
    share_above: float

    def reason(self, treatment: str) -> str:
        """One line saying what was found."""
        th = self.threshold
        side = "≥" if th.treated_above else "<"
        return (
            f"'{self.assignment}' = 1['{th.running}' {side} {th.cutoff:g}] on every row and the "
            f"share treated ('{treatment}') jumps from {self.share_below:.2f} to "
            f"{self.share_above:.2f} at {th.cutoff:g}: a fuzzy regression discontinuity in "
            f"'{th.running}' (cutoff {th.cutoff:g}; '{self.assignment}' is the assignment, not a "
            "covariate)"
        )


def find_fuzzy(
    df: pd.DataFrame,
    treatment: str,
    assignments: list[str],
    candidates: list[str],
    nunique: dict[str, int] | None = None,
) -> FuzzyThreshold | None:
    """A binary assignment column that is a threshold of a candidate and moves ``treatment``.

    The jump is the difference in the treatment's mean between the ``FUZZY_WINDOW``
    share of rows nearest to the cutoff on each side; it must be at least
    ``FUZZY_MIN_JUMP`` in absolute value.
    """
    t = pd.to_numeric(df[treatment], errors="coerce").to_numpy(dtype=np.float64)
    for a in assignments:
        th = find_threshold(df, a, candidates, nunique)
        if th is None:
            continue
        x = pd.to_numeric(df[th.running], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(t)
        xs, ts = x[ok], t[ok]
        below, above = xs < th.cutoff, xs >= th.cutoff
        if below.sum() < MIN_SIDE or above.sum() < MIN_SIDE:
            continue
        lo_cut = np.quantile(xs[below], 1 - FUZZY_WINDOW)
        hi_cut = np.quantile(xs[above], FUZZY_WINDOW)
        p_below = float(ts[below & (xs >= lo_cut)].mean())
        p_above = float(ts[above & (xs <= hi_cut)].mean())
        if abs(p_above - p_below) >= FUZZY_MIN_JUMP:
            return FuzzyThreshold(th, a, p_below, p_above)
    return None


def time_varying_applies(df: pd.DataFrame, roles: Roles) -> bool:
    """Whether the treatment and at least one named covariate change within some unit.

    The time-varying design needs a treatment history (not one treatment per unit) and
    time-varying confounders; a DiD panel with baseline covariates has neither.
    """
    cols = roles.covariates
    if roles.unit is None or roles.treatment is None or not isinstance(cols, tuple):
        return False
    needed = [roles.unit, roles.treatment, *cols]
    if any(c not in df.columns for c in needed):
        return False
    varies = df.groupby(df[roles.unit].to_numpy(), sort=False)[[roles.treatment, *cols]]
    changes = varies.nunique(dropna=True).gt(1).any()
    return bool(changes[roles.treatment]) and bool(changes[list(cols)].any())


def refine_designs(
    df: pd.DataFrame, roles: Roles, designs: list[Design]
) -> tuple[list[Design], list[str]]:
    """Drop designs the data contradict.

    The backdoor design where the treatment is a sharp threshold of the running: with
    ``treatment = 1[running ≥ cutoff]`` no unit of one arm has a running value of the
    other, so adjusting for the running variable is impossible (no overlap) and not
    adjusting is confounded: only the RD identifies the effect (at the cutoff).  The
    time-varying design unless :func:`time_varying_applies`.
    """
    if Design.TIME_VARYING in designs and not time_varying_applies(df, roles):
        designs = [d for d in designs if d is not Design.TIME_VARYING]
    if (
        Design.RD not in designs
        or Design.BACKDOOR not in designs
        or roles.treatment is None
        or roles.running is None
        or roles.cutoff is None
        or roles.treatment not in df
        or roles.running not in df
    ):
        return designs, []
    x = pd.to_numeric(df[roles.running], errors="coerce").to_numpy(dtype=np.float64)
    t = pd.to_numeric(df[roles.treatment], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(t)
    above = (x[ok] >= roles.cutoff).astype(float)
    if not (np.array_equal(t[ok], above) or np.array_equal(t[ok], 1.0 - above)):
        return designs, []
    kept: list[Design] = [d for d in designs if d is not Design.BACKDOOR]
    return kept, [
        f"backdoor design left out: '{roles.treatment}' is a sharp threshold of "
        f"'{roles.running}' at {roles.cutoff:g}, so the arms do not overlap in "
        f"'{roles.running}'; the regression discontinuity identifies the effect at the cutoff"
    ]


__all__ = [
    "FuzzyThreshold",
    "Threshold",
    "find_fuzzy",
    "find_threshold",
    "refine_designs",
    "roundest",
    "threshold_of",
    "time_varying_applies",
]
