"""The batched bootstrap refits equal one refit per replicate."""

from __future__ import annotations

import numpy as np
import pytest

from cqox.estimators.backdoor.g_computation import (
    bootstrap_linear,
    bootstrap_logistic,
    fit_outcome_model,
    standardise,
)

#: Same least-squares / Newton solutions computed two ways.
SAME_FIT = 1e-8


def _data(binary: bool) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    n = 300
    X = rng.standard_normal((n, 3))
    t = (rng.random(n) < 0.5).astype(float)
    eta = 0.3 + X @ np.array([0.5, -0.4, 0.2]) + 0.6 * t
    y = (
        (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
        if binary
        else eta + rng.standard_normal(n)
    )
    counts = rng.multinomial(n, np.full(n, 1 / n), size=5).astype(float)
    return y, t, X, counts


@pytest.mark.parametrize("interactions", [True, False])
@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_batched_bootstrap_equals_refit_per_replicate(kind: str, interactions: bool) -> None:
    y, t, X, counts = _data(kind == "logistic")
    target = t == 1
    full = fit_outcome_model(y, t, X, kind, interactions)
    if kind == "linear":
        got = bootstrap_linear(y, t, X, target, interactions, counts)
    else:
        got = bootstrap_logistic(y, t, X, target, full, counts)
    for b, w in enumerate(counts):
        model = fit_outcome_model(y, t, X, kind, interactions, w, start=full)
        assert got[b] == pytest.approx(standardise(model, X, target, w), rel=SAME_FIT)


def test_replicate_counts_do_not_depend_on_the_draw_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    from cqox.estimators.backdoor import g_computation as gc

    whole = gc.resample_counts(np.random.default_rng(3), 500, 40)
    monkeypatch.setattr(gc, "DRAW_CHUNK", 1200)  # two replicates per call
    chunked = gc.resample_counts(np.random.default_rng(3), 500, 40)
    np.testing.assert_array_equal(whole, chunked)
    assert whole.dtype == np.uint8
    np.testing.assert_array_equal(whole.sum(axis=1), np.full(40, 500))


def test_replicate_counts_widen_when_a_count_exceeds_a_byte() -> None:
    from cqox.estimators.backdoor import g_computation as gc

    class AllOnFirstRow:
        # every draw lands on row 0: its count is n, beyond uint8's 255
        def integers(self, low: int, high: int, size: tuple[int, int]) -> np.ndarray:
            return np.zeros(size, np.int64)

    counts = gc.resample_counts(AllOnFirstRow(), 300, 3)  # type: ignore[arg-type]
    assert counts.dtype == np.uint16
    np.testing.assert_array_equal(counts[:, 0], np.full(3, 300))
    np.testing.assert_array_equal(counts[:, 1:], 0)


def test_block_sums_equal_dense_products(monkeypatch: pytest.MonkeyPatch) -> None:
    from cqox.estimators.backdoor import g_computation as gc

    y, t, X, counts = _data(False)
    dense = fit_outcome_model(y, t, X, "linear", True)
    monkeypatch.setattr(gc, "GRAM_BLOCK", 7)  # many ragged blocks
    got = bootstrap_linear(y, t, X, t == 1, True, counts.astype(np.uint16))
    for b, w in enumerate(counts):
        model = fit_outcome_model(y, t, X, "linear", True, w, start=dense)
        assert got[b] == pytest.approx(standardise(model, X, t == 1, w), rel=SAME_FIT)


@pytest.mark.parametrize(("binary", "expected"), [(False, "analytic"), (True, "bootstrap")])
def test_default_se_is_the_influence_function_for_the_linear_model(
    binary: bool, expected: str
) -> None:
    # se_method="auto": the linear outcome model's SE is the influence function's at any
    # size; the logistic model's is bootstrapped up to AUTO_BOOTSTRAP_MAX_ROWS rows
    import pandas as pd

    import cqox

    y, t, X, _ = _data(binary)
    df = pd.DataFrame({"y": y, "t": t, "a": X[:, 0], "b": X[:, 1], "c": X[:, 2]})
    kw = {"outcome": "y", "treatment": "t", "covariates": ["a", "b", "c"], "seed": 0}
    est = cqox.estimate("g_computation", df, n_boot=20, **kw)
    assert est.diagnostics["se_method"] == expected
    chosen = cqox.estimate("g_computation", df, n_boot=20, se_method=expected, **kw)
    assert (est.estimate, est.se) == (chosen.estimate, chosen.se)
