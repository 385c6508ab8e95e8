"""The registered ``its`` estimator: interrupted time series (segmented regression).

Estimands: ``level_change`` (``β2``, the immediate jump at the interruption) and
``slope_change`` (``β3``, the change of the trend per period); each run reports one as
its estimate and the other in ``diagnostics``.  Model, assumptions and inference are in
:mod:`cqox.estimators.its.segmented`.  Assumptions: the pre-interruption trend (plus
seasonality and covariates) would have continued without the interruption, no other
event at the same time (a control series guards against common shocks), equally spaced
periods.

Interface: roles ``outcome`` and ``time`` (one row per period); the interruption is the
``interruption`` parameter (the first post period) or, when not given, the first
period where the 0/1 ``treatment`` role is 1 (it must be 0 before and 1 after).
``control`` names a column holding a control series on the same periods (comparative
ITS); ``covariates`` enter linearly.

Inference (parameter ``se_method``; the method string and ``diagnostics["se_method"]``
say which was used):

* ``"ewc"`` — the default (``"auto"`` without ``hac_lag``): equal-weighted cosine
  long-run variance with ``ν = round(0.4 n^{2/3})`` terms (``ewc_terms``) and
  design-adjusted fixed-b Student-t critical values.
* ``"fixed_b"`` — the default when ``hac_lag`` is given: Newey–West (Bartlett) SEs at
  that lag, else at ``floor(1.3 n^{1/2})`` (Lazarus, Lewis, Stock & Watson 2018,
  doi:10.1080/07350015.2018.1506926), with design-adjusted fixed-b critical values.
* ``"normal"`` — Newey–West at ``hac_lag`` or ``floor(4 (n/100)^{2/9})`` with normal
  critical values: exactly statsmodels' ``OLS(...).fit(cov_type="HAC")``.

The CI is ``estimate ± c·se`` and the p-value ``2 P(T_df > |t|/scale)`` with the
critical value ``c = scale·t_{df,1−α/2}`` of :func:`cqox.estimators.its.segmented.fixed_b`
(two-moment fit to the exact law of the t-ratio under Gaussian white noise with this
design, which is its fixed-b limit; ``diagnostics`` gives ``df`` and
``critical_value``).  The textbook fixed-b values (Kiefer & Vogelsang 2005's polynomial
``1.96 + 2.9694 b + 0.4160 b² − 0.5324 b³`` for Newey–West, ``t_ν`` for EWC) assume
stationary regressors and under-cover with the trend, step and ramp of an ITS (n = 200,
φ = 0.5: Newey–West at the LLSW lag 86% / 85%, EWC with ``t_ν`` 88% / 87%).

Trade-off: honest intervals are wider.  Coverage of nominal 95% intervals (level /
slope change) and mean width relative to the old normal interval (AR(1) errors, 2000
replications; docs/validation_synth_its_pm.md has the full table):

===============  =====  ===========  ======================  ======================
design           φ      normal       fixed_b (NW)            ewc (default)
===============  =====  ===========  ======================  ======================
n = 200          0.5    88% / 87%    94% / 95%, 1.4×         96% / 97%, 1.5–1.6×
n = 120          0.7    77% / 75%    93% / 90%, 1.6×         96% / 94%, 1.8–1.9×
n = 60 monthly   0.3    82% / 78%    94% / 94%, 1.6–1.7×     95% / 95%, 2.0–2.1×
n = 60 monthly   0.6    72% / 68%    91% / 90%, 1.7–1.9×     94% / 94%, 2.2–2.4×
===============  =====  ===========  ======================  ======================

EWC is the default because it stays in the 93–97% band up to φ ≈ 0.7 at these
lengths; Newey–West with fixed-b values is about 10–20% narrower and honest for
φ ≤ 0.5 at n ≥ 120 (91–92% at n = 60, φ = 0.5).  ``small_sample`` rescales the SE by
``(n/(n−k))^{1/2}``; the fixed-b interval does not change (the critical value absorbs
the factor).

Example
-------
>>> import cqox
>>> from cqox.simulate.its import its_ar1
>>> df, truth = its_ar1(n_pre=60, n_post=60, seed=2)
>>> est = cqox.estimate("its", df, outcome="y", roles={"time": "t"}, interruption=60)
>>> est.estimand
'level_change'
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import threshold_gate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.core.tables import Tables
from cqox.data.gram import ShiftedGram
from cqox.data.prepare import (
    CausalData,
    _positions,
    check_ordered_periods,
    prepare,
)
from cqox.errors import DataError, DesignError, EstimationError, ParameterError, RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import CI_LEVEL, estimand_param, se_method_param
from cqox.estimators.its.segmented import (
    FixedB,
    HACFit,
    LeastSquaresQR,
    auto_lag,
    ewc_terms,
    fixed_b,
    full_rank,
    its_design,
    llsw_lag,
    normal_critical_value,
    normal_p_value,
    ols_ewc,
    ols_hac,
    thin_qr,
)
from cqox.estimators.its.two_segments import ewc_two_segments, hac_two_segments
from cqox.estimators.registry import register

#: Column names of the bare design (no seasonal term, no covariate).
BARE_NAMES = ("intercept", "time", "level_change", "slope_change")
#: Choices of the ``se_method`` parameter.
INFERENCE = ("auto", "ewc", "fixed_b", "normal")


@register
class ITS(Estimator):
    """Segmented regression with HAR (EWC or Newey–West) SEs and fixed-b intervals."""

    example = Example(
        "its_ar1",
        {"n_pre": 30, "n_post": 30, "seed": 2},
        {"outcome": "y", "time": "t"},
        {"interruption": 30},
    )
    name = "its"
    family = "interrupted_time_series"
    designs = (Design.ITS,)
    estimands = ("level_change", "slope_change")
    default_estimands = ("level_change", "slope_change")
    requires = ("outcome", "time")
    optional_roles = ("treatment", "covariates")
    summary_line = "Interrupted time series: segmented regression, EWC / Newey–West SE, fixed-b CI"
    parameters = (
        estimand_param(("level_change", "slope_change"), "level_change"),
        Param("interruption", None, "any", "first post-interruption period", nullable=True),
        se_method_param(
            INFERENCE,
            "auto",
            "'auto' = 'fixed_b' when hac_lag is given, else 'ewc'",
            aliases=("inference",),
        ),
        Param(
            "hac_lag",
            None,
            "int",
            "Newey–West lag (default floor(1.3 n^(1/2)) for 'fixed_b', "
            "floor(4 (n/100)^(2/9)) for 'normal')",
            low=0,
            high=10_000,
            nullable=True,
        ),
        Param(
            "ewc_terms",
            None,
            "int",
            "cosine terms of the EWC estimator (default round(0.4 n^(2/3)))",
            low=1,
            high=10_000,
            nullable=True,
        ),
        Param("small_sample", False, "bool", "multiply the HAC covariance by n/(n − k)"),
        Param(
            "season_period",
            None,
            "int",
            "season length in periods (e.g. 12)",
            low=2,
            high=10_000,
            nullable=True,
        ),
        Param(
            "season_method",
            "fourier",
            "choice",
            "Fourier terms or season dummies",
            choices=("fourier", "dummies"),
        ),
        Param(
            "fourier_order",
            2,
            "int",
            "harmonic pairs when season_method='fourier'",
            low=1,
            high=100,
        ),
        Param(
            "control", None, "str", "column with a control series (comparative ITS)", nullable=True
        ),
        CI_LEVEL,
    )

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Complete-case rows of outcome, time, treatment, covariates and control.

        A table whose columns in use are NumPy numbers (or dates, for the period) with
        no missing or infinite value and no covariates is read directly: each column
        once, as an array, with the checks of :func:`cqox.data.prepare.prepare` for
        such a table (outcome not constant, a 0/1 treatment with two rows per arm).
        Every other table, and any table that fails one of these checks, takes the
        general preparation, which removes incomplete rows and words each error.
        """
        control = params.get("control")
        fast = _complete_numeric_series(df, roles, control)
        if fast is not None:
            return fast
        extra = [control] if control else []
        return prepare(df, roles, require=self.requires, extra_columns=extra)

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        r = data.roles
        assert r.time is not None and data.y is not None
        raw_times, control = _time_and_control(data, params["control"])
        order, notes = _period_order_and_notes(raw_times, r.time)
        if order is None:  # already in period order: no sort, no copies
            times, y, c, t = raw_times, data.y, control, data.t
        else:
            times, y = raw_times[order], data.y[order]
            c = None if control is None else control[order]
            t = None if data.t is None else data.t[order]
        y_used = y if c is None else y - c
        if c is not None and not y_used.max() > y_used.min():
            raise RoleError(
                f"parameter 'control': outcome '{r.outcome}' minus control "
                f"'{params['control']}' is constant; the comparative ITS has nothing to fit "
                "(is the control the outcome itself?)",
                details={"parameter": "control", "column": params["control"]},
            )
        t0, s0 = _interruption(times, t, r.treatment, params["interruption"])
        n = len(y_used)
        if s0 < 2 or n - s0 < 2:
            raise DesignError(
                f"interruption {t0!r} leaves {s0} pre and {n - s0} post periods; each "
                "segment needs at least 2 to fit a line",
                details={"parameter": "interruption"},
            )
        X = None
        if data.X.shape[1]:
            X = data.X if order is None else data.X[order]
        # the bare four-column design (no seasons, no covariates) has full rank with two
        # periods per segment: only the count of coefficients is checked before the QR
        bare = params["season_period"] is None and X is None
        if bare:
            _check_length(4, BARE_NAMES, n)
        else:
            Z, names = self._design(n, s0, params, X, data.covariate_names)
            qr = _check_design(Z, names, n)
        inference = self._inference(params, n)
        level = params["ci_level"]
        terms = params["ewc_terms"]
        if terms is None:  # the cosine terms serve EWC only (0: not used)
            terms = ewc_terms(n) if inference == "ewc" else 0
        if bare and inference == "ewc" and 2 * terms + 1 <= n and s0 > 2:
            # the default: the two segment fits, EWC and the fixed-b law in one pass (two
            # pre periods leave the pre line no residual: its law is rounding noise, which
            # the QR route below words as before)
            names = list(BARE_NAMES)
            fit, law = ewc_two_segments(y_used, s0, terms, params["small_sample"])
            lrv = f"EWC SE ({terms} cosine terms"
            coef, se = fit.coef, fit.se
            tstat = coef / se
            crit, pvals, ref = _fixed_b_inference(law, fit, tstat, level)
            fb: FixedB | None = law
        elif bare and inference == "normal" and s0 > 2:
            # statsmodels' HAC on the bare design: the two segment fits and the
            # Newey–West variance of the coefficients' scores, no QR (two pre periods
            # leave the pre line no residual: its SEs are rounding noise, as before)
            names = list(BARE_NAMES)
            lag = auto_lag(n) if params["hac_lag"] is None else params["hac_lag"]
            fit = hac_two_segments(y_used, s0, lag, params["small_sample"])
            lrv = f"Newey–West HAC SE (Bartlett, lag {lag}"
            coef, se = fit.coef, fit.se
            tstat = coef / se
            crit, pvals, ref, fb = _reference_distribution(fit, tstat, inference, level, params)
        else:
            if bare:
                Z, names = self._design(n, s0, params, None, [])
                qr = _check_design(Z, names, n)
            # one QR serves the rank check, the fit and the fixed-b reference law
            fit, lrv = _fit_long_run_variance(y_used, Z, inference, params, n, qr, terms)
            coef, se = fit.coef, fit.se
            tstat = coef / se
            # the bare design: fixed_b takes its closed-form basis
            crit, pvals, ref, fb = _reference_distribution(
                fit, tstat, inference, level, params, s0 if bare else None
            )
        half = crit * se
        lo = coef - half
        hi = coef + half
        j = 2 if params["estimand"] == "level_change" else 3
        k_other = 5 - j
        other = names[k_other]
        # Python floats, each array converted in one call
        b, sd, p_val = coef.tolist(), se.tolist(), pvals.tolist()
        low, high = lo.tolist(), hi.tolist()
        diag_inf: dict[str, Any] = {"se_method": inference}
        if fb is not None:
            df_list = fb.df.tolist()
            diag_inf["df"] = df_list[j]
            diag_inf["critical_value"] = float(crit[j])
            diag_inf[f"{other}_df"] = df_list[k_other]
        resid = fit.resid
        ss = float(resid @ resid)
        rho1 = float(resid[1:] @ resid[:-1] / ss) if n > 2 else float("nan")
        dev = y_used - y_used.sum() / n  # the mean (as ndarray.mean computes it)
        n_pre, n_post = s0, n - s0
        gates = [
            threshold_gate(
                "its_segment_length",
                float(min(n_pre, n_post)),
                ctx.threshold("its_segment_length"),
                higher_is_better=True,
                label="periods in the shorter segment",
                details={"n_pre": n_pre, "n_post": n_post},
            )
        ]
        return Estimate(
            self.name,
            params["estimand"],
            b[j],
            sd[j],
            (low[j], high[j]),
            p_val[j],
            level,
            n=n,
            counts={"n_pre": n_pre, "n_post": n_post},
            diagnostics={
                "interruption": t0,
                other: b[k_other],
                f"{other}_se": sd[k_other],
                f"{other}_ci": (low[k_other], high[k_other]),
                f"{other}_p_value": p_val[k_other],
                "pre_slope": b[1],
                "hac_lag": fit.lag if fit.kernel == "bartlett" else None,
                "ewc_terms": fit.lag if fit.kernel == "ewc" else None,
                **diag_inf,
                "residual_autocorrelation_lag1": rho1,
                "comparative": c is not None,
                "r_squared": float(1.0 - ss / float(dev @ dev)),
            },
            gates=gates,
            # handed as columns: a DataFrame is built only when a caller reads the table
            tables=Tables(
                coefficients=_coefficient_table(names, coef, se, tstat, pvals, lo, hi),
                fit=_fit_table(times, y_used, fit, s0, y, c, own=order is not None),
            ),
            warnings=notes,
            method=(
                ("comparative " if c is not None else "")
                + "segmented regression, "
                + lrv
                + (", n/(n−k) correction" if params["small_sample"] else "")
                + "), "
                + ref
            ),
        )

    @staticmethod
    def _design(
        n: int, s0: int, params: dict[str, Any], X: np.ndarray | None, covariates: list[str]
    ) -> tuple[np.ndarray, list[str]]:
        """The design matrix and its column names (:func:`its_design` with the parameters)."""
        return its_design(
            n,
            s0,
            params["season_period"],
            params["season_method"],
            params["fourier_order"],
            X,
            covariates,
        )

    def _inference(self, params: dict[str, Any], n: int) -> str:
        """Resolve ``se_method='auto'`` and check the lag / cosine-term parameters."""
        inference = str(params["se_method"])
        if inference == "auto":
            inference = "ewc" if params["hac_lag"] is None else "fixed_b"
        if inference == "ewc" and params["hac_lag"] is not None:
            raise ParameterError(
                "The 'hac_lag' parameter of its applies to the Newey–West inferences "
                "('fixed_b', 'normal'), not to se_method='ewc'. Drop it or choose one of them.",
                details={"parameter": "hac_lag", "estimator": self.name},
            )
        if inference != "ewc" and params["ewc_terms"] is not None:
            raise ParameterError(
                "The 'ewc_terms' parameter of its applies to se_method='ewc' only. "
                f"Got se_method={inference!r}.",
                details={"parameter": "ewc_terms", "estimator": self.name},
            )
        for name in ("hac_lag", "ewc_terms"):
            value = params[name]
            if value is not None and value >= n:
                raise ParameterError(
                    f"The '{name}' parameter of its must be below the number of periods "
                    f"({n}). Got {value} instead.",
                    details={"parameter": name, "estimator": self.name},
                )
        return inference


@dataclass(frozen=True)
class SeriesData(CausalData):
    """:class:`CausalData` of a series read column by column (the fast preparation).

    ``frame`` is the caller's table itself (complete in every column in use; pandas'
    copy-on-write keeps it unchanged); the period and control columns are kept as the
    arrays read once.

    Attributes
    ----------
    time : ndarray, shape (n,)
        The periods, in the table's row order.
    control : ndarray, shape (n,) or None
        The control series (float64), or ``None`` without one.
    """

    time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    control: np.ndarray | None = None

    def __init__(
        self,
        frame: pd.DataFrame,
        roles: Roles,
        y: np.ndarray | None,
        t: np.ndarray | None,
        X: np.ndarray,
        covariate_names: list[str],
        row_index: np.ndarray,
        n_input: int,
        dropped: dict[str, str] | None = None,
        warnings: list[str] | None = None,
        gram: ShiftedGram | None = None,
        time: np.ndarray | None = None,
        control: np.ndarray | None = None,
    ) -> None:
        # the dataclass's __init__ written out, as CausalData's: its fields through its
        # own __init__ (one update of the instance's dict), then these two, instead of a
        # frozen object.__setattr__ per field (13 of them: ~1.5 µs a preparation);
        # ``None`` for dropped / warnings / time: new empty ones, as the defaults made
        CausalData.__init__(
            self,
            frame,
            roles,
            y,
            t,
            X,
            covariate_names,
            row_index,
            n_input,
            {} if dropped is None else dropped,
            [] if warnings is None else warnings,
            gram,
        )
        self.__dict__.update({"time": np.zeros(0) if time is None else time, "control": control})


#: Roles the fast preparation does not read: a table with any of them takes the general one.
_OTHER_ROLES = tuple(
    f.name for f in fields(Roles) if f.name not in ("outcome", "time", "treatment", "guesses")
)
#: Their values in one call (a generator over 19 ``getattr`` calls costs ~3 µs)
_other_roles = operator.attrgetter(*_OTHER_ROLES)


def _text_names(columns: pd.Index) -> bool:
    """Whether every column name is a ``str`` (pandas' text dtype says so without a pass)."""
    if isinstance(columns.dtype, pd.StringDtype) and not columns.hasnans:
        return True
    return all(isinstance(c, str) for c in columns)


def _complete_numeric_series(
    df: pd.DataFrame, roles: Roles, control: str | None
) -> SeriesData | None:
    """:class:`SeriesData` for a complete numeric table, else ``None`` (general path).

    ``None`` whenever :func:`cqox.data.prepare.prepare` would remove a row, convert a
    value or raise: then the general path does exactly that.
    """
    if not isinstance(df, pd.DataFrame) or roles.time is None or roles.outcome is None:
        return None
    if _other_roles(roles).count(None) != len(_OTHER_ROLES):
        return None  # covariates or other roles: their checks live in prepare()
    columns = df.columns
    n = len(df)
    # check_table's conditions (columns, rows, unique names), and text names throughout:
    # else the general path words the problem or renames the columns
    if len(columns) == 0 or n == 0 or not columns.is_unique or not _text_names(columns):
        return None
    wanted = [roles.outcome, roles.time] + [c for c in (roles.treatment, control) if c]
    if len(set(wanted)) < len(wanted):
        return None
    # every column located through the index's engine (cqox.data.prepare's lookup:
    # 0.2 µs a name, against 0.45 through Index.get_loc) and read as pandas stores it
    positions = _positions(columns, wanted)
    if positions is None:
        return None  # a name not in the table: prepare() words it
    read = getattr(df, "_get_column_array", None)  # pandas' internal read, ~1 µs
    stored = dict(zip(wanted, map(read, positions) if callable(read) else positions, strict=True))
    y = _float_values(_column(df, roles.outcome, stored[roles.outcome]))
    if y is None:
        return None
    # min and max carry any NaN (then no comparison holds) and any infinity
    lo, hi = float(y.min()), float(y.max())
    if not (lo < hi and math.isfinite(lo) and math.isfinite(hi)):
        return None  # missing, infinite or constant: prepare() words it
    times = _column(df, roles.time, stored[roles.time])
    if times is None:
        return None
    kind = times.dtype.kind
    if kind == "M":
        if np.isnat(times).any():
            return None
    elif kind not in "iuf" or (kind == "f" and not np.isfinite(times).all()):
        return None
    t = None
    if roles.treatment:
        t = _finite_numbers(_column(df, roles.treatment, stored[roles.treatment]))
        if t is None:
            return None
        n1 = int(np.count_nonzero(t == 1.0))
        n0 = int(np.count_nonzero(t == 0.0))
        if n0 + n1 != len(t) or min(n0, n1) < 2:
            return None  # not 0/1 with two rows per arm: prepare() says so
    c = None
    if control:
        c = _finite_numbers(_column(df, control, stored[control]))
        if c is None:
            return None
    return SeriesData(
        frame=df,
        roles=roles,
        y=y,
        t=t,
        X=np.empty((n, 0)),
        covariate_names=[],
        row_index=np.arange(n),
        n_input=n,
        time=times,
        control=c,
    )


def _column(df: pd.DataFrame, name: str, stored: Any) -> np.ndarray | None:
    """Column ``name`` of ``df`` as a read-only NumPy array, or ``None`` (not a NumPy dtype).

    ``stored`` is the column as pandas stores it (:func:`cqox.data.prepare._read_columns`:
    no Series; ``df[name]`` builds one, ~10 µs, more than the rest of the preparation);
    read-only, as pandas hands it out under copy-on-write.  Dates come through the
    public ``to_numpy`` (their stored array is not a NumPy array).
    """
    values = stored  # an integer position when pandas has no internal read
    if not isinstance(values, np.ndarray):
        column = df[name]
        if not isinstance(column.dtype, np.dtype):
            return None
        values = column.to_numpy()
    view = values.view()
    view.flags.writeable = False
    return view


def _float_values(values: np.ndarray | None) -> np.ndarray | None:
    """Int/uint/float values as float64 (the same array when float64), else ``None``."""
    if values is None or values.dtype.kind not in "iuf":
        return None
    return values.astype(np.float64, copy=False)


def _finite_numbers(values: np.ndarray | None) -> np.ndarray | None:
    """Int/uint/float values as float64 when every value is finite, else ``None``."""
    floats = _float_values(values)
    return floats if floats is not None and np.isfinite(floats).all() else None


def _time_and_control(
    data: CausalData, control: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The periods and the control series in row order (read once by the fast path)."""
    if isinstance(data, SeriesData):
        return data.time, data.control
    r = data.roles
    assert r.time is not None
    column = data.frame[r.time]
    check_ordered_periods(column, r.time)
    return column.to_numpy(), _control_series(data, control)


def _period_order_and_notes(times: np.ndarray, column: str) -> tuple[np.ndarray | None, list[str]]:
    """:func:`_period_order` and the :func:`_spacing_notes` of the ordered periods.

    Integer periods in order with equal steps (the usual series) are recognised from
    their steps alone: the smallest step is positive and equals the largest, and the
    span equals the steps' sum in Python integers (no step wrapped around).
    """
    if times.dtype.kind == "i" and times.size > 1:
        steps = times[1:] - times[:-1]
        step = int(steps.min())
        span = int(times[-1]) - int(times[0])
        if step > 0 and step == steps.max() and span == (times.size - 1) * step:
            return None, []
    order = _period_order(times, column)
    return order, _spacing_notes(times if order is None else times[order], str(column))


def _period_order(times: np.ndarray, column: str) -> np.ndarray | None:
    """``None`` when the periods already increase strictly, else the sorting permutation.

    Raises when a period appears twice (ITS needs one row per period).
    """
    if times.size < 2 or bool((times[1:] > times[:-1]).all()):
        return None
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    same = ordered[1:] == ordered[:-1]
    if same.any():
        dup = ordered[1:][same][0]
        raise DataError(
            f"role 'time': period {dup!r} appears more than once; ITS needs one row "
            "per period (aggregate first, or use a panel design)",
            details={"role": "time", "column": column},
        )
    return order


def _control_series(data: CausalData, control: str | None) -> np.ndarray | None:
    """The control series (comparative ITS) in row order, or ``None``."""
    if not control:
        return None
    c = pd.to_numeric(data.frame[control], errors="coerce").to_numpy()
    if np.isnan(c).any():
        raise RoleError(
            f"parameter 'control': column '{control}' must be numeric",
            details={"parameter": "control", "column": control},
        )
    return np.asarray(c, dtype=np.float64)


def _interruption(
    times: np.ndarray, t: np.ndarray | None, treatment: str | None, t0: Any
) -> tuple[Any, int]:
    """``(first post period, its position)`` from the parameter or the 0/1 treatment role."""
    if t0 is not None:
        return t0, int(times.searchsorted(t0, side="left"))
    if t is None:
        raise RoleError(
            "its needs the interruption: give the parameter 'interruption' (first "
            "post period) or a 0/1 'treatment' role (0 before, 1 from then on)",
            details={"role": "treatment"},
        )
    s0 = int(np.argmax(t == 1))
    if np.any(t[:s0] != 0) or np.any(t[s0:] != 1):
        raise DesignError(
            f"role 'treatment': column '{treatment}' must be 0 up to the "
            "interruption and 1 from then on (one interruption)",
            details={"role": "treatment", "column": treatment},
        )
    return times[s0], s0


def _spacing_notes(times: np.ndarray, column: str) -> list[str]:
    """A note when numeric periods are not equally spaced (the slope is per observation)."""
    if times.dtype.kind in "iu" and times.size > 1:
        steps = times[1:] - times[:-1]  # increasing: no wrap-around for unsigned periods
        if steps.min() == steps.max():  # equal integer steps: exact, no float pass
            return []
    if np.issubdtype(times.dtype, np.number):
        steps = np.diff(times.astype(float))
        if steps.size and np.ptp(steps) > 1e-9 * max(1.0, float(np.abs(steps).max())):
            return [
                f"periods of '{column}' are not equally spaced; the slope is per "
                "observation, not per unit of time"
            ]
    return []


def _check_length(k: int, names: Sequence[str], n: int) -> None:
    """Refuse a design with no residual degrees of freedom (``n ≤ k`` coefficients)."""
    if n <= k:
        raise DesignError(
            f"the ITS model has {k} coefficients but only {n} periods; it needs "
            "more periods than coefficients to estimate the error variance",
            details={"columns": list(names), "n": n},
        )


def _check_design(Z: np.ndarray, names: list[str], n: int) -> LeastSquaresQR:
    """Refuse a design with no residual degrees of freedom or dependent columns.

    Returns the QR of ``Z`` (whose ``R`` diagonal is the rank test).
    """
    _check_length(Z.shape[1], names, n)
    qr = thin_qr(Z)
    if not full_rank(qr.R, n):
        raise DesignError(
            "the ITS design matrix is rank-deficient (too few periods for the "
            "seasonal terms or covariates?)",
            details={"columns": names},
        )
    return qr


def _fit_long_run_variance(
    y: np.ndarray,
    Z: np.ndarray,
    inference: str,
    params: dict[str, Any],
    n: int,
    qr: LeastSquaresQR,
    terms: int,
) -> tuple[HACFit, str]:
    """OLS with the EWC (``terms`` cosines) or Newey–West long-run variance, and its description."""
    small = params["small_sample"]
    if inference == "ewc":
        return ols_ewc(y, Z, terms, small, qr), f"EWC SE ({terms} cosine terms"
    lag = params["hac_lag"]
    if lag is None:
        lag = auto_lag(n) if inference == "normal" else llsw_lag(n)
    return ols_hac(y, Z, lag, small, qr), f"Newey–West HAC SE (Bartlett, lag {lag}"


def _reference_distribution(
    fit: HACFit,
    tstat: np.ndarray,
    inference: str,
    level: float,
    params: dict[str, Any],
    s0: int | None = None,
) -> tuple[np.ndarray, np.ndarray, str, FixedB | None]:
    """``(critical values, p-values, description, fixed-b law or None)`` per coefficient.

    ``s0``: the interruption when the design is the bare four-column one (see
    :func:`cqox.estimators.its.segmented.fixed_b`).
    """
    if inference == "normal":
        return (
            np.full(len(tstat), normal_critical_value(level)),
            normal_p_value(tstat),
            "normal CI",
            None,
        )
    fb = fixed_b(fit, params["small_sample"], s0)
    return (*_fixed_b_inference(fb, fit, tstat, level), fb)


def _fixed_b_inference(
    fb: FixedB, fit: HACFit, tstat: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, str]:
    """``(critical values, p-values, description)`` of the fixed-b law (refused when degenerate)."""
    # the largest scale is finite and the smallest df positive (a NaN in either fails
    # both comparisons; a scale is a square root, never −inf): two reductions, no masks
    if not (math.isfinite(fb.scale.max()) and fb.df.min() > 0):
        raise EstimationError(
            "its: the fixed-b reference distribution is degenerate for this design "
            f"({fit.lag} {'cosine terms' if fit.kernel == 'ewc' else 'lags'}); "
            "use more terms or a longer lag",
            details={"parameter": "ewc_terms" if fit.kernel == "ewc" else "hac_lag"},
        )
    return fb.critical_value(level), fb.p_value(tstat), "design-adjusted fixed-b t CI"


def _coefficient_table(
    names: list[str],
    coef: np.ndarray,
    se: np.ndarray,
    tstat: np.ndarray,
    pvals: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> dict[str, Any]:
    """Columns of the coefficient table: estimate, HAR SE, t-ratio, p-value and interval."""
    return {
        "term": names,
        "coef": coef,
        "se": se,
        "t": tstat,
        "p_value": pvals,
        "ci_low": lo,
        "ci_high": hi,
    }


def _fit_table(
    times: np.ndarray,
    y_used: np.ndarray,
    fit: HACFit,
    s0: int,
    y: np.ndarray,
    c: np.ndarray | None,
    *,
    own: bool,
) -> dict[str, np.ndarray]:
    """Columns of the fit table: observed, fitted and counterfactual series by period.

    The counterfactual is the fitted line without the level and slope change; a
    comparative ITS adds the treated and the control series.
    Unless ``own`` (the rows were sorted into new arrays), the period and series arrays
    may be views of the caller's table: they are copied, so that the table built later
    does not follow changes the caller makes to its table in the meantime.
    """
    if not own:
        times, y = times.copy(), y.copy()
        y_used = y if c is None else y_used
        c = None if c is None else c.copy()
    coef = fit.coef
    # without the level and slope change: β2 + β3 (s − s0) off the fitted post periods
    counterfactual = fit.fitted.copy()
    ramp = np.arange(len(y_used) - s0, dtype=np.float64)  # in place: the same numbers
    ramp *= coef[3]
    ramp += coef[2]
    counterfactual[s0:] -= ramp
    post = np.zeros(len(y_used), dtype=bool)  # no integer ramp to compare
    post[s0:] = True
    columns = {
        "time": times,
        "observed": y_used,
        "fitted": fit.fitted,
        "counterfactual": counterfactual,
        "post": post,
    }
    if c is not None:
        columns["treated_series"] = y
        columns["control_series"] = c
    return columns
