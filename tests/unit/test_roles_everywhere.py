"""A role has one name in Python keywords, CLI flags, JSON keys and HTTP fields."""

from __future__ import annotations

import pytest

import cqox
from cqox.cli.main import build_parser
from cqox.core.roles import ALL_ROLES, Roles, role_kind
from cqox.estimators import registry
from cqox.simulate.panel import staggered_panel


@pytest.fixture(scope="module")
def panel():  # type: ignore[no-untyped-def]
    df, _ = staggered_panel(n_units=80, n_periods=5, cohorts=(3,), seed=1)
    return df


def test_analyze_takes_every_role_as_a_keyword(panel) -> None:  # type: ignore[no-untyped-def]
    by_keyword = cqox.analyze(
        panel, outcome="y", treatment="d", unit="unit", time="time", estimators=["did_twfe"]
    )
    by_mapping = cqox.analyze(
        panel,
        roles={"outcome": "y", "treatment": "d", "unit": "unit", "time": "time"},
        estimators=["did_twfe"],
    )
    assert by_keyword.roles.unit == "unit" and by_keyword.roles.time == "time"
    assert by_keyword.estimates[0].estimate == by_mapping.estimates[0].estimate


def test_estimate_takes_roles_and_parameters_as_keywords(panel) -> None:  # type: ignore[no-untyped-def]
    est = cqox.estimate(
        "did_cs", panel, outcome="y", unit="unit", time="time", cohort="cohort", n_boot=0
    )
    assert est.estimator == "did_cs" and est.params["n_boot"] == 0


def test_an_unknown_role_keyword_is_named_with_a_hint(panel) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(cqox.RoleError, match="unknown role 'unti'; did you mean 'unit'"):
        cqox.analyze(panel, outcome="y", unti="unit")


def test_a_role_given_twice_differently_is_refused(panel) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(cqox.RoleError, match="role 'unit' given twice"):
        cqox.analyze(panel, outcome="y", unit="unit", roles={"unit": "time"})


def test_no_estimator_parameter_is_named_like_a_role() -> None:
    for name, cls in registry.all_estimators().items():
        clash = {p.name for p in cls.parameters} & set(ALL_ROLES)
        assert not clash, f"{name}: parameter(s) {clash} would be read as roles by cqox.estimate"


@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_cli_has_a_flag_for_every_role(role: str) -> None:
    value = "0.5" if role_kind(role) == "value" else "col_a,col_b"
    args = build_parser().parse_args(["analyze", "data.csv", f"--{role.replace('_', '-')}", value])
    assert getattr(args, role) is not None


def test_role_aliases_are_deprecated_but_still_work() -> None:
    with pytest.warns(DeprecationWarning, match="role alias") as caught:
        roles = Roles.from_mapping({"y": "a", "unit_id": "b", "d": "c"})
    assert len(caught) == 3
    assert (roles.outcome, roles.unit, roles.treatment) == ("a", "b", "c")


def test_the_role_list_and_the_roles_type_agree() -> None:
    from dataclasses import fields

    assert sorted(ALL_ROLES) == sorted(f.name for f in fields(Roles) if f.name != "guesses")
