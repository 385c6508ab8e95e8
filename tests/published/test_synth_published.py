"""Synthetic control on the Basque and German reunification data: published numbers.

Specifications as in R Synth's ``basque`` example (Abadie & Gardeazabal 2003) and ADH
(2015, Table 2) — see ../shared/datasets/README.md sections 11 and 13.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import cqox
from tests.conftest import dataset_path

#: README: "Synthetic-control weights are sensitive to the optimizer; assert weights to
#: ±0.01 and the post-period gap path to ±0.02".
WEIGHT_TOL = 0.01
GAP_TOL = 0.02
#: German ATT: V comes from a non-convex training fit whose optimum is flat (our V
#: reaches the same training loss, 4927.75, as pysyncon's but at a different point),
#: which moves the ATT by 0.3%; pysyncon's own test allows 2.5%.
GERMANY_ATT_RTOL = 0.025

BASQUE = "Basque Country (Pais Vasco)"


def basque_spec() -> dict[str, Any]:
    """R Synth's ``basque`` dataprep example."""
    sectors = [
        "sec.agriculture",
        "sec.energy",
        "sec.industry",
        "sec.construction",
        "sec.services.venta",
        "sec.services.nonventa",
    ]
    return {
        "treated_unit": BASQUE,
        "treatment_time": 1970,
        "predictors": [
            "school.illit",
            "school.prim",
            "school.med",
            "school.high",
            "school.post.high",
            "invest",
        ],
        "predictor_window": "1964:1969",
        "special_predictors": [("gdpcap", "1960:1969")]
        + [(s, "1961:1969:2") for s in sectors]
        + [("popdens", [1969])],
        "optimization_window": "1960:1969",
        "effect_window": "1975:1997",
    }


def germany_spec(step: str) -> dict[str, Any]:
    """ADH (2015) training (``train``) and main (``main``) specifications."""
    if step == "train":
        return {
            "predictors": ["gdp", "trade", "infrate"],
            "predictor_window": "1971:1980",
            "special_predictors": [
                ("industry", "1971:1980"),
                ("schooling", [1970, 1975]),
                ("invest70", [1980]),
            ],
            "optimization_window": "1981:1990",
        }
    return {
        "predictors": ["gdp", "trade", "infrate"],
        "predictor_window": "1981:1990",
        "special_predictors": [
            ("industry", "1981:1990"),
            ("schooling", [1980, 1985]),
            ("invest80", [1980]),
        ],
        "optimization_window": "1960:1989",
        "effect_window": "1990:2003",
    }


def weights(est: cqox.Estimate) -> dict[str, float]:
    w = est.tables["weights"]
    return dict(zip(w["unit"], w["weight"], strict=True))


@pytest.fixture(scope="module")
def basque() -> pd.DataFrame:
    return pd.read_csv(dataset_path("basque.csv"))


@pytest.mark.parametrize("exclude_spain", [False, True])
def test_basque_weights_and_gap_match_abadie_gardeazabal(
    basque: pd.DataFrame, exclude_spain: bool
) -> None:
    donors = None
    if exclude_spain:  # R Synth's example drops the national aggregate
        donors = [u for u in basque["regionname"].unique() if u not in ("Spain (Espana)", BASQUE)]
    est = cqox.estimate(
        "synth",
        basque,
        outcome="gdpcap",
        roles={"unit": "regionname", "time": "year"},
        donors=donors,
        placebo=False,
        leave_one_out=False,
        **basque_spec(),
    )
    w = weights(est)
    assert w["Cataluna"] == pytest.approx(0.8508, abs=WEIGHT_TOL)
    assert w["Madrid (Comunidad De)"] == pytest.approx(0.1492, abs=WEIGHT_TOL)
    assert est.estimate == pytest.approx(-0.6996, abs=GAP_TOL)
    assert est.gates[0].name == "synth_pre_fit" and est.gates[0].status == "pass"


def test_german_reunification_two_step_v_matches_adh_2015() -> None:
    df = pd.read_csv(dataset_path("germany_reunification.csv"))
    roles = {"unit": "country", "time": "year"}
    common = {"treated_unit": "West Germany", "treatment_time": 1990}
    train = cqox.estimate(
        "synth",
        df,
        outcome="gdp",
        roles=roles,
        placebo=False,
        leave_one_out=False,
        **common,
        **germany_spec("train"),
    )
    v = list(train.diagnostics["v"].values())
    est = cqox.estimate(
        "synth",
        df,
        outcome="gdp",
        roles=roles,
        placebo=False,
        leave_one_out=False,
        custom_v=v,
        **common,
        **germany_spec("main"),
    )
    w = weights(est)
    published = {
        "Austria": 0.42,
        "USA": 0.22,
        "Japan": 0.16,
        "Switzerland": 0.11,
        "Netherlands": 0.09,
    }
    recomputed = {
        "Austria": 0.415,
        "USA": 0.216,
        "Japan": 0.162,
        "Switzerland": 0.108,
        "Netherlands": 0.098,
    }
    for country in published:
        assert w[country] == pytest.approx(published[country], abs=WEIGHT_TOL), country
        assert w[country] == pytest.approx(recomputed[country], abs=WEIGHT_TOL), country
    assert sum(w[c] for c in published) == pytest.approx(1.0, abs=WEIGHT_TOL)
    assert est.estimate == pytest.approx(-1558.7, rel=GERMANY_ATT_RTOL)
