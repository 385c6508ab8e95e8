"""The tables of an estimate, built as DataFrames only when read: :class:`Tables`.

A small estimator's fit costs less than the pandas DataFrames of its tables
(``pd.DataFrame`` of five columns: ~100 µs; ``its`` at 1,000 rows fits in ~300 µs).  Most
callers read the estimate, its SE and its gates, never a table; the Analysis JSON
reads the columns directly.  So an estimator may hand a table as its columns (or as a
function that builds it), and the DataFrame is built the first time someone reads
``est.tables[name]`` — then kept, so every reader sees the same object.

Example
-------
>>> import numpy as np
>>> from cqox.core.tables import Tables
>>> tables = Tables(
...     coefficients={"term": ["a", "b"], "coef": np.array([1.0, 2.0])},
...     fit=lambda: pd.DataFrame({"x": [1, 2]}),
... )
>>> sorted(tables)                      # no DataFrame built yet
['coefficients', 'fit']
>>> tables["coefficients"]["coef"].tolist()   # built now, kept
[1.0, 2.0]
>>> tables_jsonable(tables)["coefficients"]
[{'term': 'a', 'coef': 1.0}, {'term': 'b', 'coef': 2.0}]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.jsonable import numpy_column, to_jsonable

#: What a table may be given as: a DataFrame, its columns (name → 1-D array or list, all
#: of one length), or a function of no arguments that returns the DataFrame.
TableSource = pd.DataFrame | Mapping[str, Any] | Callable[[], pd.DataFrame]


class Tables(Mapping[str, pd.DataFrame]):
    """A read-only mapping of table name → DataFrame whose DataFrames are built on first read.

    Parameters
    ----------
    tables : mapping, optional
        Name → :data:`TableSource`.
    **more : TableSource
        Further tables by keyword.

    Notes
    -----
    Columns become ``pd.DataFrame(columns)`` (a default ``RangeIndex``), exactly the
    table an estimator would have built itself; the arrays handed over belong to the
    table from then on (the estimator must not change them).  A builder is called once.
    :func:`tables_jsonable` gives the records of the Analysis JSON without building a
    DataFrame for columns that are NumPy numbers or text, byte-identical to the
    records of the built DataFrame.  A pickled ``Tables`` holds the built DataFrames
    (builders are functions, often closures, which pickle cannot carry).
    """

    __slots__ = ("_built", "_sources")

    def __init__(
        self, tables: Mapping[str, TableSource] | None = None, /, **more: TableSource
    ) -> None:
        self._sources: dict[str, TableSource] = {**(tables or {}), **more}
        self._built: dict[str, pd.DataFrame] = {}
        for name, source in self._sources.items():
            if isinstance(source, pd.DataFrame):
                self._built[name] = source
            elif isinstance(source, Mapping):
                _check_columns(name, source)
            elif not callable(source):
                raise TypeError(
                    f"table '{name}': expected a DataFrame, a mapping of columns or a "
                    f"function returning a DataFrame; got {type(source).__name__}"
                )

    def __getitem__(self, name: str) -> pd.DataFrame:
        built = self._built.get(name)
        if built is not None:
            return built
        source = self._sources[name]  # KeyError for an unknown name, as a dict
        if isinstance(source, pd.DataFrame):
            table = source
        elif isinstance(source, Mapping):
            table = pd.DataFrame(dict(source))
        else:
            table = source()
            if not isinstance(table, pd.DataFrame):
                raise TypeError(
                    f"table '{name}': the builder returned {type(table).__name__}, not a DataFrame"
                )
        self._built[name] = table
        return table

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def is_built(self, name: str) -> bool:
        """Whether the DataFrame of table ``name`` exists yet (given or already read)."""
        return name in self._built

    def columns(self, name: str) -> Mapping[str, Any] | None:
        """The columns table ``name`` was given as, or ``None`` (a DataFrame or a builder)."""
        source = self._sources[name]
        return source if isinstance(source, Mapping) else None

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Tables, (dict(self.items()),))


#: Column types pandas aligns on their index (built once: a union per column costs ~0.3 µs).
_PANDAS_ALIGNED = (pd.Series, pd.Index)
#: Sequences that are single values, not columns.
_TEXT = (str, bytes)


def _check_columns(name: str, columns: Mapping[str, Any]) -> None:
    """Columns of one length, each one-dimensional (what ``pd.DataFrame`` would accept)."""
    lengths = set()
    for col, values in columns.items():
        if type(values) is np.ndarray and values.ndim == 1:
            # the usual column (an estimator's own array): checked in one step, without
            # the isinstance tests below (~0.5 µs a column, a tenth of a table's cost)
            lengths.add(len(values))
            continue
        if isinstance(values, _PANDAS_ALIGNED):
            continue  # pandas aligns these on their index when it builds the table
        if isinstance(values, np.ndarray) and values.ndim != 1:
            raise ValueError(
                f"table '{name}': column '{col}' has shape {values.shape}; columns are 1-D"
            )
        if not hasattr(values, "__len__") or isinstance(values, _TEXT):
            raise TypeError(
                f"table '{name}': column '{col}' is a {type(values).__name__}, not a "
                "sequence of values"
            )
        lengths.add(len(values))
    if len(lengths) > 1:
        raise ValueError(
            f"table '{name}': columns of different lengths {sorted(lengths)}; every column "
            "of a table has one value per row"
        )


def _column_values(values: Any) -> list[Any] | None:
    """The JSON values of one given column without pandas, or ``None`` if pandas is needed.

    NumPy int/uint/bool/float arrays convert as :func:`cqox.core.jsonable.records`
    converts the same column of a DataFrame; a list or tuple of ``str`` is its own JSON.
    Anything else (Python numbers, ``None``, dates, objects) takes pandas' conversion.
    """
    if isinstance(values, np.ndarray):
        return numpy_column(values)
    if isinstance(values, list | tuple) and all(type(v) is str for v in values):
        return list(values)
    return None


def table_records(tables: Mapping[str, pd.DataFrame], name: str) -> list[dict[str, Any]]:
    """The JSON records of one table (see :func:`tables_jsonable`)."""
    if isinstance(tables, Tables) and not tables.is_built(name):
        columns = tables.columns(name)
        if columns is not None:
            converted = [_column_values(v) for v in columns.values()]
            if all(c is not None for c in converted):
                names = [str(c) for c in columns]
                return [dict(zip(names, row)) for row in zip(*converted)]  # noqa: B905
    return list(to_jsonable(tables[name]))


def tables_jsonable(tables: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """The ``tables`` entry of an estimate's JSON: name → list of records.

    Tables given as NumPy or text columns are read directly (no DataFrame is built);
    the records equal those of the DataFrame (:func:`cqox.core.jsonable.to_jsonable`).
    """
    if isinstance(tables, Tables):
        return {k: table_records(tables, k) for k in tables}
    return {k: to_jsonable(v) for k, v in tables.items()}
