"""The shifted Gram matrix of a covariate matrix, computed once and shared.

:func:`cqox.data.prepare.prepare` forms it to find constant and collinear covariates;
the propensity fit (:func:`cqox.nuisance.glm.fit_binary`) needs the same product of the
same columns for its standardisation and preconditioner, and takes it from here when it
is for the very same matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class ShiftedGram:
    """``D'D`` and ``D'1`` of ``D = X − 1 x₁'``, the columns shifted by their first row.

    O(k²) memory: it refers to ``X`` (no copy) only to recognise it.  The centred Gram
    matrix about any centre ``m`` follows exactly: with ``δ = m − x₁``,
    ``(X − 1m')'(X − 1m') = D'D − δ s' − s δ' + n δδ'`` and ``(X − 1m')'1 = s − nδ``
    (``s = D'1``).  Read-only: ``X`` must not change after it is formed.

    Attributes
    ----------
    X : ndarray, shape (n, k)
        The matrix it is of (identity, not value, decides :meth:`is_of`).
    first : ndarray, shape (k,)
        The shift, ``x₁`` (the first row of ``X``).
    total : ndarray, shape (k,)
        Column sums of ``D``.
    gram : ndarray, shape (k, k)
        ``D'D``.
    """

    X: np.ndarray
    first: np.ndarray
    total: np.ndarray
    gram: np.ndarray

    def is_of(self, X: np.ndarray) -> bool:
        """Whether this is the Gram matrix of ``X``: the same object of the same shape.

        A subset, a trimmed or reordered copy, or any other matrix is a different
        object and gets ``False`` (its Gram matrix must be recomputed).
        """
        k = self.gram.shape[0]
        return X is self.X and X.shape == (self.X.shape[0], k) and self.total.shape == (k,)

    def centred(self, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``((X − 1m')'(X − 1m'), (X − 1m')'1)`` for ``m = centre``."""
        n = self.X.shape[0]
        delta = centre - self.first
        cross = np.outer(delta, self.total)
        gram = self.gram - cross - cross.T + n * np.outer(delta, delta)
        return gram, self.total - n * delta

    def subset(self, keep: list[int], X: np.ndarray) -> ShiftedGram:
        """The Gram matrix of the columns ``keep`` of the matrix, ``X`` being those columns."""
        idx = np.asarray(keep, dtype=np.intp)
        return ShiftedGram(X, self.first[idx], self.total[idx], self.gram[np.ix_(idx, idx)])
