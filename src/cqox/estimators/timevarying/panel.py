"""The long panel of a time-varying treatment, checked and reshaped to unit × period arrays.

One row per unit and period (*Causal Inference: What If*, Part III): at period ``t`` the
covariates ``L_t`` (the time-varying confounders, measured before the treatment) and the
binary treatment ``A_t``; the outcome ``Y`` is measured at the end of follow-up and read
from each unit's last period (the outcome column may be empty on earlier rows).
Covariates constant within every unit are baseline covariates ``V``.  The panel must be
balanced: every unit observed at the same ``K`` periods (censoring is not modelled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, check_table
from cqox.errors import DataError, RoleError, column_not_found

#: Most periods per unit: every period adds covariate models, outcome-model columns and
#: a simulation step (the g-formula's cost grows with K²·p).
MAX_PERIODS = 100
#: Fewest units.
MIN_UNITS = 20


@dataclass(frozen=True)
class TimeVaryingPanel:
    """A balanced panel as arrays.

    Attributes
    ----------
    units : ndarray, shape (n,)
        Unit ids, in the order of the arrays.
    times : ndarray, shape (K,)
        The periods, sorted.
    A : ndarray, shape (n, K)
        Treatment (0/1) of each unit at each period.
    L : ndarray, shape (n, K, p)
        Covariates at each period.
    Y : ndarray, shape (n,)
        Outcome at the end of follow-up.
    names : list of str
        Covariate names (the last axis of ``L``).
    baseline : ndarray of bool, shape (p,)
        Covariates constant within every unit.
    binary : ndarray of bool, shape (p,)
        Covariates with values in {0, 1}.
    """

    units: np.ndarray
    times: np.ndarray
    A: np.ndarray
    L: np.ndarray
    Y: np.ndarray
    names: list[str]
    baseline: np.ndarray
    binary: np.ndarray

    @property
    def n(self) -> int:
        """Units."""
        return int(self.A.shape[0])

    @property
    def periods(self) -> int:
        """Periods."""
        return int(self.A.shape[1])

    def take(self, idx: np.ndarray) -> TimeVaryingPanel:
        """The panel of the units at positions ``idx`` (with repeats: a bootstrap sample)."""
        return TimeVaryingPanel(
            self.units[idx], self.times, self.A[idx], self.L[idx], self.Y[idx], self.names,
            self.baseline, self.binary,
        )  # fmt: skip


@dataclass(frozen=True)
class PanelData(CausalData):
    """:class:`CausalData` of the units' last periods, with the whole panel attached."""

    panel: TimeVaryingPanel | None = field(default=None)

    def counts(self) -> dict[str, int]:
        """Rows, units, periods and unit-periods treated."""
        assert self.panel is not None
        return {
            "n_input": self.n_input,
            "n_units": self.panel.n,
            "n_periods": self.panel.periods,
            "n_treated_periods": int(self.panel.A.sum()),
        }


def _require(roles: Roles, df: pd.DataFrame, role: str) -> str:
    name = getattr(roles, role)
    if name is None:
        raise RoleError(
            f"role '{role}' is required for a time-varying treatment (a long panel: unit, "
            "time, treatment at each period, time-varying covariates, outcome at the end)",
            details={"role": role},
        )
    if name not in df.columns:
        raise column_not_found(role, name, list(df.columns))
    return str(name)


def _numeric(df: pd.DataFrame, role: str, col: str) -> np.ndarray:
    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(float)
    if not pd.api.types.is_numeric_dtype(s):
        raise RoleError(
            f"role '{role}': column '{col}' must be numeric; got {s.dtype}",
            details={"role": role, "column": col},
        )
    return np.asarray(s.to_numpy(dtype=np.float64))


def _zero_one(x: np.ndarray) -> bool:
    """Whether every value is 0 or 1 (``set(np.unique(x)) <= {0, 1}`` without the sort)."""
    return bool(np.all((x == 0.0) | (x == 1.0)))


def prepare_panel(df: Any, roles: Roles) -> PanelData:
    """Check the roles and the panel and build :class:`PanelData` (errors name the column)."""
    df = check_table(df)
    unit = _require(roles, df, "unit")
    time = _require(roles, df, "time")
    treatment = _require(roles, df, "treatment")
    outcome = _require(roles, df, "outcome")
    if roles.covariates is None or isinstance(roles.covariates, str):
        raise RoleError(
            "role 'covariates': name the time-varying confounders as a list of columns "
            "(measured at each period before the treatment); a formula is not supported "
            "for time-varying treatments",
            details={"role": "covariates"},
        )
    covs = list(roles.covariates)
    for c in covs:
        if c not in df.columns:
            raise column_not_found("covariates", c, list(df.columns))
    used = [unit, time, treatment, *covs]
    for role, col in (("unit", unit), ("time", time)):
        if df[col].isna().any():
            raise DataError(
                f"role '{role}': column '{col}' has {int(df[col].isna().sum())} missing values",
                details={"role": role, "column": col},
            )
    frame = df.sort_values([unit, time], kind="stable")
    if frame.duplicated([unit, time]).any():
        dup = frame.loc[frame.duplicated([unit, time]), [unit, time]].iloc[0]
        raise DataError(
            f"roles 'unit' and 'time': unit {dup[unit]} has more than one row at "
            f"{time} = {dup[time]}; the panel needs one row per unit and period",
            details={"role": "time", "column": time},
        )
    times = np.sort(frame[time].unique())
    K = len(times)
    if K < 2 or K > MAX_PERIODS:
        raise RoleError(
            f"role 'time': column '{time}' has {K} periods; a time-varying treatment "
            f"needs 2 to {MAX_PERIODS}",
            details={"role": "time", "column": time, "periods": K},
        )
    sizes = frame.groupby(unit, sort=False).size()
    if (sizes != K).any():
        bad = sizes[sizes != K].index[0]
        raise DataError(
            f"roles 'unit' and 'time': unit {bad} has {int(sizes[bad])} of the {K} "
            f"periods of '{time}'; the panel must be balanced (censoring is not modelled)",
            details={"role": "unit", "column": unit},
        )
    for role, col in (("treatment", treatment), *(("covariates", c) for c in covs)):
        if frame[col].isna().any():
            raise DataError(
                f"role '{role}': column '{col}' has {int(frame[col].isna().sum())} missing "
                "values; every period needs the treatment and the covariates",
                details={"role": role, "column": col},
            )
    n = len(sizes)
    if n < MIN_UNITS:
        raise DataError(
            f"role 'unit': {n} units; a time-varying treatment needs at least {MIN_UNITS}",
            details={"role": "unit", "column": unit},
        )
    a = _numeric(frame, "treatment", treatment)
    if not _zero_one(a):
        raise RoleError(
            f"role 'treatment': column '{treatment}' must be 0/1 at each period; got "
            f"{sorted(set(np.unique(a)))[:5]}",
            details={"role": "treatment", "column": treatment},
        )
    L = np.stack([_numeric(frame, "covariates", c) for c in covs], axis=-1).reshape(n, K, -1)
    # sorted by unit and time and balanced: each unit's last period is every K-th row
    last = frame.iloc[K - 1 :: K]
    y = _numeric(last, "outcome", outcome)
    if np.isnan(y).any():
        raise DataError(
            f"role 'outcome': column '{outcome}' is missing at the last period of "
            f"{int(np.isnan(y).sum())} units; the outcome is read at the end of follow-up",
            details={"role": "outcome", "column": outcome},
        )
    baseline = np.all(L[:, :1, :] == L, axis=(0, 1))
    binary = np.array([_zero_one(L[..., j]) for j in range(len(covs))])
    panel = TimeVaryingPanel(
        last[unit].to_numpy(), times, a.reshape(n, K), L, y, covs, baseline, binary
    )
    keep = last[[*used, outcome]].reset_index(drop=True)
    return PanelData(
        frame=keep,
        roles=roles,
        y=y,
        t=None,
        X=np.empty((n, 0)),
        covariate_names=covs,
        row_index=np.asarray(last.index),
        n_input=len(df),
        panel=panel,
    )
