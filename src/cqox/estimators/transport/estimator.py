"""The transportability estimators: ``transport_om``, ``transport_iosw``, ``transport_dr``.

Each estimates the average treatment effect of a trial's treatment in a target
population described by covariates only: ``TATE = E[Y¹ − Y⁰ | S = 0]`` in the target
sample (transportability; Dahabreh et al. 2020, doi:10.1002/sim.8426) or
``PATE = E[Y¹ − Y⁰]`` in trial and target together (generalizability; Dahabreh et al.
2019, doi:10.1111/biom.13716).  The ``sample`` role marks the rows
(:mod:`cqox.estimators.transport.data`); the equations and their sandwich standard
errors are in :mod:`cqox.estimators.transport.scores`.

Gates: ``sample_overlap`` (share of the target rows whose sampling score lies within
the trial's range: positivity of trial participation), and the ``effective_sample_size``
and ``max_weight_ratio`` of the trial's weights ``v(X)/e_A(X)``; ``transport_iosw`` adds
a warning when the effective sample size gate does not pass (its interval under-covers
with heavy weights: :class:`TransportWeighting`).

Example
-------
>>> import cqox
>>> from cqox.simulate.transport import nested_trial
>>> df, truth = nested_trial(n=3000, seed=1)
>>> est = cqox.estimate("transport_dr", df, outcome="y", treatment="t", sample="s",
...                     covariates=["x1", "x2", "x3"])
>>> abs(est.estimate - truth["TATE"]) < 4 * est.se
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate, normal_inference
from cqox.core.gate import Gate, threshold_gate
from cqox.core.roles import Roles
from cqox.core.tables import Tables
from cqox.data.prepare import CausalData
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL, estimand_param
from cqox.estimators.registry import register
from cqox.estimators.transport.data import TransportData, prepare_transport
from cqox.estimators.transport.scores import (
    TransportNuisances,
    fit_nuisances,
    potential_outcome_means,
    weights,
)
from cqox.gates.weights import ess_gate, max_weight_gate

ESTIMANDS = ("TATE", "PATE")
#: The population of each estimand, in the scores' terms.
TARGETS = {"TATE": "target", "PATE": "all"}
#: Bins of the sampling-score histogram (``tables["sampling_score"]``, the figure).
SCORE_BINS = 20
_EXAMPLE = Example(
    "transport.nested_trial",
    {"n": 800, "seed": 1},
    {"outcome": "y", "treatment": "t", "sample": "s", "covariates": ["x1", "x2", "x3"]},
)


def sample_overlap_gate(p: np.ndarray, s: np.ndarray, ctx: Context) -> Gate:
    """Share of target rows whose sampling score lies within the trial rows' range.

    A target unit outside it has covariates no trial participant resembles (positivity
    of trial participation fails); warn below ``sample_overlap`` (0.90), fail below
    half of it.  ``share_extreme``: target rows with ``P(S = 1 | X) <
    sample_overlap_extreme`` (0.01), whose weights would be huge.
    """
    trial = s == 1
    low, high = float(p[trial].min()), float(p[trial].max())
    target = p[~trial]
    inside = (target >= low) & (target <= high)
    limit = ctx.threshold("sample_overlap")
    extreme = ctx.threshold("sample_overlap_extreme")
    return threshold_gate(
        "sample_overlap",
        float(inside.mean()),
        limit,
        higher_is_better=True,
        label="share of target rows within the trial's sampling-score range",
        fail_threshold=limit / 2,
        details={
            "trial_range": [low, high],
            "target_outside": int((~inside).sum()),
            "share_extreme": float(np.mean(target < extreme)),
            "target_min": float(target.min()),
        },
    )


def score_histogram(p: np.ndarray, s: np.ndarray, bins: int = SCORE_BINS) -> pd.DataFrame:
    """Counts of trial and target rows by sampling score on ``bins`` bins of [0, 1]."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    h1, _ = np.histogram(p[s == 1], bins=edges)
    h0, _ = np.histogram(p[s == 0], bins=edges)
    return pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:], "trial": h1, "target": h0})


def balance_table(data: TransportData, nuis: TransportNuisances, target: str) -> pd.DataFrame:
    """Covariate means of the target, of the trial and of the trial weighted by ``v(X)``.

    Standardised differences use the pooled SD of trial and target; a weighted trial
    mean near the target's shows what the sampling model corrected.
    """
    trial = data.s == 1
    p = nuis.sampling.p_hat[trial]
    v = (1 - p) / p if target == "target" else 1 / p
    X = data.X
    ref = X[~trial] if target == "target" else X
    m_ref, m1 = ref.mean(axis=0), X[trial].mean(axis=0)
    m_w = (v[:, None] * X[trial]).sum(axis=0) / v.sum()
    sd = np.sqrt((X[trial].var(axis=0) + X[~trial].var(axis=0)) / 2)
    sd[sd == 0] = 1.0
    return pd.DataFrame(
        {
            "covariate": data.covariate_names,
            "target_mean": m_ref,
            "trial_mean": m1,
            "trial_weighted_mean": m_w,
            "smd_raw": (m1 - m_ref) / sd,
            "smd_weighted": (m_w - m_ref) / sd,
        }
    )


class _TransportEstimator(Estimator):
    """What the three transport estimators share: roles, preparation, output."""

    family = "transport"
    designs = (Design.TRANSPORTABILITY,)
    estimands = ESTIMANDS
    default_estimands = ("TATE",)
    requires = ("outcome", "treatment", "sample")
    example = _EXAMPLE
    parameters = (
        estimand_param(ESTIMANDS, "TATE"),
        CI_LEVEL,
    )
    method_name: ClassVar[str]
    method_text: ClassVar[str]

    def _weight_warnings(self, ess: Gate) -> list[str]:
        """Warnings the weights call for (none here; the weighting estimator adds one)."""
        return []

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Trial and target rows (:func:`~cqox.estimators.transport.data.prepare_transport`)."""
        return prepare_transport(df, roles)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert isinstance(data, TransportData) and data.y is not None and data.t is not None
        key = ("transport_nuisances", data.cache_key())
        if key not in ctx.cache:
            ctx.cache[key] = fit_nuisances(data.X, data.s, data.t, data.y, data.gram)
        nuis: TransportNuisances = ctx.cache[key]
        target = TARGETS[params["estimand"]]
        level = params["ci_level"]
        arms = potential_outcome_means(nuis, data.s, data.t, data.y, self.method_name, target)
        n = data.n
        rows = []
        for a, arm in enumerate(arms):
            se_a = float(np.sqrt(arm.influence @ arm.influence) / n)
            ci, _ = normal_inference(arm.estimate, se_a, level)
            rows.append(
                {"arm": a, "estimate": arm.estimate, "se": se_a, "ci_low": ci[0], "ci_high": ci[1]}
            )
        phi = arms[1].influence - arms[0].influence
        trial = data.s == 1
        t1 = data.t[trial]
        w = weights(nuis, data.s, data.t, target)
        p = nuis.sampling.p_hat
        y1 = data.y[trial]
        gates = [
            sample_overlap_gate(p, data.s, ctx),
            ess_gate(w, t1, ctx),
            max_weight_gate(w, t1, ctx),
        ]
        notes = self._weight_warnings(gates[1])
        population = "target sample" if target == "target" else "trial and target together"
        return Estimate.from_se(
            self.name,
            params["estimand"],
            arms[1].estimate - arms[0].estimate,
            float(np.sqrt(phi @ phi) / n),
            level,
            n=n,
            n_treated=int(t1.sum()),
            n_control=int(len(t1) - t1.sum()),
            counts={"n_trial": data.n_trial, "n_target": data.n_target},
            diagnostics={
                "trial_value": data.trial_value,
                "trial_rule": data.trial_rule,
                "population": population,
                "trial_difference_in_means": float(y1[t1 == 1].mean() - y1[t1 == 0].mean()),
                # the overlap gate's: the trial's range and the target's minimum
                "sampling_score_min_trial": gates[0].details["trial_range"][0],
                "sampling_score_min_target": gates[0].details["target_min"],
                "trial_propensity_range": [
                    float(nuis.treatment.p_hat.min()),
                    float(nuis.treatment.p_hat.max()),
                ],
            },
            gates=gates,
            # built as DataFrames only when read
            tables=Tables(
                potential_outcomes=lambda: pd.DataFrame(rows),
                sampling_score=lambda: score_histogram(p, data.s),
                sample_balance=lambda: balance_table(data, nuis, target),
            ),
            influence=phi,
            warnings=notes,
            method=(
                f"{self.method_text} to the {population} (logistic sampling and trial "
                "treatment models, linear outcome model per arm); sandwich SE of the "
                "stacked estimating equations"
            ),
        )


@register
class TransportOutcomeModel(_TransportEstimator):
    """Outcome-model standardization: ``ψ̂(a) = Σ R ĝ_a(X) / Σ R`` (the g-formula)."""

    name = "transport_om"
    method_name = "om"
    method_text = "outcome-model standardization of the trial's per-arm regressions"
    summary_line = (
        "Trial effect transported to a target population by outcome-model standardization "
        "(g-formula; Dahabreh et al. 2019, 2020)"
    )


@register
class TransportWeighting(_TransportEstimator):
    """Inverse odds of sampling weighting: ``ψ̂(a) = Σ ŵ_a Y / Σ ŵ_a`` (normalised).

    The weights are normalised within each arm (the Hájek form; Dahabreh et al. 2020
    give it beside the unnormalised ``Σ ŵ_a Y / Σ R``): the normalised estimate stays in
    the outcome's range and does not move when a constant is added to ``Y``, whereas
    the unnormalised one's variance grows with the outcome's level (in
    ``benchmarks/transport_iosw_study.py`` its SD was 0.155 and its mean SE 0.49 once 10
    was added to every outcome, against 0.195 for the normalised one; Lunceford &
    Davidian 2004, doi:10.1002/sim.1903, on normalised weights).

    Its Wald interval is reliable when the weights are not heavy, which the
    ``effective_sample_size`` gate measures (Kish's ESS ``(Σw)²/Σw²`` of each arm's
    weights ``v/e_A``, summed, over the trial rows; warn below 0.70, the package's
    default for every weighting estimator).  In the validation studies
    (``docs/validation_transport.md``, n = 2,000, 2,000 samples each) the interval
    covered 0.941 where the gate passes on 95 % of samples (median ESS/n 0.78) and
    0.929 where the inverse odds are log-normal with log-SD 0.86 and the gate warns on
    every sample (median 0.51): there the estimate is skewed, with the true weights too
    (0.928), and neither a leverage (HC3) correction of the sandwich (0.932), t
    quantiles on the ESS (0.931) nor the bootstrap (percentile, BCa, percentile-t:
    ≤ 0.917 on 300 samples) repairs it, while ``transport_dr`` covers 0.940.  So when
    that gate warns, this estimator says so and points to ``transport_dr``.
    """

    name = "transport_iosw"
    method_name = "iosw"
    method_text = "inverse-odds-of-sampling weighting of the trial (normalised weights)"
    summary_line = (
        "Trial effect transported to a target population by inverse odds of sampling "
        "weights (Westreich et al. 2017; Dahabreh et al. 2020)"
    )

    def _weight_warnings(self, ess: Gate) -> list[str]:
        """A warning when the weights' Kish ESS is below the gate's threshold."""
        if ess.status == "pass":
            return []
        return [
            f"the inverse odds of sampling weights leave an effective sample size of "
            f"{ess.value:.0%} of the trial rows (Kish; gate effective_sample_size warns "
            f"below {ess.threshold:.0%}): with weights this heavy the weighted estimate is "
            "skewed and its Wald interval under-covers (0.93 for a nominal 0.95 in "
            "docs/validation_transport.md); the doubly robust transport_dr is the more "
            "reliable estimate"
        ]


@register
class TransportDoublyRobust(_TransportEstimator):
    """Doubly robust: ``ψ̂(a) = ψ̂_om(a) + Σ ŵ_a (Y − ĝ_a(X)) / Σ ŵ_a``."""

    name = "transport_dr"
    method_name = "dr"
    method_text = "doubly robust (augmented, normalised weights) transport of the trial"
    summary_line = (
        "Trial effect transported to a target population, doubly robust: outcome models "
        "augmented by inverse odds of sampling weights (Dahabreh et al. 2019, 2020)"
    )
