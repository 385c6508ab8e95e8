"""The dose-response estimators give the numbers of the code before the per-call trimming.

The values in ``dose_old_code_values.json`` were computed by the dose-response code of
commit b0fbaf4 (before the trimmed ``dose_msm`` fit and the shared curve inference of
issue #15) over a grid of designs: ``dose_msm`` with every degree (1–6), both SE
methods, small and large grids, grid quantiles, draw counts, levels and seeds, on a
confounded quadratic design, the Hirano–Imbens design, a nonlinear outcome, badly
scaled and many covariates, no covariates, a small sample, an integer dose with ties
(700 and 6,000 rows) and the benchmark's 10,000-row design; and ``dose_gps``,
``dose_kernel_dr`` and ``dose_dml``, which share the curve inference (the grid, the
sup-t band, the optimum's draws).  Every number of the estimate — optimum, SE,
interval, every diagnostic and gate value, the coefficient and curve tables, the curve
at other doses — must equal the stored one to ``RTOL`` relative (they are equal bit
for bit on the machine that stored them).

Regenerate (only when a change of the numbers is intended and documented)::

    python -m tests.unit.test_dose_old_code_values
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.simulate.dose import dose_polynomial, hirano_imbens_normal
from tests.unit import stored_values

VALUES = Path(__file__).with_name("dose_old_code_values.json")
#: Relative tolerance: the trimmed code reorders floating-point operations (the same
#: factorisations and draws, other summation orders of the same products), nothing more.
RTOL = 1e-10
#: Absolute floor for numbers that are zero up to rounding (|value| ≲ 1e-15 of the data).
ATOL = 1e-13
#: Doses at which :meth:`cqox.Estimate.curve` is read (inside, at and beyond the data).
DOSES = [-1.0, 0.0, 0.7, 1.0, 2.5, 6.0]
#: A stored value: a number, a column of numbers or a label.
Value = stored_values.Value
#: Columns of the curve table stored: the pointwise and band limits are these and
#: ``uniform_critical_value`` (a diagnostic) combined.
CURVE_COLUMNS = ("dose", "estimate", "se", "band_upper")


@cache
def _frame(kind: str) -> pd.DataFrame:
    """The table of design ``kind`` (shared: the estimators do not mutate it)."""
    if kind == "poly":
        return dose_polynomial(n=600, seed=1)[0]
    if kind == "poly_big":
        return dose_polynomial(n=3000, seed=2)[0]
    if kind == "nonlinear":
        return dose_polynomial(n=500, seed=4, nonlinear_outcome=True)[0]
    if kind == "hi":
        return hirano_imbens_normal(n=800, seed=3)[0]
    if kind == "small":
        return dose_polynomial(n=40, seed=5)[0]
    if kind == "bench":  # the benchmark's design (its grid quantiles: select_ranks)
        return dose_polynomial(n=10_000, seed=8)[0]
    rng = np.random.default_rng(6)
    n = 700
    if kind == "scaled":
        # covariates far from zero and on other scales (income, age, a proportion, two
        # correlated noise columns): the dose model's QR meets a badly scaled design
        income = rng.normal(52_000.0, 9_000.0, n)
        age = rng.normal(41.0, 11.0, n)
        share = rng.uniform(0.2, 0.3, n)
        z1 = rng.standard_normal(n)
        z2 = 0.9 * z1 + 0.1 * rng.standard_normal(n)
        a = 1e3 + 2e-4 * income + 3.0 * age + 40 * share + 0.5 * z1 + 8.0 * rng.standard_normal(n)
        y = 0.02 * a - 1e-5 * (a - 1.1e3) ** 2 + 1e-4 * income + 0.2 * z2 + rng.standard_normal(n)
        return pd.DataFrame({"y": y, "a": a, "x1": income, "x2": age, "x3": share, "x4": z1,
                             "x5": z2})  # fmt: skip
    assert kind in ("integer", "integer_big"), kind
    # a dose on 0, 1, …, 12 (ties everywhere: the grid quantiles and the optimum's draws)
    n = 6000 if kind == "integer_big" else n
    x1, x2 = rng.standard_normal(n), rng.standard_normal(n)
    a = np.clip(np.rint(6 + 1.5 * x1 + 2.0 * rng.standard_normal(n)), 0, 12)
    y = 1 + 0.8 * a - 0.06 * a * a + x1 + 0.5 * x2 + rng.standard_normal(n)
    return pd.DataFrame({"y": y, "a": a, "x1": x1, "x2": x2})


#: Covariates of each design.
COVARIATES = {
    "poly": ["x1", "x2"],
    "poly_big": ["x1", "x2"],
    "nonlinear": ["x1", "x2"],
    "hi": ["x1", "x2"],
    "small": ["x1", "x2"],
    "scaled": ["x1", "x2", "x3", "x4", "x5"],
    "integer": ["x1", "x2"],
    "integer_big": ["x1", "x2"],
    "bench": ["x1", "x2"],
    "none": [],
}


def _cases() -> list[tuple[str, str, dict[str, Any]]]:
    """``(design, estimator, params)``; ``none`` is ``poly`` without covariates."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for degree in range(1, 7):
        for se in ("analytic", "robust"):
            out.append(("poly", "dose_msm", {"degree": degree, "se_method": se, "seed": degree}))
    msm: list[tuple[str, dict[str, Any]]] = [
        ("poly", {"seed": 0}),  # the defaults
        ("poly", {"n_grid": 3, "seed": 1}),
        ("poly", {"n_grid": 11, "grid_quantile": 0.0, "seed": 2}),
        ("poly", {"n_grid": 400, "grid_quantile": 0.25, "n_sim": 3001, "seed": 3}),
        ("poly", {"n_sim": 100, "ci_level": 0.8, "seed": 4}),
        ("poly", {"ci_level": 0.99, "degree": 3, "seed": 5}),
        ("poly_big", {"seed": 0}),
        ("poly_big", {"degree": 1, "seed": 8}),
        ("nonlinear", {"seed": 9}),
        ("hi", {"seed": 10}),
        ("hi", {"degree": 4, "se_method": "robust", "seed": 11}),
        ("small", {"seed": 12}),
        ("small", {"degree": 3, "n_grid": 7, "seed": 13}),
        ("scaled", {"seed": 14}),
        ("scaled", {"degree": 3, "seed": 15}),
        ("scaled", {"degree": 1, "se_method": "robust", "seed": 16}),
        ("integer", {"seed": 17}),
        ("integer", {"n_grid": 13, "grid_quantile": 0.0, "seed": 18}),
        ("none", {"seed": 19}),
        ("bench", {"seed": 0}),  # the benchmark's call
        ("bench", {"degree": 3, "grid_quantile": 0.0, "se_method": "robust", "seed": 1}),
        ("bench", {"grid_quantile": 0.3, "n_grid": 50, "seed": 2}),
        ("integer_big", {"seed": 21}),
        ("integer_big", {"grid_quantile": 0.01, "seed": 22}),
        ("none", {"degree": 3, "seed": 20}),
    ]
    out += [(kind, "dose_msm", params) for kind, params in msm]
    # the other estimators: the shared grid, band and optimum
    out += [
        ("hi", "dose_gps", {"seed": 0}),
        ("hi", "dose_gps", {"n_grid": 31, "n_sim": 500, "ci_level": 0.9, "seed": 1}),
        ("poly", "dose_kernel_dr", {"seed": 0}),
        ("integer", "dose_kernel_dr", {"n_grid": 25, "seed": 2}),
        ("poly", "dose_dml", {"outcome_learner": "linear", "seed": 0}),
        ("scaled", "dose_dml", {"outcome_learner": "linear", "n_sim": 700, "seed": 3}),
    ]
    return out


def _case_id(case: tuple[str, str, dict[str, Any]]) -> str:
    kind, name, params = case
    return f"{kind}/{name}/" + ",".join(f"{k}={v}" for k, v in sorted(params.items()))


def _numbers(obj: Any, prefix: str, out: dict[str, Value]) -> None:
    """Every number (and label) of ``obj``, flattened to ``path → value``.

    A list of numbers (a table column) stays one list.
    """
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, dict):
        for k, v in obj.items():
            _numbers(v, f"{prefix}.{k}", out)
    elif isinstance(obj, list | tuple):
        if obj and all(isinstance(v, int | float) and not isinstance(v, bool) for v in obj):
            out[prefix] = [float(v) for v in obj]
        else:
            for i, v in enumerate(obj):
                _numbers(v, f"{prefix}[{i}]", out)
    elif isinstance(obj, bool | str) or obj is None:
        out[prefix] = str(obj)
    else:
        out[prefix] = float(obj)


def _run(case: tuple[str, str, dict[str, Any]]) -> dict[str, Value]:
    kind, name, params = case
    df = _frame("poly" if kind == "none" else kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cqox.estimate(name, df, outcome="y", dose="a", covariates=COVARIATES[kind],
                            **params)  # fmt: skip
    out: dict[str, Value] = {}
    _numbers(
        {
            "estimand": est.estimand,
            "estimate": est.estimate,
            "se": est.se,
            "ci": est.ci,
            "p_value": est.p_value,
            "n": est.n,
            "method": est.method,
            "warnings": list(est.warnings),
            "diagnostics": est.diagnostics,
            "gates": [{"name": g.name, "value": g.value, "status": g.status} for g in est.gates],
            "tables": {
                t: {
                    k: v
                    for k, v in est.tables[t].to_dict("list").items()
                    if k != "term" and (t != "curve" or k in CURVE_COLUMNS)
                }
                for t in est.tables
            },
            "curve": est.curve(DOSES).to_dict("list"),
        },
        "",
        out,
    )
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def stored() -> dict[str, dict[str, Value]]:
    return stored_values.load(VALUES)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_dose_numbers_equal_the_old_code(
    case: tuple[str, str, dict[str, Any]], stored: dict[str, dict[str, Value]]
) -> None:
    stored_values.assert_equal(_run(case), stored[_case_id(case)], RTOL, ATOL)


def _write() -> None:  # pragma: no cover - run by hand to regenerate
    stored_values.write(VALUES, {_case_id(c): _run(c) for c in CASES})


if __name__ == "__main__":  # pragma: no cover
    _write()
