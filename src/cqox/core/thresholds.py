"""Default gate thresholds, documented in one place and overridable by gate name.

A threshold is keyed by the name of the gate it governs; a gate with more than one
threshold adds a suffix (``variance_ratio_low`` / ``variance_ratio_high``,
``synth_pre_fit_fail``); a threshold shared by a family of gates is keyed by the
family's prefix (``refute`` for ``refute_placebo_treatment``, ``refute_data_subset``, …).
Override in Python with
``cqox.analyze(..., thresholds={"effective_sample_size": 0.5})``, on the command line with
``--set gates.effective_sample_size=0.5`` and over HTTP in ``gates.thresholds``.

The table is plain data at the bottom layer, so :class:`~cqox.core.context.Context`
can look thresholds up without importing the gates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cqox.errors import ParameterError, closest, warn_deprecated


@dataclass(frozen=True)
class Threshold:
    """A gate threshold: its default value, what it bounds and the gate it governs."""

    value: float
    doc: str
    gate: str


def _t(gate: str, value: float, doc: str) -> Threshold:
    return Threshold(value, doc, gate)


DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "effective_sample_size": _t(
        "effective_sample_size",
        0.70,
        "effective sample size (Kish) of the weighted sample / rows; warn below",
    ),
    "max_weight_ratio": _t(
        "max_weight_ratio", 20.0, "largest weight / mean weight within an arm; warn above"
    ),
    "common_support": _t(
        "common_support",
        0.90,
        "share of rows inside the propensity common-support interval; warn below",
    ),
    "common_support_extreme": _t(
        "common_support", 0.01, "propensities closer than this to 0 or 1 count as extreme"
    ),
    "covariate_balance": _t(
        "covariate_balance",
        0.10,
        "absolute standardised mean difference per covariate after adjustment; warn above",
    ),
    "covariate_balance_raw": _t(
        "covariate_balance_raw",
        0.10,
        "absolute standardised mean difference per covariate before adjustment; warn above",
    ),
    "variance_ratio_low": _t(
        "variance_ratio", 0.5, "covariate variance ratio treated/control; warn below"
    ),
    "variance_ratio_high": _t(
        "variance_ratio", 2.0, "covariate variance ratio treated/control; warn above"
    ),
    "matched_share": _t("matched_share", 0.80, "share of target rows matched; warn below"),
    "vif": _t("vif", 10.0, "variance inflation factor of a covariate; warn above"),
    "twfe_negative_weights": _t(
        "twfe_negative_weights",
        0.0,
        "share of treated (g,t) cells with a negative TWFE weight (dCDH 2020); warn above",
    ),
    "bacon_forbidden_weight": _t(
        "bacon_forbidden_weight",
        0.10,
        "TWFE weight on 2x2 comparisons with already-treated controls; warn above",
    ),
    "pretrend_wald": _t(
        "pretrend_wald",
        0.05,
        "p-value of the joint pre-treatment (placebo) ATT(g,t) Wald test; warn below",
    ),
    "ring_outer_spillover": _t(
        "ring_outer_spillover",
        0.05,
        "p-value of the spillover in the outermost ring of ring_did (spillovers may reach "
        "the pure controls); warn below",
    ),
    "weak_instrument": _t(
        "weak_instrument",
        10.0,
        "effective first-stage F (Montiel Olea-Pflueger; rule of thumb 10); warn below",
    ),
    "overidentification": _t(
        "overidentification",
        0.05,
        "p-value of the Sargan / Hansen J over-identification test",
    ),
    "density": _t(
        "density",
        0.05,
        "p-value of the RD density (manipulation) test at the cutoff; warn below",
    ),
    "covariate_continuity": _t(
        "covariate_continuity",
        0.05,
        "RD covariate continuity: smallest robust p-value x number of covariates; warn below",
    ),
    "placebo_cutoffs": _t(
        "placebo_cutoffs",
        0.05,
        "RD placebo cutoffs: smallest robust p-value x number of placebos; warn below",
    ),
    "donut": _t(
        "donut",
        2.5,
        "RD donut hole: largest |bias-corrected shift| / donut robust SE; warn above",
    ),
    "synth_pre_fit": _t(
        "synth_pre_fit",
        0.25,
        "synthetic control: pre-period RMSPE / SD of the treated pre-period outcome; warn above",
    ),
    "synth_pre_fit_fail": _t(
        "synth_pre_fit",
        0.50,
        "synthetic control: pre-period RMSPE / SD of the treated pre-period outcome; fail above",
    ),
    "dag_independences": _t(
        "dag_independences",
        0.05,
        "causal graph: Holm-corrected p-value of an implied independence; warn below",
    ),
    "refute": _t(
        "refute",
        0.05,
        "refutation gates refute_* (placebo, random common cause, subset, dummy outcome, "
        "unobserved common cause): p-value; warn below",
    ),
    "sample_overlap": _t(
        "sample_overlap",
        0.90,
        "transportability: share of target rows within the trial's sampling-score range; "
        "warn below, fail below half",
    ),
    "sample_overlap_extreme": _t(
        "sample_overlap",
        0.01,
        "transportability: sampling scores P(trial | X) below this count as extreme",
    ),
    "proxy_relevance": _t(
        "proxy_relevance",
        10.0,
        "proximal: robust first-stage F of the treatment proxy for the outcome proxy; warn "
        "below, fail below a quarter",
    ),
    "its_segment_length": _t(
        "its_segment_length",
        8.0,
        "interrupted time series: periods before and after the interruption; warn below",
    ),
}

#: Former threshold names, accepted for one release with a DeprecationWarning: old name
#: → the gate threshold(s) it sets (``smd`` governed both balance gates).
DEPRECATED_THRESHOLDS: dict[str, tuple[str, ...]] = {
    "ess_ratio": ("effective_sample_size",),
    "propensity_extreme": ("common_support_extreme",),
    "smd": ("covariate_balance", "covariate_balance_raw"),
    "twfe_negative_weight_share": ("twfe_negative_weights",),
    "pretrend_p_value": ("pretrend_wald",),
    "iv_weak_f": ("weak_instrument",),
    "iv_overid_p": ("overidentification",),
    "rd_density_p": ("density",),
    "rd_covariate_p": ("covariate_continuity",),
    "rd_placebo_p": ("placebo_cutoffs",),
    "rd_donut_shift": ("donut",),
    "synth_pre_rmspe": ("synth_pre_fit",),
    "synth_pre_rmspe_fail": ("synth_pre_fit_fail",),
    "its_min_segment": ("its_segment_length",),
    "dag_independence_p": ("dag_independences",),
    "refute_p": ("refute",),
}


def resolve_thresholds(overrides: Mapping[str, object] | None) -> dict[str, float]:
    """Check threshold overrides and rename deprecated names to the gate names.

    Raises :class:`~cqox.errors.ParameterError` for an unknown name or a value that is
    not a number.  A deprecated name emits a :class:`DeprecationWarning`; a name given
    alongside its deprecated alias wins.
    """
    if not overrides:
        return {}  # every Context of cqox.estimate without overrides
    out: dict[str, float] = {}
    renamed: dict[str, float] = {}
    for key, raw in overrides.items():
        if key not in DEFAULT_THRESHOLDS and key not in DEPRECATED_THRESHOLDS:
            hint = closest(key, list(DEFAULT_THRESHOLDS))
            raise ParameterError(
                f"unknown gate threshold '{key}'"
                + (f"; did you mean '{hint}'?" if hint else "")
                + f" (thresholds: {', '.join(DEFAULT_THRESHOLDS)})",
                details={"parameter": key},
            )
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ParameterError(
                f"gate threshold '{key}' must be a number; got {raw!r}",
                details={"parameter": key},
            ) from None
        if key in DEFAULT_THRESHOLDS:
            out[key] = value
            continue
        new = DEPRECATED_THRESHOLDS[key]
        warn_deprecated(
            f"gate threshold '{key}' is deprecated and will be removed in the next release; "
            f"use {' and '.join(repr(n) for n in new)} (the gate's name) instead."
        )
        renamed.update(dict.fromkeys(new, value))
    return {**renamed, **out}
