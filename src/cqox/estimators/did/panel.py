"""Panel structure shared by the difference-in-differences estimators.

:func:`prepare_panel` validates the roles of a panel design and builds the
complete-case :class:`~cqox.data.prepare.CausalData`; :func:`build_panel` turns it
into integer unit and period codes, the per-unit treatment cohort and the other
arrays the estimators need, with an error naming the column for every structural
problem (duplicate unit × period rows, non-numeric periods, a cohort or weight that
varies within a unit, a treatment that switches off again, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, check_table, prepare
from cqox.errors import DesignError, RoleError, column_not_found


@dataclass(frozen=True)
class Panel:
    """A validated panel.

    Attributes
    ----------
    y : ndarray, shape (n,)
        Outcome.
    unit : ndarray of int, shape (n,)
        Unit code in ``0..n_units-1`` (order of first appearance after sorting).
    time : ndarray of int, shape (n,)
        Period code in ``0..n_times-1`` (sorted periods).
    unit_labels : ndarray, shape (n_units,)
        The unit identifiers.
    times : ndarray of float, shape (n_times,)
        The sorted distinct periods.
    d : ndarray or None, shape (n,)
        Treatment as float (``None`` when only a cohort was given).
    cohort : ndarray or None, shape (n_units,)
        First treated period per unit (0 = never treated); ``None`` when not
        derivable (treatment not 0/1 or not absorbing).
    weight : ndarray or None, shape (n,)
        Sampling weights.
    cluster : ndarray of int, shape (n,)
        Cluster code (the unit when no ``cluster`` role was given).
    X : ndarray, shape (n, p)
        Covariates (no intercept).
    covariate_names : list of str
    balanced : bool
        Every unit is observed in every period.
    """

    y: np.ndarray
    unit: np.ndarray
    time: np.ndarray
    unit_labels: np.ndarray
    times: np.ndarray
    d: np.ndarray | None
    cohort: np.ndarray | None
    weight: np.ndarray | None
    cluster: np.ndarray
    X: np.ndarray
    covariate_names: list[str]
    balanced: bool

    @property
    def n(self) -> int:
        """Rows."""
        return len(self.y)

    @property
    def n_units(self) -> int:
        """Units."""
        return len(self.unit_labels)

    @property
    def n_times(self) -> int:
        """Periods."""
        return len(self.times)

    @property
    def n_clusters(self) -> int:
        """Clusters."""
        return int(self.cluster.max()) + 1


def prepare_panel(
    df: pd.DataFrame, roles: Roles, *, require_treatment: bool, allow_cohort: bool = True
) -> CausalData:
    """Check the panel roles and build complete-case data.

    ``require_treatment``: the ``treatment`` role must be given (TWFE); otherwise
    ``treatment`` or ``cohort`` must be.  A missing or infinite cohort means "never
    treated" and is coded 0 before listwise deletion (on a copy).
    """
    df = check_table(df)
    columns = [str(c) for c in df.columns]
    for role in ("outcome", "unit", "time"):
        if getattr(roles, role) is None:
            raise RoleError(
                f"role '{role}' is required for difference-in-differences but was not given",
                details={"role": role},
            )
    if require_treatment and roles.treatment is None:
        raise RoleError(
            "role 'treatment' is required: a 0/1 indicator of being treated in the period",
            details={"role": "treatment"},
        )
    if roles.treatment is None and (roles.cohort is None or not allow_cohort):
        raise RoleError(
            "role 'treatment' (0/1 treated in the period) or 'cohort' (first treated "
            "period, 0 = never) is required",
            details={"role": "treatment"},
        )
    if not allow_cohort and roles.cohort is not None and roles.treatment is None:
        raise RoleError("role 'treatment' is required", details={"role": "treatment"})
    for role, col in (("unit", roles.unit), ("time", roles.time), ("cohort", roles.cohort)):
        if col is not None and col not in columns:
            raise column_not_found(role, col, columns)
    if roles.unit == roles.time:
        raise RoleError(
            f"roles 'unit' and 'time' both name column '{roles.unit}'",
            details={"role": "time", "column": str(roles.time)},
        )
    if roles.cohort is not None:
        s = df[roles.cohort]
        if not pd.api.types.is_numeric_dtype(s):
            raise RoleError(
                f"role 'cohort': column '{roles.cohort}' must be numeric (the first treated "
                f"period, 0 = never treated); got dtype {s.dtype}",
                details={"role": "cohort", "column": roles.cohort},
            )
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        filled = np.where(np.isfinite(values), values, 0.0)
        df = df.assign(**{roles.cohort: filled})
    return prepare(
        df, roles, require=("outcome", "unit", "time"), binary_treatment=False, min_per_arm=0
    )


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each row's position among them.

    Integer labels in a range not much wider than the number of rows (unit ids,
    years) are coded in O(n) through a presence table instead of sorting.
    """
    if values.dtype.kind in "iu" and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= 4 * len(values) + 1024:
            offset = values - lo
            present = np.zeros(hi - lo + 1, dtype=bool)
            present[offset] = True
            position = np.cumsum(present) - 1
            uniques = np.flatnonzero(present) + lo
            return uniques.astype(values.dtype), position[offset].astype(np.int64)
    uniques, codes = np.unique(values, return_inverse=True)
    return uniques, codes.astype(np.int64)


def _first_in_unit(values: np.ndarray, unit: np.ndarray, n_units: int) -> np.ndarray:
    out = np.empty(n_units, dtype=values.dtype)
    out[unit[::-1]] = values[::-1]
    return out


def constant_within_unit(
    values: np.ndarray, unit: np.ndarray, unit_labels: np.ndarray, role: str, column: str
) -> np.ndarray:
    """The per-unit value of a unit-level column, or a RoleError naming the culprit."""
    first = _first_in_unit(values, unit, len(unit_labels))
    bad = values != first[unit]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RoleError(
            f"role '{role}': column '{column}' varies within unit "
            f"{unit_labels[unit[i]]!r} ({first[unit[i]]!r} and {values[i]!r}); it must be "
            "constant within each unit",
            details={"role": role, "column": column, "unit": str(unit_labels[unit[i]])},
        )
    return first


def build_panel(data: CausalData, *, need_cohort: bool = False) -> Panel:
    """Integer codes, cohorts and arrays of a validated panel (see :class:`Panel`).

    ``need_cohort``: raise when no cohort can be derived (staggered estimators).
    """
    roles = data.roles
    frame = data.frame
    assert roles.unit is not None and roles.time is not None and data.y is not None
    tcol = frame[roles.time]
    if pd.api.types.is_bool_dtype(tcol) or not pd.api.types.is_numeric_dtype(tcol):
        example = tcol.iloc[0]
        raise RoleError(
            f"role 'time': column '{roles.time}' must be numeric periods (e.g. years); got "
            f"dtype {tcol.dtype} with values like {example!r}; convert dates to period "
            "numbers first",
            details={"role": "time", "column": roles.time},
        )
    time_values = tcol.to_numpy(dtype=np.float64)
    if not np.isfinite(time_values).all():
        raise RoleError(
            f"role 'time': column '{roles.time}' has infinite values",
            details={"role": "time", "column": roles.time},
        )
    unit_labels, unit = _codes(frame[roles.unit].to_numpy())
    raw_time = tcol.to_numpy()
    times, time = _codes(raw_time if raw_time.dtype.kind in "iu" else time_values)
    times = times.astype(np.float64)
    n_units, n_times = len(unit_labels), len(times)
    key = unit * n_times + time
    counts = np.bincount(key, minlength=n_units * n_times)
    if counts.max() > 1:
        k = int(np.argmax(counts))
        raise RoleError(
            f"roles 'unit'/'time': unit {unit_labels[k // n_times]!r} has "
            f"{int(counts[k])} rows in period {times[k % n_times]:g} (columns "
            f"'{roles.unit}', '{roles.time}'); a panel has one row per unit and period",
            details={"role": "unit", "column": roles.unit},
        )
    if n_times < 2:
        raise DesignError(
            f"role 'time': column '{roles.time}' has one period ({times[0]:g}); "
            "difference-in-differences needs at least two",
            details={"role": "time", "column": roles.time},
        )
    balanced = len(key) == n_units * n_times

    d = data.t
    weight = None
    if roles.weight is not None:
        weight = frame[roles.weight].to_numpy(dtype=np.float64)
        if (weight < 0).any() or weight.sum() <= 0:
            raise RoleError(
                f"role 'weight': column '{roles.weight}' must be non-negative with a positive sum",
                details={"role": "weight", "column": roles.weight},
            )
    if roles.cluster is not None:
        _, cluster = _codes(frame[roles.cluster].astype(str).to_numpy())
    else:
        cluster = unit

    cohort: np.ndarray | None = None
    if roles.cohort is not None:
        cohort = constant_within_unit(
            frame[roles.cohort].to_numpy(dtype=np.float64),
            unit,
            unit_labels,
            "cohort",
            roles.cohort,
        )
        cohort = np.where(cohort < 0, 0.0, cohort)
    elif d is not None:
        cohort = cohort_from_treatment(
            d, unit, time, times, unit_labels, roles.treatment or "", strict=need_cohort
        )
    if need_cohort and cohort is None:
        raise RoleError(
            "role 'cohort' or a 0/1 'treatment' is required to find each unit's first "
            "treated period",
            details={"role": "cohort"},
        )
    return Panel(
        y=data.y,
        unit=unit,
        time=time,
        unit_labels=unit_labels,
        times=times.astype(np.float64),
        d=d,
        cohort=cohort,
        weight=weight,
        cluster=cluster,
        X=data.X,
        covariate_names=list(data.covariate_names),
        balanced=balanced,
    )


def cohort_from_treatment(
    d: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    times: np.ndarray,
    unit_labels: np.ndarray,
    column: str,
    *,
    strict: bool,
) -> np.ndarray | None:
    """First period with ``d > 0`` per unit (0 = never), for an absorbing treatment.

    ``d`` may be a 0/1 indicator or a share of the period (castle-doctrine style
    ``post``); the cohort is then the first period with a positive value.  A
    treatment that switches off again is not staggered adoption: with ``strict`` a
    :class:`DesignError` names the unit, otherwise ``None`` is returned.
    """
    n_units, n_times = len(unit_labels), len(times)
    if (d < 0).any():
        if strict:
            raise RoleError(
                f"role 'treatment': column '{column}' has negative values; code it 0/1",
                details={"role": "treatment", "column": column},
            )
        return None
    treated = d > 0
    first = np.full(n_units, n_times, dtype=np.int64)
    np.minimum.at(first, unit[treated], time[treated])
    # absorbing: every observed period at or after the first treated one is treated
    after = time >= first[unit]
    switch_off = after & ~treated
    if switch_off.any():
        if strict:
            i = int(np.flatnonzero(switch_off)[0])
            raise DesignError(
                f"role 'treatment': column '{column}' switches off for unit "
                f"{unit_labels[unit[i]]!r} in period {times[time[i]]:g} after it was "
                "treated; staggered-adoption estimators need a treatment that stays on "
                "(give the 'cohort' role if the treatment is the adoption time)",
                details={"role": "treatment", "column": column},
            )
        return None
    return np.where(first < n_times, times[np.minimum(first, n_times - 1)], 0.0)


def group_means(
    values: np.ndarray, codes: np.ndarray, n_groups: int, w: np.ndarray | None
) -> np.ndarray:
    """Weighted mean of each column of ``values`` within each code, shape (n_groups, k)."""
    v = values if values.ndim == 2 else values[:, None]
    sw: np.ndarray
    if w is None:
        sw = np.bincount(codes, minlength=n_groups).astype(np.float64)
        sums = np.stack(
            [np.bincount(codes, weights=v[:, j], minlength=n_groups) for j in range(v.shape[1])],
            axis=1,
        )
    else:
        sw = np.bincount(codes, weights=w, minlength=n_groups)
        sums = np.stack(
            [
                np.bincount(codes, weights=w * v[:, j], minlength=n_groups)
                for j in range(v.shape[1])
            ],
            axis=1,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sw[:, None] > 0, sums / np.where(sw > 0, sw, 1.0)[:, None], 0.0)


def require_columns(df: pd.DataFrame, names: Sequence[str], role: str) -> None:
    """Raise the standard error when a column named by ``role`` is missing."""
    columns = [str(c) for c in df.columns]
    for name in names:
        if name not in columns:
            raise column_not_found(role, name, columns)


@dataclass(frozen=True)
class WidePanel:
    """A balanced panel in wide form.

    Attributes
    ----------
    Y : ndarray, shape (n, T)
        Outcome by unit and period.
    cohort : ndarray, shape (n,)
        First treated period (0 = never treated).
    w : ndarray, shape (n,)
        Time-invariant sampling weights (ones when none).
    X : ndarray or None, shape (T, n, p)
        Covariates by period.
    times : ndarray, shape (T,)
    cluster : ndarray of int or None, shape (n,)
        Cluster codes when clustering above the unit.
    unit_labels : ndarray, shape (n,)
    """

    Y: np.ndarray
    cohort: np.ndarray
    w: np.ndarray
    X: np.ndarray | None
    times: np.ndarray
    cluster: np.ndarray | None
    unit_labels: np.ndarray

    @property
    def n(self) -> int:
        """Units."""
        return self.Y.shape[0]


def wide_panel(panel: Panel, notes: list[str]) -> WidePanel:
    """Balance the panel and reshape it wide (dropping incomplete units, with a note)."""
    assert panel.cohort is not None
    N, T = panel.n_units, panel.n_times
    seen = np.zeros((N, T), dtype=bool)
    seen[panel.unit, panel.time] = True
    complete = np.asarray(seen.all(axis=1), dtype=bool)
    if not complete.all():
        notes.append(
            f"dropped {int((~complete).sum())} of {N} units not observed in all {T} periods "
            "(did_cs needs a balanced panel)"
        )
    if not complete.any():
        raise DesignError(
            "no unit is observed in every period; did_cs needs a balanced panel",
            details={"role": "unit"},
        )
    new = np.cumsum(complete) - 1
    rows = complete[panel.unit]
    u, t = new[panel.unit[rows]], panel.time[rows]
    n = int(complete.sum())
    Y = np.zeros((n, T))
    Y[u, t] = panel.y[rows]
    X = None
    if panel.X.shape[1]:
        X = np.zeros((T, n, panel.X.shape[1]))
        X[t, u] = panel.X[rows]
    w = np.ones(n)
    if panel.weight is not None:
        w_all = np.zeros((n, T))
        w_all[u, t] = panel.weight[rows]
        if not np.allclose(w_all, w_all[:, :1]):
            raise RoleError(
                "role 'weight': the weights vary over time within a unit; did_cs needs "
                "time-invariant unit weights",
                details={"role": "weight"},
            )
        w = w_all[:, 0]
    cluster = None
    if panel.n_clusters != panel.n_units or not np.array_equal(panel.cluster, panel.unit):
        c_all = np.full((n, T), -1)
        c_all[u, t] = panel.cluster[rows]
        if np.any(c_all != c_all[:, :1]):
            raise RoleError(
                "role 'cluster': the cluster varies over time within a unit; did_cs "
                "clusters units, so it must be constant within each unit",
                details={"role": "cluster"},
            )
        _, cluster = np.unique(c_all[:, 0], return_inverse=True)
    return WidePanel(
        Y, panel.cohort[complete], w, X, panel.times, cluster, panel.unit_labels[complete]
    )
