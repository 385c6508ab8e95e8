"""``ope``'s IPS, SNIPS, DR and switch-DR against Open Bandit Pipeline on the same logs.

Open Bandit Pipeline 0.4.1 (Saito, Aihara, Matsutani & Narita 2021, arXiv:2008.07146)
is run on the same logged bandit feedback: ``reward``, ``action``, ``pscore`` (the
logging probability of the action taken), ``action_dist`` (n, 2, 1) of the
deterministic target policy and ``estimated_rewards_by_reg_model`` (n, 2, 1).  OBP
imports PyTorch, which is not among the test dependencies, so its outputs are kept in
``golden/obp.json`` (recorded with OBP 0.4.1 by ``make_golden``) and used when OBP is
not installed.  The point values must agree to rounding (the arithmetic is the same
in another order); for IPS, DR and switch-DR the per-round terms too.  Intervals
differ on purpose (OBP: a percentile bootstrap; ours: influence-function SEs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cqox.estimators.cate.ope import ope_estimates
from tests.reference.golden import OBP

pytestmark = pytest.mark.reference

#: Same arithmetic in another order.
RTOL = 1e-12
#: OBP's ``tau`` of ``SwitchDoublyRobust`` is our ``switch_threshold``.
THRESHOLDS = (1.5, 4.0)


def _logs(seed: int, n: int) -> dict[str, np.ndarray]:
    """Confounded logs with a known logging policy and imperfect reward models."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    e = 1 / (1 + np.exp(-1.5 * x))
    a = (rng.random(n) < e).astype(np.int64)
    r = x + a * (0.5 + x) + rng.normal(size=n)
    target = (x > 0.2 * seed - 0.4).astype(np.int64)
    return {
        "reward": r,
        "action": a,
        "pscore": np.where(a == 1, e, 1 - e),
        "target": target,
        "q0": x + 0.3 * rng.normal(size=n),
        "q1": 1.5 + 2 * x + 0.3 * rng.normal(size=n),
    }


def _obp(d: dict[str, np.ndarray], threshold: float, rounds: bool) -> dict[str, Any]:
    from obp.ope import (
        DoublyRobust,
        InverseProbabilityWeighting,
        SelfNormalizedInverseProbabilityWeighting,
        SwitchDoublyRobust,
    )

    n = len(d["reward"])
    dist = np.column_stack([1 - d["target"], d["target"]]).astype(float)[:, :, None]
    q_hat = np.column_stack([d["q0"], d["q1"]])[:, :, None]
    common = {"reward": d["reward"], "action": d["action"], "pscore": d["pscore"]}
    estimators = {
        "ips": (InverseProbabilityWeighting(), {}),
        "snips": (SelfNormalizedInverseProbabilityWeighting(), {}),
        "dr": (DoublyRobust(), {"estimated_rewards_by_reg_model": q_hat}),
        "switch_dr": (
            SwitchDoublyRobust(tau=threshold),
            {"estimated_rewards_by_reg_model": q_hat},
        ),
    }
    out: dict[str, Any] = {}
    for name, (est, extra) in estimators.items():
        out[name] = float(est.estimate_policy_value(**common, action_dist=dist, **extra))
        if rounds and name != "snips":
            out[f"{name}_rounds"] = est._estimate_round_rewards(
                **common, action_dist=dist, position=np.zeros(n, dtype=int), **extra
            )
    return out


def _ours(d: dict[str, np.ndarray], threshold: float) -> dict[str, Any]:
    return ope_estimates(
        d["reward"], d["action"], d["target"], d["pscore"], d["q0"], d["q1"], threshold
    )


@pytest.mark.parametrize("threshold", THRESHOLDS)
@pytest.mark.parametrize("seed", range(4))
def test_ope_values_equal_open_bandit_pipeline(seed: int, threshold: float) -> None:
    d = _logs(seed, 3000)
    peer = OBP.outputs(f"ope/values-seed{seed}-tau{threshold}", lambda: _obp(d, threshold, False))
    ours = _ours(d, threshold)
    for method in ("ips", "snips", "dr", "switch_dr"):
        assert ours[method].value == pytest.approx(peer[method], rel=RTOL), method


def test_ope_round_terms_equal_open_bandit_pipeline() -> None:
    # the per-row terms whose mean is the estimate (and whose spread our SE uses)
    d = _logs(9, 400)
    peer = OBP.outputs("ope/rounds-seed9-tau4.0", lambda: _obp(d, 4.0, True))
    ours = _ours(d, 4.0)
    for method in ("ips", "dr", "switch_dr"):
        np.testing.assert_allclose(
            ours[method].psi, np.asarray(peer[f"{method}_rounds"]), rtol=RTOL, atol=1e-13
        )


def test_switch_dr_between_dr_and_the_model_alone() -> None:
    # a threshold above every weight is DR; one below every weight is the direct method
    d = _logs(2, 3000)
    w_max = float(np.max((d["action"] == d["target"]) / d["pscore"]))
    assert _ours(d, w_max)["switch_dr"].value == pytest.approx(_ours(d, w_max)["dr"].value)
    direct = float(np.mean(np.where(d["target"] == 1, d["q1"], d["q0"])))
    assert _ours(d, 0.5)["switch_dr"].value == pytest.approx(direct)
