"""Covariates as a Wilkinson formula, through formulaic.

``"age + I(age**2) + C(education) + age:female"`` expands into a design matrix with
the usual reduced-rank (treatment) coding of categoricals, exactly as R and
statsmodels would, so published specifications can be replicated.  The intercept is
handled by the estimators, so the returned matrix never contains one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cqox.errors import FormulaError, column_not_found

_PY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_ANSI = re.compile(r"\x1b\[[0-9;]*m|[\u29da\u29db]")


def _clean(exc: Exception) -> str:
    """The formulaic message on one line, without terminal colours or its context markers."""
    return " ".join(_ANSI.sub("", str(exc)).split())


@dataclass(frozen=True)
class DesignMatrix:
    """A covariate design matrix.

    Attributes
    ----------
    X : ndarray, shape (n, p)
        Covariate columns, float64, no intercept.
    names : list of str
        Column names of ``X`` (formula term names, e.g. ``C(educ)[T.12]``).
    """

    X: np.ndarray
    names: list[str]


def formula_variables(formula: str, columns: list[str]) -> list[str]:
    """The table columns a formula refers to, in order of appearance.

    Raises :class:`ColumnNotFoundError` for a name that looks like a column but is not
    one of ``columns`` and is not a function known to formulaic.
    """
    from formulaic import Formula

    try:
        parsed = Formula(formula)
        required = sorted(parsed.required_variables)
    except Exception as exc:  # formulaic raises several types for bad syntax
        raise FormulaError(
            f"role 'covariates': cannot parse formula {formula!r}: {_clean(exc)}",
            details={"role": "covariates", "formula": formula},
        ) from None
    names = [str(v) for v in required]
    known_functions = {
        "I",
        "C",
        "np",
        "log",
        "exp",
        "sqrt",
        "center",
        "scale",
        "poly",
        "bs",
        "lag",
        "standardize",
        "hashed",
        "abs",
        "Q",
        "cr",
        "cs",
        "cc",
    }
    missing = [v for v in names if v not in columns and v.split(".")[0] not in known_functions]
    if missing:
        raise column_not_found("covariates", missing[0], columns)
    used = [v for v in names if v in columns]
    order = {m.group(0): m.start() for m in reversed(list(_PY_NAME.finditer(formula)))}
    return sorted(used, key=lambda v: order.get(v, len(formula)))


def design_from_formula(formula: str, frame: pd.DataFrame) -> DesignMatrix:
    """Evaluate ``formula`` on ``frame`` (rows already complete) into a design matrix."""
    from formulaic import model_matrix

    try:
        mm = model_matrix("1 + " + formula, frame, na_action="raise")
    except Exception as exc:
        raise FormulaError(
            f"role 'covariates': cannot evaluate formula {formula!r}: {_clean(exc)}",
            details={"role": "covariates", "formula": formula},
        ) from None
    mm_frame = pd.DataFrame(mm)
    keep = [c for c in mm_frame.columns if str(c) != "Intercept"]
    X = np.asarray(mm_frame[keep], dtype=np.float64)
    return DesignMatrix(X, [str(c) for c in keep])


def design_from_columns(columns: list[str], frame: pd.DataFrame) -> DesignMatrix:
    """Design matrix from plain column names.

    Numeric and boolean columns enter as they are; text and categorical columns are
    expanded into indicators with the first level (sorted) as the reference.
    """
    n = len(frame)
    kinds = frame.dtypes
    if columns and all(_numeric_dtype(kinds[c]) for c in columns):
        # one 2-D conversion by pandas (per dtype block) instead of a column-by-column
        # stack; C order, as the estimators slice rows
        X = np.ascontiguousarray(frame[columns].to_numpy(dtype=np.float64))
        return DesignMatrix(X, list(columns))
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for col in columns:
        s = frame[col]
        if _is_numeric(s):
            blocks.append(np.asarray(s, dtype=np.float64).reshape(-1, 1))
            names.append(col)
            continue
        levels = sorted(pd.unique(s.astype(str)))
        codes = s.astype(str).to_numpy()
        for level in levels[1:]:
            blocks.append((codes == level).astype(np.float64).reshape(-1, 1))
            names.append(f"{col}[{level}]")
    X = np.hstack(blocks) if blocks else np.empty((n, 0), dtype=np.float64)
    return DesignMatrix(X, names)


def _is_numeric(s: pd.Series) -> bool:
    return _numeric_dtype(s.dtype)


def _numeric_dtype(dtype: Any) -> bool:
    return bool(pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype))
