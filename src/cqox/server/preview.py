"""The first rows of a stored dataset, as JSON cells (``GET /api/datasets/{id}/preview``).

Only the first record batch of the service's own Parquet file is read, so a preview
costs the same for ten rows or ten million.  Cells become JSON values: numbers stay
numbers (NaN and infinities become ``null``), timestamps ISO text, anything else text.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cqox.server.problems import NotFoundError


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def preview_rows(path: Path, rows: int) -> dict[str, Any]:
    """``{"columns": [...], "rows": [[...], ...]}`` of the first ``rows`` rows of ``path``."""
    if not path.exists():
        raise NotFoundError("the dataset's file is no longer stored")
    parquet = pq.ParquetFile(path)
    columns = list(parquet.schema_arrow.names)
    batch = next(parquet.iter_batches(batch_size=rows), None)
    if batch is None:
        return {"columns": columns, "rows": []}
    data = batch.to_pydict()
    n = min(rows, batch.num_rows)
    return {"columns": columns, "rows": [[_cell(data[c][i]) for c in columns] for i in range(n)]}
