"""``causal_forest`` against EconML's generalized random forest on the same data.

Both forests see the same centred outcome and treatment (``Ỹ = Y − m(X)``,
``W̃ = T − e(X)`` with the design's true nuisances), so they estimate the same
``τ(x) = Cov(W̃, Ỹ | x)/Var(W̃ | x)``; they differ in their random subsamples,
splitting details (EconML splits on exact values, we on ≤ 255 quantile bins) and
Monte-Carlo noise of finitely many trees.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cqox.estimators.cate.forest import ForestParams, grow
from cqox.simulate.cate import wager_athey_2018
from tests.reference.golden import ECONML

pytestmark = pytest.mark.reference

#: The issue's bar with 4,000 trees each: τ̂ correlation at least 0.95.
CORR_FULL = 0.95
#: With 500 trees each the Monte-Carlo noise of the two forests lowers the
#: correlation (measured 0.97 at n = 2000); the bounded run asks for 0.9.
CORR_BOUNDED = 0.90


def _compare(n_trees: int, corr_min: float) -> None:
    df, truth = wager_athey_2018("heterogeneous", n=2000, p=6, seed=7)
    X = df[[f"x{j}" for j in range(1, 7)]].to_numpy()
    t, y = df["t"].to_numpy(float), df["y"].to_numpy()
    w_res = t - 0.5
    y_res = y - 0.0  # m(x) = E[Y | X] = 0 in this design
    ours, codes = grow(X, y_res, w_res, ForestParams(n_trees=n_trees, seed=3, n_threads=2))
    tau_ours, _ = ours.predict_oob(codes)

    def fit() -> dict[str, np.ndarray]:
        from econml.grf import CausalForest

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer = CausalForest(
                n_estimators=n_trees,
                criterion="het",
                min_samples_leaf=5,
                max_samples=0.5,
                honest=True,
                inference=True,
                subforest_size=2,
                random_state=3,
                n_jobs=1,
            ).fit(X, w_res, y_res)
            return {"tau": peer.oob_predict(X).ravel()}

    tau_peer = np.asarray(ECONML.outputs(f"cate/grf-causal-forest-{n_trees}", fit)["tau"])
    corr = float(np.corrcoef(tau_ours, tau_peer)[0, 1])
    assert corr >= corr_min, corr
    # averages within Monte-Carlo error: the SE of a mean of unit effects
    ate_ours, ate_peer = float(tau_ours.mean()), float(tau_peer.mean())
    mc = float(np.std(tau_ours - tau_peer) / np.sqrt(len(y)))
    assert abs(ate_ours - ate_peer) < 4 * mc + 0.02, (ate_ours, ate_peer, mc)
    # both are close to the truth (not only to each other)
    rmse_ours = float(np.sqrt(np.mean((tau_ours - truth["tau"]) ** 2)))
    rmse_peer = float(np.sqrt(np.mean((tau_peer - truth["tau"]) ** 2)))
    assert rmse_ours <= 1.15 * rmse_peer, (rmse_ours, rmse_peer)


@pytest.mark.ci_bounded
def test_forest_matches_econml_grf_500_trees() -> None:
    _compare(500, CORR_BOUNDED)


@pytest.mark.slow
def test_forest_matches_econml_grf_4000_trees() -> None:
    _compare(4000, CORR_FULL)
