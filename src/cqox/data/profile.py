"""A profile of a table: size, types, missingness, statistics and candidate roles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def column_kind(s: pd.Series) -> str:
    """``binary``, ``numeric``, ``datetime``, ``categorical`` or ``text``."""
    nunique = s.nunique(dropna=True)
    if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s) and nunique == 2):
        return "binary"
    if pd.api.types.is_numeric_dtype(s):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    if nunique <= max(20, len(s) // 20):
        return "categorical"
    return "text"


def profile(df: pd.DataFrame, max_levels: int = 10) -> dict[str, Any]:
    """Rows, columns, dtypes, missingness and per-column statistics.

    Numeric columns get mean, sd, min, quartiles, max; others their most frequent
    levels (at most ``max_levels``).
    """
    cols: list[dict[str, Any]] = []
    for name in df.columns:
        s = df[name]
        entry: dict[str, Any] = {
            "name": str(name),
            "dtype": str(s.dtype),
            "kind": column_kind(s),
            "missing": int(s.isna().sum()),
            "missing_share": float(s.isna().mean()) if len(s) else 0.0,
            "unique": int(s.nunique(dropna=True)),
        }
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.dropna().to_numpy(dtype=np.float64)
            if len(v):
                q = np.quantile(v, [0.25, 0.5, 0.75])
                entry.update(
                    mean=float(v.mean()),
                    sd=float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                    min=float(v.min()),
                    q25=float(q[0]),
                    median=float(q[1]),
                    q75=float(q[2]),
                    max=float(v.max()),
                )
        else:
            top = s.astype(str)[s.notna()].value_counts().head(max_levels)
            entry["top"] = {str(k): int(c) for k, c in top.items()}
        cols.append(entry)
    return {
        "rows": len(df),
        "columns": len(df.columns),
        "complete_rows": int(df.notna().all(axis=1).sum()),
        "memory_bytes": int(df.memory_usage(deep=True).sum()),
        "column_profiles": cols,
    }
