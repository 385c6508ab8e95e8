"""Compiled nearest-neighbour residuals of the RD variance (``vce="nn"``).

Kept apart from :mod:`cqox.estimators.rd.local_poly` so that Numba is imported when an
RD variance is computed, not when the estimator registry is listed.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def nn_residuals(
    x: np.ndarray, Y: np.ndarray, dups: np.ndarray, dupsid: np.ndarray, matches: int
) -> np.ndarray:  # pragma: no cover - compiled
    """Nearest-neighbour residuals ``√(J/(J+1))·(Y_i − mean of its J neighbours)``.

    ``x`` is sorted; the window around ``i`` starts with ``i``'s ties and grows by whole
    tie groups towards the nearer side (both when equidistant) until it holds at least
    ``matches`` other rows (Abadie & Imbens 2006; CCT 2014, §3).
    """
    n, k = Y.shape
    out = np.zeros((n, k))
    tol = np.sqrt(np.finfo(np.float64).eps)
    cap = matches if matches < n - 1 else n - 1
    for i in range(n):
        right = dups[i] - dupsid[i]
        left = dupsid[i] - 1
        while left + right < cap:
            if i - left - 1 < 0:
                right += dups[i + right + 1]
            elif i + right + 1 >= n:
                left += dups[i - left - 1]
            else:
                dl = x[i] - x[i - left - 1]
                dr = x[i + right + 1] - x[i]
                eps = (dl if dl > dr else dr) * tol
                if dl - dr > eps:
                    right += dups[i + right + 1]
                elif dr - dl > eps:
                    left += dups[i - left - 1]
                else:
                    right += dups[i + right + 1]
                    left += dups[i - left - 1]
        lo = i - left
        hi = i + right + 1
        J = hi - lo - 1
        f = (J / (J + 1.0)) ** 0.5
        for col in range(k):
            s = 0.0
            for j in range(lo, hi):
                s += Y[j, col]
            s -= Y[i, col]
            out[i, col] = f * (Y[i, col] - s / J)
    return out
