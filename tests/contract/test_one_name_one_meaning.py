"""One name per concept: a parameter name means one thing across the registry, a gate's
threshold is overridden by the gate's own name, and every renamed name still works for
one release with a DeprecationWarning."""

from __future__ import annotations

import warnings
from collections import defaultdict

import pytest

import cqox
from cqox.core.context import Context
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.core.thresholds import DEFAULT_THRESHOLDS, DEPRECATED_THRESHOLDS
from cqox.estimators import registry
from cqox.estimators.common import SHARED_MEANINGS
from cqox.inference.se_methods import SE_METHODS

ESTIMATORS = registry.all_estimators()

#: Names retired in favour of the canonical ones (docs/parameters.md lists them).  None
#: of them may name a parameter again, except ``trim``, which is canonical (a float
#: cut-off) and was also psm's / stratification's former common-support switch.
RETIRED = {"n_bootstrap", "trimming_threshold", "inference", "cov_type", "vce", "se_aggregation"}


def _uses() -> dict[str, list[tuple[str, Param]]]:
    uses: dict[str, list[tuple[str, Param]]] = defaultdict(list)
    for name, cls in ESTIMATORS.items():
        for p in cls.parameters:
            uses[p.name].append((name, p))
    return uses


def test_a_name_used_by_several_estimators_is_a_shared_name() -> None:
    """Either one Param object (one family's shared declaration) or a declared shared name."""
    shared_by_chance = {
        n: [e for e, _ in u]
        for n, u in _uses().items()
        if len({id(p) for _, p in u}) > 1 and n not in SHARED_MEANINGS
    }
    assert not shared_by_chance, (
        f"parameters used by several estimators without a shared meaning: {shared_by_chance}; "
        "declare them in cqox.estimators.common.SHARED_MEANINGS"
    )


@pytest.mark.parametrize("name", sorted(SHARED_MEANINGS))
def test_a_shared_name_has_one_kind_and_one_meaning(name: str) -> None:
    kind, meaning = SHARED_MEANINGS[name]
    for estimator, p in _uses().get(name, []):
        assert p.kind == kind, f"{estimator}.{name} is a {p.kind}, elsewhere a {kind}"
        assert p.doc.startswith(meaning), f"{estimator}.{name} means {p.doc!r}, not {meaning!r}"


def test_retired_names_name_no_parameter() -> None:
    assert not RETIRED & set(_uses())


def test_every_se_method_value_is_in_the_one_table() -> None:
    for estimator, p in _uses()["se_method"]:
        assert p.choices is not None
        assert set(p.choices) <= set(SE_METHODS), estimator


def test_an_alias_is_never_the_canonical_name_of_the_same_estimator() -> None:
    for name, cls in ESTIMATORS.items():
        names = {p.name for p in cls.parameters}
        aliases = [a for p in cls.parameters for a in p.aliases]
        assert not names & set(aliases), name
        assert len(aliases) == len(set(aliases)), name


DEPRECATED_PARAMS = [
    ("psm", "trim", True, "common_support"),
    ("stratification", "trim", True, "common_support"),
    ("dml_irm", "trimming_threshold", 0.02, "clip"),
    ("dml_irm", "se_aggregation", "median_ci", "se_method"),
    ("panel_match", "n_bootstrap", 60, "n_boot"),
    ("its", "inference", "normal", "se_method"),
    ("iv_2sls", "cov_type", "unadjusted", "se_method"),
    ("iv_liml", "cov_type", "unadjusted", "se_method"),
    ("rd", "vce", "hc1", "se_method"),
    ("synth", "inference", "placebo", "se_method"),
]


@pytest.mark.parametrize(("estimator", "old", "value", "new"), DEPRECATED_PARAMS)
def test_a_deprecated_parameter_name_still_works_and_warns(
    estimator: str, old: str, value: object, new: str
) -> None:
    est = registry.get(estimator)(**{old: value})
    with pytest.warns(DeprecationWarning, match=f"'{old}'.*use '{new}'"):
        params = est.resolved_params()
    assert (params[new] == value and old not in params) or old == "trim"


def test_a_parameter_and_its_deprecated_alias_together_are_refused() -> None:
    est = registry.get("rd")(vce="hc1", se_method="nn")
    refused = pytest.raises(cqox.ParameterError, match="'se_method' and its deprecated alias 'vce'")
    with refused, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        est.resolved_params()


def test_the_deprecated_name_gives_the_same_numbers() -> None:
    df, _ = cqox.simulate.confounded_binary(n=400, seed=4)
    kw = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]}
    new = cqox.estimate("psm", df, common_support=True, **kw)
    with pytest.warns(DeprecationWarning):
        old = cqox.estimate("psm", df, trim=True, **kw)
    assert (old.estimate, old.se) == (new.estimate, new.se)
    assert old.params["common_support"] is True and "trim" not in old.params


# --- gates: the override key is the gate's name ---------------------------------------


@pytest.mark.parametrize("key", sorted(DEFAULT_THRESHOLDS))
def test_a_threshold_is_keyed_by_its_gate_name(key: str) -> None:
    gate = DEFAULT_THRESHOLDS[key].gate
    assert key == gate or key.startswith(gate + "_"), (key, gate)


@pytest.mark.parametrize(("old", "new"), sorted(DEPRECATED_THRESHOLDS.items()))
def test_a_deprecated_threshold_name_still_works_and_warns(old: str, new: tuple[str, ...]) -> None:
    assert old not in DEFAULT_THRESHOLDS and set(new) <= set(DEFAULT_THRESHOLDS)
    with pytest.warns(DeprecationWarning, match=f"'{old}' is deprecated"):
        ctx = Context(thresholds={old: 0.123})
    assert all(ctx.threshold(n) == 0.123 for n in new)


def test_an_unknown_threshold_is_refused_with_a_hint() -> None:
    with pytest.raises(cqox.ParameterError, match="did you mean 'effective_sample_size'"):
        Context(thresholds={"effective_sample_siz": 0.5})


def test_a_deprecated_threshold_changes_the_gate_it_named() -> None:
    df, _ = cqox.simulate.confounded_binary(n=400, seed=4)
    kw = {"outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]}
    with pytest.warns(DeprecationWarning):
        old = cqox.estimate("ipw", df, thresholds={"ess_ratio": 0.999}, **kw)
    new = cqox.estimate("ipw", df, thresholds={"effective_sample_size": 0.999}, **kw)
    g_old = next(g for g in old.gates if g.name == "effective_sample_size")
    g_new = next(g for g in new.gates if g.name == "effective_sample_size")
    assert g_old.threshold == g_new.threshold == 0.999 and g_new.status != "pass"


def test_a_deprecation_points_at_the_callers_line() -> None:
    """Python shows a DeprecationWarning by default only in ``__main__``: it must name the
    user's own line, not a line inside CQOx."""
    df, _ = cqox.simulate.confounded_binary(n=300, seed=4)
    with pytest.warns(cqox.CqoxDeprecationWarning) as caught:
        cqox.estimate("ipw", df, outcome="y", treatment="t", thresholds={"ess_ratio": 0.5})
        Context(thresholds={"iv_weak_f": 5.0})
        Roles.from_mapping({"y": "y"})
        registry.get("rd")(vce="hc1").resolved_params()
    assert len(caught) == 4
    assert {w.filename for w in caught} == {__file__}
