"""The transport estimators recover known target-population effects.

Design: :func:`cqox.simulate.transport.nested_trial` — a trial selected on ``x1, x2``
(about 30 % of the rows), 1:1 or covariate-dependent assignment in the trial, and an
effect modified by ``x1, x2``, so the trial's average effect (≈ 1.50) is far from the
target's (``TATE`` ≈ 0.79) and from the whole population's (``PATE`` = 1); the target
effects are exact (quadrature).  ``selection`` scales the selection coefficients and
so the weight of the inverse odds of sampling: at 1 (the default) the weights keep
about half of the trial as Kish effective sample size and the ``effective_sample_size``
gate (warn below 0.70) warns on every sample; at 0.5 they keep about 78 % and it passes
on 95 % of samples.

- default run: ``|θ̂ − θ| ≤ 3·SE`` for TATE and PATE, every estimator, a few seeds; the
  naive trial difference in means misses the TATE; with an effect quadratic in ``x1``
  (outcome models wrong, sampling model right) the weighting and doubly robust
  estimators stay within 3 SE at n = 20,000 and outcome-model standardization does not;
  the effective sample size gate warns on the heavy design (and ``transport_iosw`` says
  so, pointing to ``transport_dr``) and passes on the light one;
- ``ci_bounded`` (≈ 30 s of CPU): 1000 replications at n = 2000 on the light design
  (the gates pass): coverage of the 95 % intervals in [93 %, 97 %] (TATE and PATE) for the
  three estimators, mean bias within 4 Monte-Carlo SEs;
- ``slow``: 1000 replications at n = 10,000 on the light design (all three) and on the
  heavy design (``transport_om`` and ``transport_dr``).

On the heavy design the weighting estimator's Wald interval under-covers (0.929 over
2,000 samples at n = 2000, 0.928 with the true weights): its estimate is skewed by the
log-normal weights, as ``docs/validation_transport.md`` reports with the corrections
that were measured and do not repair it; that is what the gate flags.  The sandwich
itself is checked exactly against delicatessen (``tests/reference``).

Run the bounded study with ``--ci-bounded``, the full one with ``--run-slow``; add
``-s`` for the table.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cqox.core.context import Context
from cqox.core.roles import Roles
from cqox.errors import CqoxWarning
from cqox.estimators import registry
from cqox.estimators.transport.data import prepare_transport
from cqox.simulate.transport import nested_trial

ROLES = Roles.from_mapping(
    {"outcome": "y", "treatment": "t", "sample": "s", "covariates": ["x1", "x2", "x3"]}
)
NAMES = ("transport_om", "transport_iosw", "transport_dr")
ESTIMANDS = ("TATE", "PATE")
QUICK_Z = 3.0
#: With R = 1000 the Monte-Carlo SE of a 95 % coverage is 0.69 pp: 93–97 % is ±2.9 MC
#: SEs per cell (R = 500, MC SE 0.97 pp, left a cell whose coverage is 0.944 over 2,000
#: samples at 0.926 by chance).
COVERAGE_BAND = (0.93, 0.97)
#: Selection strength of the design whose weights the gates accept, and of the heavy one.
LIGHT, HEAVY = 0.5, 1.0
BIAS_Z = 4.0


def _fits(
    df: object, seed: int, estimands: tuple[str, ...] = ESTIMANDS
) -> dict[tuple[str, str], object]:
    """Every estimator and estimand on one prepared table (nuisances fitted once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CqoxWarning)
        data = prepare_transport(df, ROLES)  # type: ignore[arg-type]
        ctx = Context(seed=seed)
        return {
            (name, e): registry.get(name)(estimand=e).fit(df, ROLES, ctx, data=data)  # type: ignore[arg-type]
            for name in NAMES
            for e in estimands
        }


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("kappa", [0.0, 0.5])
def test_target_effects_within_three_se_of_the_truth(kappa: float, seed: int) -> None:
    df, truth = nested_trial(n=4000, kappa=kappa, seed=seed)
    for (name, e), est in _fits(df, seed).items():
        assert abs(est.estimate - truth[e]) <= QUICK_Z * est.se, (name, e)  # type: ignore[attr-defined]


def test_the_trial_difference_in_means_misses_the_target_effect() -> None:
    df, truth = nested_trial(n=20_000, seed=4)
    est = _fits(df, 4)[("transport_dr", "TATE")]
    naive = est.diagnostics["trial_difference_in_means"]  # type: ignore[attr-defined]
    assert abs(naive - truth["TATE"]) > 5 * est.se  # type: ignore[attr-defined]
    assert abs(est.estimate - truth["TATE"]) <= QUICK_Z * est.se  # type: ignore[attr-defined]


def test_weighting_and_dr_survive_a_wrong_outcome_model_and_standardization_does_not() -> None:
    df, truth = nested_trial(n=20_000, q=0.3, kappa=0.5, seed=5)
    fits = _fits(df, 5)
    for name in ("transport_iosw", "transport_dr"):
        est = fits[(name, "TATE")]
        assert abs(est.estimate - truth["TATE"]) <= QUICK_Z * est.se, name  # type: ignore[attr-defined]
    om = fits[("transport_om", "TATE")]
    assert abs(om.estimate - truth["TATE"]) > 5 * om.se  # type: ignore[attr-defined]


def test_the_effective_sample_size_gate_flags_the_heavy_weights_only() -> None:
    for selection, status in ((HEAVY, "warn"), (LIGHT, "pass")):
        df, _ = nested_trial(n=20_000, kappa=0.5, selection=selection, seed=6)
        fits = _fits(df, 6, ("TATE",))
        iosw = fits[("transport_iosw", "TATE")]
        gate = {g.name: g for g in iosw.gates}["effective_sample_size"]  # type: ignore[attr-defined]
        assert gate.status == status, (selection, gate.value)
        warned = [w for w in iosw.warnings if "effective sample size" in w]  # type: ignore[attr-defined]
        assert bool(warned) == (status == "warn"), selection
        if warned:
            assert "transport_dr" in warned[0]
        assert not fits[("transport_dr", "TATE")].warnings  # type: ignore[attr-defined]


def _study(
    reps: int,
    seed: int,
    n: int,
    selection: float = LIGHT,
    names: tuple[str, ...] = NAMES,
    estimands: tuple[str, ...] = ESTIMANDS,
) -> dict[tuple[str, str], tuple[float, float, float]]:
    """Per (estimator, estimand): coverage, mean error, and its Monte-Carlo SE."""
    hits: dict[tuple[str, str], list[bool]] = {(m, e): [] for m in names for e in estimands}
    errs: dict[tuple[str, str], list[float]] = {k: [] for k in hits}
    for r in range(reps):
        df, truth = nested_trial(n=n, kappa=0.5, selection=selection, seed=seed + r)
        for key, est in _fits(df, seed + r, estimands).items():
            if key not in hits:
                continue
            lo, hi = est.ci  # type: ignore[attr-defined]
            hits[key].append(bool(lo <= truth[key[1]] <= hi))
            errs[key].append(float(est.estimate - truth[key[1]]))  # type: ignore[attr-defined]
    out = {}
    for k in hits:
        e = np.asarray(errs[k])
        out[k] = (float(np.mean(hits[k])), float(e.mean()), float(e.std(ddof=1) / np.sqrt(reps)))
    return out


def _check(res: dict[tuple[str, str], tuple[float, float, float]], title: str) -> None:
    print(f"\n{title}\n  estimator        estimand coverage   bias  (MC SE)")
    for (m, e), (cov, bias, mcse) in res.items():
        print(f"  {m:<16} {e:<8} {cov:8.3f} {bias:8.4f} ({mcse:.4f})")
    for (m, e), (cov, bias, mcse) in res.items():
        assert COVERAGE_BAND[0] <= cov <= COVERAGE_BAND[1], (m, e, cov)
        assert abs(bias) <= BIAS_Z * mcse, (m, e, bias, mcse)


@pytest.mark.ci_bounded
def test_coverage_bounded() -> None:
    _check(
        _study(reps=1000, seed=110_000, n=2000),
        "bounded: n = 2000, 1000 replications, light weights (selection 0.5)",
    )


@pytest.mark.slow
def test_coverage_full_study() -> None:
    _check(
        _study(reps=1000, seed=120_000, n=10_000),
        "full: n = 10,000, 1000 replications, light weights (selection 0.5)",
    )


@pytest.mark.slow
def test_coverage_full_study_heavy_weights_outcome_model_and_doubly_robust() -> None:
    _check(
        _study(
            reps=1000,
            seed=130_000,
            n=10_000,
            selection=HEAVY,
            names=("transport_om", "transport_dr"),
        ),
        "full: n = 10,000, 1000 replications, heavy weights (selection 1.0)",
    )
