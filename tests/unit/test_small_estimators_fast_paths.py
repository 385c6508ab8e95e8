"""The fast paths of ``multivalued`` and the transport estimators equal their plain forms.

The multinomial logit forms its products on level × row arrays and the estimators
take the propensity's influence along directions (no n × k derivative matrices); a
numeric treatment or a NumPy trial table skips pandas.  Each shortcut is checked here
against the explicit formula or the general path it replaces, to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.core.roles import Roles
from cqox.estimators.transport.data import prepare_transport
from cqox.nuisance.multinomial import fit_multinomial_logit
from cqox.simulate.transport import nested_trial

COVS = ["x1", "x2"]


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    df, _ = cqox.simulate.multivalued(n=800, seed=4)
    return df


def test_multinomial_products_equal_the_explicit_matrices(sim: pd.DataFrame) -> None:
    fit = fit_multinomial_logit(sim[COVS].to_numpy(), sim["t"].to_numpy(), 3)
    rng = np.random.default_rng(0)
    c = rng.standard_normal(len(sim))
    for j in range(3):
        np.testing.assert_allclose(fit.dp_along(j, c), c @ fit.dp_dtheta(j), rtol=1e-10)
    D = rng.standard_normal((fit.hessian.shape[0], 3))
    expected = fit.score @ np.linalg.solve(fit.hessian, D)
    np.testing.assert_allclose(fit.influence_along(D), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fit.influence_along(D[:, 1]), expected[:, 1], atol=1e-12)
    # minus the mean Hessian, block by block: Σ p_k (δ_kl − p_l) z z' / n
    p, Z, k = fit.p_hat, fit.Z, fit.Z.shape[1]
    for a in range(2):
        for b in range(2):
            w = p[:, a + 1] * ((a == b) - p[:, b + 1])
            block = (Z * w[:, None]).T @ Z / len(p)
            np.testing.assert_allclose(
                fit.hessian[a * k : (a + 1) * k, b * k : (b + 1) * k], block, atol=1e-12
            )
    # the score is zero at the maximum
    np.testing.assert_allclose(fit.score.mean(axis=0), 0.0, atol=1e-9)


@pytest.mark.parametrize(
    ("method", "estimand", "reference", "clip"),
    [("aipw", "ATE", None, 0.0), ("ipw", "ATE", 2, 0.0), ("ipw", "ATT", None, 0.1)],
)
def test_numeric_and_text_treatments_give_the_same_estimate(
    sim: pd.DataFrame, method: str, estimand: str, reference: int | None, clip: float
) -> None:
    names = {0: "level 0", 1: "level 1", 2: "level 2"}
    text = sim.assign(t=sim["t"].map(names))
    kw = {"outcome": "y", "treatment": "t", "covariates": COVS, "method": method,
          "estimand": estimand, "clip": clip}  # fmt: skip
    ref_a = {} if reference is None else {"reference": reference}
    ref_b = {} if reference is None else {"reference": names[reference]}
    a = cqox.estimate("multivalued", sim, **kw, **ref_a)
    b = cqox.estimate("multivalued", text, **kw, **ref_b)
    assert a.estimate == pytest.approx(b.estimate, abs=1e-10)
    assert a.se == pytest.approx(b.se, abs=1e-10)
    np.testing.assert_allclose(
        a.tables["effects"]["estimate"], b.tables["effects"]["estimate"], atol=1e-10
    )
    assert [g.value for g in a.gates] == pytest.approx([g.value for g in b.gates], abs=1e-10)
    assert [names[v] for v in a.tables["pomeans"]["level"]] == list(b.tables["pomeans"]["level"])


def test_transport_preparation_of_numpy_columns_equals_the_general_path() -> None:
    df, _ = nested_trial(n=700, kappa=0.5, seed=3)
    roles = Roles.from_mapping(
        {"outcome": "y", "treatment": "t", "sample": "s", "covariates": ["x1", "x2", "x3"]}
    )
    fast = prepare_transport(df, roles)
    # nullable columns take the general path (pandas reads and the trial's preparation)
    general = prepare_transport(df.astype({"y": "Float64", "t": "Float64", "s": "Int64"}), roles)
    for name in ("y", "t", "s", "X", "row_index"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(general, name))
    assert (fast.trial_value, fast.trial_rule) == (general.trial_value, general.trial_rule)
    est = [cqox.estimate("transport_dr", d, outcome="y", treatment="t", sample="s",
                         covariates=["x1", "x2", "x3"])
           for d in (df, df.astype({"y": "Float64", "t": "Float64", "s": "Int64"}))]  # fmt: skip
    assert est[0].estimate == pytest.approx(est[1].estimate, abs=1e-10)
    assert est[0].se == pytest.approx(est[1].se, abs=1e-10)
