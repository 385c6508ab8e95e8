"""The per-call look-ups of ``cqox.estimate`` answer as the slower forms they replace.

Issue #15: the fixed cost of a call is what separates a small fit from its peers.
Each faster form below is compared with the code it replaced (kept here as the
reference), on good input for equal results and on bad input for the same error
type and message: role normalisation (sets instead of tuple scans, ``Roles`` filled
without ``__init__``), the keyword split, the parameter resolution (tables built once
per estimator), the column checks (pandas' engine), the plain preparation's role
columns and column positions, and the tables' column check.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cqox.analysis.compose import _check_columns, _roles_from
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.params import Param, resolve_params
from cqox.core.roles import (
    ALL_ROLES,
    COLUMN_ROLES,
    ROLE_ALIASES,
    Roles,
    normalise_covariates,
    normalise_roles,
    split_role_keywords,
)
from cqox.core.tables import Tables
from cqox.data.prepare import (
    CausalData,
    _all_finite,
    _finite_and_varies,
    _is_constant,
    _other_role_columns,
    _positions,
    _prepare_plain,
    _read_columns,
    _role_columns,
)
from cqox.errors import ParameterError, RoleError, closest, column_not_found
from cqox.estimators import registry


def _outcome(f: Callable[[], Any]) -> tuple[str, Any]:
    """``("ok", value)`` or ``(error type, message)``, warnings recorded alongside."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out: tuple[str, Any] = ("ok", f())
        except Exception as exc:  # the type and the message are what is compared
            out = (type(exc).__name__, str(exc))
    return out[0], (out[1], [str(w.message) for w in caught])


# --- the replaced code, verbatim -------------------------------------------------------


def _normalise_roles_before(mapping: Mapping[str, Any]) -> dict[str, Any]:
    from cqox.errors import warn_deprecated

    merged: dict[str, Any] = {}
    for key, value in mapping.items():
        name = ROLE_ALIASES.get(key, key)
        if key in ROLE_ALIASES:
            warn_deprecated(
                f"role alias '{key}' is deprecated and will be removed in the next "
                f"release; use '{name}'"
            )
        if name not in ALL_ROLES:
            hint = closest(key, ALL_ROLES)
            raise RoleError(
                f"unknown role '{key}'"
                + (f"; did you mean '{hint}'?" if hint else "")
                + f" (roles: {', '.join(ALL_ROLES)})",
                details={"role": key},
            )
        if value is None or (isinstance(value, str | list | tuple) and len(value) == 0):
            continue
        merged[name] = value
    if "covariates" in merged:
        merged["covariates"] = normalise_covariates(merged["covariates"])
    if "instrument" in merged:
        inst = merged["instrument"]
        merged["instrument"] = (inst,) if isinstance(inst, str) else tuple(inst)
    if "cutoff" in merged:
        try:
            merged["cutoff"] = float(merged["cutoff"])
        except (TypeError, ValueError):
            raise RoleError(
                f"role 'cutoff' must be a number; got {merged['cutoff']!r}",
                details={"role": "cutoff"},
            ) from None
    for name in COLUMN_ROLES:
        if name in merged and not isinstance(merged[name], str):
            raise RoleError(
                f"role '{name}' must name one column; got {merged[name]!r}",
                details={"role": name},
            )
    return merged


def _roles_from_before(roles: Mapping[str, Any] | None, keywords: Mapping[str, Any]) -> Roles:
    from cqox.analysis.compose import _no_clash

    named = {k: v for k, v in keywords.items() if v is not None}
    mine, theirs = _normalise_roles_before(dict(roles or {})), _normalise_roles_before(named)
    _no_clash(mine, theirs)
    return Roles(**{**theirs, **mine})


def _check_columns_before(df: pd.DataFrame, roles: Roles) -> None:
    index = df.columns
    text = index.inferred_type == "string"
    columns: Any = index if text else [str(c) for c in index]
    for role, value in roles.given().items():
        if role == "cutoff" or (role == "covariates" and isinstance(value, str)):
            continue
        for col in value if isinstance(value, list) else [value]:
            if col not in columns:
                raise column_not_found(role, col, [str(c) for c in index])


def _resolve_params_before(
    specs: Sequence[Param], given: Mapping[str, Any], owner: str
) -> dict[str, Any]:
    from cqox.errors import warn_deprecated

    by_name = {p.name: p for p in specs}
    by_alias = {a: p.name for p in specs for a in p.aliases}
    named: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in given.items():
        if key in by_name:
            new = key
        elif key in by_alias:
            new = by_alias[key]
            warn_deprecated(
                f"The '{key}' parameter of {owner} is deprecated and will be removed in the "
                f"next release; use '{new}' instead."
            )
        else:
            hint = closest(key, [*by_name, *by_alias])
            hint = by_alias.get(hint, hint) if hint else hint
            known = ", ".join(by_name) or "none"
            raise ParameterError(
                f"{owner} has no parameter '{key}'"
                + (f"; did you mean '{hint}'?" if hint else "")
                + f" (parameters: {known})",
                details={"parameter": key, "estimator": owner},
            )
        if new in named:
            alias = key if key != new else spelled[new]
            raise ParameterError(
                f"{owner} got both '{new}' and its deprecated alias '{alias}'; give '{new}' only",
                details={"parameter": new, "estimator": owner},
            )
        named[new], spelled[new] = value, key
    return {p.name: p.coerce(named[p.name], owner) if p.name in named else p.default for p in specs}


# --- roles ------------------------------------------------------------------------------

ROLE_MAPPINGS: list[dict[Any, Any]] = [
    {},
    {"instrument": "z"},
    {"instrument": ["z1", "z2"], "cluster": "g"},
    {"unit": "id", "time": "year", "cohort": "g"},
    {"running": "score", "cutoff": 0},
    {"running": "score", "cutoff": "0.5"},
    {"cutoff": "high"},  # not a number
    {"unit": ["a", "b"]},  # a column role with several columns
    {"unit": 3, "time": ["t"]},  # two offenders: the first in the order of the roles
    {"time": ("t",), "unit": 3},
    {"unti": "id"},  # unknown, with a hint
    {"zzzz": "id"},  # unknown, no hint
    {"y": "outcome2"},  # a deprecated alias
    {"weight": "", "sample": None, "instrument": []},  # empty values are not given
    {"covariates": "a + I(b**2)"},
    {"covariates": "a, b"},
    {"covariates": ["a", 2]},
    {"covariates": 5},
    {"outcome": "y"},  # also a keyword below: the same or a clash
    {"outcome": "w"},
    {1: "x"},
]
KEYWORDS: list[dict[str, Any]] = [
    {"outcome": "y", "treatment": "d", "covariates": ["a", "b"]},
    {"outcome": "y", "treatment": None, "covariates": None},
    {"outcome": None, "treatment": None, "covariates": "a + b"},
    {"outcome": "y", "treatment": "d", "covariates": ["a"], "dose": "dd", "lat": "la"},
    {"outcome": "y", "treatment": "d", "covariates": (), "time": 4},
]


@pytest.mark.parametrize(("mapping", "keywords"), list(itertools.product(ROLE_MAPPINGS, KEYWORDS)))
def test_roles_from_a_mapping_and_keywords_as_before(
    mapping: dict[str, Any], keywords: dict[str, Any]
) -> None:
    fast = _outcome(lambda: _roles_from(mapping, keywords))
    slow = _outcome(lambda: _roles_from_before(mapping, keywords))
    assert fast == slow
    if fast[0] == "ok":
        a, b = fast[1][0], slow[1][0]
        assert list(vars(a).items()) == list(vars(b).items())  # same fields, same order
        assert hash(a) == hash(b) and a.given() == b.given() and a.to_dict() == b.to_dict()


@pytest.mark.parametrize("mapping", ROLE_MAPPINGS)
def test_normalise_roles_as_before(mapping: dict[str, Any]) -> None:
    assert _outcome(lambda: normalise_roles(mapping)) == _outcome(
        lambda: _normalise_roles_before(mapping)
    )


def test_roles_from_normalised_values_equal_the_constructed_ones() -> None:
    values = normalise_roles({"outcome": "y", "instrument": "z", "cutoff": 1, "covariates": "a,b"})
    fast, slow = Roles.from_normalised(values), Roles(**values)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert list(vars(fast)) == [f.name for f in dataclasses.fields(Roles)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.outcome = "w"  # type: ignore[misc]
    assert Roles.from_normalised({}) == Roles()


def test_role_keywords_split_as_before() -> None:
    keywords = {"unit": "id", "trim": 0.1, "cutoff": 0, "estimand": "ATT", "y": 1, "lon": "x"}
    roles, rest = split_role_keywords(keywords)
    assert roles == {k: v for k, v in keywords.items() if k in ALL_ROLES}
    assert rest == {k: v for k, v in keywords.items() if k not in ALL_ROLES}
    assert list(roles) == ["unit", "cutoff", "lon"] and list(rest) == ["trim", "estimand", "y"]


# --- columns ----------------------------------------------------------------------------


def _table(labels: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(np.zeros((3, len(labels))), columns=labels)


COLUMN_CASES: list[tuple[list[Any], Roles]] = [
    (["y", "d", "a", "b", "z"], Roles(outcome="y", treatment="d", covariates=("a", "b"))),
    (["y", "d", "a", "z"], Roles(outcome="y", treatment="d", covariates=("a", "b"))),
    (["y", "d", "z"], Roles(outcome="y", instrument=("z", "q"), cutoff=1.0)),
    (["y", "d", "a"], Roles(outcome="y", covariates="a + I(b**2)", running="r")),
    (["y", "d", "a"], Roles(outcome="y", covariates="a + I(b**2)")),
    (["y", "d"], Roles(outcome="y", treatment=["d"])),  # type: ignore[arg-type]
    (["y", "d"], Roles(outcome="y", treatment=3)),  # type: ignore[arg-type]
    (["y", "d"], Roles(outcome="y", instrument=(3,))),  # type: ignore[arg-type]
    ([0, 1, "y"], Roles(outcome="y", treatment="1")),
    ([0, 1, "y"], Roles(outcome="y", treatment="2")),
]


@pytest.mark.parametrize(("labels", "roles"), COLUMN_CASES)
def test_column_checks_as_before(labels: list[Any], roles: Roles) -> None:
    df = _table(labels)
    assert _outcome(lambda: _check_columns(df, roles)) == _outcome(
        lambda: _check_columns_before(df, roles)
    )


@pytest.mark.parametrize(
    "roles",
    [
        Roles(outcome="y", treatment="d", covariates=("a", "b", "y"), instrument=("z", "a")),
        Roles(outcome="y", running="r", cutoff=0.5, covariates="a + I(b**2)", cluster="g"),
        Roles(outcome="y", treatment="t", weight="w", lat="la", lon="lo", covariates=()),
        Roles(outcome="y", instrument=(3, "z")),  # type: ignore[arg-type]
        Roles(outcome="y", instrument=(["z"],)),  # type: ignore[arg-type]
    ],
)
def test_other_role_columns_as_before(roles: Roles) -> None:
    cov = roles.covariates
    listed = tuple(cov) if isinstance(cov, list | tuple) else ()
    assert _other_role_columns(roles, listed) == [
        c for _, c in _role_columns(roles) if c not in listed
    ]


@pytest.mark.parametrize(
    "used", [["y", "d", "a"], ["a"], ["y", "nope"], [], ["d", 3], ["y", ["d"]], ["y", 2.5]]
)
def test_positions_as_get_loc(used: list[Any]) -> None:
    index = _table(["y", "d", "a", "b"]).columns

    def before() -> list[Any] | None:
        try:
            return [index.get_loc(c) for c in used]
        except KeyError:
            return None

    assert _outcome(lambda: _positions(index, used)) == _outcome(before)


# --- parameters -------------------------------------------------------------------------

PARAMETER_CASES: list[tuple[str, dict[str, Any]]] = [
    ("its", {}),
    ("its", {"estimand": "level_change", "interruption": 600, "hac_lag": 5}),
    ("its", {"se_method": "NORMAL", "hac_lag": "5", "ci_level": 0.9}),
    ("its", {"hac_lag": -1, "ci_level": 2.0}),  # two bad values: the first in spec order
    ("its", {"ci_level": 2.0, "hac_lag": -1}),
    ("its", {"hac_lagg": 4}),
    ("iv_2sls", {"cov_type": "robust"}),  # a deprecated alias
    ("iv_2sls", {"cov_type": "robust", "se_method": "robust"}),
    ("iv_2sls", {"se_method": "robust", "cov_type": "robust"}),
    ("iv_2sls", {"debiased": 1}),
    ("ipw", {"trim": 0.01, "estimand": "ATT"}),
    ("ipw", {"trim": True}),
    ("rd", {}),
    ("rd", {"nope": 1}),
]


@pytest.mark.parametrize(("name", "given"), PARAMETER_CASES)
def test_parameters_resolve_as_before(name: str, given: dict[str, Any]) -> None:
    cls = registry.get(name)
    for _ in range(2):  # the second call reads the cached tables
        fast = _outcome(lambda: resolve_params(cls.parameters, given, name))
        slow = _outcome(lambda: _resolve_params_before(cls.parameters, given, name))
        assert fast == slow
        if fast[0] == "ok":
            assert list(fast[1][0]) == list(slow[1][0])  # the order of the specs
            for key, value in fast[1][0].items():
                assert type(value) is type(slow[1][0][key])


def test_parameters_given_as_a_list_of_specs_are_not_cached() -> None:
    specs = [Param("a", 1, "int", "a"), Param("b", 0.5, "float", "b", low=0.0)]
    assert resolve_params(specs, {"b": 1}, "x") == {"a": 1, "b": 1.0}
    specs.append(Param("c", "u", "str", "c"))
    assert resolve_params(specs, {}, "x") == {"a": 1, "b": 0.5, "c": "u"}


# --- tables -----------------------------------------------------------------------------


def test_table_columns_are_checked_as_before() -> None:
    Tables(t={"a": np.arange(3.0), "b": [1, 2, 3], "c": pd.Series([1, 2])})
    with pytest.raises(ValueError, match="column 'a' has shape \\(3, 1\\)"):
        Tables(t={"a": np.zeros((3, 1))})
    with pytest.raises(ValueError, match="column 'a' has shape \\(\\)"):
        Tables(t={"a": np.array(1.0)})
    with pytest.raises(ValueError, match="different lengths \\[2, 3\\]"):
        Tables(t={"a": np.arange(3.0), "b": np.arange(2)})
    with pytest.raises(TypeError, match="column 'b' is a str"):
        Tables(t={"a": np.arange(3.0), "b": "abc"})


# --- Estimate and Gate ------------------------------------------------------------------


def _generated(cls: type) -> type:
    """A frozen dataclass of ``cls``'s fields whose ``__init__`` the dataclass generates."""
    specs = []
    for f in dataclasses.fields(cls):
        kw: dict[str, Any] = {"repr": f.repr, "compare": f.compare}
        if f.default is not dataclasses.MISSING:
            kw["default"] = f.default
        if f.default_factory is not dataclasses.MISSING:
            kw["default_factory"] = f.default_factory
        specs.append((f.name, f.type, dataclasses.field(**kw)))
    return dataclasses.make_dataclass(f"Generated{cls.__name__}", specs, frozen=True)


ESTIMATE_ARGS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("ipw", "ATE", 1.0, 0.1, (0.8, 1.2), 0.01), {}),
    (("ipw", "ATE", 1.0, 0.1, (0.8, 1.2), 0.01, 0.9, 10, 4, 6), {"method": "m"}),
    (
        ("its", "level_change", 1.0, 0.1, (0.8, 1.2), 0.01),
        {
            "n": 5,
            "counts": {"a": 1},
            "diagnostics": {"b": 2.0},
            "gates": [Gate("g", 1.0, 2.0, "pass", "ok")],
            "tables": Tables(t={"a": np.arange(2.0)}),
            "params": {"x": 1},
            "elapsed_s": 0.5,
            "warnings": ["w"],
            "influence": np.arange(3.0),
        },
    ),
    (("ipw",), {}),  # missing arguments
    (("ipw", "ATE", 1.0, 0.1, (0.8, 1.2), 0.01), {"estimate": 2.0}),  # given twice
]


@pytest.mark.parametrize(("args", "kwargs"), ESTIMATE_ARGS)
def test_estimate_init_as_the_generated_one(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    reference = _generated(Estimate)
    fast = _outcome(lambda: vars(Estimate(*args, **kwargs)))
    slow = _outcome(lambda: vars(reference(*args, **kwargs)))
    assert fast[0] == slow[0]
    if fast[0] == "ok":
        a, b = fast[1][0], slow[1][0]
        assert list(a) == list(b) and all(a[k] is b[k] or a[k] == b[k] for k in a)
    with pytest.raises(TypeError, match="nope"):
        Estimate("ipw", "ATE", 1.0, 0.1, (0.8, 1.2), 0.01, nope=1)  # type: ignore[call-arg]


def test_estimates_and_gates_get_their_own_empty_containers() -> None:
    a, b = (Estimate("ipw", "ATE", 1.0, 0.1, (0.8, 1.2), 0.01) for _ in range(2))
    for name in ("counts", "diagnostics", "gates", "tables", "params", "warnings"):
        assert getattr(a, name) == getattr(b, name) == type(getattr(b, name))()
        assert getattr(a, name) is not getattr(b, name), name
    g, h = Gate("g", 1.0, 2.0, "pass", "ok"), Gate("g", 1.0, 2.0, "pass", "ok")
    assert g.details == {} and g.details is not h.details and g == h
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.se = 2.0  # type: ignore[misc]
    assert dataclasses.replace(a, se=2.0).se == 2.0 and a.se == 0.1


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("g", 1.0, 2.0, "pass", "ok"), {}),
        (("g", None, None, "not_applicable", "n/a"), {"details": {"k": 1}}),
        (("g", 1.0, 2.0, "bad", "ok"), {}),  # not a status
        (("g", 1.0), {}),
        (("g", 1.0, 2.0, "warn"), {"message": "m", "details": None}),
    ],
)
def test_gate_init_as_the_generated_one(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    reference = _generated(Gate)

    def slow() -> dict[str, Any]:
        made = vars(reference(*args, **kwargs))
        if made["status"] not in ("pass", "warn", "fail", "not_applicable"):  # __post_init__
            raise ValueError(
                "Gate status must be one of ('pass', 'warn', 'fail', 'not_applicable'); "
                f"got {made['status']!r}"
            )
        return made

    fast = _outcome(lambda: vars(Gate(*args, **kwargs)))
    assert fast[0] == _outcome(slow)[0]
    if fast[0] != "TypeError":  # the messages name the class
        assert fast == _outcome(slow)


# --- the plain preparation's checks of the outcome and the treatment ---------------------


@pytest.mark.parametrize(
    "values",
    [
        [1.0, 2.0, 3.0],
        [2.0, 2.0, 2.0],
        [1.0, np.nan, 3.0],
        [np.nan, np.nan, np.nan],
        [1.0, np.inf, 3.0],
        [-np.inf, 1.0, 3.0],
        [np.inf, np.inf, np.inf],
        [-np.inf, np.inf, 0.0],
        [1e308, 1e308, -1.0],  # finite values whose sum overflows
        [5.0],
        [-0.0, 0.0, 0.0],
    ],
)
def test_finite_and_varies_as_the_sum_and_range_checks(values: list[float]) -> None:
    v = np.array(values)
    with np.errstate(over="ignore", invalid="ignore"):  # the sum of the old check
        assert _finite_and_varies(v) == (_all_finite(v) and not _is_constant(v))


@pytest.mark.parametrize(
    "t",
    [[0, 1, 1, 0], [0, 1, 1, 1], [0, 1, 2, 0], [0, 1, np.nan, 0], [1, 1, 1, 1], [0, 0, 1, 1.0]],
)
def test_plain_preparation_takes_the_same_tables_as_before(t: list[float]) -> None:
    # the general path answers whatever the plain one declines: the same data either way
    df = pd.DataFrame(
        {"y": [1.0, 2.0, 3.0, 5.0], "t": np.array(t, dtype=float), "x": [0.5, 1.0, 0.0, 2.0]}
    )
    roles = Roles(outcome="y", treatment="t", covariates=("x",))
    n1 = int((df["t"] == 1).sum())
    before = (
        bool(((df["t"] == 1) | (df["t"] == 0)).all()) and min(n1, len(df) - n1) >= 2
    )  # the replaced test: 0/1 everywhere, two rows per arm
    plain = _prepare_plain(
        df,
        roles,
        ("outcome", "treatment"),
        (),
        binary_treatment=True,
        numeric_outcome=True,
        min_per_arm=2,
    )
    assert (plain is not None) == before


def _mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.standard_normal((6, 3)), columns=["a", "b", "c"])
    df["i"] = np.arange(6)
    df["flag"] = np.arange(6) % 2 == 0
    df["s"] = list("uvwxyz")
    df["nullable"] = pd.array([1, None, 3, 4, 5, 6], dtype="Int64")
    df["when"] = pd.date_range("2020-01-01", periods=6, tz="UTC")
    df["cat"] = pd.Categorical(list("aabbcc"))
    df["f32"] = np.arange(6, dtype=np.float32)
    df["d"] = rng.standard_normal(6)  # a second float block (not consolidated)
    return df


@pytest.mark.parametrize(
    "frame",
    [
        _mixed_frame(),
        _mixed_frame().copy(),  # consolidated
        _mixed_frame()[["d", "a", "s", "c"]],
        pd.DataFrame({"x": [1.0, 2.0]}),
    ],
)
def test_columns_read_at_once_as_pandas_reads_each(frame: pd.DataFrame) -> None:
    positions = [*range(frame.shape[1] - 1, -1, -1), 0]
    fast = _read_columns(frame, positions)
    slow = [frame._get_column_array(j) for j in positions]  # type: ignore[operator]
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert type(a) is type(b)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape and a.strides == b.strides
            assert np.shares_memory(a, b) and a.__array_interface__ == b.__array_interface__
        else:
            assert a is b or a.equals(b)
    assert _read_columns(frame, []) == []


def test_covariate_columns_become_read_only_views_when_first_read() -> None:
    rng = np.random.default_rng(8)
    df = pd.DataFrame(rng.standard_normal((50, 3)), columns=["a", "b", "y"])
    df["t"] = np.arange(50) % 2
    data = _prepare_plain(
        df,
        Roles(outcome="y", treatment="t", covariates=("a", "b")),
        ("outcome", "treatment"),
        (),
        binary_treatment=True,
        numeric_outcome=True,
        min_per_arm=2,
    )
    assert data is not None
    first = data.values("a")
    assert first is data.values("a")  # one view, kept
    assert not first.flags.writeable and np.shares_memory(first, df["a"].to_numpy())
    np.testing.assert_array_equal(first, df["a"].to_numpy())
    assert data.y is not None and not data.y.flags.writeable


@pytest.mark.parametrize("given", [{}, {"dropped": {"x": "constant"}, "warnings": ["w"]}])
def test_causal_data_init_as_the_generated_one(given: dict[str, Any]) -> None:
    df = pd.DataFrame({"y": [1.0, 2.0], "t": [0.0, 1.0]})
    names: list[str] = []
    args: tuple[Any, ...] = (df, Roles(outcome="y"), np.ones(2), np.zeros(2))
    args += (np.empty((2, 0)), names, np.arange(2), 2)
    fast, slow = vars(CausalData(*args, **given)), vars(_generated(CausalData)(*args, **given))
    assert list(fast) == list(slow)
    for key, value in fast.items():  # the arrays themselves; equal containers
        assert value is slow[key] or (key in ("dropped", "warnings") and value == slow[key])
    a, b = CausalData(*args), CausalData(*args)
    assert a.dropped == {} and a.dropped is not b.dropped and a.warnings is not b.warnings
    assert a.frame is df and a.replace(n_input=3).n_input == 3
    with pytest.raises(TypeError):
        CausalData(*args[:3])
