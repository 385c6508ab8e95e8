"""Default gate thresholds, documented in one place and overridable by name.

Override in Python with ``cqox.analyze(..., thresholds={"ess_ratio": 0.5})`` or on the
command line with ``--set gates.ess_ratio=0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Threshold:
    """A gate threshold: its default value and what it bounds."""

    value: float
    doc: str


DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "ess_ratio": Threshold(
        0.70, "effective sample size (Kish) of the weighted sample / rows; warn below"
    ),
    "max_weight_ratio": Threshold(20.0, "largest weight / mean weight within an arm; warn above"),
    "common_support": Threshold(
        0.90, "share of rows inside the propensity common-support interval; warn below"
    ),
    "propensity_extreme": Threshold(
        0.01, "propensities closer than this to 0 or 1 count as extreme"
    ),
    "smd": Threshold(0.10, "absolute standardised mean difference per covariate; warn above"),
    "variance_ratio_low": Threshold(0.5, "covariate variance ratio treated/control; warn below"),
    "variance_ratio_high": Threshold(2.0, "covariate variance ratio treated/control; warn above"),
    "matched_share": Threshold(0.80, "share of treated rows matched; warn below"),
    "vif": Threshold(10.0, "variance inflation factor of a covariate; warn above"),
    "twfe_negative_weight_share": Threshold(
        0.0, "share of treated (g,t) cells with a negative TWFE weight (dCDH 2020); warn above"
    ),
    "bacon_forbidden_weight": Threshold(
        0.10, "TWFE weight on 2x2 comparisons with already-treated controls; warn above"
    ),
    "pretrend_p_value": Threshold(
        0.05, "p-value of the joint pre-treatment (placebo) ATT(g,t) Wald test; warn below"
    ),
    "iv_weak_f": Threshold(
        10.0, "effective first-stage F (Montiel Olea-Pflueger; rule of thumb 10); warn below"
    ),
    "iv_overid_p": Threshold(0.05, "p-value of the Sargan / Hansen J over-identification test"),
    "rd_density_p": Threshold(
        0.05, "p-value of the RD density (manipulation) test at the cutoff; warn below"
    ),
    "rd_covariate_p": Threshold(
        0.05, "RD covariate continuity: smallest robust p-value x number of covariates; warn below"
    ),
    "rd_placebo_p": Threshold(
        0.05, "RD placebo cutoffs: smallest robust p-value x number of placebos; warn below"
    ),
    "rd_donut_shift": Threshold(
        2.5, "RD donut hole: largest |bias-corrected shift| / donut robust SE; warn above"
    ),
    "synth_pre_rmspe": Threshold(
        0.25,
        "synthetic control: pre-period RMSPE / SD of the treated pre-period outcome; warn above",
    ),
    "synth_pre_rmspe_fail": Threshold(
        0.50,
        "synthetic control: pre-period RMSPE / SD of the treated pre-period outcome; fail above",
    ),
    "dag_independence_p": Threshold(
        0.05, "causal graph: Holm-corrected p-value of an implied independence; warn below"
    ),
    "refute_p": Threshold(
        0.05, "refutation tests (placebo, random common cause, subset, dummy outcome): warn below"
    ),
    "its_min_segment": Threshold(
        8.0, "interrupted time series: periods before and after the interruption; warn below"
    ),
}


def known(name: str) -> bool:
    """Whether ``name`` is a gate threshold."""
    return name in DEFAULT_THRESHOLDS
