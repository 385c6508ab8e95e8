"""Isotonic calibration of scores without scikit-learn (the same numbers, bit for bit).

:func:`isotonic_fit_predict` is ``IsotonicRegression(y_min=0, y_max=1,
out_of_bounds="clip").fit(x, y).predict(x)`` of scikit-learn, step for step: sort by
``x``; pool values of ``x`` closer than the float64 resolution (``1e-15``) to the
first value of their group, with the mean of ``y`` as the group's target and its size
as its weight; pool-adjacent-violators on the groups (:func:`scipy.optimize.
isotonic_regression`, which scikit-learn calls too); clip to ``[0, 1]``; drop interior
knots whose value equals both neighbours; interpolate linearly (:func:`numpy.interp`,
which is SciPy's ``interp1d`` for this case).  Importing scikit-learn costs about
0.2 s in a fresh process, more than the calibration itself.
"""

from __future__ import annotations

import numpy as np

#: scikit-learn's tie resolution for ``x`` (``np.finfo(np.float64).resolution``).
X_RESOLUTION = float(np.finfo(np.float64).resolution)


def _groups(x_sorted: np.ndarray) -> np.ndarray:
    """Group number of each sorted ``x``: a group holds values ``< 1e-15`` above its first."""
    n = x_sorted.shape[0]
    gaps = np.diff(x_sorted)
    if bool(np.all(gaps[gaps > 0] >= X_RESOLUTION)):
        # the usual case: only exact ties pool, and each distinct value starts a group
        starts = np.r_[True, gaps > 0]
        return np.cumsum(starts) - 1
    # values a few ulps apart: scikit-learn's sequential rule, x − (group's first) ≥ eps
    group = np.empty(n, np.int64)
    g = 0
    first = x_sorted[0]
    for j in range(n):
        if x_sorted[j] - first >= X_RESOLUTION:
            g += 1
            first = x_sorted[j]
        group[j] = g
    return group


def isotonic_fit_predict(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-decreasing least-squares fit of ``y`` on ``x`` in ``[0, 1]``, at ``x``.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Scores (e.g. cross-fitted propensities).
    y : ndarray, shape (n,)
        Targets (e.g. the treatment indicator).

    Returns
    -------
    ndarray, shape (n,)
        The calibrated scores (scikit-learn's ``IsotonicRegression`` with
        ``y_min=0, y_max=1, out_of_bounds="clip"``, fitted and predicted on ``x``).
    """
    from scipy.optimize import isotonic_regression

    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    order = np.lexsort((y, x))
    xs, ys = x[order], y[order]
    group = _groups(xs)
    n_groups = int(group[-1]) + 1
    first = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    knots_x = xs[first]
    weight = np.bincount(group, minlength=n_groups).astype(np.float64)
    # the group sums in the order scikit-learn adds them (sequentially, in sorted order)
    sums = np.add.reduceat(ys, first) if n_groups else np.zeros(0)
    fitted = np.asarray(isotonic_regression(sums / weight, weights=weight).x, dtype=np.float64)
    np.clip(fitted, 0.0, 1.0, out=fitted)
    x_min, x_max = float(knots_x.min()), float(knots_x.max())
    keep = np.ones(n_groups, bool)
    keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    kx, ky = knots_x[keep], fitted[keep]
    if ky.shape[0] == 1:
        return np.repeat(ky, x.shape[0])
    return np.interp(np.clip(x, x_min, x_max), kx, ky)
