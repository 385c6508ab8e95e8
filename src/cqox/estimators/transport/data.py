"""Preparation of a trial-plus-target table: which rows are the trial, which the target.

The ``sample`` role marks each row as trial (source: treatment and outcome observed)
or target (covariates only; treatment and outcome may be missing and are not used).
Which of the column's two values is the trial is read from the data, in this order:

1. the value whose rows all miss the outcome is the **target** (a target sample with
   covariates only, the usual layout);
2. otherwise a 0/1 (or boolean) column: ``1`` (``True``) is the trial;
3. otherwise text labels: ``trial``/``source``/``rct``/``experiment`` for the trial,
   ``target``/``population``/``observational`` for the target.

Anything else is refused, naming the column.  The covariates must be observed in both
samples (rows missing one are removed, with a warning); trial rows missing the outcome
or the treatment are removed too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cqox.core.roles import Roles
from cqox.data.formula import formula_variables
from cqox.data.prepare import CausalData, check_table, prepare
from cqox.errors import CqoxWarning, NoDataError, RoleError, column_not_found, show_value

#: Text labels of the trial and of the target sample (case-insensitive).
TRIAL_LABELS = frozenset({"trial", "source", "rct", "experiment", "experimental", "study"})
TARGET_LABELS = frozenset({"target", "population", "observational", "external", "registry"})
#: Fewest target rows.
MIN_TARGET = 2


@dataclass(frozen=True)
class TransportData(CausalData):
    """:class:`CausalData` of a trial and a target sample.

    ``y`` and ``t`` are NaN in the target rows (never used there); ``X`` covers both.

    Attributes
    ----------
    s : ndarray, shape (n,)
        1 for a trial row, 0 for a target row.
    trial_value : str
        The ``sample`` column's value that marks the trial, as shown to the user.
    trial_rule : str
        How that value was told apart from the target's.
    """

    s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    trial_value: str = ""
    trial_rule: str = ""

    @property
    def n_trial(self) -> int:
        """Rows in the trial."""
        return int(self.s.sum())

    @property
    def n_target(self) -> int:
        """Rows in the target sample."""
        return int(self.n - self.s.sum())


def _trial_level(
    col: pd.Series, values: np.ndarray, present: np.ndarray, observed: np.ndarray, sample: str
) -> tuple[object, str]:
    """The ``sample`` value of the trial rows, and the rule that told it.

    ``col`` is the ``sample`` column, ``values`` and ``present`` its values and
    not-missing mask (:func:`_values`), ``observed`` the rows whose outcome is not
    missing.
    """
    levels = list(pd.unique(values[present]))
    if len(levels) != 2:
        shown = ", ".join(show_value(v) for v in levels[:6])
        raise RoleError(
            f"role 'sample': column '{sample}' must have two values (trial and target); got "
            f"{len(levels)} ({shown}{', …' if len(levels) > 6 else ''})",
            details={"role": "sample", "column": sample},
        )
    no_outcome = [v for v in levels if not np.any(observed & (values == v))]
    if len(no_outcome) == 1:
        target = no_outcome[0]
        trial = levels[1 - levels.index(target)]
        return trial, (
            f"the rows with '{sample}' = {show_value(target)} have no outcome: they are the "
            "target sample"
        )
    if pd.api.types.is_bool_dtype(col) or {float(v) for v in levels if _number(v)} == {0.0, 1.0}:
        trial = next(v for v in levels if bool(v))
        return trial, f"'{sample}' is 0/1: 1 marks the trial, 0 the target"
    text = {str(v).strip().lower(): v for v in levels}
    trial_keys = [k for k in text if k in TRIAL_LABELS]
    target_keys = [k for k in text if k in TARGET_LABELS]
    if len(trial_keys) == 1 and len(target_keys) == 1:
        return text[trial_keys[0]], f"'{sample}' labels the trial {show_value(trial_keys[0])}"
    raise RoleError(
        f"role 'sample': cannot tell which value of column '{sample}' marks the trial "
        f"({', '.join(show_value(v) for v in levels)}); code it 1 = trial, 0 = target, or "
        "leave the outcome empty in the target rows",
        details={"role": "sample", "column": sample},
    )


def _values(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column's values and its not-missing mask, read as NumPy arrays.

    A NumPy int/uint/bool/float column is read without pandas (missing = NaN); any
    other dtype (text, categories, nullable numbers, objects) through pandas, whose
    ``notna`` knows its missing values.
    """
    values = col.to_numpy()
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf":
        present = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(len(values), bool)
        return values, present
    return values, col.notna().to_numpy()


def _equals(col: pd.Series, values: np.ndarray, value: object) -> np.ndarray:
    """``col == value`` as a bool array (missing values are not equal)."""
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf":
        return np.asarray(values == value)
    return np.asarray((col == value).to_numpy(dtype=bool, na_value=False))


def _trial_arrays(
    y_col: pd.Series, t_col: pd.Series, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(y, t)`` of the trial rows as :func:`prepare` would give them, or ``None``.

    The common case only: NumPy numeric columns, finite, an outcome that varies and a
    0/1 treatment with at least two rows per arm; then the preparation of the trial
    rows (outcome and treatment) returns exactly these float arrays, so it is not run.
    Anything else returns ``None`` and the preparation answers, with its messages.
    """
    if not all(isinstance(c.dtype, np.dtype) and c.dtype.kind in "biuf" for c in (y_col, t_col)):
        return None
    y = y_col.to_numpy()[rows].astype(np.float64)
    t = t_col.to_numpy()[rows].astype(np.float64)
    if not (np.isfinite(y).all() and np.isfinite(t).all()) or np.ptp(y) == 0:
        return None
    treated = t == 1.0
    n1 = int(treated.sum())
    if min(n1, len(t) - n1) < 2 or not (treated | (t == 0.0)).all():
        return None
    return y, t


def _number(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def prepare_transport(df: pd.DataFrame, roles: Roles) -> TransportData:
    """Check the roles of a trial-plus-target table and build :class:`TransportData`.

    Raises :class:`~cqox.errors.RoleError` naming the column at fault: a missing role
    or column, a ``sample`` column without exactly two values (or whose trial value
    cannot be told), an outcome or treatment listed among the covariates, a
    non-numeric outcome or a non-binary treatment in the trial.
    """
    df = check_table(df)

    def columns() -> list[str]:
        # the labels as text, for messages and formulas only (listing them costs more
        # than the hashed look-ups of the usual case)
        return [str(c) for c in df.columns]

    for role in ("outcome", "treatment", "sample"):
        col = getattr(roles, role)
        if col is None:
            names = columns()
            raise RoleError(
                f"role '{role}' is required but was not given (columns: "
                f"{', '.join(names[:12])}{', …' if len(names) > 12 else ''})",
                details={"role": role},
            )
        if col not in df.columns and col not in columns():
            raise column_not_found(role, col, columns())
    outcome, treatment, sample = str(roles.outcome), str(roles.treatment), str(roles.sample)
    if len({outcome, treatment, sample}) < 3:
        raise RoleError(
            f"role 'sample': column '{sample}' is also the outcome or the treatment",
            details={"role": "sample", "column": sample},
        )
    formula = roles.covariate_formula
    covs = formula_variables(formula, columns()) if formula else list(roles.covariates or ())
    for col in covs:
        if col in (outcome, treatment, sample):
            raise RoleError(
                f"role 'covariates': column '{col}' is also the "
                f"{'sample' if col == sample else 'outcome or the treatment'}; covariates "
                "are pre-treatment characteristics measured in both samples",
                details={"role": "covariates", "column": col},
            )
    # each role column read once (a pandas column read costs tens of microseconds)
    y_col, t_col, s_col = df[outcome], df[treatment], df[sample]
    observed = _values(y_col)[1]
    sample_values, sample_present = _values(s_col)
    trial_value, rule = _trial_level(s_col, sample_values, sample_present, observed, sample)
    in_trial = _equals(s_col, sample_values, trial_value)
    complete_trial = observed & _values(t_col)[1]
    keep = sample_present & (~in_trial | complete_trial)
    notes: list[str] = []
    n_incomplete = int((in_trial & ~complete_trial).sum())
    if n_incomplete:
        notes.append(
            f"removed {n_incomplete} trial rows with a missing outcome or treatment "
            f"(column '{outcome}' or '{treatment}')"
        )
    positions = np.flatnonzero(keep)
    # every row kept (the usual layout): the table itself, not a copy of its rows
    sub = df if len(positions) == len(df) else df.iloc[positions]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CqoxWarning)
        base = prepare(
            sub,
            Roles(covariates=roles.covariates, sample=sample),
            require=("sample",),
            binary_treatment=False,
        )
    notes += [str(w.message) for w in caught if issubclass(w.category, CqoxWarning)]
    # the rows in use, as positions in df (the preparation's own when every row is kept)
    used = base.row_index if len(positions) == len(df) else positions[base.row_index]
    s = in_trial[used].astype(np.float64)
    n_target = int(len(s) - s.sum())
    if n_target < MIN_TARGET:
        raise NoDataError(
            f"role 'sample': column '{sample}' leaves {n_target} target rows with complete "
            f"covariates (trial value {show_value(trial_value)}); at least {MIN_TARGET} are "
            "needed",
            details={"role": "sample", "column": sample},
        )
    in_s = s == 1
    trial_positions = used[in_s]
    if len(trial_positions) == 0:
        raise NoDataError(
            f"role 'sample': no trial rows ('{sample}' = {show_value(trial_value)}) with an "
            "outcome, a treatment and complete covariates",
            details={"role": "sample", "column": sample},
        )
    arrays = _trial_arrays(y_col, t_col, trial_positions)
    if arrays is None:
        trial = prepare(df.iloc[trial_positions], Roles(outcome=outcome, treatment=treatment))
        assert trial.y is not None and trial.t is not None
        arrays = (trial.y, trial.t)
    y = np.full(len(s), np.nan)
    t = np.full(len(s), np.nan)
    y[in_s], t[in_s] = arrays
    for note in notes:
        warnings.warn(note, CqoxWarning, stacklevel=2)
    return TransportData(
        frame=base.source,  # type: ignore[arg-type]  # see _FrameField
        roles=roles,
        y=y,
        t=t,
        X=base.X,
        covariate_names=base.covariate_names,
        row_index=used,
        n_input=len(df),
        dropped=base.dropped,
        warnings=notes,
        gram=base.gram,
        s=s,
        trial_value=show_value(trial_value),
        trial_rule=rule,
    )
