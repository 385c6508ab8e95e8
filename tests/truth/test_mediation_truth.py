"""``mediation`` and ``mediation_dml`` recover known natural direct and indirect effects.

Design: :func:`cqox.simulate.mediation.mediation_linear` — treatment confounded by
``x1, x2``, a linear mediator, a linear (or probit) outcome with an optional
treatment × mediator interaction; population effects in closed form.  Every model is
correctly specified there (with linear learners the cross-fitted nuisances are too:
``P(D=1 | M, X)`` is logistic-linear because ``M | D, X`` is normal with one variance).

- default run: ``|θ̂ − θ| ≤ 3·SE`` for NIE, NDE and TE on a few seeds and designs
  (fails with probability 0.27 % per check when the SEs are right);
- ``ci_bounded`` (≈ 1 min): 600 replications at n = 500 (interaction 0.4): coverage of
  the 95 % intervals of NIE and NDE in [93 %, 97 %] for both estimators, mean bias
  within 4 MC SEs;
- ``slow``: 2000 replications at n = 1000 for the linear design, and 1000 for the
  probit outcome with ``mediation`` (the ACME/ADE on the probability scale).

Run the bounded study with ``--ci-bounded``, the full ones with ``--run-slow``; add
``-s`` for the table.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from cqox.core.context import Context
from cqox.core.roles import Roles
from cqox.errors import CqoxWarning
from cqox.estimators import registry
from cqox.simulate.mediation import mediation_linear

ROLES = Roles.from_mapping(
    {"outcome": "y", "treatment": "t", "mediator": "m", "covariates": ["x1", "x2", "x3"]}
)
QUICK_Z = 3.0
#: With R = 600 the Monte-Carlo SE of a 95 % coverage is 0.89 pp: 93–97 % is ±2.2 MC SEs
#: per cell (R = 2000 in the slow study: ±4.1 MC SEs).
COVERAGE_BAND = (0.93, 0.97)
BIAS_Z = 4.0
EFFECTS = ("NIE", "NDE")
#: (estimator, parameters) of the studies.
FITS: dict[str, tuple[str, dict[str, Any]]] = {
    "mediation": ("mediation", {"interaction": True, "n_draws": 1000}),
    "mediation_dml": ("mediation_dml", {"learner": "linear"}),
}


def _table(name: str, params: dict[str, Any], df: Any, seed: int) -> Any:
    est = registry.get(name)(**params).fit(df, ROLES, Context(seed=seed))
    return est.tables["effects"].set_index("effect")


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("interaction", [0.0, 0.4])
@pytest.mark.parametrize("which", sorted(FITS))
def test_effects_within_three_se_of_the_truth(which: str, interaction: float, seed: int) -> None:
    df, truth = mediation_linear(n=2000, interaction=interaction, seed=seed)
    name, params = FITS[which]
    table = _table(
        name,
        {**params, "interaction": interaction != 0} if name == "mediation" else params,
        df,
        seed,
    )
    for eff in ("NIE", "NDE", "TE", "NIE_control", "NIE_treated"):
        assert abs(table.loc[eff, "estimate"] - truth[eff]) <= QUICK_Z * table.loc[eff, "se"], eff


@pytest.mark.parametrize("seed", [1, 2])
def test_probit_outcome_effects_within_three_se_of_the_truth(seed: int) -> None:
    df, truth = mediation_linear(n=2000, binary_outcome=True, intercept=-1.0, seed=seed)
    for name, params in (
        ("mediation", {"outcome_model": "probit"}),
        ("mediation_dml", {"learner": "linear"}),
    ):
        table = _table(name, params, df, seed)
        for eff in ("NIE", "NDE", "TE"):
            assert abs(table.loc[eff, "estimate"] - truth[eff]) <= QUICK_Z * table.loc[eff, "se"], (
                name,
                eff,
            )


def _study(
    fits: dict[str, tuple[str, dict[str, Any]]], reps: int, seed: int, **design: Any
) -> dict[tuple[str, str], tuple[float, float, float]]:
    """Per (estimator, effect): coverage, mean error, and its Monte-Carlo SE."""
    hits: dict[tuple[str, str], list[bool]] = {(f, e): [] for f in fits for e in EFFECTS}
    errs: dict[tuple[str, str], list[float]] = {k: [] for k in hits}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CqoxWarning)
        for r in range(reps):
            df, truth = mediation_linear(seed=seed + r, **design)
            for key, (name, params) in fits.items():
                table = _table(name, params, df, seed + r)
                for eff in EFFECTS:
                    row = table.loc[eff]
                    hits[(key, eff)].append(bool(row["ci_low"] <= truth[eff] <= row["ci_high"]))
                    errs[(key, eff)].append(float(row["estimate"] - truth[eff]))
    out = {}
    for k in hits:
        e = np.asarray(errs[k])
        out[k] = (float(np.mean(hits[k])), float(e.mean()), float(e.std(ddof=1) / np.sqrt(reps)))
    return out


def _check(res: dict[tuple[str, str], tuple[float, float, float]], title: str) -> None:
    print(f"\n{title}\n  estimator      effect coverage   bias  (MC SE)")
    for (f, e), (cov, bias, mcse) in res.items():
        print(f"  {f:<14} {e:<6} {cov:8.3f} {bias:8.4f} ({mcse:.4f})")
    for (f, e), (cov, bias, mcse) in res.items():
        assert COVERAGE_BAND[0] <= cov <= COVERAGE_BAND[1], (f, e, cov)
        assert abs(bias) <= BIAS_Z * mcse, (f, e, bias, mcse)


@pytest.mark.ci_bounded
def test_coverage_bounded_interaction_design() -> None:
    res = _study(FITS, reps=600, seed=70_000, n=500, interaction=0.4)
    _check(res, "bounded: n = 500, interaction 0.4, 600 replications")


@pytest.mark.slow
def test_coverage_full_study_linear_design() -> None:
    res = _study(FITS, reps=2000, seed=80_000, n=1000, interaction=0.4)
    _check(res, "full: n = 1000, interaction 0.4, 2000 replications")


@pytest.mark.slow
def test_coverage_full_study_probit_outcome() -> None:
    fits = {
        "mediation": ("mediation", {"outcome_model": "probit", "n_draws": 1000}),
        "mediation_dml": ("mediation_dml", {"learner": "linear"}),
    }
    res = _study(fits, reps=1000, seed=90_000, n=1000, binary_outcome=True, intercept=-1.0)
    _check(res, "full: n = 1000, probit outcome, 1000 replications")
