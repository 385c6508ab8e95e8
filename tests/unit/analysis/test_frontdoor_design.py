"""The front-door design: from a graph or a named estimator, never from roles alone."""

from __future__ import annotations

import pytest

import cqox
from cqox.core.design import Design, designs_for
from cqox.core.roles import Roles
from cqox.errors import RoleError
from cqox.simulate.frontdoor import front_door

GRAPH = "U -> t; U -> y; t -> m; m -> y"


def test_roles_alone_never_give_the_front_door_design() -> None:
    designs = designs_for(Roles(outcome="y", treatment="t", mediator="m"))
    assert Design.MEDIATION in designs and Design.FRONTDOOR not in designs


def test_a_graph_that_identifies_by_the_front_door_gives_the_design_and_one_estimate() -> None:
    df, _ = front_door(n=1500, seed=2)
    an = cqox.analyze(df, outcome="y", treatment="t", dag=GRAPH, seed=0)
    assert an.designs == [Design.FRONTDOOR]
    assert [e.estimator for e in an.estimates] == ["frontdoor"]  # not twice


def test_naming_the_estimator_requests_the_design() -> None:
    df, truth = front_door(n=1500, seed=2)
    an = cqox.analyze(
        df, outcome="y", treatment="t", mediator="m", estimators=["frontdoor"], seed=0
    )
    assert Design.FRONTDOOR in an.designs
    (est,) = an.estimates
    assert abs(est.estimate - truth["ATE"]) <= 4 * est.se


def test_covariates_are_refused_by_name() -> None:
    df, _ = front_door(n=300, seed=2)
    with pytest.raises(RoleError, match="role 'covariates'"):
        cqox.estimate(
            "frontdoor", df.assign(x=1.0), outcome="y", treatment="t", mediator="m",
            covariates=["x"],
        )  # fmt: skip
