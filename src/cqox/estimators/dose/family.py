"""What the dose-response estimators share: the ``dose`` role, the grid, the Estimate.

A dose-response estimator's headline :class:`~cqox.core.estimate.Estimate` is the
``optimal_dose``: the grid dose that maximises the estimated curve, with the standard
deviation and the (drift-corrected) percentile interval of the maximiser over ``n_sim``
Gaussian draws of the curve (:mod:`cqox.estimators.dose.curve`); ``p_value`` is NaN
(there is no null value).  The
curve itself is in ``tables["curve"]`` (pointwise intervals and the uniform band) and
at any dose through :meth:`Estimate.curve`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.core.tables import Tables, TableSource
from cqox.data.prepare import CausalData, prepare
from cqox.errors import RoleError, column_not_found
from cqox.estimators.base import Estimator
from cqox.estimators.common import CI_LEVEL
from cqox.estimators.dose.curve import CurveInference, DoseCurve, Evaluate

#: Parameters every dose-response estimator takes (grid, draws, level).
GRID_PARAMS: tuple[Param, ...] = (
    Param(
        "n_grid",
        101,
        "int",
        "number of doses in the grid of the curve table, the uniform band and the optimum",
        low=3,
        high=2000,
    ),
    Param(
        "grid_quantile",
        0.05,
        "float",
        "the grid spans the [q, 1 − q] quantiles of the observed dose (the tails have "
        "few units: positivity is weakest there)",
        low=0.0,
        high=0.5,
        closed="left",
    ),
    # not ``n_boot``: these draws simulate the fitted curve's normal limit (G numbers
    # each), they neither refit nor rescan the data
    Param(
        "n_sim",
        2000,
        "int",
        "Gaussian draws of the fitted curve (no refit) for the uniform band and the "
        "optimum's interval",
        low=100,
        high=1_000_000,
    ),
    CI_LEVEL,
)


#: Rows looked at first by :func:`_fewer_than_three_values` (a continuous dose has three
#: distinct values among them: one strictly between their smallest and largest)
PEEK_ROWS = 64


def _fewer_than_three_values(s: pd.Series) -> bool:
    """Whether ``s`` has fewer than 3 distinct non-missing values.

    A float or integer column is checked without hashing it (``Series.nunique``), by
    :func:`_fewer_than_three_numbers`.
    """
    x = s.to_numpy()
    if x.dtype.kind not in "fiu":
        return bool(s.nunique(dropna=True) < 3)
    return _fewer_than_three_numbers(x)


def _fewer_than_three_numbers(x: np.ndarray) -> bool:
    """:func:`_fewer_than_three_values` of a float or integer array.

    Three distinct values or more exactly when the first three are distinct numbers (a
    continuous dose: three Python comparisons), or else when some value lies strictly
    between the smallest and the largest.
    """
    if len(x) >= 3:
        v0, v1, v2 = x[:3].tolist()
        # each equal to itself: not NaN (NaN differs from every value, itself included)
        if v0 == v0 and v1 == v1 and v2 == v2 and v0 != v1 and v0 != v2 and v1 != v2:
            return False
    head = x[:PEEK_ROWS]
    if len(head) == 0:
        return True
    lo, hi = head.min(), head.max()  # NaN when the first rows have one: the full check
    if lo < hi and bool(np.any((head > lo) & (head < hi))):
        return False  # three distinct values among the first rows (a continuous dose)
    if x.dtype.kind == "f":
        x = x[~np.isnan(x)]
    if len(x) == 0:
        return True
    lo, hi = x.min(), x.max()
    return not bool(np.any((x > lo) & (x < hi)))


def _numpy_column(df: pd.DataFrame, name: str) -> np.ndarray | None:
    """Column ``name`` as the NumPy array pandas stores, or ``None`` (not a NumPy dtype).

    pandas' own read of one column (``DataFrame._get_column_array``, ~2 µs) instead of
    a Series (``df[name]``, ~11 µs and more with its dtype checks); ``None`` too for a
    label that is not one column's (duplicated) or a pandas without that read, which
    then take the Series path.
    """
    read = getattr(df, "_get_column_array", None)
    if not callable(read):
        return None
    try:
        loc = df.columns.get_loc(name)
    except (KeyError, TypeError):
        return None
    if not isinstance(loc, int):
        return None
    values = read(loc)
    return values if type(values) is np.ndarray else None


def _too_few_values(roles: Roles, s: pd.Series) -> RoleError:
    """The refusal of a dose column ``s`` with fewer than three distinct values."""
    return RoleError(
        f"role 'dose': column '{roles.dose}' has {s.nunique(dropna=True)} distinct "
        "values; a dose-response curve needs a continuous dose (use 'multivalued' "
        "for a few levels, or a binary estimator for two)",
        details={"role": "dose", "column": roles.dose},
    )


class DoseResponseEstimator(Estimator):
    """Base of the estimators of ``μ(a) = E[Y(a)]`` for a continuous ``dose``."""

    family = "dose_response"
    designs = (Design.DOSE_RESPONSE,)
    estimands = ("optimal_dose",)
    default_estimands = ("optimal_dose",)
    requires: ClassVar[tuple[str, ...]] = ("outcome", "dose")
    binary_treatment = False

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Validate the ``dose`` role, then prepare with the dose as the (numeric) treatment."""
        if roles.dose is None:
            raise RoleError(
                "role 'dose' is required but was not given: name the continuous treatment "
                "(dose=...)",
                details={"role": "dose"},
            )
        # text labels (the usual case): pandas' hashed lookup, no list of every label
        index = df.columns
        columns: Any = index if index.inferred_type == "string" else [str(c) for c in index]
        if roles.dose not in columns:
            raise column_not_found("dose", roles.dose, [str(c) for c in index])
        values = _numpy_column(df, roles.dose)
        if values is not None and values.dtype.kind in "fiu":
            # a NumPy float or integer column: numeric, not boolean (the checks below)
            if _fewer_than_three_numbers(values):
                raise _too_few_values(roles, df[roles.dose])
        else:
            s = df[roles.dose]
            if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
                raise RoleError(
                    f"role 'dose': column '{roles.dose}' must be numeric (a continuous "
                    f"treatment); got {s.dtype}",
                    details={"role": "dose", "column": roles.dose},
                )
            if _fewer_than_three_values(s):
                raise _too_few_values(roles, s)
        as_treatment = roles.with_roles(treatment=roles.dose, dose=None)
        return prepare(df, as_treatment, require=("outcome", "treatment"), binary_treatment=False)

    def _curve_estimate(
        self,
        data: CausalData,
        params: dict[str, Any],
        inference: CurveInference,
        evaluate: Evaluate,
        *,
        gates: list[Gate],
        diagnostics: dict[str, Any],
        tables: Mapping[str, TableSource],
        warnings: list[str],
        method: str,
    ) -> Estimate:
        """The ``optimal_dose`` Estimate with the curve table and :meth:`Estimate.curve`."""
        level = params["ci_level"]
        assert data.t is not None
        notes = list(warnings)
        if inference.at_boundary:
            notes.append(
                f"the estimated curve is largest at an end of the dose grid "
                f"({inference.optimum:.4g}); the optimum may lie outside the "
                f"[{params['grid_quantile']:g}, {1 - params['grid_quantile']:g}] quantile range"
            )
        diagnostics = {
            **diagnostics,
            "optimal_dose": inference.optimum,
            "optimal_dose_ci": list(inference.optimum_ci),
            "max_value": inference.max_value,
            "max_value_se": inference.max_value_se,
            "optimum_at_boundary": inference.at_boundary,
            "uniform_critical_value": inference.crit,
            "dose_range": [float(np.minimum.reduce(data.t)), float(np.maximum.reduce(data.t))],
        }
        return Estimate(
            self.name,
            "optimal_dose",
            inference.optimum,
            inference.optimum_se,
            inference.optimum_ci,
            float("nan"),
            level,
            n=data.n,
            diagnostics=diagnostics,
            gates=gates,
            tables=Tables({"curve": inference.columns(level), **tables}),
            warnings=notes,
            method=method,
            dose_curve=DoseCurve(evaluate, level),
        )
