"""Published density (manipulation) test on the U.S. Senate data (rddensity's example).

The number compared is the output the authors' ``rddensity`` 3.0 prints for
``rddensity(X=margin)`` with all defaults on the 1,390 Senate elections (the example of
its R/Stata illustration files; recomputed with the authors' software, as README §9 does
for rdrobust — the 2018 *Stata Journal* article ran an earlier version whose printed
numbers we could not retrieve offline).
"""

from __future__ import annotations

import pandas as pd
import pytest

import cqox
from cqox.estimators.rd.density import density_test
from tests.conftest import dataset_path

#: rddensity prints T, p and h to 4 decimals.
TOL_4 = 5e-5


@pytest.fixture(scope="module")
def senate() -> pd.DataFrame:
    return pd.read_csv(dataset_path("rdrobust_senate.csv"))


def test_senate_margin_density_test_matches_rddensity_output(senate: pd.DataFrame) -> None:
    d = density_test(senate["margin"].dropna().to_numpy(), 0.0)
    assert d.n == (640, 750)
    assert d.n_h == (408, 460)
    assert (d.p, d.q, d.kernel, d.vce, d.bwselect) == (2, 3, "triangular", "jackknife", "comb")
    assert abs(d.h[0] - 19.8411) <= TOL_4 and abs(d.h[1] - 27.1188) <= TOL_4
    assert abs(d.statistic - (-0.8753)) <= TOL_4
    assert abs(d.p_value - 0.3814) <= TOL_4
    assert d.mass_points  # 1,352 distinct margins among 1,390


def test_rd_density_gate_reports_the_test_on_the_estimation_sample(
    senate: pd.DataFrame,
) -> None:
    est = cqox.estimate("rd", senate, outcome="vote", roles={"running": "margin", "cutoff": 0})
    gate = next(g for g in est.gates if g.name == "density")
    d = gate.details
    # the 1,297 rows with an outcome; rddensity on them prints T = -0.7600, p = 0.4473
    assert d["n_total"] == [595, 702]
    assert abs(d["statistic"] - (-0.7600)) <= TOL_4
    assert abs(d["p_value"] - 0.4473) <= TOL_4
    assert gate.value == d["p_value"]
    assert gate.status == "pass"
    assert {"h_left", "h_right", "n_left", "n_right", "method"} <= set(d)
    assert "rddensity" in d["method"]
