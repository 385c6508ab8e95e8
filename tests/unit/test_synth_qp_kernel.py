"""The synthetic-control QP kernel solves its KKT systems by LAPACK directly.

:func:`cqox.estimators.synth._qp._solve` calls the ``dgesv`` wrapper that Numba's
``np.linalg.solve`` calls, on the same column-major bytes, so the weights are those
of the code that used ``np.linalg.solve`` in the kernel (CQOx 3844830: the reference
values below), and bad input fails the same way.  (On a Numba without that wrapper
``_solve`` is ``np.linalg.solve`` itself: ``test_synth_qp_route.py`` runs
:func:`kernel_values` on that route too.)
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from cqox.estimators.synth import _qp
from cqox.estimators.synth._qp import _min, _solve, simplex_qp

#: The same LAPACK call on the same bytes gives the same bits; the tolerance only
#: covers printing the reference values to 17 digits.
REL_TOL = 1e-12

#: (donors J, predictors m) → objective, active-set steps, Σ_j j·w_j of
#: :func:`simplex_qp`, then the loss and Σ_j j·w_j of :func:`nested_loss`
#: (penalty 0.2), computed by the ``np.linalg.solve`` kernel (CQOx 3844830).
REFERENCE = {
    (1, 3): (0.0027828233576857597, 1, 1.0, 0.9876063347001861, 1.0),
    (5, 2): (0.1903620101854036, 3, 2.7120438560137075, 1.101690364438025, 2.4597952437763277),
    (12, 8): (-0.5772819017519386, 12, 5.064407551514472, 1.3795085275648162, 4.602329992566075),
    (25, 40): (-3.3900792281892667, 21, 13.29012930393365, 0.6443060389880436, 13.990953718502944),
}


def kernel_values(qp: ModuleType) -> list[tuple[int, float, float, float, float]]:
    """Per design of :data:`REFERENCE` (in order): what ``qp``'s kernels give.

    Active-set steps, objective and Σ_j j·w_j of ``qp.simplex_qp``, then the loss and
    Σ_j j·w_j of ``qp.nested_loss``; ``qp`` is :mod:`cqox.estimators.synth._qp` or a
    copy of it (another KKT solver).
    """
    rng = np.random.default_rng(11)
    out = []
    for J, m in REFERENCE:  # in order: one generator
        A = rng.normal(size=(m, J))
        V = np.diag(rng.uniform(0.01, 1, m))
        b = rng.normal(size=m)
        r = qp.simplex_qp(A.T @ V @ A, -A.T @ V @ b)
        theta = rng.normal(size=m)
        Z0 = rng.normal(size=(6, J))
        Z1 = rng.normal(size=6)
        loss, w = qp.nested_loss(theta, A, b, Z0, Z1, 0.2, 500)
        j = np.arange(1, J + 1)
        out.append((r.iterations, r.objective, float(r.w @ j), float(loss), float(w @ j)))
    return out


def test_the_qp_and_the_nested_loss_equal_the_np_linalg_solve_kernels() -> None:
    for got, want in zip(kernel_values(_qp), REFERENCE.values(), strict=True):
        assert got[0] == want[1]
        assert got[1:] == pytest.approx((want[0], want[2], want[3], want[4]), rel=REL_TOL)


def test_solve_takes_the_transposed_matrix_and_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 30):
        A = rng.normal(size=(n, n)) + n * np.eye(n)
        b = rng.normal(size=n)
        x = _solve(np.ascontiguousarray(A.T), b.copy())
        np.testing.assert_allclose(A @ x, b, rtol=0, atol=1e-12 * n)
        np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_system_is_refused_as_by_np_linalg_solve(bad: float) -> None:
    P = np.eye(3)
    P[0, 1] = bad
    with pytest.raises(np.linalg.LinAlgError, match="infs or NaNs"):
        simplex_qp(P, np.array([-1.0, 0.0, 0.5]))


def test_a_singular_system_is_refused_as_by_np_linalg_solve() -> None:
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        _solve(np.ones((2, 2)), np.ones(2))


def test_the_loop_minimum_is_numpys_nan_included() -> None:
    rng = np.random.default_rng(5)
    for x in (
        np.array([2.0]),
        rng.normal(size=9),
        np.array([3.0, np.nan, -1.0]),
        np.array([np.nan, -5.0]),
        np.array([1.0, -np.inf, 0.0]),
    ):
        assert np.array_equal(_min(x), np.min(x), equal_nan=True)
