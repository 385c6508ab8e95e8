"""The OLS solves call LAPACK directly and give the old results bit for bit.

``cqox.nuisance.ols`` used ``np.triu`` on every ``geqrf`` block and
``scipy.linalg.solve_triangular`` for the coefficients and ``R⁻¹``; it now zeroes the
lower triangle through a cached mask and calls ``dtrtrs`` as ``solve_triangular`` does.
The old code is kept here as the reference; every output (values, bits, layout) and
every error (type and text) must be the same over many designs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from scipy.linalg import lapack, solve_triangular

from cqox.nuisance import ols

# --- the old implementation, compact -------------------------------------------------


def _old_r(blocks: Iterator[np.ndarray], width: int) -> np.ndarray:
    R = np.zeros((0, width))
    for block in blocks:
        if block.shape[0] == 0:
            continue
        buf = np.empty((R.shape[0] + block.shape[0], width), order="F")
        buf[: R.shape[0]] = R
        buf[R.shape[0] :] = block
        qr, _tau, _work, info = lapack.dgeqrf(buf, overwrite_a=1)
        assert info == 0
        R = np.triu(qr[: min(qr.shape[0], width)])
    if R.shape[0] < width:
        R = np.vstack([R, np.zeros((width - R.shape[0], width))])
    return R[:width]


def _old_rows(Z: Callable[[slice], np.ndarray], n: int, y: np.ndarray) -> Iterator[np.ndarray]:
    for a in range(0, n, ols.QR_BLOCK):
        rows = slice(a, min(a + ols.QR_BLOCK, n))
        yield np.column_stack([Z(rows), y[rows]])


def _old_least_squares(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    n, k = Z.shape
    if n >= k > 0:
        R = _old_r(_old_rows(lambda rows: Z[rows], n, y), k + 1)
        r = R[:k, :k]
        d = np.abs(np.diag(r))
        if d.min() > ols.QR_RANK_TOLERANCE * d.max():
            return solve_triangular(r, R[:k, k]), r
    coef, *_ = np.linalg.lstsq(Z, y, rcond=None)
    return coef, None


def _old_least_squares_blocks(
    design: Callable[[slice], np.ndarray], n: int, k: int, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    if n >= k > 0:
        R = _old_r(_old_rows(design, n, y), k + 1)
        r = R[:k, :k]
        d = np.abs(np.diag(r))
        if d.min() > ols.QR_RANK_TOLERANCE * d.max():
            return solve_triangular(r, R[:k, k]), r
    return _old_least_squares(design(slice(None)), y)


def _old_fit_ols(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    coef, r = _old_least_squares(Z, y)
    resid = y - Z @ coef
    n = Z.shape[0]
    if r is not None:
        r_inv = solve_triangular(r, np.eye(r.shape[0]))
        bread = n * (r_inv @ r_inv.T)
    else:
        bread = np.linalg.pinv(Z.T @ Z / n)
    return coef, resid, bread


def _old_fit_ols_rows(X: np.ndarray, y: np.ndarray, rows: np.ndarray | None) -> tuple:
    idx = np.arange(X.shape[0]) if rows is None else rows
    n_rows, k = len(idx), X.shape[1] + 1
    if n_rows >= k > 0:
        blocks = (
            np.column_stack([np.ones(len(c)), X[c], y[c]])
            for c in (idx[a : a + ols.QR_BLOCK] for a in range(0, n_rows, ols.QR_BLOCK))
        )
        R = _old_r(blocks, k + 1)
        r = R[:k, :k]
        d = np.abs(np.diag(r))
        if d.min() > ols.QR_RANK_TOLERANCE * d.max():
            coef = solve_triangular(r, R[:k, k])
            resid = y[idx] - ols.rows_dot(X, idx, coef)
            r_inv = solve_triangular(r, np.eye(k))
            return coef, resid, n_rows * (r_inv @ r_inv.T)
    return _old_fit_ols(ols.with_intercept(X[idx]), y[idx])


# --- comparison ----------------------------------------------------------------------


def _run(f: Callable[..., Any], *args: Any) -> Any:
    try:
        out = f(*args)
    except Exception as exc:  # the error itself is compared
        return ("error", type(exc), str(exc))
    if isinstance(out, ols.OLSFit):
        return (out.coef, out.resid, out.bread)
    return out


def _assert_same(new: Any, old: Any) -> None:
    if isinstance(old, tuple) and old and isinstance(old[0], str):
        assert new == old
        return
    if isinstance(old, np.ndarray):
        assert isinstance(new, np.ndarray)
        assert new.shape == old.shape and new.dtype == old.dtype
        assert new.flags.c_contiguous == old.flags.c_contiguous
        assert new.flags.f_contiguous == old.flags.f_contiguous
        assert new.tobytes() == old.tobytes()  # every bit, NaNs and signed zeros included
        assert np.array_equal(new, old, equal_nan=True)
        return
    if old is None:
        assert new is None
        return
    assert isinstance(new, tuple) and len(new) == len(old)
    for a, b in zip(new, old, strict=True):
        _assert_same(a, b)


def _design(rng: np.random.Generator, n: int, k: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    Z = rng.standard_normal((n, k))
    if kind == "ill" and k > 1:
        Z *= np.logspace(-7, 7, k)
        Z[:, -1] = Z[:, 0] * 1e7 + 1e-6 * rng.standard_normal(n)
    elif kind == "deficient" and k > 1:
        Z[:, -1] = 2.0 * Z[:, 0]
    elif kind == "constant":
        Z[:, 0] = 1.0
        if k > 1:
            Z[:, 1] = 1.0
    y = Z @ rng.standard_normal(k) + rng.standard_normal(n)
    if kind == "nan_y":
        y[n // 2] = np.nan
    elif kind == "inf_y":
        y[0] = np.inf
    elif kind == "nan_z":
        Z[n - 1, k - 1] = np.nan
    elif kind == "inf_z":
        Z[n // 3, 0] = -np.inf
    return Z, y


SIZES = [(5, 1), (5, 5), (6, 5), (30, 3), (200, 12), (999, 60), (2048, 7), (2049, 7)]
SIZES += [(4100, 20), (6000, 1), (10_000, 53), (20_000, 60)]
# NaN or inf in the design reach the SVD fallback (LAPACK gelsd), which may not return:
# the finiteness check of the QR path is exercised through y and _check_finite instead
KINDS = ["plain", "ill", "deficient", "constant", "nan_y", "inf_y"]


@pytest.mark.parametrize(("n", "k"), SIZES)
def test_least_squares_and_fit_ols_are_bit_identical_to_solve_triangular(n: int, k: int) -> None:
    rng = np.random.default_rng(n * 100 + k)
    for kind in KINDS if n * k <= 250_000 else ["plain", "ill", "nan_y"]:
        Z, y = _design(rng, n, k, kind)
        for layout in (Z, np.asfortranarray(Z)):
            _assert_same(
                _run(ols.least_squares, layout, y),
                _run(_old_least_squares, layout, y),
            )
            _assert_same(_run(ols.fit_ols, layout, y), _run(_old_fit_ols, layout, y))
            _assert_same(
                _run(ols.r_factor, layout, y),
                _run(_old_r, _old_rows(layout.__getitem__, n, y), k + 1),
            )


@pytest.mark.parametrize(("n", "k"), SIZES)
def test_fit_ols_rows_and_least_squares_blocks_are_bit_identical(n: int, k: int) -> None:
    rng = np.random.default_rng(n * 100 + k + 7)
    for kind in KINDS if n * k <= 250_000 else ["plain", "deficient", "inf_y"]:
        X, y = _design(rng, n, k, kind)
        rows = (
            np.sort(rng.choice(n, size=max(k + 2, (3 * n) // 4), replace=False))
            if n > k + 2
            else None
        )
        for layout in (X, np.asfortranarray(X)):
            for sel in (None, rows):
                _assert_same(
                    _run(ols.fit_ols_rows, layout, y, sel),
                    _run(_old_fit_ols_rows, layout, y, sel),
                )
            _assert_same(
                _run(ols.least_squares_blocks, layout.__getitem__, n, k, y),
                _run(_old_least_squares_blocks, layout.__getitem__, n, k, y),
            )


def test_r_factor_blocks_and_stack_r_keep_triu_values_and_layout() -> None:
    rng = np.random.default_rng(3)
    for width in (1, 2, 9, 33, 61):
        # blocks shorter than the width (R with fewer rows than columns) and taller ones
        blocks = [rng.standard_normal((m, width)) for m in (1, width // 2, 3 * width, 2500)]
        blocks.append(np.asfortranarray(rng.standard_normal((7, width))))
        _assert_same(ols.r_factor_blocks(iter(blocks), width), _old_r(iter(blocks), width))
        factors = [
            ols.r_factor_blocks(iter(blocks[:2]), width),
            ols.r_factor_blocks(iter(blocks[2:]), width),
        ]
        _assert_same(ols.stack_r(iter(factors), width), _old_r(iter(factors), width))
        acc = ols.RFactor(width)
        for b in blocks:
            acc.add(b)
        _assert_same(acc.result(), _old_r(iter(blocks), width))


def test_solve_upper_raises_what_solve_triangular_raises_for_a_singular_factor() -> None:
    r = np.triu(np.random.default_rng(0).standard_normal((6, 6)))
    r[3, 3] = 0.0
    b = np.ones(6)
    for a in (r, np.asfortranarray(r), r[:5, :5], np.ascontiguousarray(r)[::1, ::1]):
        old = _run(solve_triangular, a, b[: a.shape[0]])
        assert old[0] == "error" and old[1] is np.linalg.LinAlgError
        _assert_same(_run(ols._solve_upper, a, b[: a.shape[0]]), old)
    bad = r.copy()
    bad[0, 5] = np.nan
    old = _run(solve_triangular, bad, b)
    _assert_same(_run(lambda: (ols._check_finite(bad, b), ols._solve_upper(bad, b))[1]), old)
