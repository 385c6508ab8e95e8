"""The time-varying figures render from the estimates' numbers (PNG and Plotly).

``msm_weights_over_time`` draws ``msm_iptw``'s ``weights_by_period`` table (the issue's
"MSM weights over time"); ``time_varying_regimes`` the g-methods' contrasts beside the
naive regressions.
"""

from __future__ import annotations

import numpy as np

import cqox
from cqox.report.gallery import figure_specs
from cqox.simulate.timevarying import time_varying_feedback

ROLES = {"outcome": "y", "treatment": "a", "unit": "id", "time": "time", "covariates": ["l", "v"]}


def test_msm_weights_over_time_and_regimes_render_from_the_estimates() -> None:
    df, _ = time_varying_feedback(n=200, periods=4, seed=3)
    an = cqox.analyze(
        df, **ROLES, estimators=["msm_iptw", "gformula"], params={"gformula": {"n_boot": 20}}
    )
    specs = {s.name: s for s in figure_specs(an)}
    msm = next(e for e in an.estimates if e.estimator == "msm_iptw")
    w = msm.tables["weights_by_period"]
    assert len(w) == 4
    # the accumulated weights spread out over periods: the 1–99 % range is wider at the end
    spread = np.log(w["q99"] / w["q01"]).to_numpy()
    assert spread[-1] > 2 * spread[0]
    weights = specs["msm_weights_over_time"]
    assert weights.png().startswith(b"\x89PNG")
    traces = {t["name"]: t for t in weights.plotly()["data"]}
    assert traces["median"]["y"] == w["median"].astype(float).tolist()
    assert traces["maximum"]["y"] == w["max"].astype(float).tolist()
    regimes = specs["time_varying_regimes"]
    assert regimes.png().startswith(b"\x89PNG")
    labels = regimes.plotly()["data"][0]["y"]
    assert {"msm_iptw", "gformula"} <= set(labels)
    assert any(lab.startswith("naive: ") for lab in labels)
