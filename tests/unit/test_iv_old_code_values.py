"""The IV estimators give the numbers of the code before the per-call trimming (issue #15).

The values in ``iv_old_code_values.json`` were computed by the IV code of commit
3844830 (before the fast paths of the k-class fit, the endogeneity tests and the
instrument scores) over a grid of designs: 2SLS, LIML and Fuller; every covariance
type (robust, unadjusted, clustered, Conley; with and without the small-sample
factors); weights; one, two and three instruments (exactly and over-identified); one
and two endogenous regressors; a binary instrument and treatment.  Every number of the
estimate — coefficient table, interval, p-value, every diagnostic and gate value — must
equal the stored one to ``RTOL`` relative.

Regenerate (only when a change of the numbers is intended and documented)::

    python -m tests.unit.test_iv_old_code_values
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.simulate import iv_linear
from tests.unit import stored_values

VALUES = Path(__file__).with_name("iv_old_code_values.json")
#: Relative tolerance: the fast paths reorder floating-point operations (a different
#: but equally stable factorisation of the same small systems), nothing more.
RTOL = 1e-10
#: Absolute floor for numbers that are zero up to rounding (|value| ≲ 1e-15 of the data).
ATOL = 1e-13


@cache
def _frame(kind: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A table and its roles for design ``kind`` (shared: the estimators do not mutate it)."""
    if kind == "binary":
        rng = np.random.default_rng(5)
        n = 700
        x = rng.standard_normal(n)
        z = rng.integers(0, 2, n)
        v = rng.standard_normal(n)
        d = (0.9 * z + 0.3 * x + v > 0.5).astype(float)
        y = 1.5 * d + 0.4 * x + 0.5 * v + rng.standard_normal(n)
        w = rng.uniform(0.5, 2.0, n)
        df = pd.DataFrame({"y": y, "d": d, "z": z, "x": x, "w": w, "cluster": np.arange(n) % 30})
        return df, {"outcome": "y", "treatment": "d", "covariates": ["x"], "instrument": ["z"]}
    q = {"q1": 1, "q2": 2, "q3": 3, "kd2": 3, "weak": 2}[kind]
    df, _ = iv_linear(
        n=600,
        n_instruments=q,
        strength=0.04 if kind == "weak" else 0.5,
        heteroskedastic=True,
        n_clusters=25,
        seed=q + 10 * (kind == "weak"),
    )
    rng = np.random.default_rng(q)
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    df["la"] = rng.uniform(40.0, 41.0, len(df))
    df["lo"] = rng.uniform(-74.0, -73.0, len(df))
    roles: dict[str, Any] = {
        "outcome": "y",
        "treatment": "d",
        "covariates": ["x1", "x2"],
        "instrument": [f"z{j + 1}" for j in range(q)],
    }
    if kind == "kd2":
        df["d2"] = 0.4 * df["z1"] - 0.6 * df["z3"] + 0.3 * df["x2"] + rng.standard_normal(len(df))
        df["y"] = df["y"] + 0.7 * df["d2"]
    return df, roles


def _cases() -> list[tuple[str, str, dict[str, Any], bool]]:
    """``(design, estimator, params, weighted)``."""
    out: list[tuple[str, str, dict[str, Any], bool]] = []
    for kind in ("binary", "q1", "q2", "q3", "kd2", "weak"):
        for se in ("robust", "unadjusted", "clustered"):
            # the small-sample factors with the weights: both rescale, neither interacts
            for debiased, weighted in ((False, False), (True, True)):
                params: dict[str, Any] = {"se_method": se, "debiased": debiased}
                if kind == "kd2":
                    params["endogenous"] = ["d2"]
                out.append((kind, "iv_2sls", params, weighted))
                if kind in ("q1", "q3", "kd2") and not weighted:
                    out.append((kind, "iv_liml", dict(params), weighted))
                    out.append((kind, "iv_liml", {**params, "fuller": 1.0}, weighted))
    out.append(("q2", "iv_2sls", {"se_method": "conley", "conley_cutoff_km": 20.0}, False))
    out.append(("q1", "iv_liml", {"se_method": "conley", "conley_cutoff_km": 20.0}, True))
    out.append(("q3", "iv_2sls", {}, False))  # the defaults
    return out


def _case_id(case: tuple[str, str, dict[str, Any], bool]) -> str:
    kind, name, params, weighted = case
    text = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{kind}/{name}/{text}/{'w' if weighted else 'u'}"


def _numbers(obj: Any, prefix: str, out: dict[str, float | str]) -> None:
    """Every number (and label) of ``obj``, flattened to ``path → value``."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _numbers(v, f"{prefix}.{k}", out)
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _numbers(v, f"{prefix}[{i}]", out)
    elif isinstance(obj, np.ndarray):
        _numbers(obj.tolist(), prefix, out)
    elif isinstance(obj, bool | str) or obj is None:
        if not prefix.endswith((".name", ".null", ".distribution")):  # fixed text
            out[prefix] = str(obj)
    else:
        out[prefix] = float(obj)


def _run(case: tuple[str, str, dict[str, Any], bool]) -> dict[str, float | str]:
    kind, name, params, weighted = case
    df, roles = _frame(kind)
    roles = dict(roles)  # a copy: the cached one stays as built
    extra: dict[str, Any] = {"instrument": roles.pop("instrument")}
    if weighted:
        extra["weight"] = "w"
    if params.get("se_method") == "clustered":
        extra["cluster"] = "cluster"
    if params.get("se_method") == "conley":
        extra.update(lat="la", lon="lo")
    est = cqox.estimate(name, df, roles=extra, **roles, **params)
    out: dict[str, float | str] = {}
    _numbers(
        {
            "estimand": est.estimand,
            "estimate": est.estimate,
            "se": est.se,
            "ci": est.ci,
            "p_value": est.p_value,
            "method": est.method,
            "diagnostics": est.diagnostics,
            "gates": [{"name": g.name, "value": g.value, "status": g.status} for g in est.gates],
            "coefficients": {
                k: v for k, v in est.tables["coefficients"].to_dict("list").items() if k != "term"
            },
        },
        "",
        out,
    )
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def stored() -> dict[str, dict[str, stored_values.Value]]:
    return stored_values.load(VALUES)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_iv_numbers_equal_the_old_code(
    case: tuple[str, str, dict[str, Any], bool], stored: dict[str, dict[str, stored_values.Value]]
) -> None:
    stored_values.assert_equal(_run(case), stored[_case_id(case)], RTOL, ATOL)


def _write() -> None:  # pragma: no cover - run by hand to regenerate
    stored_values.write(VALUES, {_case_id(c): _run(c) for c in CASES})


if __name__ == "__main__":  # pragma: no cover
    _write()
