"""The preparation's shifted Gram matrix, reused by the propensity fit of the same X.

Proves that :class:`CausalData` carries the Gram matrix of its final ``X`` (after
constant and collinear covariates are dropped); that the propensity fit given it equals
the fit that forms its own Gram product to 1e-12 (coefficients, probabilities,
information, iterations), logit and probit; that any other matrix — a row subset, a
copy, a column subset — never reuses it; and that psm and ipw estimates, SEs and gates
are the same with and without it.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.roles import Roles
from cqox.data import prepare as prepare_module
from cqox.data.gram import ShiftedGram
from cqox.data.prepare import prepare
from cqox.nuisance import glm
from cqox.nuisance.glm import fit_binary

#: Two summation orders of the same numbers.
SAME = 1e-12


def _table(n: int = 2000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)) * np.linspace(0.5, 3.0, 6) + np.linspace(0.0, 40.0, 6)
    index = 0.5 * (X[:, 0] - X[:, 0].mean()) - 0.2 * (X[:, 1] - X[:, 1].mean())
    t = (rng.random(n) < 1 / (1 + np.exp(-index))).astype(float)
    y = X[:, 0] + 2.0 * t + rng.standard_normal(n)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(6)])
    df["const"] = 7.0  # dropped: constant
    df["dup"] = 2.0 * df["x2"] - df["x3"]  # dropped: collinear
    df["y"], df["t"] = y, t
    return df


def _data():  # type: ignore[no-untyped-def]
    df = _table()
    roles = Roles(outcome="y", treatment="t", covariates=(*df.columns[:6], "const", "dup"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare(df, roles)
    assert set(data.dropped) == {"const", "dup"}
    return data


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, rtol=SAME, atol=SAME))


def test_prepared_gram_is_of_the_final_X() -> None:
    data = _data()
    assert data.covariate_names == [f"x{j}" for j in range(6)]
    gram = data.gram
    assert isinstance(gram, ShiftedGram) and gram.is_of(data.X)
    D = data.X - data.X[0]
    assert _close(gram.gram, D.T @ D) and _close(gram.total, D.sum(axis=0))
    centred, sums = gram.centred(data.X.mean(axis=0))
    C = data.X - data.X.mean(axis=0)
    assert np.allclose(centred, C.T @ C, rtol=SAME, atol=1e-9)
    assert np.allclose(sums, 0.0, atol=1e-9)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_reused_gram_gives_the_same_fit(link: str) -> None:
    data = _data()
    assert data.t is not None
    fresh = fit_binary(data.X, data.t, link)
    reused = fit_binary(data.X, data.t, link, data.gram)
    assert fresh.n_iter == reused.n_iter
    assert _close(fresh.coef, reused.coef)
    assert _close(fresh.p_hat, reused.p_hat)
    assert _close(fresh.hessian, reused.hessian)


def test_reuse_skips_the_gram_product(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data()
    seen: list[bool] = []
    original = glm._standardised_design

    def spy(X, shifted=None):  # type: ignore[no-untyped-def]
        seen.append(shifted is not None and shifted.is_of(X))
        return original(X, shifted)

    monkeypatch.setattr(glm, "_standardised_design", spy)
    assert data.t is not None
    fit_binary(data.X, data.t, "logit", data.gram)
    fit_binary(data.X[:1500], data.t[:1500], "logit", data.gram)  # row subset
    fit_binary(data.X.copy(), data.t, "logit", data.gram)  # equal values, other object
    fit_binary(data.X[:, :4], data.t, "logit", data.gram)  # column subset
    assert seen == [True, False, False, False]


def test_a_subset_never_reuses() -> None:
    data = _data()
    assert data.gram is not None
    keep = np.arange(data.n) % 3 != 0
    sub = data.X[keep]
    assert not data.gram.is_of(sub)
    assert not data.gram.is_of(data.X.copy())
    assert not data.gram.is_of(np.asarray(data.X[:, :3]))
    # a replaced X on the same CausalData: the stale Gram matrix is not of it
    other = dataclasses.replace(data, X=data.X * 2.0)
    assert other.gram is not None and not other.gram.is_of(other.X)


@pytest.mark.parametrize("method", ["psm", "ipw"])
def test_estimates_unchanged_by_reuse(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    df = _table()
    covariates = [f"x{j}" for j in range(6)]
    with_gram = cqox.estimate(method, df, outcome="y", treatment="t", covariates=covariates)
    original = prepare_module._drop_degenerate

    def without(design, by_column):  # type: ignore[no-untyped-def]
        kept, dropped, _ = original(design, by_column)
        return kept, dropped, None

    monkeypatch.setattr(prepare_module, "_drop_degenerate", without)
    fresh = cqox.estimate(method, df, outcome="y", treatment="t", covariates=covariates)
    assert with_gram.estimate == pytest.approx(fresh.estimate, rel=SAME, abs=SAME)
    assert with_gram.se == pytest.approx(fresh.se, rel=SAME, abs=SAME)
    assert [(g.name, g.status) for g in with_gram.gates] == [
        (g.name, g.status) for g in fresh.gates
    ]
    for a, b in zip(with_gram.gates, fresh.gates, strict=True):
        assert a.value == pytest.approx(b.value, rel=SAME, abs=SAME, nan_ok=True)
