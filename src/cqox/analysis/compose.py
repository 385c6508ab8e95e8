"""``cqox.estimate`` and ``cqox.analyze``: from a table and roles to estimates."""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cqox.analysis.analysis import Analysis
from cqox.analysis.consensus import consensus_with_notes
from cqox.analysis.refute import backdoor_refutation_gates
from cqox.analysis.verdict import no_design_error, nothing_ran_error, quality_assessment
from cqox.core.context import Context, ProgressCallback
from cqox.core.design import Design, designs_for
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.roles import Roles
from cqox.data.design_detect import refine_designs
from cqox.data.domain import detect_domain
from cqox.data.infer import infer_roles, inference_notes
from cqox.data.io import read_table
from cqox.data.prepare import CausalData, check_table
from cqox.errors import (
    CqoxError,
    CqoxWarning,
    DataError,
    ParameterError,
    RoleError,
    column_not_found,
)
from cqox.estimators import registry
from cqox.estimators.base import Estimator
from cqox.gates.balance import data_gates
from cqox.gates.thresholds import DEFAULT_THRESHOLDS
from cqox.nuisance.propensity import propensity
from cqox.sensitivity.evalue import evalue_continuous, evalue_from_rr
from cqox.sensitivity.ovb import ovb_sensitivity
from cqox.sensitivity.rosenbaum import rosenbaum_bounds

DataLike = pd.DataFrame | str | Path

#: Estimators ``heterogeneity=True`` (``cqox analyze --heterogeneity``) adds.
HETEROGENEITY_ESTIMATORS: tuple[str, ...] = ("causal_forest", "dr_learner", "policy_tree")


def _load(data: DataLike) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return check_table(data)
    if isinstance(data, str | Path):
        return check_table(read_table(data).frame)
    raise TypeError(f"data must be a DataFrame or a file path; got {type(data).__name__}")


def _check_columns(df: pd.DataFrame, roles: Roles) -> None:
    columns = [str(c) for c in df.columns]
    for role, value in roles.given().items():
        if role == "cutoff" or (role == "covariates" and isinstance(value, str)):
            continue
        for col in value if isinstance(value, list) else [value]:
            if col not in columns:
                raise column_not_found(role, col, columns)


def _check_thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in (thresholds or {}).items():
        if k not in DEFAULT_THRESHOLDS:
            raise ParameterError(
                f"unknown gate threshold '{k}' (thresholds: {', '.join(DEFAULT_THRESHOLDS)})",
                details={"parameter": k},
            )
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            raise ParameterError(
                f"gate threshold '{k}' must be a number; got {v!r}", details={"parameter": k}
            ) from None
    return out


def estimate(
    estimator: str,
    data: DataLike,
    *,
    outcome: str | None = None,
    treatment: str | None = None,
    covariates: Sequence[str] | str | None = None,
    seed: int | None = None,
    thresholds: Mapping[str, float] | None = None,
    roles: Mapping[str, Any] | Roles | None = None,
    **params: Any,
) -> Estimate:
    """Run one registered estimator and return its :class:`Estimate`.

    Roles other than outcome/treatment/covariates go in ``roles`` (a mapping such as
    ``{"unit": "id", "time": "year"}``); every other keyword is an estimator parameter.

    Example
    -------
    >>> import cqox
    >>> df, truth = cqox.simulate.confounded_binary(n=1000, seed=3)
    >>> est = cqox.estimate("ipw", df, outcome="y", treatment="t",
    ...                     covariates=["x1", "x2", "x3"], trim=0.01)
    >>> est.estimand
    'ATE'
    """
    cls = registry.get(estimator)
    df = _load(data)
    base = roles if isinstance(roles, Roles) else Roles.from_mapping(dict(roles or {}))
    r = base.merge(Roles.from_mapping(outcome=outcome, treatment=treatment, covariates=covariates))
    _check_columns(df, r)
    ctx = Context(seed=seed, thresholds=_check_thresholds(thresholds))
    return cls(**params).fit(df, r, ctx)


def analyze(
    data: DataLike,
    *,
    outcome: str | None = None,
    treatment: str | None = None,
    covariates: Sequence[str] | str | None = None,
    roles: Mapping[str, Any] | Roles | None = None,
    estimators: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    thresholds: Mapping[str, float] | None = None,
    infer: bool = True,
    seed: int | None = 0,
    truth: Mapping[str, float] | None = None,
    progress: ProgressCallback | None = None,
    heterogeneity: bool = False,
    dag: str | Sequence[Sequence[str]] | None = None,
) -> Analysis:
    """Analyse a table: infer roles, find designs, run every applicable estimator.

    Parameters
    ----------
    data : DataFrame or path
        The table (CSV/TSV, Parquet, Excel, JSON/NDJSON when a path).
    outcome, treatment, covariates : optional
        Roles; covariates as a list of columns or a formula string.
    roles : mapping, optional
        Any other roles (``unit``, ``time``, ``cohort``, ``instrument``, ``running``,
        ``cutoff``, ...).  Explicit roles always win over inferred ones.
    estimators : list of str, optional
        Registry names to run (default: every estimator for the designs found).
    params : mapping, optional
        Parameters per estimator, e.g. ``{"ipw": {"trim": 0.01}}``.  An ``estimand``
        parameter runs that estimand only.
    thresholds : mapping, optional
        Gate threshold overrides by name.
    infer : bool
        Infer roles that are not given.
    seed : int
        Seed of every random step.
    truth : mapping, optional
        Known true values by estimand (simulated data), shown beside the estimates.
    progress : callable, optional
        ``progress(step, fraction)``.
    heterogeneity : bool
        Also estimate unit-level effects (:data:`HETEROGENEITY_ESTIMATORS`) when the
        backdoor design applies and no estimator list is given.
    dag : str or list of (cause, effect), optional
        A causal graph (DOT text or edges, :mod:`cqox.analysis.dag`): its adjustment set
        replaces inferred covariates, its instruments are used when the backdoor fails,
        and its testable independences are checked as the ``dag_independences`` gate.
    """
    start = time.perf_counter()
    df = _load(data)
    given = roles if isinstance(roles, Roles) else Roles.from_mapping(dict(roles or {}))
    given = given.merge(
        Roles.from_mapping(outcome=outcome, treatment=treatment, covariates=covariates)
    )
    _check_columns(df, given)
    r = infer_roles(df, given) if infer else given
    ctx = Context(seed=seed, thresholds=_check_thresholds(thresholds), progress=progress)
    plan = None
    if dag is not None:
        # imported here: NetworkX is loaded only by analyses that give a graph
        from cqox.analysis.dag import plan_from_graph

        plan = plan_from_graph(df, r, given, dag, ctx.threshold("dag_independence_p"))
        r = plan.roles
    designs, design_notes = refine_designs(df, r, designs_for(r))
    if plan is not None:
        designs, design_notes = plan.designs(designs), [*plan.notes, *design_notes]
    if not designs and estimators is None:
        raise no_design_error(df, r)
    params = {k: dict(v) for k, v in (params or {}).items()}

    classes = _choose(estimators, designs, r, params)
    if heterogeneity and estimators is None and Design.BACKDOOR in designs:
        # unit-level effects on request: the CATE design on top of the backdoor one
        designs = [*designs, Design.CATE]
        classes += [registry.get(n) for n in HETEROGENEITY_ESTIMATORS]
    runs: list[tuple[type[Estimator], dict[str, Any]]] = []
    for cls in classes:
        p = dict(params.get(cls.name, {}))
        chooses_estimand = any(q.name == "estimand" for q in cls.parameters)
        if "estimand" in p or not chooses_estimand or not cls.default_estimands:
            runs.append((cls, p))
        else:
            runs.extend((cls, {**p, "estimand": e}) for e in cls.default_estimands)

    prepared: dict[Any, CausalData] = {}
    estimates: list[Estimate] = []
    failures: list[dict[str, Any]] = []
    input_errors: list[CqoxError] = []
    for i, (cls, p) in enumerate(runs):
        ctx.report(f"{cls.name} {p.get('estimand', '')}".strip(), i / max(1, len(runs)))
        est = cls(**p)
        key = (cls.prepare, cls.requires, cls.binary_treatment)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CqoxWarning)
                if key not in prepared:
                    prepared[key] = est.prepare(df, r, est.resolved_params())
            estimates.append(est.fit(df, r, ctx, data=prepared[key]))
        except (ParameterError, RoleError) as exc:
            if estimators is not None:
                raise
            input_errors.append(exc)
            failures.append(
                {"estimator": cls.name, "error": type(exc).__name__, "message": str(exc)}
            )
        except CqoxError as exc:
            if isinstance(exc, DataError):
                input_errors.append(exc)
            failures.append(
                {"estimator": cls.name, "error": type(exc).__name__, "message": str(exc)}
            )
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
            failures.append(
                {
                    "estimator": cls.name,
                    "error": type(exc).__name__,
                    "message": f"{cls.name} failed: {exc}",
                }
            )
    ctx.report("done", 1.0)
    if not estimates and input_errors and len(input_errors) == len(failures):
        # nothing ran, and only because of the input: say what is wrong with it
        raise input_errors[0]
    if not estimates:
        raise nothing_ran_error(df, r, designs, failures)

    first = next(iter(prepared.values()), None)
    data_level_gates = _data_gates(ctx, first, designs) + backdoor_refutation_gates(
        first, designs, ctx
    )
    if plan is not None:
        data_level_gates += plan.gates
    agreed, consensus_notes = consensus_with_notes(estimates, _outcome_scale(first))
    analysis = Analysis(
        profile=_profile(df),
        roles=r,
        designs=designs,
        estimates=estimates,
        failures=failures,
        consensus=agreed,
        sensitivity=_sensitivity(estimates, first, ctx),
        gates=data_level_gates,
        quality=quality_assessment(estimates, data_level_gates),
        domain=detect_domain([str(c) for c in df.columns]).to_dict(),
        truth={str(k): float(v) for k, v in (truth or {}).items()},
        warnings=list(
            dict.fromkeys(
                [
                    *(inference_notes(r) if infer else []),
                    *design_notes,
                    *(w for e in estimates for w in e.warnings),
                    *consensus_notes,
                ]
            )
        ),
        seed=seed,
        figure_data=_figure_data(ctx, first, df, r, estimates),
        graph=plan.to_dict() if plan is not None else None,
    )
    analysis.elapsed_s = time.perf_counter() - start
    return analysis


def _outcome_scale(data: CausalData | None) -> float | None:
    """Standard deviation of the outcome (scale of the degenerate-SE rule)."""
    if data is None or data.y is None or len(data.y) < 2:
        return None
    return float(np.std(data.y, ddof=1))


def _choose(
    names: Sequence[str] | None,
    designs: list[Any],
    roles: Roles,
    params: Mapping[str, Any],
) -> list[type[Estimator]]:
    known = registry.all_estimators()
    for name, given in params.items():
        if name not in known:
            registry.get(name)  # raises with a "did you mean"
        # a parameter the user set is checked even when its estimator does not apply here
        known[name](**dict(given)).resolved_params()
    if names is not None:
        return [registry.get(n) for n in names]
    return [
        cls
        for cls in known.values()
        if cls.run_by_default
        and any(d in designs for d in cls.designs)
        and all(getattr(roles, req) is not None for req in cls.requires)
    ]


def _profile(df: pd.DataFrame) -> dict[str, Any]:
    from cqox.data.profile import profile

    return profile(df)


def _backdoor_propensity(
    ctx: Context, data: CausalData | None, designs: Sequence[Any] = (Design.BACKDOOR,)
) -> np.ndarray | None:
    """The shared propensity of a backdoor analysis with covariates (fitted if needed)."""
    if (
        data is None
        or data.t is None
        or data.X.shape[1] == 0
        or Design.BACKDOOR not in designs
        or set(np.unique(data.t)) != {0.0, 1.0}
    ):
        return None
    try:
        return propensity(data, ctx).p_hat
    except (CqoxError, ValueError, np.linalg.LinAlgError):
        return None


def _data_gates(ctx: Context, data: CausalData | None, designs: Sequence[Any]) -> list[Gate]:
    """Data-level balance, VIF, overlap and weight gates of a backdoor analysis."""
    e = _backdoor_propensity(ctx, data, designs)
    if e is None or data is None or data.t is None:
        return []
    return data_gates(data.X, data.t, data.covariate_names, ctx, e)


def _sensitivity(
    estimates: list[Estimate], data: CausalData | None, ctx: Context | None = None
) -> dict[str, Any]:
    """E-values for every effect estimate on a 0/1 or continuous outcome.

    With a binary treatment and covariates, also the Cinelli–Hazlett OVB robustness
    values of the regression estimate (under ``regression_adjustment`` keys) and
    Rosenbaum bounds for the matched pairs (under ``psm:ATT``).
    """
    if data is None or data.y is None or len(data.y) < 2:
        return {}
    y = data.y
    binary = set(np.unique(y)) <= {0.0, 1.0}
    out: dict[str, Any] = {}
    for e in estimates:
        if not (np.isfinite(e.estimate) and np.isfinite(e.ci[0])):
            continue
        key = f"{e.estimator}:{e.estimand}"
        mu0 = e.diagnostics.get("mu0")
        if binary and isinstance(mu0, float) and mu0 > 0 and mu0 + e.estimate > 0:
            # risk ratio with the control risk held fixed for the interval (approximation)
            lo, hi = (mu0 + e.ci[0]) / mu0, (mu0 + e.ci[1]) / mu0
            val = evalue_from_rr((mu0 + e.estimate) / mu0, max(lo, 1e-12), max(hi, 1e-12))
        else:
            val = evalue_continuous(e.estimate, e.ci, float(np.std(y, ddof=1)))
        out[key] = {"evalue": val.to_dict()}
    ra_keys = [k for k in out if k.startswith("regression_adjustment:")]
    wanted = bool(ra_keys) or "psm:ATT" in out
    e_hat = None if ctx is None or not wanted else _backdoor_propensity(ctx, data)
    if e_hat is not None and data.t is not None:
        t = data.t
        if ra_keys:
            try:
                ovb: dict[str, Any] = ovb_sensitivity(
                    y, t, data.X, data.covariate_names, max_benchmarks=3
                ).to_dict()
            except (CqoxError, ValueError, np.linalg.LinAlgError) as exc:
                ovb = {"applicable": False, "reason": str(exc)}
            for key in ra_keys:
                out[key]["ovb"] = ovb
        psm_att = [e for e in estimates if e.estimator == "psm" and e.estimand == "ATT"]
        if psm_att and "psm:ATT" in out:
            # imported here: the matching kernels load Numba, which `import cqox` avoids
            from cqox.estimators.backdoor.psm import matched_pair_differences

            d = matched_pair_differences(y, t, e_hat)
            sign = 1.0 if psm_att[0].estimate >= 0 else -1.0  # bounds test the sign found
            try:
                out["psm:ATT"]["rosenbaum"] = rosenbaum_bounds(sign * d).to_dict()
            except ValueError as exc:
                out["psm:ATT"]["rosenbaum"] = {"applicable": False, "reason": str(exc)}
    return out


def _figure_data(
    ctx: Context,
    data: CausalData | None,
    df: pd.DataFrame,
    roles: Roles,
    estimates: list[Estimate],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if (
        roles.running
        and roles.cutoff is not None
        and roles.outcome
        and any(e.estimator == "rd" for e in estimates)
    ):
        from cqox.report.figures_rd import rd_plot_data

        x = pd.to_numeric(df[roles.running], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(df[roles.outcome], errors="coerce").to_numpy(dtype=float)
        out["rd"] = rd_plot_data(x, y, roles.cutoff)
    return {**out, **_propensity_data(ctx, data)}


def _propensity_data(ctx: Context, data: CausalData | None) -> dict[str, Any]:
    for key, fit in ctx.cache.items():
        if (
            isinstance(key, tuple)
            and key[0] == "propensity"
            and data is not None
            and data.t is not None
            and len(fit.p_hat) == data.n
        ):
            return {"propensity": {"e": fit.p_hat, "t": data.t}}
    return {}
