"""The registered ``synth`` estimator: synthetic control with placebo inference.

Estimand: the ATT of the single treated unit, the mean post-period gap

    τ̂ = (1/|T_eff|) Σ_{t ∈ T_eff} (Y1_t − Σ_j w*_j Y_jt),

with ``w*`` the Abadie–Diamond–Hainmueller weights (nested ``V``; or ``V`` given; or
penalised with ``λ`` as in Abadie & L'Hour 2021).  See
:mod:`cqox.estimators.synth.fit` for the optimisation.

Assumptions: the treated unit's untreated outcome is tracked by a convex combination
of donors (e.g. a linear factor model with the treated unit's loadings in the donors'
hull), no anticipation before ``treatment_time``, no spill-overs to donors, and a good
pre-period fit (checked by a gate).

Interface (roles ``outcome``, ``unit``, ``time``; optionally ``treatment``):

- the treated unit and first treated period come from ``treated_unit`` and
  ``treatment_time`` or, when those are not given, from the 0/1 ``treatment`` role
  (1 for the treated unit in its treated periods);
- predictors are ``predictors`` aggregated with ``predictors_op`` over
  ``predictor_window`` (default: every pre-treatment period) plus
  ``special_predictors`` — ``(column, periods[, op])`` triples as R Synth's
  ``special.predictors``.  Periods are lists or strings ``"1960:1969"`` /
  ``"1961:1969:2"`` (inclusive).  Without either, the ``covariates`` role over the
  pre-period plus the pre-period mean outcome are used; without covariates, the
  outcome in every pre-treatment period;
- ``V`` minimises the outcome MSPE over ``optimization_window`` (default: every
  pre-treatment period), or is ``custom_v`` (one weight per predictor), or equal;
- the ATT averages the gap over ``effect_window`` (default: every post period).

Inference, ``se_method="conformal"`` (default): the conformal test of Chernozhukov,
Wüthrich & Zhu (2021, doi:10.1080/01621459.2021.1920957) — under ``H0: θ_t = θ`` on the
effect periods the outcome SC (simplex-constrained least squares on outcomes, no ``V``)
is refitted on pre *and* effect periods with ``Y1`` adjusted, and the residuals are
permuted in time (``conformal_permutations``: the paper's moving blocks, or i.i.d.).
``p_value`` is ``p̂(0)`` (no effect in any effect period); the confidence set of
constant effects is ``{θ : p̂(θ) > α}`` (:mod:`cqox.estimators.synth.conformal`).  Its
coverage is exact when the residuals are exchangeable in time (conservative by the
discreteness of ``T`` moving blocks: ``1 − ⌊αT⌋/T``) and approximate under stationary
weak dependence.  The set can have several pieces: ``ci`` is the piece nearest the ATT
— or, when the ATT itself lies in a gap of the set (an effect that varies over time), the
hull of the pieces, so the interval never excludes its own estimate
(``conformal_interval="hull"``: always the conservative hull); every piece is in the
diagnostics.  By simulation ``ci`` covers 95.0–96.6% with the treated unit inside the
donors' hull and with exchangeable units (docs/validation_synth_its_pm.md).

``se_method="placebo"`` (Abadie, Diamond & Hainmueller 2010,
doi:10.1198/jasa.2009.ap08746): ``p_value`` is the in-space placebo permutation p-value
of the post/pre RMSPE ratio and ``ci`` inverts the placebo ATT distribution (Conley &
Taber 2011, doi:10.1162/REST_a_00049): ``[τ̂ − q_{1−α/2}, τ̂ − q_{α/2}]`` — valid only
if the placebo gaps share the treated unit's error distribution (by simulation it
under-covers with exchangeable units and over-covers with the treated unit in the hull).

Either way, when ``placebo=True`` every donor is refitted as if treated (in-space
placebos; donors = the other donors, same specification): the RMSPE-ratio table,
``p_value_ratio`` and the resolution gate are the ADH diagnostic, and ``se`` is the
standard deviation of the placebo ATTs (there is no sampling-based standard error for
one treated unit).  With few donors the placebo interval is coarse (its ends are the
extreme placebos), which a gate reports.

Example
-------
>>> import cqox
>>> from cqox.simulate.synth import synth_factor_model
>>> df, truth = synth_factor_model(n_donors=12, n_pre=15, n_post=5, seed=1)
>>> est = cqox.estimate("synth", df, outcome="y", roles={"unit": "unit", "time": "time",
...                     "treatment": "treated"}, leave_one_out=False)
>>> est.estimand
'ATT'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cqox.compute.executor import current
from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate, threshold_gate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.data.prepare import CausalData, check_table
from cqox.errors import ParameterError, RoleError, column_not_found
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL, estimand_param, se_method_param
from cqox.estimators.registry import register
from cqox.estimators.synth.conformal import (
    ALPHA_ATOL,
    PERMUTATIONS,
    ConformalResult,
    conformal_inference,
)
from cqox.estimators.synth.fit import UnitRun, placebo_inference, run_unit
from cqox.estimators.synth.panel import (
    AGGREGATIONS,
    Predictor,
    SynthPanel,
    build_panel,
    build_predictors,
    find_treated,
    parse_times,
)

#: Random stream (``Context.rng``) of the conformal test's i.i.d. permutations.
_CONFORMAL_STREAM = 7


def _is_list(v: Any) -> bool:
    return v is None or isinstance(v, list | tuple | range | str)


@dataclass(frozen=True)
class _PlaceboFit:
    """Donor ``j`` refitted as if treated on the other donors: one in-space placebo.

    A picklable task (``refit(j) -> UnitRun``) so that the placebos, independent of
    each other, can run on an executor (:func:`cqox.compute.current`).
    """

    X: np.ndarray
    Y: np.ndarray
    donors: np.ndarray
    opt: np.ndarray
    pre: np.ndarray
    eff: np.ndarray
    v: np.ndarray | None
    penalty: float

    def __call__(self, j: int) -> UnitRun:
        """The placebo fit of donor ``j``."""
        others = self.donors[self.donors != j]
        return run_unit(
            self.X, self.Y, j, others, self.opt, self.pre, self.eff, self.v, self.penalty
        )


@register
class Synth(Estimator):
    """Synthetic control (Abadie, Diamond & Hainmueller 2010; Abadie & L'Hour 2021)."""

    example = Example(
        "synth_factor_model",
        {"n_donors": 8, "n_pre": 12, "n_post": 4, "seed": 1},
        {"outcome": "y", "unit": "unit", "time": "time", "treatment": "treated"},
        {"leave_one_out": False},
    )
    name = "synth"
    family = "synthetic_control"
    designs = (Design.SYNTHETIC_CONTROL,)
    estimands = ("ATT",)
    default_estimands = ("ATT",)
    requires = ("outcome", "unit", "time")
    optional_roles = ("treatment", "covariates")
    binary_treatment = False
    summary_line = (
        "Synthetic control (ADH nested V or penalised), in-space placebo permutation inference"
    )
    parameters = (
        estimand_param(("ATT",), "ATT"),
        Param(
            "treated_unit",
            None,
            "any",
            "the treated unit (a value of the unit column)",
            nullable=True,
        ),
        Param("treatment_time", None, "any", "first treated period", nullable=True),
        Param(
            "donors",
            None,
            "any",
            "donor units (default: every other unit)",
            nullable=True,
            check=_is_list,
            rule="a list of units",
        ),
        Param(
            "predictors",
            None,
            "any",
            "predictor columns aggregated over predictor_window",
            nullable=True,
            check=_is_list,
            rule="a list of columns",
        ),
        Param(
            "predictors_op",
            "mean",
            "choice",
            "aggregation of the predictors",
            choices=tuple(AGGREGATIONS),
        ),
        Param(
            "predictor_window",
            None,
            "any",
            "periods of the predictors (list or 'a:b'); default every pre-treatment period",
            nullable=True,
        ),
        Param(
            "special_predictors",
            None,
            "any",
            "(column, periods[, op]) predictors with their own periods",
            nullable=True,
            check=_is_list,
            rule="a list of (column, periods[, op])",
        ),
        Param(
            "optimization_window",
            None,
            "any",
            "periods whose outcome MSPE chooses V; default every pre-treatment period",
            nullable=True,
        ),
        Param(
            "effect_window",
            None,
            "any",
            "periods averaged into the ATT; default every post-treatment period",
            nullable=True,
        ),
        Param(
            "v_method",
            "nested",
            "choice",
            "predictor weights: nested MSPE minimisation or equal",
            choices=("nested", "equal"),
        ),
        Param(
            "custom_v",
            None,
            "any",
            "predictor weights to use as given (one per predictor)",
            nullable=True,
            check=_is_list,
            rule="a list of non-negative numbers",
        ),
        Param("penalty", 0.0, "float", "Abadie–L'Hour penalty λ (0: ADH)", low=0.0),
        Param("placebo", True, "bool", "in-space placebo inference (refit every donor)"),
        Param(
            "placebo_mspe_cutoff",
            None,
            "float",
            "drop placebos whose pre-MSPE exceeds this multiple of the treated unit's",
            low=0.0,
            closed="neither",
            nullable=True,
        ),
        Param("leave_one_out", True, "bool", "refit without each donor with positive weight"),
        se_method_param(("conformal", "placebo"), "conformal", aliases=("inference",)),
        Param(
            "conformal_permutations",
            "moving_block",
            "choice",
            "permutations of time for the conformal test",
            choices=PERMUTATIONS,
        ),
        Param(
            "conformal_interval",
            "nearest",
            "choice",
            "when the conformal set has several pieces: the one nearest the ATT, or the hull",
            choices=("nearest", "hull"),
        ),
        Param(
            "conformal_n_perm",
            5000,
            "int",
            "i.i.d. permutations: enumerate the post-block subsets up to this many, else draw "
            "this many",
            low=99,
            high=200_000,  # the index matrix holds n_perm × T* integers
        ),
        CI_LEVEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Check the roles; keep the panel (predictors may be missing in some periods)."""
        df = check_table(df)
        columns = [str(c) for c in df.columns]
        df = df.set_axis(columns, axis=1)
        for role in self.requires:
            if getattr(roles, role) is None:
                raise RoleError(
                    f"role '{role}' is required by synth (outcome, unit and time of a "
                    "panel) but was not given",
                    details={"role": role},
                )
        if isinstance(roles.covariates, str):
            raise RoleError(
                "role 'covariates': synth takes predictor columns, not a formula; give a "
                "list of columns or use 'predictors'",
                details={"role": "covariates"},
            )
        used = [roles.outcome, roles.unit, roles.time, roles.treatment, *(roles.covariates or ())]
        for p in params.get("predictors") or ():
            used.append(p)
        for item in params.get("special_predictors") or ():
            if isinstance(item, list | tuple) and item:
                used.append(item[0])
            elif isinstance(item, dict):
                used.append(item.get("column"))
        cols = list(dict.fromkeys(str(c) for c in used if c is not None))
        for c in cols:
            if c not in columns:
                raise column_not_found(
                    "predictor" if c not in roles.columns() else "role", c, columns
                )
        frame = df[cols].copy()
        assert roles.outcome is not None
        y = pd.to_numeric(frame[roles.outcome], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(y).sum() > frame[roles.outcome].isna().sum():
            raise RoleError(
                f"role 'outcome': column '{roles.outcome}' must be numeric",
                details={"role": "outcome", "column": roles.outcome},
            )
        return CausalData(
            frame=frame,
            roles=roles,
            y=y,
            t=None,
            X=np.empty((len(frame), 0)),
            covariate_names=[],
            row_index=np.arange(len(frame)),
            n_input=len(df),
        )

    def _panel(self, data: CausalData, params: dict[str, Any]) -> tuple[SynthPanel, list[str]]:
        r = data.roles
        assert r.outcome is not None and r.unit is not None and r.time is not None
        notes: list[str] = []
        treated, t0 = find_treated(
            data.frame,
            r.unit,
            r.time,
            r.treatment,
            params["treated_unit"],
            params["treatment_time"],
        )
        times = np.sort(data.frame[r.time].drop_duplicates().to_numpy())
        pre_times = tuple(times[times < t0].tolist())
        window = (
            parse_times(params["predictor_window"], "predictor_window")
            if params["predictor_window"] is not None
            else pre_times
        )
        preds = build_predictors(
            params["predictors"], params["predictors_op"], window, params["special_predictors"]
        )
        if not preds:
            covs = list(r.covariates or ())
            if covs:
                preds = build_predictors(covs, params["predictors_op"], window, None)
                preds.append(Predictor(r.outcome, pre_times, "mean"))
            else:
                preds = [Predictor(r.outcome, (t,), "mean") for t in pre_times]
        panel = build_panel(
            data.frame, r.outcome, r.unit, r.time, treated, t0, preds, params["donors"]
        )
        for u, why in panel.dropped_donors.items():
            notes.append(f"donor {u!r} left out: {why}")
        return panel, notes

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        panel, notes = self._panel(data, params)
        k = len(panel.predictors)
        v: np.ndarray | None = None
        if params["custom_v"] is not None:
            v = np.asarray(params["custom_v"], dtype=float)
            if v.shape != (k,) or np.any(v < 0) or v.sum() <= 0:
                raise ParameterError(
                    f"The 'custom_v' parameter of synth must have {k} non-negative weights "
                    f"(one per predictor: {', '.join(p.label for p in panel.predictors)}). "
                    f"Got {list(params['custom_v'])!r} instead.",
                    details={"parameter": "custom_v", "estimator": self.name},
                )
        elif params["v_method"] == "equal":
            v = np.full(k, 1.0 / k)
        pre = panel.pre
        opt = (
            panel.rows(parse_times(params["optimization_window"], "optimization_window"))
            if params["optimization_window"] is not None
            else pre
        )
        eff = (
            panel.rows(parse_times(params["effect_window"], "effect_window"))
            if params["effect_window"] is not None
            else ~pre
        )
        for name, mask in (("optimization_window", opt), ("effect_window", eff)):
            if not mask.any():
                raise ParameterError(
                    f"The '{name}' parameter of synth selects no period of the panel "
                    f"(periods {panel.times[0]!r}–{panel.times[-1]!r}).",
                    details={"parameter": name, "estimator": self.name},
                )
        if (opt & ~pre).any():
            notes.append(
                "optimization_window includes post-treatment periods; V then uses outcomes "
                "that the treatment may have affected"
            )
        if (eff & pre).any():
            notes.append("effect_window includes pre-treatment periods")
        N = len(panel.units)
        donors = np.arange(1, N)
        lam = params["penalty"]
        main = run_unit(panel.X, panel.Y, 0, donors, opt, pre, eff, v, lam)

        placebos: list[UnitRun] = []
        if params["placebo"]:
            refit = _PlaceboFit(panel.X, panel.Y, donors, opt, pre, eff, v, lam)
            executor = current()
            if executor is None:
                for j in donors:
                    ctx.report("synth placebo", j / N)
                    placebos.append(refit(int(j)))
            else:
                # independent, deterministic refits: on the executor in force (a process
                # pool, a Dask cluster) with the same numbers, in donor order
                placebos = executor.map(
                    refit,
                    [int(j) for j in donors],
                    lambda done, total: ctx.report("synth placebo", done / total),
                )
        loo: list[tuple[Any, UnitRun]] = []
        if params["leave_one_out"]:
            for j in donors[main.fit.w > 1e-6]:
                if len(donors) <= 2:
                    break
                loo.append(
                    (
                        panel.units[j],
                        run_unit(panel.X, panel.Y, 0, donors[donors != j], opt, pre, eff, v, lam),
                    )
                )
        conformal = self._conformal(panel, params, ctx, eff, main.att, notes)
        return self._estimate(panel, params, ctx, main, placebos, loo, conformal, eff, notes)

    def _conformal(
        self,
        panel: SynthPanel,
        params: dict[str, Any],
        ctx: Context,
        eff: np.ndarray,
        att: float,
        notes: list[str],
    ) -> ConformalResult | None:
        """CWZ conformal inference on the pre-treatment and effect periods."""
        rows = panel.pre | eff
        post = eff[rows]
        if post.all():
            notes.append(
                "conformal inference needs periods outside the effect window; none are left"
            )
            return None
        level = params["ci_level"]
        method = params["conformal_permutations"]
        n_periods = int(rows.sum())
        if method == "moving_block" and 1.0 / n_periods > 1.0 - level + ALPHA_ATOL:
            notes.append(
                f"{n_periods} periods give {n_periods} moving-block permutations, too few "
                "for a test at "
                f"level {1 - level:.3g}: the conformal p-value uses i.i.d. permutations"
            )
            method = "iid"
        return conformal_inference(
            panel.Y[rows, 0],
            panel.Y[np.ix_(rows, np.arange(1, panel.Y.shape[1]))],
            post,
            level,
            method,
            params["conformal_n_perm"],
            ctx.rng(_CONFORMAL_STREAM),
            anchors=(att,),
            centre=att,
        )

    def _estimate(
        self,
        panel: SynthPanel,
        params: dict[str, Any],
        ctx: Context,
        main: UnitRun,
        placebos: list[UnitRun],
        loo: list[tuple[Any, UnitRun]],
        conformal: ConformalResult | None,
        eff: np.ndarray,
        notes: list[str],
    ) -> Estimate:
        level = params["ci_level"]
        units = panel.units
        tables = _fit_tables(panel, main, eff)
        diagnostics = _fit_diagnostics(panel, main, params)
        gates: list[Gate] = [_pre_fit_gate(panel, main, ctx)]
        est_se, ci, p = float("nan"), (float("nan"), float("nan")), float("nan")
        if placebos:
            est_se, ci, p, placebo_diag, placebo_tables, gate = _placebo_section(
                panel, main, placebos, level, params["placebo_mspe_cutoff"]
            )
            diagnostics.update(placebo_diag)
            tables.update(placebo_tables)
            gates.append(gate)
        else:
            gates.append(
                Gate.not_applicable(
                    "synth_placebo_resolution", "placebo inference was switched off"
                )
            )
            notes.append(
                "placebo=False: no standard error"
                + (", placebo p-value or interval" if params["se_method"] == "placebo" else "")
            )
        inference_text = (
            "p-value: in-space placebo permutation of the post/pre RMSPE ratio; se: SD of "
            "placebo ATTs; CI: placebo-quantile (Conley–Taber) interval"
        )
        if conformal is not None:
            self._conformal_report(conformal, level, diagnostics, gates, notes)
        if params["se_method"] == "conformal":
            ci, p, how = _conformal_interval(conformal, main.att, params["conformal_interval"])
            if (
                conformal is not None
                and conformal.components
                and not conformal.ci[0] <= main.att <= conformal.ci[1]
            ):
                notes.append(
                    "the conformal test rejects the ATT as a constant effect (it lies "
                    "between or outside the pieces of the confidence set, so the interval "
                    "reported is the hull of the pieces): the effect probably varies over "
                    "the effect window"
                )
            inference_text = (
                f"p-value and CI: conformal inference (Chernozhukov–Wüthrich–Zhu 2021) {how}; "
                "se: SD of placebo ATTs; placebo RMSPE-ratio p-value in diagnostics"
            )
        if loo:
            loo_tables, loo_diag, gate = _leave_one_out_section(panel, main, loo)
            tables.update(loo_tables)
            diagnostics.update(loo_diag)
            gates.append(gate)
        method = (
            ("penalised (λ = {:g}) ".format(params["penalty"]) if params["penalty"] > 0 else "")
            + "synthetic control, "
            + ("custom V" if params["custom_v"] is not None else f"{params['v_method']} V")
            + "; "
            + inference_text
        )
        return Estimate(
            self.name,
            "ATT",
            main.att,
            est_se,
            ci,
            p,
            level,
            n=int(panel.Y.size),
            n_treated=1,
            n_control=len(units) - 1,
            counts={
                "n_units": len(units),
                "n_periods": len(panel.times),
                "n_pre_periods": int(panel.pre.sum()),
            },
            diagnostics=diagnostics,
            gates=gates,
            tables=tables,
            warnings=notes,
            method=method,
        )

    @staticmethod
    def _conformal_report(
        res: ConformalResult,
        level: float,
        diagnostics: dict[str, Any],
        gates: list[Gate],
        notes: list[str],
    ) -> None:
        """Conformal diagnostics, the resolution gate and notes on the set's shape."""
        alpha = 1 - level
        diagnostics.update(
            {
                "conformal_p_value": res.p_value,
                "conformal_ci": res.ci,
                "conformal_hull": res.hull,
                "conformal_set": [list(c) for c in res.components],
                "conformal_theta_hat": res.theta_hat,
                "conformal_permutations": res.permutation,
                "conformal_n_permutations": res.n_permutations,
                "conformal_qp_solves": res.n_qp_solves,
            }
        )
        ok = res.min_p <= alpha + ALPHA_ATOL
        gates.append(
            Gate(
                "synth_conformal_resolution",
                res.min_p,
                alpha,
                "pass" if ok else "warn",
                f"smallest attainable conformal p-value 1/{res.n_permutations} = "
                f"{res.min_p:.3g} ({'ok' if ok else 'check'}: threshold ≤ {alpha:.3g})"
                + ("" if ok else "; the test cannot reject, so the interval is unbounded"),
            )
        )
        if ok and np.isnan(res.ci[0]) and not np.isinf(res.ci[1]):
            notes.append(
                "the conformal test rejects every constant effect (the effect varies over "
                "the post periods or the pre-period fit is poor): no interval"
            )
        if not res.connected:
            pieces = ", ".join(f"[{a:.4g}, {b:.4g}]" for a, b in res.components)
            notes.append(
                f"the conformal confidence set has {len(res.components)} pieces ({pieces}); "
                "the interval is the one nearest the ATT (the hull when the ATT lies in a "
                "gap) unless conformal_interval='hull'"
            )


def _fit_tables(panel: SynthPanel, main: UnitRun, eff: np.ndarray) -> dict[str, pd.DataFrame]:
    """Treated and synthetic paths, donor weights and predictor balance."""
    Y1 = panel.Y[:, 0]
    return {
        "path": pd.DataFrame(
            {
                "time": panel.times,
                "treated": Y1,
                "synthetic": Y1 - main.gap,
                "gap": main.gap,
                "post": ~panel.pre,
                "effect_window": eff,
            }
        ),
        "weights": pd.DataFrame({"unit": panel.units[1:], "weight": main.fit.w})
        .sort_values("weight", ascending=False, kind="stable")
        .reset_index(drop=True),
        "predictors": pd.DataFrame(
            {
                "predictor": [p.label for p in panel.predictors],
                "v": main.fit.v,
                "treated": panel.X[:, 0],
                "synthetic": panel.X[:, 1:] @ main.fit.w,
                "donor_mean": panel.X[:, 1:].mean(axis=1),
            }
        ),
    }


def _fit_diagnostics(panel: SynthPanel, main: UnitRun, params: dict[str, Any]) -> dict[str, Any]:
    """The fit of the treated unit: RMSPEs, losses and predictor weights."""
    labels = [p.label for p in panel.predictors]
    return {
        "treated_unit": panel.units[0],
        "treatment_time": panel.treatment_time,
        "n_donors": len(panel.units) - 1,
        "n_predictors": len(panel.predictors),
        "pre_rmspe": main.pre_rmspe,
        "post_rmspe": main.post_rmspe,
        "rmspe_ratio": main.ratio,
        "loss_v": main.fit.loss_v,
        "loss_w": main.fit.loss_w,
        "v": dict(zip(labels, main.fit.v.tolist(), strict=True)),
        "penalty": params["penalty"],
        "n_qp_solves": main.fit.n_evaluations,
    }


def _pre_fit_gate(panel: SynthPanel, main: UnitRun, ctx: Context) -> Gate:
    """Pre-period RMSPE relative to the SD of the treated unit's pre-period outcome."""
    pre_y = panel.Y[panel.pre, 0]
    sd_pre = float(np.std(pre_y, ddof=1)) if panel.pre.sum() > 1 else float("nan")
    rel = main.pre_rmspe / sd_pre if sd_pre > 0 else float("inf")
    return threshold_gate(
        "synth_pre_fit",
        rel,
        ctx.threshold("synth_pre_fit"),
        higher_is_better=False,
        label="pre-period RMSPE / SD of the treated pre-period outcome",
        fail_threshold=ctx.threshold("synth_pre_fit_fail"),
        details={"pre_rmspe": main.pre_rmspe, "outcome_sd_pre": sd_pre},
    )


def _placebo_section(
    panel: SynthPanel,
    main: UnitRun,
    placebos: list[UnitRun],
    level: float,
    mspe_cutoff: float | None,
) -> tuple[float, tuple[float, float], float, dict[str, Any], dict[str, pd.DataFrame], Gate]:
    """In-space placebo inference: SE, interval, p-value, diagnostics, tables, gate."""
    units = panel.units
    summ = placebo_inference(main, placebos, level, mspe_cutoff)
    m = int(summ.kept.sum())
    diagnostics = {
        "p_value_ratio": summ.p_ratio,
        "p_value_att": summ.p_att,
        "n_placebos": len(placebos),
        "n_placebos_kept": m,
        "placebo_att_sd": summ.se,
        "placebo_ci": summ.ci,
    }
    tables = {
        "placebos": pd.DataFrame(
            {
                "unit": units[1:],
                "pre_rmspe": [r.pre_rmspe for r in placebos],
                "post_rmspe": [r.post_rmspe for r in placebos],
                "ratio": [r.ratio for r in placebos],
                "att": [r.att for r in placebos],
                "kept": summ.kept,
            }
        ),
        "placebo_gaps": pd.DataFrame(
            {
                "time": panel.times,
                **{str(u): r.gap for u, r in zip(units[1:], placebos, strict=True)},
            }
        ),
    }
    alpha = 1 - level
    resolution = 1 / (1 + m)
    gate = Gate(
        "synth_placebo_resolution",
        resolution,
        alpha,
        "pass" if resolution <= alpha else "warn",
        f"smallest attainable permutation p-value 1/(1+{m}) = {resolution:.3g}"
        + (" (ok" if resolution <= alpha else " (check")
        + f": threshold ≤ {alpha:.3g}); the placebo interval's ends are "
        + ("placebo quantiles" if resolution <= alpha else "the extreme placebos"),
    )
    return summ.se, summ.ci, summ.p_ratio, diagnostics, tables, gate


def _conformal_interval(
    conformal: ConformalResult | None, att: float, choice: str
) -> tuple[tuple[float, float], float, str]:
    """``(interval, p-value, description)`` of the conformal inference.

    ``choice`` is ``conformal_interval``: the piece of the set nearest the ATT or the
    hull.  When the ATT sits in a hole of the set (the effect varies over time) an
    interval that excludes its own estimate would mislead, so the conservative hull of
    the pieces is reported instead.
    """
    if conformal is None:
        return (
            (float("nan"), float("nan")),
            float("nan"),
            "not possible (no period outside the effect window)",
        )
    ci = conformal.hull if choice == "hull" else conformal.ci
    if conformal.components and not ci[0] <= att <= ci[1]:
        ci = conformal.hull
    kind = "moving-block" if conformal.permutation == "moving_block" else "i.i.d."
    piece = (
        "hull of the set"
        if choice == "hull" or ci == conformal.hull
        else "piece of the set nearest the ATT"
    )
    how = (
        f"for a constant effect ({piece}), outcome SC refitted under the null, "
        f"{conformal.n_permutations} {kind} permutations of time"
    )
    return ci, conformal.p_value, how


def _leave_one_out_section(
    panel: SynthPanel, main: UnitRun, loo: list[tuple[Any, UnitRun]]
) -> tuple[dict[str, pd.DataFrame], dict[str, Any], Gate]:
    """Leave-one-donor-out refits: tables, range of ATTs and the sign-stability gate."""
    atts = np.array([r.att for _, r in loo])
    same = float(np.mean(np.sign(atts) == np.sign(main.att)))
    tables = {
        "leave_one_out": pd.DataFrame(
            {
                "dropped": [u for u, _ in loo],
                "att": atts,
                "pre_rmspe": [r.pre_rmspe for _, r in loo],
            }
        ),
        "leave_one_out_gaps": pd.DataFrame(
            {"time": panel.times, **{str(u): r.gap for u, r in loo}}
        ),
    }
    gate = Gate(
        "synth_leave_one_out",
        same,
        1.0,
        "pass" if same == 1.0 else "warn",
        f"ATT keeps its sign in {same:.0%} of leave-one-donor-out refits "
        f"(range {atts.min():.4g} to {atts.max():.4g})",
    )
    return tables, {"loo_att_min": float(atts.min()), "loo_att_max": float(atts.max())}, gate
