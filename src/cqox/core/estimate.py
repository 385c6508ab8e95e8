"""The result of one estimator: :class:`Estimate`."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import special

from cqox.core.gate import Gate
from cqox.core.jsonable import to_jsonable
from cqox.core.tables import tables_jsonable


def normal_inference(
    estimate: float, se: float, level: float = 0.95
) -> tuple[tuple[float, float], float]:
    """Wald confidence interval and two-sided p-value under asymptotic normality.

    ``ci = estimate ± z_{1-α/2}·se`` and ``p = 2·(1 − Φ(|estimate / se|))``.
    """
    if not (se > 0 and math.isfinite(se)):
        return (math.nan, math.nan), math.nan
    # scipy.special's ufuncs, not scipy.stats.norm: the distribution objects cost
    # ~70 µs per scalar call, more than a small estimator's whole fit.
    z = float(special.ndtri(0.5 + level / 2))
    p = float(special.erfc(abs(estimate / se) / math.sqrt(2.0)))
    return (estimate - z * se, estimate + z * se), p


class DoseCurveSource(Protocol):
    """What an estimate with a dose-response curve holds (``cqox.estimators.dose``)."""

    def table(self, doses: np.ndarray | list[float]) -> pd.DataFrame:
        """``dose``, ``estimate``, ``se``, ``ci_lower``, ``ci_upper`` at ``doses``."""
        ...


class UnitEffectsSource(Protocol):
    """What an estimate with unit-level effects holds (see ``cqox.estimators.cate``)."""

    def table(self, df: pd.DataFrame | None = None) -> pd.DataFrame:
        """``cate``, ``se``, ``ci_lower``, ``ci_upper`` for the fitted rows or for ``df``."""
        ...


#: Markers of "not given" for :meth:`Estimate.__init__`'s containers (never stored: each
#: estimate gets new empty ones, as a dataclass field's ``default_factory`` gives).
_FRESH: dict[str, Any] = {}
_FRESH_LIST: list[Any] = []


@dataclass(frozen=True)
class Estimate:
    """One estimator's answer for one estimand.

    Attributes
    ----------
    estimator : str
        Registry name of the estimator (``ipw``, ``regression_adjustment``, ...).
    estimand : str
        What is estimated: ``ATE``, ``ATT``, ``ATC``, ``LATE``, ``ATT(g,t)``, ...
    estimate, se : float
        Point estimate and its standard error.
    ci : tuple of float
        ``(low, high)`` confidence interval at ``ci_level``.
    p_value : float
        Two-sided p-value for the null of no effect.
    n, n_treated, n_control : int
        Rows used (after listwise deletion and trimming) and by arm (``None`` where
        arms do not apply).
    counts : dict
        Further counts (rows dropped for missing values, trimmed, matched, ...).
    diagnostics : dict
        Numbers that describe the fit (propensity range, R², ESS, ...).
    gates : list of Gate
        Checks of assumptions and estimation quality.
    tables : mapping of str to DataFrame
        Extra tables (weights, group-time effects, CATE predictions, ...): a dict, or a
        :class:`~cqox.core.tables.Tables` whose DataFrames are built when first read.
    params : dict
        The parameters as used, defaults filled in.
    elapsed_s : float
        Wall time of the estimation.
    warnings : list of str
        Everything the user should know about that did not stop the estimation.
    method : str
        A one-line description of the method and its inference.
    influence : ndarray or None
        Per-observation influence function (shape ``(n,)``), scaled so that
        ``se = sqrt(sum(influence**2)) / n``; kept for clustering and bootstraps, not
        serialised.
    unit_effects : UnitEffectsSource or None
        Unit-level effects of a CATE estimator (read through :meth:`effects`); not
        serialised (the JSON carries the compact summary in ``diagnostics``).
    dose_curve : DoseCurveSource or None
        The dose-response curve of a dose-response estimator (read through
        :meth:`curve`); not serialised (the JSON carries the grid in ``tables["curve"]``).
    """

    estimator: str
    estimand: str
    estimate: float
    se: float
    ci: tuple[float, float]
    p_value: float
    ci_level: float = 0.95
    n: int = 0
    n_treated: int | None = None
    n_control: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    gates: list[Gate] = field(default_factory=list)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    method: str = ""
    influence: np.ndarray | None = field(default=None, repr=False, compare=False)
    unit_effects: UnitEffectsSource | None = field(default=None, repr=False, compare=False)
    dose_curve: DoseCurveSource | None = field(default=None, repr=False, compare=False)

    def __init__(
        self,
        estimator: str,
        estimand: str,
        estimate: float,
        se: float,
        ci: tuple[float, float],
        p_value: float,
        ci_level: float = 0.95,
        n: int = 0,
        n_treated: int | None = None,
        n_control: int | None = None,
        counts: dict[str, int] = _FRESH,
        diagnostics: dict[str, Any] = _FRESH,
        gates: list[Gate] = _FRESH_LIST,
        tables: Mapping[str, pd.DataFrame] = _FRESH,
        params: dict[str, Any] = _FRESH,
        elapsed_s: float = 0.0,
        warnings: list[str] = _FRESH_LIST,
        method: str = "",
        influence: np.ndarray | None = None,
        unit_effects: UnitEffectsSource | None = None,
        dose_curve: DoseCurveSource | None = None,
    ) -> None:
        # The dataclass's own __init__, written out: it sets each of the 21 fields with
        # object.__setattr__ (frozen), ~4.5 µs; one update of the instance's dict is
        # ~1.3 µs, and every cqox.estimate builds an Estimate.  A container not given is
        # a new empty one, as the fields' default factories make it.
        self.__dict__.update(
            {
                "estimator": estimator,
                "estimand": estimand,
                "estimate": estimate,
                "se": se,
                "ci": ci,
                "p_value": p_value,
                "ci_level": ci_level,
                "n": n,
                "n_treated": n_treated,
                "n_control": n_control,
                "counts": {} if counts is _FRESH else counts,
                "diagnostics": {} if diagnostics is _FRESH else diagnostics,
                "gates": [] if gates is _FRESH_LIST else gates,
                "tables": {} if tables is _FRESH else tables,
                "params": {} if params is _FRESH else params,
                "elapsed_s": elapsed_s,
                "warnings": [] if warnings is _FRESH_LIST else warnings,
                "method": method,
                "influence": influence,
                "unit_effects": unit_effects,
                "dose_curve": dose_curve,
            }
        )

    @classmethod
    def from_se(
        cls,
        estimator: str,
        estimand: str,
        estimate: float,
        se: float,
        level: float = 0.95,
        **kwargs: Any,
    ) -> Estimate:
        """Build an estimate with a Wald interval and p-value from its standard error."""
        ci, p = normal_inference(float(estimate), float(se), level)
        return cls(estimator, estimand, float(estimate), float(se), ci, p, level, **kwargs)

    def with_updates(self, **changes: Any) -> Estimate:
        """A copy with some fields replaced (estimates are immutable).

        What ``dataclasses.replace`` gives — the same field values, shallow — without
        running ``__init__`` again over every field (``replace`` costs ~10 µs, as much as
        the rest of a small estimator's bookkeeping); an unknown name raises as there.
        """
        if not changes.keys() <= _FIELD_NAMES:
            return replace(self, **changes)  # raises TypeError naming the field
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def effects(self, df: pd.DataFrame | None = None) -> pd.DataFrame:
        """Unit-level effects: ``cate``, ``se``, ``ci_lower``, ``ci_upper`` per row.

        ``df=None`` gives the rows the estimator was fitted on (indexed by their
        position in the caller's table), each predicted by a model that did not see it
        (out-of-bag or cross-fitted); a table gives predictions for its rows.  Only
        CATE estimators (the ``cate`` family) have unit-level effects.
        """
        if self.unit_effects is None:
            from cqox.errors import EstimationError

            raise EstimationError(
                f"estimator '{self.estimator}' returns no unit-level effects; use a CATE "
                "estimator (causal_forest, s_learner, t_learner, x_learner, r_learner, "
                "dr_learner)",
                details={"estimator": self.estimator},
            )
        return self.unit_effects.table(df)

    def curve(self, doses: np.ndarray | list[float] | None = None) -> pd.DataFrame:
        """The dose-response curve ``E[Y(a)]``: ``dose, estimate, se, ci_lower, ci_upper``.

        ``doses=None`` gives the estimator's grid; otherwise the curve at ``doses`` with
        pointwise intervals (the grid table ``tables["curve"]`` also has the uniform
        band).  Only dose-response estimators (``dose_msm``, ``dose_gps``,
        ``dose_kernel_dr``, ``dose_dml``) have a curve.
        """
        if self.dose_curve is None:
            from cqox.errors import EstimationError

            raise EstimationError(
                f"estimator '{self.estimator}' returns no dose-response curve; use a "
                "dose-response estimator (dose_msm, dose_gps, dose_kernel_dr, dose_dml) with "
                "the 'dose' role",
                details={"estimator": self.estimator},
            )
        if doses is None:
            doses = self.tables["curve"]["dose"].to_numpy()
        return self.dose_curve.table(doses)

    @property
    def status(self) -> str:
        """Worst gate status: ``fail`` > ``warn`` > ``pass``; ``not_checked`` without a check.

        Gates that do not apply are no check: an estimate with none that passed, warned
        or failed reads ``not_checked``, never ``pass``.
        """
        statuses = {g.status for g in self.gates}
        for s in ("fail", "warn", "pass"):
            if s in statuses:
                return s
        return "not_checked"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the ``estimates`` entries of the Analysis JSON)."""
        return {
            "estimator": self.estimator,
            "estimand": self.estimand,
            "estimate": to_jsonable(self.estimate),
            "se": to_jsonable(self.se),
            "ci": [to_jsonable(self.ci[0]), to_jsonable(self.ci[1])],
            "ci_level": self.ci_level,
            "p_value": to_jsonable(self.p_value),
            "n": self.n,
            "n_treated": self.n_treated,
            "n_control": self.n_control,
            "counts": to_jsonable(self.counts),
            "diagnostics": to_jsonable(self.diagnostics),
            "gates": [g.to_dict() for g in self.gates],
            "tables": tables_jsonable(self.tables),
            "params": to_jsonable(self.params),
            "elapsed_s": round(self.elapsed_s, 6),
            "warnings": list(self.warnings),
            "method": self.method,
            "status": self.status,
        }

    def summary(self) -> str:
        """A readable text table of the estimate, its inference and its gates."""
        pct = f"{self.ci_level:.0%}"
        lines = [
            f"{self.estimator} — {self.estimand}" + (f"  ({self.method})" if self.method else ""),
            "",
            f"  {'estimate':<12}{self.estimate:>14.6g}",
            f"  {'std. error':<12}{self.se:>14.6g}",
            f"  {pct + ' CI':<12}{'[' + f'{self.ci[0]:.6g}, {self.ci[1]:.6g}' + ']':>30}",
            f"  {'p-value':<12}{self.p_value:>14.4g}",
            f"  {'n':<12}{self.n:>14d}",
        ]
        if self.n_treated is not None and self.n_control is not None:
            lines.append(f"  {'treated':<12}{self.n_treated:>14d}")
            lines.append(f"  {'control':<12}{self.n_control:>14d}")
        if self.gates:
            lines += ["", "  gates:"]
            for g in self.gates:
                lines.append(f"    [{g.status:^14}] {g.name}: {g.message}")
        if self.warnings:
            lines += ["", "  warnings:"] + [f"    - {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        rows = [
            ("estimate", f"{self.estimate:.6g}"),
            ("std. error", f"{self.se:.6g}"),
            (f"{self.ci_level:.0%} CI", f"[{self.ci[0]:.6g}, {self.ci[1]:.6g}]"),
            ("p-value", f"{self.p_value:.4g}"),
            ("n", str(self.n)),
        ]
        body = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        gates = "".join(
            f"<li><b>{html.escape(g.status)}</b> {html.escape(g.name)}: "
            f"{html.escape(g.message)}</li>"
            for g in self.gates
        )
        title = html.escape(f"{self.estimator} — {self.estimand}")
        return f"<div><h4>{title}</h4><table>{body}</table><ul>{gates}</ul></div>"


#: The fields of :class:`Estimate` (:meth:`Estimate.with_updates` checks names against them).
_FIELD_NAMES = frozenset(f.name for f in fields(Estimate))
