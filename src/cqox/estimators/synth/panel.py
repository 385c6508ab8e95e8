"""From a long panel to the synthetic-control matrices ``X0, X1, Z0, Z1``.

Notation of Abadie, Diamond & Hainmueller (2010, doi:10.1198/jasa.2009.ap08746): the
treated unit's ``k`` predictors ``X1`` and the donors' ``X0`` (``k × J``); the outcome
paths ``Y1`` (``T``) and ``Y0`` (``T × J``).  A predictor is a column aggregated over a
set of periods (``mean`` by default), like R Synth's ``predictors`` /
``special.predictors`` and pysyncon's ``Dataprep``; values missing in some periods are
skipped by the aggregation (predictors are often observed in a few years only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cqox.data.prepare import check_ordered_periods
from cqox.errors import (
    DataError,
    DesignError,
    ParameterError,
    RoleError,
    column_not_found,
    show_value,
)

#: Aggregations a predictor may use (pandas semantics: missing values skipped,
#: ``std``/``var`` with ddof = 1).
AGGREGATIONS: dict[str, Any] = {
    "mean": np.nanmean,
    "median": np.nanmedian,
    "sum": np.nansum,
    "min": np.nanmin,
    "max": np.nanmax,
    "std": lambda a, axis: np.nanstd(a, axis=axis, ddof=1),
    "var": lambda a, axis: np.nanvar(a, axis=axis, ddof=1),
}


@dataclass(frozen=True)
class Predictor:
    """One predictor: ``op`` of ``column`` over the periods ``times``."""

    column: str
    times: tuple[Any, ...]
    op: str

    @property
    def label(self) -> str:
        """A readable name, e.g. ``gdpcap mean 1960–1969``."""
        if not self.times:
            return f"{self.column} {self.op}"
        lo, hi = self.times[0], self.times[-1]
        span = f"{_fmt(lo)}" if len(self.times) == 1 else f"{_fmt(lo)}–{_fmt(hi)}"
        return f"{self.column} {self.op} {span}"


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def parse_times(value: Any, name: str, owner: str = "synth") -> tuple[Any, ...]:
    """Periods from a list/range, a scalar, or a string ``"a:b"`` / ``"a:b:step"``.

    ``"1961:1969:2"`` is the inclusive sequence 1961, 1963, …, 1969 (R's
    ``seq(1961, 1969, 2)``); a list is taken as the explicit periods.
    """
    if isinstance(value, str):
        parts = value.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            nums = []
        if len(parts) in (2, 3) and len(nums) == len(parts):
            lo, hi = nums[0], nums[1]
            step = nums[2] if len(nums) == 3 else 1.0
            if step > 0 and hi >= lo:
                seq = np.arange(lo, hi + step / 2, step)
                return tuple(int(x) if float(x).is_integer() else float(x) for x in seq)
        raise ParameterError(
            f"The '{name}' parameter of {owner} must be a list of periods or a string "
            f"'start:end' or 'start:end:step'. Got {value!r} instead.",
            details={"parameter": name, "estimator": owner},
        )
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        out = tuple(value)
        if not out:
            raise ParameterError(
                f"The '{name}' parameter of {owner} must list at least one period. Got "
                "an empty list instead.",
                details={"parameter": name, "estimator": owner},
            )
        return out
    return (value,)


def build_predictors(
    predictors: Sequence[str] | None,
    op: str,
    window: tuple[Any, ...],
    special: Sequence[Any] | None,
    owner: str = "synth",
) -> list[Predictor]:
    """The predictor list: each of ``predictors`` over ``window``, then ``special``.

    ``special`` items are ``(column, periods)`` or ``(column, periods, op)``, as R
    Synth's ``special.predictors``.
    """
    out = [Predictor(str(c), window, op) for c in (predictors or ())]
    for item in special or ():
        if isinstance(item, dict):
            item = (item.get("column"), item.get("times"), item.get("op", "mean"))
        if not isinstance(item, list | tuple) or len(item) not in (2, 3):
            raise ParameterError(
                f"The 'special_predictors' parameter of {owner} must be a list of "
                f"(column, periods[, op]) triples. Got item {item!r} instead.",
                details={"parameter": "special_predictors", "estimator": owner},
            )
        col, times = item[0], item[1]
        sop = item[2] if len(item) == 3 else "mean"
        if sop not in AGGREGATIONS:
            raise ParameterError(
                f"special predictor {col!r}: aggregation must be one of "
                f"{', '.join(AGGREGATIONS)}. Got {sop!r} instead.",
                details={"parameter": "special_predictors", "estimator": owner},
            )
        out.append(Predictor(str(col), parse_times(times, "special_predictors", owner), sop))
    return out


@dataclass(frozen=True)
class SynthPanel:
    """A balanced outcome panel and the predictor table of every unit.

    Attributes
    ----------
    units : list
        Unit labels; ``units[0]`` is the treated unit, then the donors.
    times : ndarray, shape (T,)
        Sorted periods of the outcome panel.
    Y : ndarray, shape (T, N)
        Outcome by period (rows) and unit (columns, in ``units`` order).
    X : ndarray, shape (k, N)
        Predictor values (rows: ``predictors``).
    predictors : list of Predictor
        What the rows of ``X`` are.
    treatment_time : object
        First treated period; ``pre = times < treatment_time``.
    dropped_donors : dict
        Donors left out, with the reason.
    """

    units: list[Any]
    times: np.ndarray
    Y: np.ndarray
    X: np.ndarray
    predictors: list[Predictor]
    treatment_time: Any
    dropped_donors: dict[str, str]

    @property
    def pre(self) -> np.ndarray:
        """Mask of pre-treatment periods, shape (T,)."""
        return np.asarray(self.times < self.treatment_time)

    def rows(self, times: tuple[Any, ...]) -> np.ndarray:
        """Mask of the panel periods in ``times``."""
        return np.isin(self.times, np.asarray(times, dtype=self.times.dtype))


def match_value(value: Any, values: Any, exact: bool = True) -> Any:
    """``value`` as the column's own type: ``"17"`` from the command line matches 17.0.

    With ``exact=False`` (periods) a numeric string becomes a number even when no
    value equals it, so that it can still be compared with the periods.
    """
    if any(v == value for v in values):
        return value
    text = str(value).strip()
    for v in values:
        if str(v) == text:
            return v
    try:
        num = float(text)
    except ValueError:
        return value
    for v in values:
        if isinstance(v, int | float | np.number) and float(v) == num:
            return v
    if not exact and all(isinstance(v, int | float | np.number) for v in values):
        return num
    return value


def find_treated(
    frame: pd.DataFrame,
    unit: str,
    time: str,
    treatment: str | None,
    treated_unit: Any,
    treatment_time: Any,
) -> tuple[Any, Any]:
    """The treated unit and first treated period, from parameters or the treatment role.

    Parameters win; otherwise the treatment column (1 for the treated unit in its
    treated periods, 0 elsewhere) must mark exactly one unit.
    """
    check_ordered_periods(frame[time], time)
    units = pd.unique(frame[unit])
    if treated_unit is not None:
        treated_unit = match_value(treated_unit, units)
    if treatment_time is not None:
        treatment_time = match_value(treatment_time, pd.unique(frame[time]), exact=False)
    if treated_unit is not None and not any(u == treated_unit for u in units):
        shown = ", ".join(show_value(u) for u in units[:8])
        raise ParameterError(
            f"The 'treated_unit' parameter of synth must be a value of column "
            f"'{unit}'. Got {show_value(treated_unit)} instead (units: {shown}"
            f"{', …' if len(units) > 8 else ''}).",
            details={"parameter": "treated_unit", "estimator": "synth"},
        )
    if treatment is not None and (treated_unit is None or treatment_time is None):
        tv = pd.to_numeric(frame[treatment], errors="coerce")
        if tv.isna().any() or not set(np.unique(tv)) <= {0.0, 1.0}:
            raise RoleError(
                f"role 'treatment': column '{treatment}' must be 0/1 (1 for the treated "
                "unit in treated periods)",
                details={"role": "treatment", "column": treatment},
            )
        on = frame[tv.to_numpy() == 1]
        treated = pd.unique(on[unit])
        if len(treated) != 1:
            raise DesignError(
                f"synth needs exactly one treated unit; column '{treatment}' marks "
                f"{len(treated)} ({', '.join(show_value(u) for u in treated[:6])}). Use "
                "'treated_unit' to choose one, or a staggered-adoption estimator",
                details={"role": "treatment", "column": treatment},
            )
        if treated_unit is None:
            treated_unit = treated[0]
        if treatment_time is None:
            treatment_time = on.loc[on[unit] == treated_unit, time].min()
    if treated_unit is None or treatment_time is None:
        raise RoleError(
            "synth needs the treated unit and the treatment time: give the 'treatment' "
            "role (1 for the treated unit in treated periods) or the parameters "
            "'treated_unit' and 'treatment_time'",
            details={"role": "treatment"},
        )
    return treated_unit, treatment_time


def build_panel(
    frame: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treated_unit: Any,
    treatment_time: Any,
    predictors: list[Predictor],
    donors: Sequence[Any] | None = None,
    owner: str = "synth",
) -> SynthPanel:
    """Pivot the long table into :class:`SynthPanel` (never modifies ``frame``)."""
    columns = [str(c) for c in frame.columns]
    for p in predictors:
        if p.column not in columns:
            raise column_not_found("predictor", p.column, columns)
    keys = frame[[unit, time]]
    if keys.isna().any().any():
        raise DataError(f"columns '{unit}' and '{time}' must not have missing values")
    dup = keys.duplicated()
    if dup.any():
        first = keys[dup].iloc[0]
        raise DataError(
            f"unit '{first[unit]}' has more than one row in period {first[time]!r}; a "
            "synthetic control needs one row per unit and period",
            details={"column": time},
        )
    all_units = list(pd.unique(frame[unit]))
    if donors is None:
        pool = [u for u in all_units if u != treated_unit]
    else:
        pool = []
        for d in donors:
            d = match_value(d, all_units)
            match = [u for u in all_units if u == d]
            if not match:
                raise ParameterError(
                    f"The 'donors' parameter of {owner} lists {d!r}, which is not a value "
                    f"of column '{unit}'",
                    details={"parameter": "donors", "estimator": owner},
                )
            if match[0] != treated_unit:
                pool.append(match[0])
    units = [treated_unit, *pool]
    Ywide = frame.pivot(index=time, columns=unit, values=outcome).reindex(columns=units)
    times = Ywide.index.to_numpy()
    Y = Ywide.to_numpy(dtype=np.float64)
    dropped: dict[str, str] = {}
    if np.isnan(Y[:, 0]).any():
        miss = times[np.isnan(Y[:, 0])]
        raise DataError(
            f"the treated unit {treated_unit!r} has no outcome ('{outcome}') in "
            f"period(s) {', '.join(_fmt(m) for m in miss[:6])}",
            details={"column": outcome},
        )
    bad = np.isnan(Y[:, 1:]).any(axis=0)
    if bad.any():
        for j in np.flatnonzero(bad):
            dropped[str(pool[j])] = f"outcome '{outcome}' missing in some period"
        keep = np.concatenate([[True], ~bad])
        Y = Y[:, keep]
        units = [u for u, k in zip(units, keep, strict=True) if k]
    if len(units) < 3:
        raise DesignError(
            f"synth needs at least two donor units; got {len(units) - 1} "
            + (f"(dropped: {dropped})" if dropped else ""),
            details={"role": "unit"},
        )
    pre = times < treatment_time
    if pre.sum() < 1 or (~pre).sum() < 1:
        raise DesignError(
            f"treatment time {treatment_time!r} leaves {int(pre.sum())} pre-treatment and "
            f"{int((~pre).sum())} post-treatment periods; both must be at least one",
            details={"parameter": "treatment_time"},
        )
    X = np.empty((len(predictors), len(units)))
    pivots: dict[str, pd.DataFrame] = {}
    for r, p in enumerate(predictors):
        if p.column not in pivots:
            pivots[p.column] = frame.pivot(index=time, columns=unit, values=p.column).reindex(
                columns=units
            )
        piv = pivots[p.column]
        sel = piv.loc[piv.index.isin(list(p.times))].to_numpy(dtype=np.float64)
        empty = np.isnan(sel).all(axis=0) if len(sel) else np.ones(len(units), bool)
        if empty.any():
            who = units[int(np.flatnonzero(empty)[0])]
            raise DataError(
                f"predictor '{p.label}': unit {who!r} has no value of '{p.column}' in the "
                f"periods {', '.join(_fmt(t) for t in p.times[:6])}"
                f"{', …' if len(p.times) > 6 else ''}",
                details={"column": p.column},
            )
        X[r] = AGGREGATIONS[p.op](sel, axis=0)
    return SynthPanel(units, times, Y, X, predictors, treatment_time, dropped)
