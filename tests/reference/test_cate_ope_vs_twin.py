"""OPE estimators against a hand-written twin of Open Bandit Pipeline's formulas.

Open Bandit Pipeline (``obp``) does not install beside our pins, so its estimators'
``_estimate_round_rewards`` are re-written here, independently of our code, as OBP
documents them (``InverseProbabilityWeighting``, ``SelfNormalizedInverseProbability
Weighting``, ``DoublyRobust``, ``SwitchDoublyRobust``), on per-action arrays:
``action_dist`` (n, n_actions) of the deterministic target policy, ``pscore`` of the
logged action, ``estimated_rewards_by_reg_model`` (n, n_actions).
"""

from __future__ import annotations

import numpy as np
import pytest

from cqox.estimators.cate.ope import ope_estimates

pytestmark = pytest.mark.reference

#: Same arithmetic in a different order.
RTOL = 1e-12


def _obp_twin(
    reward: np.ndarray,
    action: np.ndarray,
    pscore: np.ndarray,
    action_dist: np.ndarray,
    q_hat: np.ndarray,
    lambda_: float,
) -> dict[str, float]:
    idx = np.arange(len(reward))
    iw = action_dist[idx, action] / pscore
    ipw = iw * reward
    snipw = iw * reward / iw.mean()
    q_pi = np.sum(q_hat * action_dist, axis=1)
    q_fact = q_hat[idx, action]
    dr = q_pi + iw * (reward - q_fact)
    switch = q_pi + (iw <= lambda_) * iw * (reward - q_fact)
    return {
        "ips": float(ipw.mean()),
        "snips": float(snipw.mean()),
        "dr": float(dr.mean()),
        "switch_dr": float(switch.mean()),
    }


@pytest.mark.parametrize("seed", range(5))
def test_ope_equals_the_obp_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    x = rng.normal(size=n)
    e = 1 / (1 + np.exp(-1.5 * x))
    a = (rng.random(n) < e).astype(np.int64)
    r = x + a * (0.5 + x) + rng.normal(size=n)
    target = (x > 0).astype(np.int64)
    q0, q1 = x + 0.1 * rng.normal(size=n), 1.5 + 2 * x + 0.1 * rng.normal(size=n)
    p_log = np.where(a == 1, e, 1 - e)
    ours = ope_estimates(r, a, target, p_log, q0, q1, switch_threshold=4.0)
    dist = np.column_stack([1 - target, target]).astype(float)
    twin = _obp_twin(r, a, p_log, dist, np.column_stack([q0, q1]), 4.0)
    for m, v in twin.items():
        assert ours[m].value == pytest.approx(v, rel=RTOL), m
