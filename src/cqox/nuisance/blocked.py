"""Column moments and Gram matrices accumulated over blocks of rows.

At a million rows an ``n × k`` temporary is as large as the covariates themselves:
``X.std(axis=0)`` allocates ``X − x̄``, ``np.column_stack([1, X])`` a copy, and
``(Z * w[:, None]).T @ Z`` one more.  The functions here form one block of
:data:`ROW_BLOCK` rows at a time, so the memory beyond the data is one block, and the
sums are the same sums (accumulated in another order, so equal to rounding).

Each Gram matrix ``B'B`` of a block is computed by NumPy as BLAS ``syrk`` (it
recognises a product of an array with its own transpose), half the work of a general
product.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Rows per block: 16,384 rows of 50 columns are 6.5 MB, in cache-friendly reach and
#: large enough that the per-block Python overhead is negligible.
ROW_BLOCK = 16384


def row_blocks(n: int, size: int = ROW_BLOCK) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` rows covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class RowsOf:
    """Rows ``index`` of a matrix, gathered one block at a time instead of copied at once.

    ``RowsOf(X, index)[rows]`` is ``X[index[rows]]``: code that reads its matrix by
    blocks of rows (``X[a:b]``, ``X[positions]``) works on a subset of the rows, e.g. one
    stratum, with one block in memory instead of an ``n_s × p`` copy.
    """

    def __init__(self, X: np.ndarray, index: np.ndarray) -> None:
        self.X = X
        self.index = np.asarray(index)

    @property
    def shape(self) -> tuple[int, int]:
        """``(len(index), X.shape[1])``."""
        return (len(self.index), self.X.shape[1])

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows: slice | np.ndarray) -> np.ndarray:
        return np.asarray(self.X[self.index[rows]])


def column_mean(X: np.ndarray | RowsOf, rows: np.ndarray | None = None) -> np.ndarray:
    """Mean of each column over the rows where ``rows`` (a 0/1 mask; default all).

    Summed block by block, so no copy of the selected rows: ``X[mask].mean(axis=0)``
    to rounding.
    """
    n, p = X.shape
    total = np.zeros(p)
    count = 0
    for block in row_blocks(n):
        part = X[block]
        if rows is None:
            total += part.sum(axis=0)
            count += len(part)
        else:
            mine = rows[block].astype(bool, copy=False)
            total += part[mine].sum(axis=0)
            count += int(np.count_nonzero(mine))
    return total / count if count else np.full(p, np.nan)


def column_mean_sd(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population SD (``ddof=0``) of each column, without an ``n × p`` copy.

    Equal to ``(X.mean(axis=0), X.std(axis=0))`` to rounding: the SD is the root of the
    mean squared deviation from the mean (two passes, as NumPy computes it), summed
    block by block.
    """
    n, p = X.shape
    mean = X.mean(axis=0) if n else np.full(p, np.nan)
    squares = np.zeros(p)
    scratch = np.empty((min(n, ROW_BLOCK), p))  # one block, reused
    for rows in row_blocks(n):
        dev = scratch[: rows.stop - rows.start]
        np.subtract(X[rows], mean, out=dev)
        squares += np.einsum("ij,ij->j", dev, dev)
    return mean, np.sqrt(squares / n) if n else np.full(p, np.nan)


def design_gram(
    X: np.ndarray,
    extra: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    center: np.ndarray | None = None,
) -> np.ndarray:
    """``B' diag(w) B`` for ``B = [1, X − c, extra]`` (``w ≥ 0``), shape (k, k).

    ``extra`` (shape (n,) or (n, m)) appends columns such as the response, whose
    cross-products with the design are ``B'y``; ``center`` (shape (p,)) is subtracted
    from the columns of ``X`` (none by default); ``weights`` default to one.
    """
    n, p = X.shape
    more = 0 if extra is None else (1 if extra.ndim == 1 else extra.shape[1])
    k = 1 + p + more
    out = np.zeros((k, k))
    root = None if weights is None else np.sqrt(weights)
    for rows in row_blocks(n):
        block = np.empty((rows.stop - rows.start, k))
        block[:, 0] = 1.0
        if center is None:
            block[:, 1 : p + 1] = X[rows]
        else:
            np.subtract(X[rows], center, out=block[:, 1 : p + 1])
        if extra is not None:
            block[:, p + 1 :] = extra[rows].reshape(len(block), more)
        if root is not None:
            block *= root[rows, None]
        out += block.T @ block
    return out


def centred_gram(X: np.ndarray, center: np.ndarray) -> np.ndarray:
    """``(X − c)'(X − c)``, shape (p, p), over blocks of rows."""
    p = X.shape[1]
    out = np.zeros((p, p))
    for rows in row_blocks(X.shape[0]):
        dev = X[rows] - center
        out += dev.T @ dev
    return out


__all__ = [
    "ROW_BLOCK",
    "RowsOf",
    "centred_gram",
    "column_mean",
    "column_mean_sd",
    "design_gram",
    "row_blocks",
]
