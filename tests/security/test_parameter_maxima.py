"""Every count-like estimator parameter has a declared maximum (a contract over the registry).

An integer parameter without ``high`` lets one request ask for 2·10⁷ bootstrap
replicates, 10⁶ strata or neighbours: a denial of service in one line.  The test
walks the registry, so an estimator added later without maxima fails here.
"""

from __future__ import annotations

import math
import re

import pytest

from cqox.core.params import CORES, Param
from cqox.errors import ParameterError
from cqox.estimators import registry

#: Names that count something the work grows with (replicates, folds, trees, …).
COUNT_LIKE = re.compile(
    r"^n_|boot|perm|rep|trees|neighbou?rs|strata|folds|draws|iter|groups|terms|lags?$|leads?$"
)


def _int_params() -> list[tuple[str, Param]]:
    return [
        (name, p)
        for name, cls in sorted(registry.all_estimators().items())
        for p in cls.parameters
        if p.kind == "int"
    ]


def test_every_count_like_int_parameter_declares_a_maximum() -> None:
    counts = [(n, p) for n, p in _int_params() if COUNT_LIKE.search(p.name)]
    assert len(counts) >= 10  # the registry really was walked
    missing = [f"{n}.{p.name}" for n, p in counts if p.high is None or not math.isfinite(p.high)]
    assert not missing, f"count-like parameters without a maximum (high=): {missing}"


def test_every_int_parameter_declares_a_maximum() -> None:
    missing = [f"{n}.{p.name}" for n, p in _int_params() if p.high is None]
    assert not missing, f"int parameters without a maximum (high=): {missing}"


def test_n_jobs_is_at_most_the_cores() -> None:
    jobs = [(n, p) for n, p in _int_params() if p.name == "n_jobs"]
    assert jobs
    for name, p in jobs:
        assert p.high is not None and p.high <= CORES, (name, p.high, CORES)
        with pytest.raises(ParameterError, match="n_jobs"):
            p.coerce(CORES + 1, name)


@pytest.mark.parametrize(
    ("estimator", "parameter"), [("bootstrap", "n_boot"), ("psm", "n_neighbors")]
)
def test_a_value_above_the_maximum_is_refused_naming_the_parameter(
    estimator: str, parameter: str
) -> None:
    p = next(q for q in registry.get(estimator).parameters if q.name == parameter)
    assert p.high is not None
    with pytest.raises(ParameterError, match=f"'{parameter}' parameter of {estimator}"):
        p.coerce(2e7, estimator)
