"""The registered ``panel_match`` estimator (Imai, Kim & Wang 2021).

Estimand: ``ATT`` at lead ``lead`` — the average effect of switching treatment on
(``D_t = 1`` after ``D_{t−1} = 0``) on the outcome ``lead`` periods later, among
switching units, against units with the same treatment history over the ``lags``
previous periods that stay untreated at ``t`` (formula and refinement in
:mod:`cqox.estimators.panel_match.matching`, doi:10.1111/ajps.12685).  Every lead
``0 … leads`` is in the ``leads`` table.

Assumptions: no carry-over beyond ``lags`` periods, parallel trends between the treated
unit and its weighted matched set conditional on the treatment and covariate history,
no interference.  Gates: covariate balance after refinement (largest absolute
standardised mean difference over covariates and lags) and the share of treated
observations with a non-empty matched set.

Interface: roles ``outcome``, ``treatment`` (0/1, may switch on and off), ``unit``,
``time`` (a balanced panel, one row per unit and period) and ``covariates``
(time-varying, compared over the lags; the lagged outcome joins them when
``include_outcome``).  Standard errors (``se_method``): ``bootstrap`` (default) — unit
block bootstrap (``n_boot`` replications, seeded) of the regression-adjusted
linear representation of the estimator (Abadie & Imbens 2006; Otsu & Rai 2017; see
:mod:`cqox.estimators.panel_match.matching`), which does not count the outcome
variation that refinement on lagged outcomes cancels within matched sets;
``analytic`` — the unit-clustered variance of the same representation;
``fixed_sets`` — PanelMatch's bootstrap (weights fixed, raw outcome changes), which
over-states the SE when refinement uses the lagged outcome.  The ``leads`` table gives
``se`` (the chosen method), the analytic ``analytic_se`` and ``fixed_sets_se`` of the
two representations, and the bootstrap percentile interval.

Example
-------
>>> import cqox
>>> from cqox.simulate.panel_match import panel_switching
>>> df, truth = panel_switching(n_units=120, n_periods=12, seed=1)
>>> est = cqox.estimate("panel_match", df, outcome="y", treatment="d",
...                     covariates=["x"], roles={"unit": "unit", "time": "time"}, seed=1)
>>> est.estimand
'ATT'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate, normal_inference
from cqox.core.gate import threshold_gate
from cqox.core.params import Param
from cqox.data.prepare import CausalData, check_ordered_periods
from cqox.errors import DataError, NoDataError, ParameterError, RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL, estimand_param, n_boot_param, se_method_param
from cqox.estimators.panel_match.matching import (
    LeadEffect,
    MatchedSets,
    analytic_se,
    balance,
    control_design,
    control_mean_fit,
    history_sets,
    lead_effect,
    refine,
    unit_bootstrap,
)
from cqox.estimators.registry import register

#: Random stream (``Context.rng``) of the unit bootstrap.
_BOOTSTRAP_STREAM = 0


def wide_panel(
    data: CausalData, include_outcome: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
    """``D`` (N, T), ``Y`` (N, T), ``X`` (N, T, p), covariate names, units and times."""
    r = data.roles
    assert r.unit is not None and r.time is not None and data.y is not None
    assert data.t is not None
    u_codes, units = pd.factorize(data.frame[r.unit], sort=True)
    period = data.frame[r.time]
    check_ordered_periods(period, r.time)
    t_codes, times = pd.factorize(period, sort=True)
    N, T = len(units), len(times)
    cell = u_codes * T + t_codes
    if len(np.unique(cell)) != len(cell):
        dup = data.frame.loc[pd.Index(cell).duplicated(), [r.unit, r.time]].iloc[0]
        raise DataError(
            f"unit {dup[r.unit]!r} has more than one row in period {dup[r.time]!r}; "
            "panel_match needs one row per unit and period",
            details={"role": "time"},
        )
    if len(cell) != N * T:
        raise DataError(
            f"panel_match needs a balanced panel: {len(cell)} complete rows for {N} units × "
            f"{T} periods (= {N * T}); rows with missing values were removed — fill or drop "
            "those units first",
            details={"role": "unit"},
        )
    d_flat = np.empty(N * T)
    y_flat = np.empty(N * T)
    d_flat[cell], y_flat[cell] = data.t, data.y
    names = list(data.covariate_names)
    Xf = np.empty((N * T, len(names)))
    Xf[cell] = data.X
    X = Xf.reshape(N, T, len(names))
    D, Y = d_flat.reshape(N, T), y_flat.reshape(N, T)
    if include_outcome:
        X = np.concatenate([X, Y[:, :, None]], axis=2)
        names = [*names, str(r.outcome)]
    return D, Y, X, names, np.asarray(units), np.asarray(times)


#: How each ``se_method`` is described in ``Estimate.method``.
SE_LABELS = {
    "bootstrap": "unit block bootstrap SE of the regression-adjusted linear "
    "representation ({B} replications)",
    "analytic": "unit-clustered analytic SE of the regression-adjusted linear representation",
    "fixed_sets": "PanelMatch unit block bootstrap SE ({B} replications, weights and "
    "outcome changes fixed)",
}


@register
class PanelMatch(Estimator):
    """Matching on treatment histories with covariate refinement, ATT at leads."""

    example = Example(
        "panel_switching",
        {"n_units": 60, "n_periods": 10, "seed": 1},
        {"outcome": "y", "treatment": "d", "covariates": ["x"], "unit": "unit", "time": "time"},
        {"n_boot": 50},
    )
    name = "panel_match"
    family = "panel_matching"
    designs = (Design.PANEL_MATCHING,)
    estimands = ("ATT",)
    default_estimands = ("ATT",)
    requires = ("outcome", "treatment", "unit", "time")
    optional_roles = ("covariates",)
    summary_line = (
        "PanelMatch (Imai–Kim–Wang): treatment-history matched sets, refinement, ATT at "
        "leads, unit block bootstrap"
    )
    parameters = (
        estimand_param(("ATT",), "ATT"),
        Param("lags", 4, "int", "treatment-history length L", low=1, high=30),
        Param("leads", 4, "int", "largest lead F in the leads table", low=0, high=30),
        Param("lead", 0, "int", "the lead reported as the estimate", low=0, high=30),
        Param(
            "refinement",
            "mahalanobis",
            "choice",
            "refine matched sets by covariates",
            choices=("none", "mahalanobis", "ps_weight", "ps_match"),
        ),
        Param("size", 5, "int", "controls kept per set (mahalanobis, ps_match)", low=1, high=100),
        Param("include_outcome", True, "bool", "refine on the lagged outcome too"),
        se_method_param(
            ("bootstrap", "analytic", "fixed_sets"),
            "bootstrap",
            "'analytic' is the variance of the regression-adjusted representation",
        ),
        n_boot_param(1000, low=50, high=100_000, note="unit bootstrap", aliases=("n_bootstrap",)),
        CI_LEVEL,
    )

    @classmethod
    def unused_params(cls, params: Mapping[str, Any]) -> frozenset[str]:
        """``n_boot`` with ``se_method='analytic'`` (no unit bootstrap is drawn)."""
        return frozenset({"n_boot"}) if params.get("se_method") == "analytic" else frozenset()

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        L, Fmax, F0 = params["lags"], params["leads"], params["lead"]
        if Fmax < F0:
            raise ParameterError(
                f"The 'lead' parameter of panel_match must be at most 'leads' ({Fmax}). "
                f"Got {F0} instead.",
                details={"parameter": "lead", "estimator": self.name},
            )
        if isinstance(data.roles.covariates, str):
            raise RoleError(
                "role 'covariates': panel_match compares covariates over the lags; give a "
                "list of columns, not a formula",
                details={"role": "covariates"},
            )
        D, Y, X, names, units, times = wide_panel(data, params["include_outcome"])
        if D.shape[1] <= L:
            raise ParameterError(
                f"The 'lags' parameter of panel_match must be below the number of periods "
                f"({D.shape[1]}). Got {L} instead.",
                details={"parameter": "lags", "estimator": self.name},
            )
        unit, time, sets = history_sets(D, L)
        if not len(unit):
            raise NoDataError(
                f"no treated observation (treatment switching from 0 to 1 at least {L} "
                "periods into the panel); lower 'lags' or check the treatment column",
                details={"role": "treatment"},
            )
        ms = refine(
            unit, time, sets, X if X.shape[2] else None, L, params["refinement"], params["size"]
        )
        design = control_design(ms, X if X.shape[2] else None, D, L, params["refinement"])
        effects = [lead_effect(ms, Y, F, control_mean_fit(design, Y, F)) for F in range(Fmax + 1)]
        main = effects[F0]
        if main.n_treated == 0:
            raise NoDataError(
                f"no treated observation has a matched set and an outcome {F0} periods later",
                details={"parameter": "lead"},
            )
        se_method = params["se_method"]
        level = params["ci_level"]
        boot = (
            _bootstrap_leads(effects, se_method, params["n_boot"], ctx.rng(_BOOTSTRAP_STREAM))
            if se_method != "analytic"
            else np.full((0, len(effects)), np.nan)
        )
        leads = _leads_table(effects, boot, se_method, level)
        main_se = float(leads.loc[F0, "se"])

        gates = []
        tables: dict[str, pd.DataFrame] = {"leads": leads}
        diagnostics: dict[str, Any] = {
            "n_treated_observations": len(unit),
            "n_with_matches": int((ms.size_after > 0).sum()),
            "mean_set_size_before": float(ms.size_before.mean()),
            "mean_set_size_after": float(ms.size_after.mean()),
            "analytic_se": float(leads.loc[F0, "analytic_se"]),
            "fixed_sets_se": float(leads.loc[F0, "fixed_sets_se"]),
        }
        if X.shape[2]:
            tables["balance"], before, after = _balance_table(ms, X, L, names)
            worst = float(np.nanmax(np.abs(after)))
            diagnostics["max_abs_smd_before"] = float(np.nanmax(np.abs(before)))
            diagnostics["max_abs_smd_after"] = worst
            gates.append(
                threshold_gate(
                    "covariate_balance",
                    worst,
                    ctx.threshold("covariate_balance"),
                    higher_is_better=False,
                    label="largest |standardised mean difference| over covariates and lags "
                    "after refinement",
                )
            )
        share = float((ms.size_after > 0).mean())
        gates.append(
            threshold_gate(
                "matched_share",
                share,
                ctx.threshold("matched_share"),
                higher_is_better=True,
                label="share of treated observations with a non-empty matched set",
            )
        )
        tables["matched_sets"] = pd.DataFrame(
            {
                "unit": units[ms.unit],
                "time": times[ms.time],
                "size_before": ms.size_before,
                "size_after": ms.size_after,
            }
        )
        return Estimate.from_se(
            self.name,
            "ATT",
            main.att,
            main_se,
            level,
            n=int(D.size),
            n_treated=main.n_treated,
            n_control=len(np.unique(ms.control[ms.weight > 0])),
            counts={"n_units": int(D.shape[0]), "n_periods": int(D.shape[1])},
            diagnostics=diagnostics,
            gates=gates,
            tables=tables,
            method=(
                f"PanelMatch, {L} lags, refinement {params['refinement']}, lead {F0}; "
                + SE_LABELS[se_method].format(B=params["n_boot"])
                + ", normal CI"
            ),
        )


def _bootstrap_leads(
    effects: list[LeadEffect], se_method: str, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Unit-bootstrap ATTs of every lead, shape (n_boot, leads).

    ``fixed_sets`` keeps the matched sets and weights of the full sample (PanelMatch's
    bootstrap); ``bootstrap`` refits the regression-adjusted representation.
    """
    return unit_bootstrap(
        np.column_stack([e.num_fixed if se_method == "fixed_sets" else e.num for e in effects]),
        np.column_stack([e.count for e in effects]),
        n_boot,
        rng,
    )


def _leads_table(
    effects: list[LeadEffect], boot: np.ndarray, se_method: str, level: float
) -> pd.DataFrame:
    """ATT, SE, normal CI, percentile interval and both analytic SEs of every lead."""
    rows = []
    for e, col in zip(effects, boot.T, strict=True):
        col = col[np.isfinite(col)]
        a_se = analytic_se(e.att, e.num, e.count)
        if se_method == "analytic":
            se = a_se
        else:
            se = float(np.std(col, ddof=1)) if len(col) > 1 else float("nan")
        lo, hi = (
            np.quantile(col, [(1 - level) / 2, (1 + level) / 2]) if len(col) else (np.nan, np.nan)
        )
        ci, p = normal_inference(e.att, se, level)
        rows.append(
            {
                "lead": e.lead,
                "att": e.att,
                "se": se,
                "ci_low": ci[0],
                "ci_high": ci[1],
                "p_value": p,
                "percentile_low": float(lo),
                "percentile_high": float(hi),
                "analytic_se": a_se,
                "fixed_sets_se": analytic_se(e.att, e.num_fixed, e.count),
                "n_treated": e.n_treated,
            }
        )
    return pd.DataFrame(rows)


def _balance_table(
    ms: MatchedSets, X: np.ndarray, L: int, names: list[str]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Standardised mean differences by covariate and lag, before and after refinement."""
    sd = X.reshape(-1, X.shape[2]).std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    before = balance(ms, X, L, sd, refined=False)
    after = balance(ms, X, L, sd, refined=True)
    table = pd.DataFrame(
        [
            {
                "covariate": nm,
                "lag": lag + 1,
                "smd_before": before[lag, j],
                "smd_after": after[lag, j],
            }
            for lag in range(L)
            for j, nm in enumerate(names)
        ]
    )
    return table, before, after
