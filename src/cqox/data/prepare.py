"""From a table and roles to the arrays an estimator needs: :class:`CausalData`.

Checks every role against the table and says exactly what is wrong; removes rows with
missing values in the columns in use (listwise deletion, always reported with
counts); drops covariates that are entirely missing, constant or linearly dependent
on others (with a warning naming each one); never mutates the caller's table.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import pandas as pd
from scipy.linalg import lapack  # loaded with scipy.special, which cqox.core imports

from cqox.core.linalg import crossprod
from cqox.core.roles import Roles
from cqox.data.formula import (
    DesignMatrix,
    design_from_columns,
    design_from_formula,
    formula_variables,
)
from cqox.data.gram import ShiftedGram
from cqox.errors import CqoxWarning, DataError, NoDataError, RoleError, column_not_found, show_value
from cqox.nuisance.blocked import row_blocks

#: Two-level text values read as "treated" (case-insensitive).
TREATED_LABELS = frozenset({"1", "true", "yes", "y", "t", "treated", "treatment", "treat"})
#: Where a binary-only estimator sends a treatment with more than two levels.
MULTIVALUED_HINT = (
    "For a treatment with more than two levels use the 'multivalued' estimator "
    "(method 'ipw', 'ra' or 'aipw': each level against a reference level); for a "
    "continuous treatment give it as the 'dose' role and use 'dose_msm', 'dose_gps', "
    "'dose_kernel_dr' or 'dose_dml' (the dose-response curve)"
)
CONTROL_LABELS = frozenset({"0", "false", "no", "n", "f", "control", "untreated", "none"})


#: Markers of "not given" for :meth:`CausalData.__init__` (never stored: each instance
#: gets new empty containers, as the fields' default factories made them).
_FRESH: dict[str, str] = {}
_FRESH_LIST: list[str] = []


@dataclass(frozen=True)
class CausalData:
    """Validated, complete-case data for one estimator.

    Attributes
    ----------
    frame : DataFrame
        The rows in use (complete in every used column), index reset; a copy.
    roles : Roles
        The roles, with covariates as given (list or formula).
    y : ndarray, shape (n,) or None
        Outcome as float64.
    t : ndarray, shape (n,) or None
        Treatment as float64 (0/1 when binary).
    X : ndarray, shape (n, p)
        Covariate design matrix without intercept (``p`` may be 0).
    covariate_names : list of str
        Names of the columns of ``X``.
    row_index : ndarray, shape (n,)
        Positions of the rows in use in the caller's table.
    n_input : int
        Rows in the caller's table.
    dropped : dict of str to str
        Covariates dropped, with the reason.
    warnings : list of str
        What the preparation changed (rows removed, covariates dropped, ...).
    gram : ShiftedGram or None
        The shifted Gram matrix of ``X`` formed to find degenerate covariates (O(k²),
        read-only), reused by the propensity fit while ``X`` is this very array
        (:meth:`ShiftedGram.is_of`); ``None`` when not formed.
    """

    frame: pd.DataFrame
    roles: Roles
    y: np.ndarray | None
    t: np.ndarray | None
    X: np.ndarray
    covariate_names: list[str]
    row_index: np.ndarray
    n_input: int
    dropped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    gram: ShiftedGram | None = field(default=None, repr=False, compare=False)

    def __init__(
        self,
        frame: pd.DataFrame,
        roles: Roles,
        y: np.ndarray | None,
        t: np.ndarray | None,
        X: np.ndarray,
        covariate_names: list[str],
        row_index: np.ndarray,
        n_input: int,
        dropped: dict[str, str] = _FRESH,
        warnings: list[str] = _FRESH_LIST,
        gram: ShiftedGram | None = None,
    ) -> None:
        # the dataclass's __init__ written out: one update of the instance's dict, not a
        # frozen object.__setattr__ per field (~2 -> ~0.8 µs, paid by every fit); the
        # frame is stored as given (:class:`_FrameField` builds it when read)
        self.__dict__.update(
            {
                "frame": frame,
                "roles": roles,
                "y": y,
                "t": t,
                "X": X,
                "covariate_names": covariate_names,
                "row_index": row_index,
                "n_input": n_input,
                "dropped": {} if dropped is _FRESH else dropped,
                "warnings": [] if warnings is _FRESH_LIST else warnings,
                "gram": gram,
            }
        )

    @property
    def n(self) -> int:
        """Rows in use."""
        return len(self.row_index)

    @property
    def n_missing_dropped(self) -> int:
        """Rows removed because a used column was missing."""
        return self.n_input - self.n

    def column(self, role: str) -> np.ndarray:
        """The values of a single-column role as a NumPy array."""
        name = getattr(self.roles, role)
        if name is None:
            raise RoleError(
                f"role '{role}' is required here but was not given", details={"role": role}
            )
        return self.values(name)

    def values(self, column: str) -> np.ndarray:
        """The values of ``column`` in the rows in use: ``frame[column].to_numpy()``.

        Read from the caller's table without building :attr:`frame` when the
        preparation took the plain path (:class:`RowsInUse`); read-only when a view.
        """
        source = self.source
        if isinstance(source, RowsInUse):
            return source.values(column)
        return np.asarray(self.frame[column].to_numpy())

    def counts(self) -> dict[str, int]:
        """Row counts for an Estimate."""
        out = {"n_input": self.n_input, "n_dropped_missing": self.n_missing_dropped}
        t = self.t
        if t is not None:
            # count_nonzero of the comparison: no boolean-to-integer sum
            out["n_treated"] = int(np.count_nonzero(t == 1))
            out["n_control"] = int(np.count_nonzero(t == 0))
        return out

    @property
    def source(self) -> pd.DataFrame | RowsInUse:
        """The rows as stored: a DataFrame, or :class:`RowsInUse` on the plain path.

        Hand this on to a new ``CausalData`` of the same rows so that it, too, builds
        :attr:`frame` only when read.
        """
        stored: pd.DataFrame | RowsInUse = self.__dict__["frame"]
        return stored

    def replace(self, **changes: Any) -> CausalData:
        """``dataclasses.replace`` that keeps the stored rows (no DataFrame is built).

        ``dataclasses.replace`` reads every field, and reading :attr:`frame` builds it.
        """
        changes.setdefault("frame", self.source)
        return dataclasses.replace(self, **changes)

    def cache_key(self) -> tuple[Any, ...]:
        """A key identifying these rows and covariates (for shared nuisance fits).

        The rows are identified by the ``row_index`` array of the preparation, which a
        ``dataclasses.replace`` of other fields keeps (``aipw``'s submodels share the
        propensity of their rows this way) and which needs no :attr:`frame`.
        """
        return (id(self.row_index), self.n, tuple(self.covariate_names))


class RowsInUse:
    """The columns in use of a complete table: a DataFrame only when read.

    What :attr:`CausalData.frame` holds after the plain preparation: the caller's table
    and the positions of the columns in use.  ``frame()`` builds the DataFrame the
    general path builds (``take`` of the columns, the index reset to ``0..n-1``) once;
    ``values(column)`` reads a column's values without it.  Estimators that only read
    arrays (the role columns, ``y``, ``t``, ``X``) so never pay for a DataFrame.
    """

    __slots__ = ("_arrays", "_built", "_positions", "_stored", "_table")

    def __init__(
        self,
        table: pd.DataFrame,
        positions: list[int],
        arrays: dict[str, np.ndarray],
        stored: dict[str, np.ndarray] | None = None,
    ) -> None:
        self._table = table
        self._positions = positions
        self._arrays = arrays
        # columns in use kept as pandas stores them (writeable): made read-only views
        # when first read (a covariate is usually read only as a column of ``X``)
        self._stored = stored or {}
        self._built: pd.DataFrame | None = None

    def frame(self) -> pd.DataFrame:
        """The rows in use as a DataFrame (built on the first call, then kept)."""
        if self._built is None:
            sub = self._table.take(self._positions, axis=1)
            index = sub.index
            if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
                sub = sub.reset_index(drop=True)
            self._built = sub
        return self._built

    def values(self, column: str) -> np.ndarray:
        """``frame()[column].to_numpy()`` without the frame when ``column`` is in use."""
        values = self._arrays.get(column)
        if values is None:
            stored = self._stored.get(column)
            if stored is None:
                return np.asarray(self.frame()[column].to_numpy())
            values = _read_only(stored)
            self._arrays[column] = values  # the same view on every read
        return values

    def __reduce__(self) -> tuple[Any, ...]:
        # sent to a worker process as the rows in use, not as the caller's whole table
        return (_as_is, (self.frame(),))


def _as_is(frame: pd.DataFrame) -> pd.DataFrame:
    """What an unpickled :class:`RowsInUse` becomes: its frame (``CausalData`` takes both)."""
    return frame


class _FrameField:
    """The ``frame`` field of :class:`CausalData`: a DataFrame, or :class:`RowsInUse`.

    A data descriptor, so the frozen dataclass's ``__init__`` (and
    ``dataclasses.replace``, pickling) store whatever they are given, and a reader of
    ``data.frame`` always gets a DataFrame, built from :class:`RowsInUse` on first read.
    """

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _FrameField: ...
    @overload
    def __get__(self, obj: CausalData, owner: type | None = None) -> pd.DataFrame: ...
    def __get__(
        self, obj: CausalData | None, owner: type | None = None
    ) -> pd.DataFrame | _FrameField:
        if obj is None:
            return self
        source = obj.__dict__["frame"]
        return source.frame() if isinstance(source, RowsInUse) else source

    def __set__(self, obj: CausalData, value: pd.DataFrame | RowsInUse) -> None:
        obj.__dict__["frame"] = value


# installed after the class is made: the dataclass and mypy see an ordinary field
setattr(CausalData, "frame", _FrameField())  # noqa: B010


def check_table(df: object) -> pd.DataFrame:
    """Check that ``df`` is a usable table: a DataFrame, columns unique, at least one row."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame; got {type(df).__name__}")
    columns = df.columns  # read once (``df.shape`` measures the index too)
    if len(columns) == 0:
        raise NoDataError("the table has no columns")
    if len(df) == 0:
        raise NoDataError("the table has no rows")
    if columns.is_unique and columns.inferred_type == "string":
        return df  # unique text labels (both cached by pandas): no name repeats
    cols = [str(c) for c in df.columns]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise DataError(
            f"duplicate column names: {', '.join(repr(d) for d in dupes)}; "
            "rename them so each role names one column",
            details={"columns": dupes},
        )
    return df


def prepare(
    df: pd.DataFrame,
    roles: Roles,
    *,
    require: Sequence[str] = ("outcome", "treatment"),
    binary_treatment: bool = True,
    numeric_outcome: bool = True,
    extra_columns: Sequence[str] = (),
    min_per_arm: int = 2,
) -> CausalData:
    """Validate ``roles`` against ``df`` and build :class:`CausalData`.

    Parameters
    ----------
    df : DataFrame
        The caller's table (never modified).
    roles : Roles
        Column mapping.
    require : sequence of str
        Roles that must be present.
    binary_treatment : bool
        Whether the treatment must have exactly two values (coded to 0/1).
    numeric_outcome : bool
        Whether the outcome must be numeric.
    extra_columns : sequence of str
        Further columns to keep complete (e.g. exact-matching columns).
    min_per_arm : int
        Minimum rows per treatment arm after deletion (binary treatment only).
    """
    df = check_table(df)
    if roles.covariate_formula is None and df.columns.inferred_type == "string":
        plain = _prepare_plain(
            df,
            roles,
            require,
            extra_columns,
            binary_treatment=binary_treatment,
            numeric_outcome=numeric_outcome,
            min_per_arm=min_per_arm,
        )
        if plain is not None:
            for note in plain.warnings:
                warnings.warn(note, CqoxWarning, stacklevel=3)
            return plain
    columns = [str(c) for c in df.columns]
    if any(not isinstance(c, str) for c in df.columns):
        df = df.set_axis(columns, axis=1)
    for role in require:
        if getattr(roles, role) is None:
            raise RoleError(
                f"role '{role}' is required but was not given "
                f"(columns: {', '.join(columns[:12])}{', …' if len(columns) > 12 else ''})",
                details={"role": role},
            )
    for role, col in _role_columns(roles):
        if col not in columns:
            raise column_not_found(role, col, columns)
    for col in extra_columns:
        if col not in columns:
            raise column_not_found("parameter", col, columns)

    notes: list[str] = []
    dropped: dict[str, str] = {}
    formula = roles.covariate_formula
    if formula is not None:
        cov_cols = formula_variables(formula, columns)
    else:
        cov_cols = list(roles.covariates or ())
    overlapping = {roles.outcome, roles.treatment} & set(cov_cols) - {None}
    if overlapping:
        name = sorted(c for c in overlapping if c is not None)[0]
        raise RoleError(
            f"role 'covariates': column '{name}' is also the outcome or the treatment; "
            "remove it from the covariates",
            details={"role": "covariates", "column": name},
        )
    # a formula's columns come from the formula; ``c not in formula_text`` would be a
    # substring test (outcome 'y' inside 'poly(…)' dropped the outcome: KeyError)
    # a list as well as a tuple (a Roles built directly keeps the caller's list)
    listed = tuple(roles.covariates) if isinstance(roles.covariates, list | tuple) else ()
    role_cols = [c for _, c in _role_columns(roles) if c not in listed]

    def in_use() -> list[str]:
        return list(dict.fromkeys(role_cols + cov_cols + list(extra_columns)))

    used = in_use()
    position = {c: j for j, c in enumerate(columns)}
    # by position: label lookup of a column list costs several times more
    sub = df.take([position[c] for c in used], axis=1)
    at = {c: j for j, c in enumerate(used)}
    # The common case first: every column in use numeric and finite.  The covariates
    # are then read straight from pandas' storage (no block of every column in use),
    # and no missing-value mask is needed.
    covariates = None if formula is not None else _finite_columns(sub, [at[c] for c in cov_cols])
    block: np.ndarray | None = None
    missing: np.ndarray | None = None
    if covariates is None:
        # one missing-value pass over every column in use, covariates included
        # every column in use numeric (NumPy dtypes): one float64 block serves the
        # missing-value mask and the design matrix (pandas would copy the columns twice)
        block = _numeric_block(sub)
        missing = _missing(sub) if block is None else np.isnan(block)
    all_missing = [] if missing is None else [c for c in cov_cols if missing[:, at[c]].all()]
    if all_missing and formula is not None:
        raise RoleError(
            f"role 'covariates': column '{all_missing[0]}' in the formula has no values (all "
            "missing); remove it from the formula",
            details={"role": "covariates", "column": all_missing[0]},
        )
    if all_missing:
        for col in all_missing:
            dropped[col] = "all values missing"
            cov_cols.remove(col)
        used = in_use()
        keep = [at[c] for c in used]
        sub = sub.take(keep, axis=1)
        assert missing is not None  # all-missing columns were found in it
        missing = missing[:, keep]
        block = None if block is None else block[:, keep]
        at = {c: j for j, c in enumerate(used)}
    complete = np.ones(len(sub), bool) if missing is None else np.asarray(~missing.any(axis=1))
    n_input = len(df)
    n_missing = int(n_input - complete.sum())
    if n_missing:
        per_col = sub.isna().sum()
        worst = ", ".join(f"{c} ({int(k)})" for c, k in per_col[per_col > 0].items())
        notes.append(
            f"removed {n_missing} of {n_input} rows with missing values (listwise deletion; "
            f"missing per column: {worst})"
        )
    # Copy-on-write (pandas ≥ 3, opt-in before) protects the caller's table, so the
    # rows in use need no defensive copy; an already complete, range-indexed table is
    # used as it is.
    if n_missing:
        frame = sub.loc[complete].reset_index(drop=True)
    elif isinstance(sub.index, pd.RangeIndex) and sub.index.start == 0 and sub.index.step == 1:
        frame = sub
    else:
        frame = sub.reset_index(drop=True)
    row_index = np.flatnonzero(complete)
    if len(frame) == 0:
        raise NoDataError(
            f"no rows left after removing missing values in {', '.join(used)} "
            f"({n_input} rows, none complete)",
            details={"columns": used},
        )

    if formula is None:
        dtypes = dict(zip(used, frame.dtypes, strict=True))
        for col in list(cov_cols):
            # numeric constants are dropped with the design matrix (cheaply, by range)
            kind = dtypes[col]
            if pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind):
                continue
            s = frame[col]
            if s.nunique(dropna=True) <= 1:
                # a one-level text column would otherwise expand to no indicator at all
                dropped[col] = f"constant ({_show(frame[col].iloc[0])}) in the rows in use"
                cov_cols.remove(col)

    y = _outcome(frame, roles.outcome) if roles.outcome and numeric_outcome else None
    t = None
    if roles.treatment is not None:
        t = (
            _binary_treatment(frame, roles.treatment, min_per_arm)
            if binary_treatment
            else _numeric(frame, roles.treatment, "treatment")
        )
        if not binary_treatment and np.ptp(t) == 0:
            raise RoleError(
                f"role 'treatment': column '{roles.treatment}' is constant ({_show(t[0])}); "
                "a treatment needs variation",
                details={"role": "treatment", "column": roles.treatment},
            )

    if formula is not None:
        design = design_from_formula(formula, frame)
    elif covariates is not None:
        # pandas' own storage when the covariates are one float64 block of the table:
        # a read-only view of the caller's values (copy-on-write), column-major, no
        # copy (at 10⁶ × 50 a copy is 381 MiB, as large as the table)
        design = DesignMatrix(covariates, list(cov_cols))
    elif block is not None and cov_cols:
        rows = block if not n_missing else block[complete]
        design = DesignMatrix(
            np.ascontiguousarray(rows[:, [at[c] for c in cov_cols]]), list(cov_cols)
        )
        del rows
    else:
        design = design_from_columns(cov_cols, frame)
    # pandas' column-major copy is not needed any more: free it before the checks
    # below allocate their scratch (fresh memory costs a page fault per 4 kB)
    del block, covariates
    if design.X.size and missing is not None and not np.isfinite(design.X).all():
        j_bad = int(np.flatnonzero(~np.isfinite(design.X).all(axis=0))[0])
        i_bad = int(np.flatnonzero(~np.isfinite(design.X[:, j_bad]))[0])
        raise RoleError(
            f"role 'covariates': '{design.names[j_bad]}' has infinite values (first in row "
            f"{int(row_index[i_bad])}: {float(design.X[i_bad, j_bad])}); remove or recode them",
            details={"role": "covariates", "column": design.names[j_bad]},
        )
    design, more, gram = _drop_degenerate(design, formula is None)
    dropped.update(more)
    for name, why in dropped.items():
        notes.append(f"dropped covariate '{name}': {why}")
    for note in notes:
        warnings.warn(note, CqoxWarning, stacklevel=3)
    return CausalData(
        frame=frame,
        roles=roles,
        y=y,
        t=t,
        X=design.X,
        covariate_names=design.names,
        row_index=row_index,
        n_input=n_input,
        dropped=dropped,
        warnings=notes,
        gram=gram,
    )


def _prepare_plain(
    df: pd.DataFrame,
    roles: Roles,
    require: Sequence[str],
    extra_columns: Sequence[str],
    *,
    binary_treatment: bool,
    numeric_outcome: bool,
    min_per_arm: int,
) -> CausalData | None:
    """:class:`CausalData` of the common case, or ``None`` for the general path.

    The common case: text column labels, covariates as a list of columns, every role
    given and present, every column in use with a NumPy int/uint/bool/float dtype and
    finite, and the outcome and treatment passing their checks.  Each column in use is
    then read once as an array (no ``take`` of the table, no missing-value mask, no
    DataFrame: :class:`RowsInUse` builds the frame if someone reads it) and the result
    equals the general path's: same ``y``, ``t``, ``X`` (column-major, as
    :func:`_finite_columns` gives it), covariates dropped with the same reasons.
    Anything else — a missing or infinite value, a text or nullable column, a constant
    outcome, a treatment not coded 0/1 — returns ``None``, and the general path
    answers (with its messages and errors).
    """
    index = df.columns
    for role in require:
        if getattr(roles, role) is None:
            return None
    # a list as well as a tuple (a Roles built directly keeps the caller's list)
    covariates = roles.covariates
    listed = tuple(covariates) if isinstance(covariates, list | tuple) else ()
    outcome, treatment = roles.outcome, roles.treatment
    if outcome in listed or treatment in listed:
        return None
    role_cols = _other_role_columns(roles, listed)
    cov_cols = list(listed)
    used = list(dict.fromkeys(role_cols + cov_cols + list(extra_columns)))
    # unique text labels (check_table): get_loc gives each column's position (a label
    # not in the table raises KeyError: the general path names it)
    locs = _positions(index, used)
    if locs is None:
        return None
    positions = [j for j in locs if isinstance(j, int)]
    if len(positions) != len(used):
        return None
    arrays: dict[str, np.ndarray] = {}
    stored: dict[str, np.ndarray] = {}
    covs = frozenset(listed)
    # finite by the checks of their role below: the outcome's range (NaN and infinities
    # fail it) and the treatment's (0/1, or range)
    checked = {outcome if numeric_outcome else None, treatment}
    for col, values in zip(used, _read_columns(df, positions), strict=True):
        if not isinstance(values, np.ndarray) or values.dtype.kind not in "iubf":
            return None
        if col in covs:
            # checked below, all at once; a read-only view when read (RowsInUse.values)
            stored[col] = values
            continue
        if col not in checked and values.dtype.kind == "f" and not _all_finite(values):
            return None
        arrays[col] = _read_only(values)
    n = len(df)
    y = None
    if outcome and numeric_outcome:
        y = arrays[outcome].astype(np.float64, copy=False)
        if not _finite_and_varies(y):
            return None
    t = None
    if treatment is not None:
        t = arrays[treatment].astype(np.float64, copy=False)
        if binary_treatment:
            # every value 0 or 1 (so finite): the counts of both add up to n
            n1 = int(np.count_nonzero(t == 1.0))
            if min(n1, n - n1) < max(min_per_arm, 1) or np.count_nonzero(t == 0.0) != n - n1:
                return None
        elif not _finite_and_varies(t):
            return None
    at = dict(zip(used, positions, strict=True))
    X = _block_view(df, [at[c] for c in cov_cols])
    if X is None:
        # one column-major copy, as pandas' ``to_numpy`` of several blocks gives
        X = np.empty((n, len(cov_cols)), dtype=np.float64, order="F")
        for j, c in enumerate(cov_cols):
            X[:, j] = stored[c]
    # one check of the whole covariate block instead of one per column
    if X.size and not _all_finite(X):
        return None
    design, dropped, gram = _drop_degenerate(DesignMatrix(X, list(cov_cols)), True)
    return CausalData(
        frame=RowsInUse(df, positions, arrays, stored),  # type: ignore[arg-type]  # see _FrameField
        roles=roles,
        y=y,
        t=t,
        X=design.X,
        covariate_names=design.names,
        row_index=np.arange(n),
        n_input=n,
        dropped=dropped,
        warnings=[f"dropped covariate '{name}': {why}" for name, why in dropped.items()],
        gram=gram,
    )


def _other_role_columns(roles: Roles, listed: tuple[str, ...]) -> list[str]:
    """The role columns that are not covariates, in the order of :func:`_role_columns`.

    ``[c for _, c in _role_columns(roles) if c not in listed]`` with ``listed`` (the
    covariates) as a set: a scan of the tuple per column costs O(roles × covariates),
    27 µs with 50 covariates.  The covariates' own columns are all in ``listed``, so
    their role is skipped.  Any column that is not text (a malformed role) takes the
    expression above, whatever it does with it.
    """
    out: list[str] = []
    skip = frozenset(listed)
    for role, value in vars(roles).items():
        if value is None or role in _NO_ROLE_COLUMNS:
            continue
        for col in value if type(value) is tuple else (value,):
            if type(col) is not str:
                return [c for _, c in _role_columns(roles) if c not in listed]
            if col not in skip:
                out.append(col)
    return out


#: Fields of :class:`Roles` whose values :func:`_other_role_columns` does not read.
_NO_ROLE_COLUMNS = frozenset({"guesses", "cutoff", "covariates"})


def _positions(index: pd.Index, used: list[str]) -> list[Any] | None:
    """``[index.get_loc(c) for c in used]``, or ``None`` when a label is not in ``index``.

    Through the index's engine (pandas' hash table, what ``Index.get_loc`` calls after
    a cast that text labels do not need): 0.2 µs a column instead of 0.45 µs.  Any
    failure there repeats the lookups through ``Index.get_loc``, which raises (or
    answers) exactly as it always did.
    """
    try:
        get_loc = index._engine.get_loc  # type: ignore[attr-defined]
        return [get_loc(c) for c in used]
    except Exception:  # the public lookup below decides (and raises as it did)
        pass
    get_loc = index.get_loc
    try:
        return [get_loc(c) for c in used]
    except KeyError:
        return None


def _read_only(values: np.ndarray) -> np.ndarray:
    """A read-only view of ``values``, as pandas' ``to_numpy`` is under copy-on-write."""
    view = values.view()
    view.flags.writeable = False
    return view


def _all_finite(values: np.ndarray) -> bool:
    """Whether every value of a float array is finite, from one sum in the common case.

    A NaN or an infinity makes the sum NaN or infinite, so a finite sum proves every
    value finite; a sum that is not finite (a non-finite value, or finite values whose
    sum overflows) is settled by the exact check.
    """
    if math.isfinite(np.add.reduce(values, axis=None)):
        return True
    return bool(np.isfinite(values).all())


def _is_constant(values: np.ndarray) -> bool:
    """``np.ptp(values) == 0`` for finite values: the largest equals the smallest."""
    return bool(np.maximum.reduce(values) == np.minimum.reduce(values))


def _finite_and_varies(values: np.ndarray) -> bool:
    """``_all_finite(values) and not _is_constant(values)`` from the two extremes.

    A NaN makes both extremes NaN (no comparison holds) and an infinity makes one of
    them infinite, so two reductions decide what a sum, a maximum and a minimum did.
    """
    lo, hi = np.minimum.reduce(values), np.maximum.reduce(values)
    return bool(lo < hi and math.isfinite(lo) and math.isfinite(hi))


def _block_view(df: pd.DataFrame, positions: list[int]) -> np.ndarray | None:
    """Columns ``positions`` of ``df`` as one read-only (n, k) column-major view, if one block.

    pandas stores the float64 columns of a table as the rows of one 2-D array (a block):
    columns that are consecutive rows of it are one column-major matrix already, which
    pandas' ``to_numpy`` of those columns hands out as a view (no n × k copy: at 10⁶ ×
    50, 381 MiB).  This takes the same view from the table's block placement (which
    block holds each column, and its row there): every column in one float64 block, in
    consecutive rows, the rows contiguous.  ``None`` otherwise (the caller copies).
    """
    mgr = getattr(df, "_mgr", None)
    try:  # pandas' internal placement (a pandas without it: the caller copies)
        blknos, blklocs, blocks = mgr.blknos, mgr.blklocs, mgr.blocks  # type: ignore[union-attr]
    except AttributeError:
        return None
    if not positions:
        return None
    block, first = blknos[positions[0]], blklocs[positions[0]]
    for i, j in enumerate(positions):
        if blknos[j] != block or blklocs[j] != first + i:
            return None
    values = blocks[block].values
    if not isinstance(values, np.ndarray) or values.dtype != np.float64 or values.ndim != 2:
        return None
    view = values[first : first + len(positions)].T
    if not view.flags.f_contiguous:
        return None
    view.flags.writeable = False
    return np.asarray(view)


def _read_columns(df: pd.DataFrame, positions: list[int]) -> list[Any]:
    """``[df._get_column_array(j) for j in positions]``: each column as pandas stores it.

    pandas' read of one column (``BlockManager.iget_values``: the column's block and
    its row there, then ``Block.iget``, five Python calls, ~1 µs) done for all the
    columns at once: the block numbers and rows of every position in two NumPy takes,
    then for a block that holds a 2-D NumPy array the row ``values[i]`` that
    ``Block.iget`` returns (the same view).  Any other block (an extension array:
    text, nullable, dates) is read by pandas itself, as is every column of a pandas
    without these internals.  ipw's 52 columns: ~55 → ~27 µs.
    """
    read = getattr(df, "_get_column_array", None)  # pandas' internal read
    if not callable(read):
        read = _public_column_array(df)
    mgr = getattr(df, "_mgr", None)
    try:
        blocks = mgr.blocks  # type: ignore[union-attr]
        numbers = mgr.blknos[positions].tolist()  # type: ignore[union-attr]
        rows = mgr.blklocs[positions].tolist()  # type: ignore[union-attr]
    except (AttributeError, IndexError, TypeError):
        return [read(j) for j in positions]
    out: list[Any] = []
    for j, number, row in zip(positions, numbers, rows, strict=True):
        values = blocks[number].values
        out.append(values[row] if type(values) is np.ndarray and values.ndim == 2 else read(j))
    return out


def _public_column_array(df: pd.DataFrame) -> Any:
    """A column reader for a pandas without ``DataFrame._get_column_array``."""

    def read(j: int) -> Any:
        column = df.iloc[:, j]
        return column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array

    return read


def _numeric_block(sub: pd.DataFrame) -> np.ndarray | None:
    """``sub`` as one float64 array when every column has a NumPy numeric/bool dtype.

    Integer and boolean columns cannot be missing and convert exactly (as in the
    design matrix), so ``isnan`` of the block is the missing-value mask.
    """
    if _numeric_kinds(sub) is None:
        return None
    return np.asarray(sub.to_numpy(dtype=np.float64))


def _finite_columns(sub: pd.DataFrame, cols: list[int]) -> np.ndarray | None:
    """Columns ``cols`` of ``sub`` as float64 when every column of ``sub`` is finite.

    ``None`` unless every column has a NumPy numeric/bool dtype and no value is missing
    or infinite.  The array is pandas' own column-major storage when the columns are
    one float64 block (no copy), else one copy.  A finite sum of each row proves a
    block holds no NaN and no infinity (either makes its row's sum NaN or infinite),
    one reduction to an n-vector instead of an n × k mask; a row whose sum overflows
    is sent to the exact path.
    """
    if not cols or _numeric_kinds(sub) is None:
        return None
    chosen = set(cols)
    rest = [j for j in range(sub.shape[1]) if j not in chosen]
    for j in rest:  # a few role columns: one at a time costs pandas less than a frame
        if not np.isfinite(sub.iloc[:, j].to_numpy(dtype=np.float64)).all():
            return None
    values = np.asarray(_take(sub, cols).to_numpy(dtype=np.float64))
    if not np.isfinite(values.sum(axis=1)).all():
        return None
    return values


def _take(frame: pd.DataFrame, cols: list[int]) -> pd.DataFrame:
    """Columns at positions ``cols``: a slice when they are consecutive (cheaper in pandas)."""
    if cols == list(range(cols[0], cols[0] + len(cols))):
        return frame.iloc[:, cols[0] : cols[0] + len(cols)]
    return frame.iloc[:, cols]


def _numeric_kinds(sub: pd.DataFrame) -> list[str] | None:
    """The dtype kinds of ``sub``'s columns if all are NumPy numeric or bool, else ``None``."""
    kinds = [str(dt.kind) if isinstance(dt, np.dtype) else "O" for dt in sub.dtypes]
    if not kinds or any(k not in "iubf" for k in kinds):
        return None
    return kinds


def _complete_rows(sub: pd.DataFrame) -> np.ndarray:
    """Rows with no missing value in any column of ``sub``."""
    return np.asarray(~_missing(sub).any(axis=1))


def _missing(sub: pd.DataFrame) -> np.ndarray:
    """Missing-value mask of ``sub``, shape (n, columns).

    In NumPy where the dtype allows: integer and boolean columns cannot be missing,
    float columns are checked together with one ``isnan`` on a 2-D array; only other
    dtypes (text, nullable, dates, categories) go through pandas column by column.
    """
    mask = np.zeros(sub.shape, dtype=bool)
    kinds = [dt.kind if isinstance(dt, np.dtype) else "O" for dt in sub.dtypes]
    floats = [j for j, k in enumerate(kinds) if k == "f"]
    if floats:
        mask[:, floats] = np.isnan(sub.iloc[:, floats].to_numpy(dtype=np.float64))
    for j, k in enumerate(kinds):
        if k not in "iubf":
            mask[:, j] = sub.iloc[:, j].isna().to_numpy()
    return mask


def check_ordered_periods(values: pd.Series | np.ndarray, column: str) -> None:
    """Raise unless a ``time`` column sorts in time order: numbers or dates.

    Text periods would sort as text (``'10'`` before ``'2'``) and silently reorder a
    series or a panel's lags.  ``values`` is the column or its array
    (:meth:`CausalData.values`).
    """
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    ):
        return
    first = values.iloc[0] if isinstance(values, pd.Series) else values[0]
    raise RoleError(
        f"role 'time': column '{column}' must be numeric periods or dates; got dtype "
        f"{dtype} with values like {show_value(first)}; convert it first "
        "(text sorts as text: '10' before '2')",
        details={"role": "time", "column": column},
    )


def _role_columns(roles: Roles) -> list[tuple[str, str]]:
    """``(role, column)`` of every role that names columns, in the order of ``given()``.

    Read from the instance's fields directly (what :meth:`Roles.given` iterates),
    without building its dictionary of lists.
    """
    out: list[tuple[str, str]] = []
    for role, value in vars(roles).items():
        if value is None or role == "guesses" or role == "cutoff":
            continue
        if isinstance(value, tuple | list):
            out.extend((role, v) for v in value)
        elif not (role == "covariates" and isinstance(value, str)):
            out.append((role, value))
    return out


def _numeric(frame: pd.DataFrame, col: str, role: str) -> np.ndarray:
    s = frame[col]
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=np.float64)
    if not pd.api.types.is_numeric_dtype(s):
        bad = next((v for v in s if not _is_number(v)), s.iloc[0])
        raise RoleError(
            f"role '{role}': column '{col}' must be numeric; got dtype {s.dtype} "
            f"with values like {bad!r}",
            details={"role": role, "column": col, "value": repr(bad)},
        )
    values = s.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise RoleError(
            f"role '{role}': column '{col}' has infinite values",
            details={"role": role, "column": col},
        )
    return values


def _outcome(frame: pd.DataFrame, col: str) -> np.ndarray:
    y = _numeric(frame, col, "outcome")
    if np.ptp(y) == 0:
        raise RoleError(
            f"role 'outcome': column '{col}' is constant ({y[0]:g}); there is no effect to "
            "estimate",
            details={"role": "outcome", "column": col},
        )
    return y


def _binary_treatment(frame: pd.DataFrame, col: str, min_per_arm: int) -> np.ndarray:
    s = frame[col]
    values = pd.unique(s)
    if len(values) == 1:
        raise RoleError(
            f"role 'treatment': column '{col}' is constant ({_show(values[0])}); a treatment "
            "needs treated and control rows",
            details={"role": "treatment", "column": col},
        )
    if len(values) != 2:
        shown = ", ".join(_show(v) for v in sorted(values, key=str)[:6])
        raise RoleError(
            f"role 'treatment': column '{col}' must be binary (two values) for this "
            f"estimator; got {len(values)} distinct values "
            f"({shown}{', …' if len(values) > 6 else ''}). {MULTIVALUED_HINT}",
            details={"role": "treatment", "column": col},
        )
    if pd.api.types.is_bool_dtype(s):
        t = s.to_numpy(dtype=np.float64)
    elif pd.api.types.is_numeric_dtype(s):
        v = sorted(float(x) for x in values)
        if v != [0.0, 1.0]:
            raise RoleError(
                f"role 'treatment': column '{col}' has values {v[0]:g} and {v[1]:g}; "
                "code it 0 (control) / 1 (treated)",
                details={"role": "treatment", "column": col},
            )
        t = s.to_numpy(dtype=np.float64)
    else:
        labels = {str(v).strip().lower(): v for v in values}
        treated = [k for k in labels if k in TREATED_LABELS]
        control = [k for k in labels if k in CONTROL_LABELS]
        if len(treated) != 1 or len(control) != 1:
            raise RoleError(
                f"role 'treatment': cannot tell which of {sorted(map(str, values))} is "
                f"treated in column '{col}'; code it 0/1 or use labels such as "
                "'treated'/'control'",
                details={"role": "treatment", "column": col},
            )
        t = (s.astype(str).str.strip().str.lower() == treated[0]).to_numpy(dtype=np.float64)
    n1 = int(t.sum())
    n0 = len(t) - n1
    if min(n1, n0) < min_per_arm:
        raise NoDataError(
            f"role 'treatment': column '{col}' has {n1} treated and {n0} control rows; "
            f"at least {min_per_arm} of each are needed",
            details={"role": "treatment", "column": col},
        )
    return t


def _show(v: object) -> str:
    """A value for a message (see :func:`cqox.errors.show_value`)."""
    return show_value(v)


def _is_number(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _drop_degenerate(
    design: DesignMatrix, by_column: bool
) -> tuple[DesignMatrix, dict[str, str], ShiftedGram | None]:
    """Drop constant columns and columns linearly dependent on earlier ones.

    Returns the design kept, the reasons for those dropped, and the shifted Gram matrix
    of the kept design (``None`` without covariates), which the propensity fit reuses.
    """
    X, names = design.X, list(design.names)
    dropped: dict[str, str] = {}
    if X.shape[1] == 0:
        return design, dropped, None
    # one Gram product of the shifted columns serves both checks: a column with a
    # positive sum of squared deviations from its first row varies; only those with
    # a zero sum (constant, or deviations whose squares underflow) are compared exactly
    first = X[0].copy()
    gram, total = _shifted_gram(X, first)
    diagonal = gram.diagonal()
    if not np.minimum.reduce(diagonal) > 0:  # the common case (every column varies) skips this
        varies = diagonal > 0
        flat = np.flatnonzero(~varies)
        varies[flat] = X[:, flat].max(axis=0) > X[:, flat].min(axis=0)
        keep = np.flatnonzero(varies).tolist()
        for j in np.flatnonzero(~varies):
            dropped[names[j]] = f"constant ({X[0, j]:g}) in the rows in use"
        if len(keep) < X.shape[1]:
            X, names = X[:, keep], [names[j] for j in keep]
            gram, total, first = gram[np.ix_(keep, keep)], total[keep], first[keep]
    moments = ShiftedGram(X, first, total, gram)
    if X.shape[1] > 1:
        # Elimination in column order keeps the earlier column of a collinear pair,
        # matching how R and statsmodels report aliased terms.  Working on the k×k
        # correlation matrix instead of an n×k QR keeps this cheap at any n.
        keep_idx = independent_columns(_correlation_from(gram, total, X.shape[0]))
        if len(keep_idx) < X.shape[1]:
            for col in sorted(set(range(X.shape[1])) - set(keep_idx)):
                dropped[names[col]] = "linearly dependent on other covariates"
            X, names = X[:, keep_idx], [names[j] for j in keep_idx]
            moments = moments.subset(keep_idx, X)
    if X.shape[1] == 0:
        return DesignMatrix(X, names), dropped, None
    # as it is: a view of the caller's table stays a view (no C-order copy)
    return (design if X is design.X else DesignMatrix(X, names)), dropped, moments


#: Rows per block of the shifted covariates in :func:`_correlation` (0.8 MB at 50).
SHIFTED_ROWS = 2048
#: Cells of one block of the shifted covariates (the 0.8 MB of :data:`SHIFTED_ROWS` rows
#: of 50 columns): fewer columns take more rows a block, so a 10,000 × 5 design is one
#: product, not five (each block costs a BLAS call and a scratch array: 4× the time).
SHIFTED_CELLS = SHIFTED_ROWS * 50


def _correlation(X: np.ndarray) -> np.ndarray:
    """Correlation matrix of the columns of ``X`` from one Gram product (BLAS ``syrk``).

    ``X'X − n x̄x̄'`` instead of centring a copy of ``X``; the columns are shifted by
    their first row first, so the subtraction does not cancel for columns with a large
    mean relative to their spread.
    """
    return _correlation_from(*_shifted_gram(X), X.shape[0])


def _shifted_gram(X: np.ndarray, first: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(D'D, D'1)`` of the columns shifted by their first row, ``D = X − 1 x₁'``.

    ``first`` is a copy of ``X[0]`` when the caller has one.
    """
    n, p = X.shape
    if first is None:
        first = X[0].copy()
    size = max(SHIFTED_ROWS, SHIFTED_CELLS // max(p, 1))
    if n <= size:  # one block: the sums themselves, without accumulators
        shifted = X - first
        return crossprod(shifted), np.add.reduce(shifted, axis=0)
    gram, total = np.zeros((p, p)), np.zeros(p)
    # one small block of the shifted columns at a time, not a copy: a scratch reused
    # from the allocator's heap rather than fresh memory (a page fault per 4 kB) per call
    for rows in row_blocks(n, size):
        shifted = X[rows] - first
        total += shifted.sum(axis=0)
        gram += crossprod(shifted)
    return gram, total


def _correlation_from(gram: np.ndarray, total: np.ndarray, n: int) -> np.ndarray:
    """Correlations from the shifted Gram matrix and column sums of :func:`_shifted_gram`."""
    mean = total / n
    # products by broadcasting: what np.outer computes, without its argument handling
    cov = gram / n - mean[:, None] * mean
    sd = np.sqrt(np.maximum(cov.diagonal(), 0.0))
    return np.asarray(cov / (sd[:, None] * sd))


#: A column whose R² on the earlier kept columns exceeds 1 − this is dependent on them
#: (a variance inflation factor above 10¹⁰: rounding, not information).
DEPENDENCE_TOLERANCE = 1e-10


def independent_columns(corr: np.ndarray) -> list[int]:
    """Columns (in order) not linearly dependent on earlier kept ones, from correlations.

    Sequential Cholesky: the residual variance of column ``j`` after projecting on the
    kept columns is ``1 − c'C⁻¹c``; columns with residual variance below
    :data:`DEPENDENCE_TOLERANCE` are skipped.
    """
    # Sequential Cholesky that keeps every column is the ordinary Cholesky factor, whose
    # squared diagonal holds the residual variances: one LAPACK call decides the common
    # case (no dependent column); the column loop below runs only when one is dropped.
    # LAPACK's Cholesky (dpotrf, what np.linalg.cholesky runs) without the wrapping;
    # info > 0: not positive definite
    factor, info = lapack.dpotrf(corr, lower=1, clean=0)
    if info == 0:
        diag = factor.diagonal()
        if bool((diag * diag > DEPENDENCE_TOLERANCE).all()):
            return list(range(corr.shape[0]))
    kept: list[int] = []
    L = np.zeros((0, 0))
    for j in range(corr.shape[0]):
        w = np.linalg.solve(L, corr[kept, j]) if kept else np.zeros(0)
        resid = float(corr[j, j] - w @ w)
        if resid <= DEPENDENCE_TOLERANCE:
            continue
        size = len(kept)
        grown = np.zeros((size + 1, size + 1))
        grown[:size, :size] = L
        grown[size, :size] = w
        grown[size, size] = np.sqrt(resid)
        L = grown
        kept.append(j)
    return kept
