"""Registered IV estimators: ``iv_2sls`` and ``iv_liml``.

Roles: ``outcome`` y, ``treatment`` d (endogenous; further endogenous regressors in the
``endogenous`` parameter), ``instrument`` (one or more excluded instruments),
``covariates`` (exogenous regressors), ``cluster``, ``weight``.

Estimand.  The coefficient on the treatment in ``y = α + d·β + W'γ + ε``.  With a binary
treatment it is reported as ``LATE``: with a binary instrument and no covariates 2SLS is
the Wald estimator ``(E[y|z=1] − E[y|z=0]) / (E[d|z=1] − E[d|z=0])``, the average
effect on compliers under independence, exclusion, monotonicity and relevance
(Imbens & Angrist 1994, doi:10.2307/2951620); with several instruments or covariates
it is a weighted average of such effects.  With a multi-valued or continuous treatment
it is reported as ``ACR``, the average causal response (a weighted average of unit
effects of a one-unit increase; Angrist & Imbens 1995, doi:10.1080/01621459.1995.10476535),
which is the structural coefficient when effects are constant.

Inference: ``se_method`` ``robust`` (HC0, linearmodels' default), ``unadjusted`` or
``clustered`` (``auto``: clustered when a ``cluster`` role is given, else robust);
``debiased=True`` applies the ``n/(n−k)`` (and ``G/(G−1)``) factors and ``t(n−k)``
intervals.  The interval of the Estimate is the Wald interval; the Anderson–Rubin set,
valid with weak instruments, is in the ``anderson_rubin`` gate and the diagnostics.

Example
-------
>>> import cqox
>>> df, truth = cqox.simulate.iv_linear(n=2000, seed=1)
>>> est = cqox.estimate("iv_2sls", df, outcome="y", treatment="d",
...                     covariates=["x1", "x2"], roles={"instrument": ["z1", "z2"]})
>>> abs(est.estimate - truth["effect"]) < 4 * est.se
True
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from cqox.core.context import Context
from cqox.core.design import Design
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate, threshold_gate
from cqox.core.params import Param
from cqox.core.roles import Roles
from cqox.core.tables import Tables
from cqox.data.prepare import CausalData, prepare
from cqox.errors import NoDataError, RoleError
from cqox.estimators.base import Estimator, Example
from cqox.estimators.common import (
    CI_LEVEL,
    CONLEY_CUTOFF,
    CONLEY_KERNEL,
    check_conley_params,
    conley_coordinates,
    se_method_param,
)
from cqox.estimators.iv.diagnostics import (
    ARSet,
    EndogeneityTests,
    FirstStage,
    TestStat,
    anderson_rubin_set,
    endogeneity_tests,
    first_stages,
    instrument_scores,
    normal_quantile,
    overid_tests,
)
from cqox.estimators.iv.kclass import ConleySpec, KClassResult, iv_matrix, kclass
from cqox.estimators.iv.rank import check_instrument_rank, check_instrument_rank_qr
from cqox.estimators.registry import register


def _is_names(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


ENDOGENOUS = Param(
    "endogenous",
    (),
    "any",
    "further endogenous regressors (columns), instrumented with the treatment",
    check=_is_names,
    rule="a column name or a list of column names",
)
SE_METHOD = se_method_param(
    ("auto", "robust", "unadjusted", "clustered", "conley"),
    "auto",
    "'auto' = 'clustered' if a cluster role is given, else 'robust'; with 'conley' the "
    "diagnostics (first stage, Anderson–Rubin, over-identification, endogeneity) are "
    "the robust ones",
    aliases=("cov_type",),
)
DEBIASED = Param(
    "debiased", False, "bool", "small-sample factors n/(n−k), G/(G−1) and t(n−k) intervals"
)
FULLER = Param(
    "fuller",
    0.0,
    "float",
    "Fuller's alpha (κ = κ_LIML − α/(n − L)); 1 gives a nearly unbiased estimator",
    low=0.0,
)


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return list(value or ())


def _put_columns(M: np.ndarray, start: int, data: CausalData, cols: list[str], role: str) -> None:
    """Write the numeric, non-constant columns ``cols`` of ``data`` into ``M`` from ``start``."""
    for j, c in enumerate(cols):
        values = data.values(c)
        if values.dtype.kind not in "iubf":  # text, dates, nullable types: pandas decides
            s = data.frame[c]
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                raise RoleError(
                    f"role '{role}': column '{c}' must be numeric; got dtype {s.dtype}",
                    details={"role": role, "column": c},
                )
            values = s.to_numpy(dtype=np.float64)
        v = M[:, start + j]
        v[:] = values
        # a column with two values among its first rows is not constant: the min/max pass
        # only when those rows agree
        head = v[:16].tolist()
        if head.count(head[0]) == len(head) and v.max() == v.min():
            raise RoleError(
                f"role '{role}': column '{c}' is constant ({v[0]:g}) in the rows in use",
                details={"role": role, "column": c},
            )


class _IVBase(Estimator):
    """Shared preparation, diagnostics and reporting of the k-class estimators."""

    example = Example(
        "iv_linear",
        {"n": 400, "seed": 1},
        {"outcome": "y", "treatment": "d", "covariates": ["x1", "x2"], "instrument": ["z1", "z2"]},
    )
    family = "iv"
    designs = (Design.IV,)
    estimands = ("LATE", "ACR")
    requires = ("outcome", "treatment", "instrument")
    optional_roles = ("covariates", "cluster", "weight", "lat", "lon")
    binary_treatment = False
    needs_named_covariates = True

    def prepare(self, df: pd.DataFrame, roles: Roles, params: dict[str, Any]) -> CausalData:
        """Complete cases in every role and every ``endogenous`` column."""
        endog = _names(params.get("endogenous"))
        inst = list(roles.instrument or ())
        taken = {roles.outcome, roles.treatment, *endog}
        covs = set(roles.covariates) if isinstance(roles.covariates, tuple) else set()
        for col in inst:
            if col in taken or col in covs:
                raise RoleError(
                    f"role 'instrument': column '{col}' is also the outcome, the treatment, "
                    "an endogenous regressor or a covariate; an instrument must be excluded "
                    "from the outcome equation",
                    details={"role": "instrument", "column": col},
                )
        for col in endog:
            if col in covs or col in (roles.outcome, roles.treatment):
                raise RoleError(
                    f"parameter 'endogenous': column '{col}' is also the outcome, the "
                    "treatment or a covariate",
                    details={"parameter": "endogenous", "column": col},
                )
        return prepare(
            df, roles, require=self.requires, binary_treatment=False, extra_columns=endog
        )

    @abstractmethod
    def _kappa(self, params: dict[str, Any]) -> tuple[float | None, float]:
        """``(κ, fuller)``: ``κ = None`` asks for LIML's κ."""

    def _fit(self, data: CausalData, params: dict[str, Any], ctx: Context) -> Estimate:
        assert data.y is not None and data.t is not None
        roles = data.roles
        endog = _names(params["endogenous"])
        d_names = [str(roles.treatment), *endog]
        z_names = [str(z) for z in roles.instrument or ()]
        n, kw, q, kd = data.n, 1 + data.X.shape[1], len(z_names), 1 + len(endog)
        L = kw + q
        # [W, Z_x, D, y], column-major: the one matrix the fit and every test read
        M = np.empty((n, L + kd + 1), order="F")
        M[:, 0] = 1.0
        M[:, 1:kw] = data.X
        _put_columns(M, L + 1, data, endog, "endogenous")
        _put_columns(M, kw, data, z_names, "instrument")
        M[:, L] = data.t
        M[:, -1] = data.y
        w_names = ["(intercept)", *data.covariate_names]
        weight = data.column("weight").astype(np.float64) if roles.weight else None
        clusters = data.column("cluster") if roles.cluster else None
        check_conley_params(params, self.name)
        spatial = None
        se_method = params["se_method"]
        if se_method == "conley":
            spatial = ConleySpec(
                *conley_coordinates(data),
                float(params["conley_cutoff_km"]),
                params["conley_kernel"],
            )
            # the diagnostics and gates use the heteroskedasticity-robust variance
            se_method = "robust"
        if se_method == "auto":
            se_method = "clustered" if clusters is not None else "robust"
        if se_method == "clustered" and clusters is None:
            raise RoleError(
                "se_method 'clustered' needs the 'cluster' role (a column of cluster ids)",
                details={"role": "cluster"},
            )
        k = kw + kd
        if n <= k + q:
            raise NoDataError(
                f"{self.name} has {n} complete rows for {k} coefficients and "
                f"{q} excluded instrument(s); it needs more rows than "
                "coefficients plus instruments (the first stage and the endogeneity tests "
                "have no residual degrees of freedom otherwise)",
                details={"rows": n, "coefficients": k},
            )
        a = iv_matrix(M, kw, q, kd, weight, clusters)
        W, Zx = M[:, :kw], M[:, kw:L]  # unweighted (iv_matrix scales a copy)
        if weight is None:
            # unweighted: the factorisation's R answers the rank question; columns
            # separated by the Cholesky guard pass it (each instrument keeps ≥ 0.05 of its
            # norm off [W, earlier instruments], far above RANK_TOL and NEAR_CONSTANT)
            if not a.separated:
                check_instrument_rank_qr(a.R, W, Zx, w_names, z_names)
        else:
            check_instrument_rank(W, Zx, w_names, z_names)
        debiased = bool(params["debiased"])
        kappa, fuller = self._kappa(params)
        res = kclass(
            a, kappa, fuller=fuller, se_method=se_method, debiased=debiased, spatial=spatial
        )
        j = kw  # index of the treatment among [W, D]
        level = params["ci_level"]
        beta, se = float(res.params[j]), float(res.se[j])
        ci, p = _inference(beta, se, level, res.df_resid if debiased else None)

        # one cross-product of the instruments' scores serves the first stages and the AR set
        scores = None if se_method == "unadjusted" else instrument_scores(a, se_method)
        fs = first_stages(a, d_names, se_method, debiased, scores)
        ar = (
            anderson_rubin_set(a, se_method, debiased, level, beta, se, scores) if kd == 1 else None
        )
        # Hansen's J weights by the 2SLS residuals: a second fit only for an
        # over-identified LIML/Fuller model
        tsls = res if kappa == 1.0 or q <= kd else kclass(a, 1.0, se_method=se_method)
        sargan, hansen = overid_tests(a, res, tsls, se_method)
        endo = endogeneity_tests(a, res, se_method, debiased, scores)
        t0 = data.t[0]
        # a continuous treatment is told by its first value, without a pass over the rows
        binary = (t0 == 0 or t0 == 1) and bool(np.all((data.t == 0) | (data.t == 1)))
        ar_dict = None if ar is None else ar.to_dict()
        wooldridge = endo.wooldridge.to_dict()
        gates = [
            _weak_gate(fs, ctx),
            _ar_gate(ar, kd, ar_dict),
            _overid_gate(sargan if se_method == "unadjusted" else hansen, q, kd, ctx),
            _endogeneity_gate(endo, se_method, wooldridge),
        ]
        diagnostics: dict[str, Any] = {
            "se_method": "conley" if spatial is not None else se_method,
            "debiased": debiased,
            "kappa": res.kappa,
            "first_stage": {
                f.name: {
                    "f": f.f.to_dict(),
                    "effective_f": f.effective_f,
                    "partial_r2": f.partial_r2,
                    "coef": dict(zip(roles.instrument or (), f.pi.tolist(), strict=True)),
                    "se": dict(zip(roles.instrument or (), f.se.tolist(), strict=True)),
                }
                for f in fs
            },
            "anderson_rubin": ar_dict,
            "sargan": None if sargan is None else sargan.to_dict(),
            "hansen_j": None if hansen is None else hansen.to_dict(),
            "durbin": endo.durbin.to_dict(),
            "wu_hausman": endo.wu_hausman.to_dict(),
            "wooldridge_regression": wooldridge,
        }
        if not math.isnan(res.liml_kappa):
            diagnostics["liml_kappa"] = res.liml_kappa
        if res.n_clusters is not None:
            diagnostics["n_clusters"] = res.n_clusters
        wald = _wald_ratio(M[:, L:], Zx, weight) if binary and kd == 1 else None
        if wald is not None:
            diagnostics["wald"] = wald
        names = w_names + d_names
        coef_table = _coef_table(names, res, debiased)
        return Estimate(
            self.name,
            "LATE" if binary else "ACR",
            beta,
            se,
            ci,
            p,
            level,
            n=data.n,
            n_treated=int(data.t.sum()) if binary else None,
            n_control=int(data.n - data.t.sum()) if binary else None,
            diagnostics=diagnostics,
            gates=gates,
            tables=Tables(coefficients=coef_table),
            method=self._method(
                "Conley spatial-HAC" if spatial is not None else se_method, debiased, res
            ),
        )

    @abstractmethod
    def _method(self, se_method: str, debiased: bool, res: KClassResult) -> str:
        """One line describing the estimator and its inference."""


def _inference(
    beta: float, se: float, level: float, df: int | None
) -> tuple[tuple[float, float], float]:
    """Wald interval and two-sided p-value: normal, or ``t(df)`` when ``df`` is given.

    The normal branch is :func:`cqox.core.estimate.normal_inference` with its quantile
    kept per level (:func:`normal_quantile`) and ``p = erfc(|β/se|/√2)`` by the math
    module: each scalar call of a scipy ufunc costs ~1 µs warm and ~10 µs on the cold
    caches a call meets after other work (``benchmarks.peer_speed``), the math module's
    a fraction of that; both erfc are correctly rounded to within an ulp.
    """
    if df is None:
        if not (se > 0 and math.isfinite(se)):
            return (math.nan, math.nan), math.nan
        z = normal_quantile(level)
        return (beta - z * se, beta + z * se), math.erfc(abs(beta / se) / math.sqrt(2.0))
    q = float(special.stdtrit(df, 0.5 + level / 2))
    p = float(2 * special.stdtr(df, -abs(beta / se)))
    return (beta - q * se, beta + q * se), p


_SQRT2 = math.sqrt(2.0)


def _coef_table(names: list[str], res: KClassResult, debiased: bool) -> dict[str, Any]:
    """The coefficient table as its columns (a DataFrame is built when it is read)."""
    z = res.params / res.se
    if debiased:
        # scipy.special's ufunc (what scipy.stats' t.sf evaluates), without the
        # distribution object's per-call argument checking
        p = 2 * special.stdtr(res.df_resid, -np.abs(z))
    else:
        # 2Φ(−|z|) = erfc(|z|/√2), a few coefficients by the math module: the four ufunc
        # calls of 2·ndtr(−|z|) cost more (~3 µs warm, ~15 µs on cold caches), to rounding
        p = np.array([math.erfc(abs(v) / _SQRT2) for v in z.tolist()])
    return {"term": names, "coef": res.params, "se": res.se, "stat": z, "p_value": p}


def _wald_ratio(
    dy: np.ndarray, Zx: np.ndarray, weight: np.ndarray | None
) -> dict[str, float] | None:
    """Reduced form, first stage and their ratio for one binary instrument.

    ``dy`` holds the treatment and the outcome as its two columns.  The instrument is
    not constant (:func:`_put_columns`), so both groups have rows.
    """
    if Zx.shape[1] != 1:
        return None
    z = Zx[:, 0]
    z1 = z == 1
    n = z.shape[0]
    n1 = int(np.count_nonzero(z1))
    if n1 + int(np.count_nonzero(z == 0)) != n:  # not coded 0/1
        return None
    if weight is None:
        # the group sums of both columns from two products (z and 1 − z are 0/1)
        (d1, y1), (d0, y0) = (z @ dy).tolist(), ((1.0 - z) @ dy).tolist()
        n0 = n - n1
        rf, first = y1 / n1 - y0 / n0, d1 / n1 - d0 / n0
    else:

        def mean(v: np.ndarray, m: np.ndarray) -> float:
            return float(np.sum(weight[m] * v[m]) / np.sum(weight[m]))

        z0 = ~z1
        rf = mean(dy[:, 1], z1) - mean(dy[:, 1], z0)
        first = mean(dy[:, 0], z1) - mean(dy[:, 0], z0)
    return {
        "reduced_form": rf,
        "first_stage": first,
        "ratio": rf / first if first != 0 else float("nan"),
        "complier_share": first,
    }


def _weak_gate(fs: list[FirstStage], ctx: Context) -> Gate:
    limit = ctx.threshold("weak_instrument")
    if len(fs) == 1:
        f = fs[0]
        return threshold_gate(
            "weak_instrument",
            f.effective_f,
            limit,
            higher_is_better=True,
            label="effective first-stage F (Montiel Olea-Pflueger)",
            details={
                "first_stage_f": f.f.statistic,
                "first_stage_p": f.f.p_value,
                "partial_r2": f.partial_r2,
            },
        )
    worst = min(fs, key=lambda f: f.f.statistic)
    gate = threshold_gate(
        "weak_instrument",
        worst.f.statistic,
        limit,
        higher_is_better=True,
        label=f"smallest first-stage F ({worst.name})",
        details={f.name: f.f.statistic for f in fs},
    )
    return Gate(
        gate.name,
        gate.value,
        gate.threshold,
        gate.status,
        gate.message + "; with several endogenous regressors per-regressor F statistics can miss "
        "weak identification",
        gate.details,
    )


def _ar_gate(ar: ARSet | None, kd: int, ar_dict: dict[str, Any] | None = None) -> Gate:
    """The AR set's gate; ``ar_dict`` is ``ar.to_dict()`` when the caller has it."""
    if ar is None:
        return Gate.not_applicable(
            "anderson_rubin",
            f"the model has {kd} endogenous regressors; the AR set is computed for one",
        )
    p0 = ar.test_zero.p_value
    text = f"{ar.level:.0%} Anderson-Rubin set {ar.describe()} (AR p-value of no effect {p0:.3g})"
    if ar_dict is None:
        details = ar.to_dict()
    else:  # a copy, nested lists and test included: the diagnostics hold the record
        details = {
            **ar_dict,
            "intervals": [list(iv) for iv in ar_dict["intervals"]],
            "test_zero": dict(ar_dict["test_zero"]),
        }
    if ar.kind == "bounded":
        return Gate("anderson_rubin", p0, None, "pass", text, details)
    why = {
        "unbounded": "unbounded: the instruments are too weak to bound the effect",
        "whole_line": "the whole line: the data are uninformative about the effect",
        "disjoint": "disjoint",
        "empty": "empty: the over-identifying restrictions look violated",
    }[ar.kind]
    return Gate("anderson_rubin", p0, None, "warn", f"{text}; the set is {why}", details)


def _overid_gate(test: TestStat | None, q: int, kd: int, ctx: Context) -> Gate:
    if test is None:
        return Gate.not_applicable(
            "overidentification",
            f"the model is just identified ({q} instrument(s) for "
            f"{kd} endogenous regressor(s)); there is nothing to test",
        )
    limit = ctx.threshold("overidentification")
    gate = threshold_gate(
        "overidentification",
        test.p_value,
        limit,
        higher_is_better=True,
        label=f"{test.name} p-value",
        details=test.to_dict(),
    )
    return gate


def _endogeneity_gate(
    endo: EndogeneityTests, se_method: str, wooldridge: dict[str, Any] | None = None
) -> Gate:
    """The endogeneity gate; ``wooldridge`` is ``endo.wooldridge.to_dict()`` if at hand."""
    test = endo.wu_hausman if se_method == "unadjusted" else endo.wooldridge
    if test.p_value < 0.05:
        msg = (
            f"{test.name} test rejects exogeneity of the treatment (p = {test.p_value:.3g}): "
            "IV is warranted"
        )
    else:
        msg = (
            f"{test.name} test does not reject exogeneity (p = {test.p_value:.3g}): OLS "
            "would be consistent and more precise if the treatment is exogenous"
        )
    # a copy of the diagnostics' (flat) record
    details = (
        dict(wooldridge) if wooldridge is not None and test is endo.wooldridge else test.to_dict()
    )
    return Gate("endogeneity", test.p_value, None, "pass", msg, details)


@register
class IV2SLS(_IVBase):
    """Two-stage least squares."""

    name = "iv_2sls"
    summary_line = "Two-stage least squares (robust/clustered SE, weak-IV and AR gates)"
    parameters = (ENDOGENOUS, SE_METHOD, DEBIASED, CI_LEVEL, CONLEY_CUTOFF, CONLEY_KERNEL)

    def _kappa(self, params: dict[str, Any]) -> tuple[float | None, float]:
        return 1.0, 0.0

    def _method(self, se_method: str, debiased: bool, res: KClassResult) -> str:
        return f"2SLS, {se_method} SE" + (" (small-sample adjusted)" if debiased else "")


@register
class IVLIML(_IVBase):
    """Limited-information maximum likelihood (with Fuller's option)."""

    name = "iv_liml"
    summary_line = "LIML / Fuller k-class IV (robust/clustered SE, weak-IV and AR gates)"
    parameters = (
        ENDOGENOUS,
        SE_METHOD,
        DEBIASED,
        FULLER,
        CI_LEVEL,
        CONLEY_CUTOFF,
        CONLEY_KERNEL,
    )

    def _kappa(self, params: dict[str, Any]) -> tuple[float | None, float]:
        return None, float(params["fuller"])

    def _method(self, se_method: str, debiased: bool, res: KClassResult) -> str:
        label = "Fuller" if res.kappa != res.liml_kappa else "LIML"
        return f"{label} (κ = {res.kappa:.5g}), {se_method} SE" + (
            " (small-sample adjusted)" if debiased else ""
        )
