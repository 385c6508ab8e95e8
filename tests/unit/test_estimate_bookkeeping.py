"""The per-call bookkeeping of ``cqox.estimate`` gives what the slower forms gave.

``Estimate.with_updates`` (a copy without ``__init__``), ``thread_limits`` (no limit when
every pool already runs that many threads), ``Roles.given``/``merge`` (the instance's
fields, not ``dataclasses.fields``) and the one-step merge of a roles mapping with
role keywords in ``cqox.estimate``.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from cqox.analysis.compose import _roles_from
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.roles import Roles
from cqox.errors import RoleError
from cqox.estimators.base import thread_limits


def _estimate() -> Estimate:
    return Estimate.from_se(
        "ipw",
        "ATE",
        1.0,
        0.25,
        n=10,
        counts={"n_trimmed": 1},
        gates=[Gate("overlap", 0.1, 0.05, "pass", "ok")],
        influence=np.arange(3.0),
        warnings=["a"],
    )


def test_with_updates_equals_dataclasses_replace() -> None:
    est = _estimate()
    changes = {"params": {"trim": 0.01}, "elapsed_s": 0.5, "warnings": ["b"], "counts": {}}
    fast, slow = est.with_updates(**changes), dataclasses.replace(est, **changes)
    assert type(fast) is Estimate and fast is not est
    for f in dataclasses.fields(Estimate):
        assert getattr(fast, f.name) is getattr(slow, f.name) or (
            getattr(fast, f.name) == getattr(slow, f.name)
        ), f.name
    assert fast.to_dict() == slow.to_dict()
    assert est.warnings == ["a"] and est.params == {}  # the original is unchanged
    with pytest.raises(TypeError, match="nope"):
        est.with_updates(nope=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.se = 1.0  # type: ignore[misc]


def test_thread_limits_skips_pools_already_at_the_count() -> None:
    pools = [p["num_threads"] for p in threadpool_info()]
    if not pools:
        pytest.skip("no BLAS/OpenMP pool loaded")
    at = pools[0]
    if all(n == at for n in pools):
        assert isinstance(thread_limits(at), contextlib.nullcontext)
    other = at + 1
    limiter = thread_limits(other)
    assert not isinstance(limiter, contextlib.nullcontext)
    with limiter:
        assert all(p["num_threads"] == other for p in threadpool_info())
    assert [p["num_threads"] for p in threadpool_info()] == pools
    assert isinstance(thread_limits(None), contextlib.nullcontext)


def test_given_and_merge_follow_the_fields() -> None:
    a = Roles(outcome="y", covariates=("x1", "x2"), cutoff=0.0, instrument=("z",))
    b = Roles(outcome="other", treatment="t", time="year")
    in_order = [
        f.name
        for f in dataclasses.fields(Roles)
        if f.name != "guesses" and getattr(a, f.name) is not None
    ]
    assert list(a.given()) == in_order
    assert a.given() == {
        "outcome": "y",
        "covariates": ["x1", "x2"],
        "instrument": ["z"],
        "cutoff": 0.0,
    }
    merged = a.merge(b)
    assert merged == Roles(
        outcome="y",
        treatment="t",
        covariates=("x1", "x2"),
        time="year",
        instrument=("z",),
        cutoff=0.0,
    )


def test_roles_mapping_and_keywords_make_one_roles() -> None:
    keywords = {"outcome": "y", "treatment": None, "covariates": ["a", "b"]}
    expected = Roles.from_mapping({"instrument": "z"}).merge(
        Roles.from_mapping({"outcome": "y", "covariates": ["a", "b"]})
    )
    assert _roles_from({"instrument": "z"}, keywords) == expected
    assert _roles_from(None, keywords) == Roles.from_mapping(outcome="y", covariates=["a", "b"])
    given = Roles(outcome="y", time="t")
    assert _roles_from(given, {"outcome": None}) is given
    assert _roles_from(given, {"treatment": "d"}) == Roles(outcome="y", treatment="d", time="t")
    # the same role both ways must agree; the message shows the lists as before
    assert _roles_from({"covariates": ["a", "b"]}, keywords) == Roles(
        outcome="y", covariates=("a", "b")
    )
    with pytest.raises(RoleError, match=r"'covariates' given twice .*\['a', 'b'\] as a keyword"):
        _roles_from({"covariates": ["a"]}, keywords)
    with pytest.raises(RoleError, match="'outcome' given twice"):
        _roles_from(Roles(outcome="w"), keywords)
