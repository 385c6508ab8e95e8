"""One exception tree for CQOx.

Every error raised on purpose by CQOx derives from :class:`CqoxError` and also from the
matching builtin, so ``except ValueError`` keeps working for callers who do not know
about CQOx.  A message says what went wrong, names the culprit (column, value or
parameter), what was got, and gives a hint.  The CLI prints the message on one line;
the service maps the class to an error code (``code`` attribute).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class CqoxError(Exception):
    """Base class of every CQOx error."""

    code: str = "INTERNAL_ERROR"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, object] = dict(details or {})

    def __str__(self) -> str:
        return self.message


class DataError(CqoxError, ValueError):
    """The table cannot be read or is unusable as a whole (empty, no rows, duplicates)."""

    code = "INVALID_DATA"


class NoDataError(DataError):
    """The table has no rows (or none left after removing missing values)."""

    code = "INSUFFICIENT_DATA"


class FileFormatError(DataError):
    """The file's format or encoding cannot be read."""


class LimitExceededError(DataError):
    """A file is larger than a reading limit (cells, columns, decompressed size, ratio).

    ``details`` names the limit (``limit``), its value (``max``) and what the file
    has or would need (``got``), so a caller can say which setting to raise.
    """

    code = "PAYLOAD_TOO_LARGE"


class RoleError(CqoxError, ValueError):
    """A role names a missing column or a column of the wrong kind."""

    code = "INVALID_MAPPING"


class ColumnNotFoundError(RoleError, KeyError):
    """A role or a formula names a column that the table does not have."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class FormulaError(RoleError):
    """A covariate formula cannot be parsed or evaluated."""


class GraphError(RoleError):
    """A causal graph (``dag``) cannot be read, has a cycle, or misses a role's node."""


class ParameterError(CqoxError, ValueError):
    """An estimator parameter is unknown or has an invalid value."""

    code = "INVALID_PARAMETER"


class EstimatorNotFoundError(CqoxError, KeyError):
    """No estimator is registered under the requested name."""

    code = "INVALID_PARAMETER"

    def __str__(self) -> str:
        return self.message


class DesignError(CqoxError, ValueError):
    """The roles do not support the design an estimator needs."""

    code = "INVALID_MAPPING"


class NoDesignError(DesignError):
    """The roles support no design: nothing can be estimated from them.

    ``details["suggestions"]`` lists what to give, each a dict with the ``role``, the
    candidate ``columns`` (best first), a ``reason`` and the ``flag`` of the command
    line that sets it.  The service answers 422 with these details; the command line
    prints the message; the library raises it from :func:`cqox.analyze`.
    """

    code = "NO_DESIGN"


class EstimationError(CqoxError, RuntimeError):
    """Estimation failed on valid input (e.g. perfect separation, singular design)."""

    code = "ESTIMATION_FAILED"


class SeparationError(EstimationError):
    """A binary model's maximum-likelihood coefficients diverge (perfect separation).

    ``details["coef_per_sd"]`` holds the standardised coefficients at the last step.
    """


class MissingDependencyError(CqoxError, ImportError):
    """An optional part of CQOx is used without its extra installed (e.g. ``cqox[server]``)."""

    code = "MISSING_DEPENDENCY"


class CqoxWarning(UserWarning):
    """Warnings raised by CQOx (dropped rows, dropped covariates, weak overlap, ...)."""


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``name`` (for "did you mean" hints), if any is close."""
    options = [str(c) for c in candidates]
    lowered = {o.lower(): o for o in options}
    if name.lower() in lowered:
        return lowered[name.lower()]
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if not match:
        match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        return lowered[match[0]] if match else None
    return match[0]


def show_value(v: object) -> str:
    """A data value for a message: ``8001``, ``0.25``, ``True``, ``'smoker'``.

    NumPy scalars print like Python ones (never ``np.int64(8001)``); integers in full.
    """
    import numpy as np

    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:g}"
    return repr(str(v))


def list_columns(columns: Sequence[object], limit: int = 12) -> str:
    """Render a column list for an error message, shortened after ``limit`` names."""
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def column_not_found(role: str, column: str, columns: Sequence[object]) -> ColumnNotFoundError:
    """Build the standard error for a role that names a missing column."""
    hint = closest(column, [str(c) for c in columns])
    did_you_mean = f"; did you mean '{hint}'?" if hint else ""
    return ColumnNotFoundError(
        f"role '{role}': column '{column}' not found{did_you_mean} "
        f"(columns: {list_columns(columns)})",
        details={"role": role, "column": column, "suggestion": hint},
    )
