"""Bad input, table-driven: each case raises a typed CQOx error whose message names the culprit.

One row per kind of bad input; the CLI twin is ``tests/cli/test_cli_bad_inputs.py``.
Cases where CQOx repairs the input instead of refusing it (all-missing or constant
covariates, missing values) are checked for the warning and the counts that report it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cqox
from cqox.data.io import read_table
from cqox.errors import (
    ColumnNotFoundError,
    CqoxError,
    DataError,
    EstimatorNotFoundError,
    FileFormatError,
    FormulaError,
    NoDataError,
    ParameterError,
    RoleError,
)


def demo(n: int = 200) -> pd.DataFrame:
    df, _ = cqox.simulate.confounded_binary(n=n, seed=11)
    return df


@dataclass(frozen=True)
class Case:
    """A bad input: how to trigger it, the error class, and words the message must contain."""

    name: str
    run: Callable[[Path], object]
    error: type[CqoxError]
    words: tuple[str, ...]


def _file(tmp: Path, name: str, content: bytes) -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


def _with(**cols: object) -> pd.DataFrame:
    df = demo()
    for k, v in cols.items():
        df[k] = v
    return df


CASES = [
    Case(
        "empty file",
        lambda tmp: cqox.analyze(_file(tmp, "empty.csv", b"")),
        NoDataError,
        ("empty.csv", "empty"),
    ),
    Case(
        "header only",
        lambda tmp: cqox.analyze(_file(tmp, "head.csv", b"y,t,x1\n")),
        NoDataError,
        ("head.csv", "no rows"),
    ),
    Case(
        "duplicate column names in a file",
        lambda tmp: read_table(_file(tmp, "dup.csv", b"y,t,y\n1,0,2\n2,1,3\n")),
        DataError,
        ("duplicate column names", "'y'"),
    ),
    Case(
        "duplicate column names in a DataFrame",
        lambda tmp: cqox.estimate(
            "ipw",
            demo().set_axis(["y", "t", "x1", "x1", "x3", "x4", "x5"], axis=1),
            outcome="y",
            treatment="t",
        ),
        DataError,
        ("duplicate column names", "'x1'"),
    ),
    Case(
        "binary garbage",
        lambda tmp: cqox.analyze(_file(tmp, "garbage.csv", bytes(range(256)) * 40)),
        FileFormatError,
        ("garbage.csv", "binary"),
    ),
    Case(
        "wrong explicit encoding",
        lambda tmp: read_table(
            _file(tmp, "sjis.csv", "名前\n山田\n".encode("shift_jis")), encoding="utf-8"
        ),
        FileFormatError,
        ("sjis.csv", "utf-8"),
    ),
    Case(
        "outcome not numeric",
        lambda tmp: cqox.estimate(
            "ipw", _with(label=["a", "b"] * 100), outcome="label", treatment="t"
        ),
        RoleError,
        ("outcome", "'label'", "numeric"),
    ),
    Case(
        "treatment not binary",
        lambda tmp: cqox.estimate("ipw", demo(), outcome="y", treatment="x1"),
        RoleError,
        ("treatment", "'x1'", "binary"),
    ),
    Case(
        "treatment coded 1/2",
        lambda tmp: cqox.estimate("ipw", _with(arm=[1, 2] * 100), outcome="y", treatment="arm"),
        RoleError,
        ("'arm'", "0 (control) / 1 (treated)"),
    ),
    Case(
        "role names a missing column",
        lambda tmp: cqox.estimate("ipw", demo(), outcome="y", treatment="treatmnt"),
        ColumnNotFoundError,
        ("'treatmnt'", "not found", "columns: y, t, x1"),
    ),
    Case(
        "missing column with a close name",
        lambda tmp: cqox.analyze(demo(), outcome="Y", treatment="t"),
        ColumnNotFoundError,
        ("'Y'", "did you mean 'y'?"),
    ),
    Case(
        "covariate names a missing column",
        lambda tmp: cqox.estimate("ipw", demo(), outcome="y", treatment="t", covariates=["x9"]),
        ColumnNotFoundError,
        ("covariates", "'x9'"),
    ),
    Case(
        "constant treatment",
        lambda tmp: cqox.estimate("ipw", _with(t=1), outcome="y", treatment="t"),
        RoleError,
        ("treatment", "'t'", "constant (1)"),
    ),
    Case(
        "constant outcome",
        lambda tmp: cqox.estimate("ipw", _with(y=3.0), outcome="y", treatment="t"),
        RoleError,
        ("outcome", "'y'", "constant"),
    ),
    Case(
        "infinite outcome",
        lambda tmp: cqox.estimate("ipw", _with(y=np.inf), outcome="y", treatment="t"),
        RoleError,
        ("'y'", "infinite"),
    ),
    Case(
        "outcome also a covariate",
        lambda tmp: cqox.estimate("ipw", demo(), outcome="y", treatment="t", covariates=["y"]),
        RoleError,
        ("covariates", "'y'"),
    ),
    Case(
        "all-missing covariate in a formula (refused: a formula cannot drop a term)",
        lambda tmp: cqox.estimate(
            "ipw", _with(x1=np.nan), outcome="y", treatment="t", covariates="x1 + x2"
        ),
        RoleError,
        ("'x1'", "all missing"),
    ),
    Case(
        "no rows left after missing values",
        lambda tmp: cqox.estimate(
            "ipw",
            _with(
                x1=np.r_[np.full(100, np.nan), np.ones(100)], x2=np.r_[np.ones(100), [np.nan] * 100]
            ),
            outcome="y",
            treatment="t",
            covariates=["x1", "x2"],
        ),
        NoDataError,
        ("no rows left", "x1", "x2"),
    ),
    Case(
        "unknown estimator",
        lambda tmp: cqox.estimate("ipww", demo(), outcome="y", treatment="t"),
        EstimatorNotFoundError,
        ("'ipww'", "did you mean 'ipw'?"),
    ),
    Case(
        "unknown parameter",
        lambda tmp: cqox.estimate("ipw", demo(), outcome="y", treatment="t", trimm=0.1),
        ParameterError,
        ("'trimm'", "did you mean 'trim'?"),
    ),
    Case(
        "unknown parameter in analyze",
        lambda tmp: cqox.analyze(demo(), outcome="y", treatment="t", params={"ipw": {"tirm": 1}}),
        ParameterError,
        ("'tirm'",),
    ),
    Case(
        "bad parameter value",
        lambda tmp: cqox.estimate("ipw", demo(), outcome="y", treatment="t", trim=0.7),
        ParameterError,
        ("The 'trim' parameter of ipw must be a float in [0, 0.5). Got 0.7 instead.",),
    ),
    Case(
        "bad parameter value as CLI text",
        lambda tmp: cqox.analyze(
            demo(), outcome="y", treatment="t", params={"ipw": {"trim": "0.7"}}
        ),
        ParameterError,
        ("The 'trim' parameter of ipw must be a float in [0, 0.5). Got 0.7 instead.",),
    ),
    Case(
        "unknown gate threshold",
        lambda tmp: cqox.analyze(demo(), outcome="y", treatment="t", thresholds={"nope": 1.0}),
        ParameterError,
        ("'nope'",),
    ),
    Case(
        "formula with an unknown column",
        lambda tmp: cqox.estimate(
            "ipw", demo(), outcome="y", treatment="t", covariates="x1 + I(x9**2)"
        ),
        ColumnNotFoundError,
        ("covariates", "'x9'"),
    ),
    Case(
        "formula syntax error",
        lambda tmp: cqox.estimate("ipw", demo(), outcome="y", treatment="t", covariates="x1 + (x2"),
        FormulaError,
        ("formula", "'x1 + (x2'"),
    ),
    Case(
        "unknown role",
        lambda tmp: cqox.analyze(demo(), roles={"outcom": "y"}),
        RoleError,
        ("'outcom'", "did you mean 'outcome'?"),
    ),
    Case(
        "missing file",
        lambda tmp: cqox.analyze(tmp / "nope.csv"),
        DataError,
        ("nope.csv", "not found"),
    ),
    Case(
        "infinite covariate value",
        lambda tmp: cqox.estimate(
            "regression_adjustment",
            _with(x2=np.r_[np.inf, np.zeros(199)]),
            outcome="y",
            treatment="t",
            covariates=["x1", "x2"],
        ),
        RoleError,
        ("covariates", "'x2'", "infinite", "row 0"),
    ),
    Case(
        "text periods for panel matching (they would sort as text)",
        lambda tmp: cqox.estimate(
            "panel_match",
            _panel().assign(time=lambda d: d["time"].astype(str)),
            outcome="y",
            treatment="d",
            roles={"unit": "unit", "time": "time"},
        ),
        RoleError,
        ("role 'time'", "'time'", "numeric periods or dates"),
    ),
    Case(
        "text periods for an interrupted time series (they would sort as text)",
        lambda tmp: cqox.estimate(
            "its",
            pd.DataFrame({"t": [str(i) for i in range(1, 25)], "y": np.arange(24.0) ** 1.1}),
            outcome="y",
            roles={"time": "t"},
            interruption="12",
        ),
        RoleError,
        ("role 'time'", "'t'", "numeric periods or dates"),
    ),
    Case(
        "text periods for synthetic control (they would sort as text)",
        lambda tmp: cqox.estimate(
            "synth",
            cqox.simulate.synth_factor_model(n_donors=6, n_pre=10, n_post=3, seed=1)[0].assign(
                time=lambda d: d["time"].astype(str)
            ),
            outcome="y",
            roles={"unit": "unit", "time": "time", "treatment": "treated"},
        ),
        RoleError,
        ("role 'time'", "'time'", "numeric periods or dates"),
    ),
    Case(
        "IV with no more rows than coefficients and instruments",
        lambda tmp: cqox.estimate(
            "iv_2sls",
            pd.DataFrame({"y": [1.0, 2.0, 4.0], "d": [0.0, 1.0, 1.5], "z": [0, 1, 1]}),
            outcome="y",
            treatment="d",
            roles={"instrument": ["z"]},
        ),
        NoDataError,
        ("iv_2sls", "3 complete rows", "2 coefficients"),
    ),
]


def _panel() -> pd.DataFrame:
    df, _ = cqox.simulate.staggered_panel(n_units=40, n_periods=12, cohorts=(4, 10), seed=3)
    return df


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_raises_a_typed_error_naming_the_culprit(case: Case, tmp_path: Path) -> None:
    with pytest.raises(case.error) as info:
        case.run(tmp_path)
    message = str(info.value)
    for word in case.words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "\n" not in message  # one line, as the CLI prints it


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_error_is_also_a_builtin_error(case: Case, tmp_path: Path) -> None:
    with pytest.raises((ValueError, KeyError)):
        case.run(tmp_path)


def test_all_missing_and_constant_covariates_are_dropped_with_a_warning() -> None:
    df = _with(allna=np.nan, const=5, city="Tokyo")
    est = cqox.estimate(
        "ipw", df, outcome="y", treatment="t", covariates=["x1", "allna", "const", "city"]
    )
    notes = " ".join(est.warnings)
    assert "dropped covariate 'allna': all values missing" in notes
    assert "dropped covariate 'const': constant (5)" in notes
    assert "dropped covariate 'city': constant ('Tokyo')" in notes
    assert est.n == len(df)


def test_missing_values_are_removed_and_counted_never_silently() -> None:
    df = demo()
    df.loc[:9, "x1"] = np.nan
    df.loc[5:14, "y"] = np.nan
    before = df.copy()
    est = cqox.estimate("ipw", df, outcome="y", treatment="t", covariates=["x1", "x2"])
    assert est.n == len(df) - 15
    assert est.counts["n_input"] == len(df)
    assert est.counts["n_dropped_missing"] == 15
    note = next(w for w in est.warnings if "listwise" in w)
    assert "removed 15 of 200 rows" in note and "y (10)" in note and "x1 (10)" in note
    pd.testing.assert_frame_equal(df, before)  # the caller's table is never changed


def test_missing_values_also_reach_the_analysis_warnings() -> None:
    df = demo()
    df.loc[:4, "x2"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak as a stray Python warning
        an = cqox.analyze(df, outcome="y", treatment="t", estimators=["ipw"])
    assert any("removed 5 of 200 rows" in w for w in an.warnings)
