"""A profile of a table: size, types, missingness, statistics and candidate roles.

Example
-------
>>> import pandas as pd
>>> from cqox.data.profile import profile
>>> p = profile(pd.DataFrame({"treated": [0, 1, 1], "y": [1.0, None, 3.0]}))
>>> p["rows"], p["columns"], p["missing_cells"]
(3, 2, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cqox.data.infer import candidate_roles

#: Column kinds reported by :func:`column_kind`.
KINDS = ("binary", "numeric", "datetime", "categorical", "text", "empty")


def column_kind(s: pd.Series, nunique: int | None = None) -> str:
    """``binary``, ``numeric``, ``datetime``, ``categorical``, ``text`` or ``empty``."""
    if nunique is None:
        nunique = int(s.nunique(dropna=True))
    if nunique == 0:
        return "empty"
    if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s) and nunique == 2):
        return "binary"
    if pd.api.types.is_numeric_dtype(s):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    if nunique <= max(20, len(s) // 20):
        return "categorical"
    return "text"


def _numeric_stats(s: pd.Series) -> dict[str, float]:
    v = s.to_numpy(dtype=np.float64)
    finite = np.isfinite(v)
    if not finite.all():  # a copy only when there are missing or infinite values
        v = v[finite]
    if not len(v):
        return {}
    q = np.quantile(v, [0.25, 0.5, 0.75])
    return {
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "min": float(v.min()),
        "q25": float(q[0]),
        "median": float(q[1]),
        "q75": float(q[2]),
        "max": float(v.max()),
    }


def distinct_counts(df: pd.DataFrame) -> dict[str, int]:
    """Distinct non-missing values of every column (shared by the profile and the inference)."""
    return {str(c): int(df[c].nunique(dropna=True)) for c in df.columns}


def profile(
    df: pd.DataFrame,
    max_levels: int = 10,
    roles: bool = True,
    nunique: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Rows, columns, dtypes, missingness, per-column statistics and candidate roles.

    Numeric columns get mean, sd, min, quartiles and max; others their most frequent
    levels (at most ``max_levels``).  ``candidate_roles`` lists, per role, the columns
    that could fill it with a confidence and a reason (see :mod:`cqox.data.infer`).
    ``nunique`` (:func:`distinct_counts`) is computed when not given.
    """
    cols: list[dict[str, Any]] = []
    distinct: dict[str, int] = {}
    # complete rows and missing cells column by column: ``df.notna()`` would be an
    # n × k mask
    complete = np.ones(len(df), dtype=bool)
    missing_cells = 0
    for name in df.columns:
        s = df[name]
        absent = s.isna().to_numpy()
        missing = int(np.count_nonzero(absent))
        if missing:
            complete &= ~absent
            missing_cells += missing
        given = None if nunique is None else nunique.get(str(name))
        nunique_s = distinct[str(name)] = (
            int(s.nunique(dropna=True)) if given is None else int(given)
        )
        entry: dict[str, Any] = {
            "name": str(name),
            "dtype": str(s.dtype),
            "kind": column_kind(s, nunique_s),
            "missing": missing,
            "missing_share": missing / len(s) if len(s) else 0.0,
            "unique": nunique_s,
        }
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            entry.update(_numeric_stats(s))
        else:
            top = s[s.notna()].astype(str).value_counts().head(max_levels)
            entry["top"] = {str(k): int(c) for k, c in top.items()}
        cols.append(entry)
    kinds: dict[str, int] = {}
    for entry in cols:
        kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
    out: dict[str, Any] = {
        "rows": len(df),
        "columns": len(df.columns),
        "complete_rows": int(np.count_nonzero(complete)),
        "missing_cells": missing_cells,
        "dtypes": {str(c): str(df[c].dtype) for c in df.columns},
        "kinds": kinds,
        "memory_bytes": int(df.memory_usage(deep=False).sum()),
        "column_profiles": cols,
    }
    if roles:
        out["candidate_roles"] = candidate_roles(df, nunique=distinct) if len(df) else {}
    return out
