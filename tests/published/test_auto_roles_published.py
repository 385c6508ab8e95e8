"""Issue #11 on the shared data: inferred roles no longer change published numbers.

Card (1995) through ``cqox.analyze`` with the paper's controls and instrument named:
the `weight` column is suggested, not applied, so 2SLS is the published 0.1315 (it was
0.1578 with the weight applied).  Basque with the dashboard's prefilled roles: a
``NoDesignError`` naming the treatment, not an empty "pass".
"""

from __future__ import annotations

import pandas as pd
import pytest

import cqox
from tests.conftest import dataset_path

CONTROLS = ["exper", "expersq", "black", "smsa", "south", "smsa66"] + [
    f"reg66{i}" for i in range(2, 10)
]
#: Wooldridge Ex. 15.4 / the README's recomputed 0.1315 at its printed precision.
PAPER_TOL = 0.0005


def test_card_weight_column_is_not_applied_and_2sls_is_the_published_number() -> None:
    card = pd.read_csv(dataset_path("card1995.csv"))
    an = cqox.analyze(
        card,
        outcome="lwage",
        treatment="educ",
        covariates=CONTROLS,
        roles={"instrument": ["nearc4"]},
        estimators=["iv_2sls"],
    )
    assert an.roles.weight is None
    assert any("--weight weight" in w for w in an.warnings)
    assert abs(an.estimate_for("iv_2sls").estimate - 0.1315) <= PAPER_TOL


def test_basque_with_prefilled_roles_asks_for_the_treatment() -> None:
    basque = pd.read_csv(dataset_path("basque.csv"))
    with pytest.raises(cqox.NoDesignError) as info:
        cqox.analyze(basque, outcome="gdpcap", roles={"unit": "regionno", "time": "year"})
    roles = [s["role"] for s in info.value.details["suggestions"]]  # type: ignore[union-attr]
    assert roles[:2] == ["treatment", "cohort"]
