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
from cqox.analysis.baseline import unadjusted_baseline
from cqox.analysis.consensus import consensus_with_notes
from cqox.analysis.refute import backdoor_refutation_gates
from cqox.analysis.verdict import no_design_error, nothing_ran_error, quality_assessment
from cqox.compute import describe_current
from cqox.core.context import Context, ProgressCallback
from cqox.core.design import Design, designs_for
from cqox.core.estimate import Estimate
from cqox.core.gate import Gate
from cqox.core.roles import Roles, normalise_roles, split_role_keywords
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
from cqox.nuisance.propensity import propensity
from cqox.sensitivity.evalue import evalue_continuous, evalue_from_rr
from cqox.sensitivity.ovb import ovb_sensitivity
from cqox.sensitivity.rosenbaum import bounds_of_matched_pairs

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
    # text labels (the usual case): pandas' hashed lookup, no list of every label
    index = df.columns
    text = index.inferred_type == "string"
    if text and _all_present(index, roles):
        return
    columns: Any = index if text else [str(c) for c in index]
    for role, value in roles.given().items():
        if role == "cutoff" or (role == "covariates" and isinstance(value, str)):
            continue
        for col in value if isinstance(value, list) else [value]:
            if col not in columns:
                raise column_not_found(role, col, [str(c) for c in index])


def _all_present(index: pd.Index, roles: Roles) -> bool:
    """Whether every column a role names is a text label of ``index`` (the usual call).

    The check of :func:`_check_columns` on the instance's fields (no dictionary of
    lists from :meth:`Roles.given`), each label one lookup in pandas' hash table (its
    engine: ``Index.__contains__`` is that lookup behind a Python call, ~0.2 µs a
    column, 10 µs for 50 covariates).  ``False`` for anything else — a label missing,
    not text, a role given as a list — and :func:`_check_columns` then answers (and
    words the error) as before.
    """
    try:
        # the lookup Index.__contains__ makes
        contains = index._engine.__contains__  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover (a pandas without the engine)
        contains = index.__contains__
    for role, value in vars(roles).items():
        if value is None or role == "guesses" or role == "cutoff":
            continue
        if type(value) is str:
            # a covariate string is a formula: its variables are checked by the formula
            if role != "covariates" and not contains(value):
                return False
        elif type(value) is tuple:
            for col in value:
                if type(col) is not str or not contains(col):
                    return False
        else:
            return False
    return True


def _roles_from(roles: Mapping[str, Any] | Roles | None, keywords: Mapping[str, Any]) -> Roles:
    """One :class:`Roles` from the ``roles`` mapping and the role keywords.

    A role given both ways must name the same thing: two answers are an error rather
    than one silently winning.
    """
    named = {k: v for k, v in keywords.items() if v is not None}
    if isinstance(roles, Roles):
        if not named:
            return roles
        base, given = roles, Roles.from_mapping(named)
        mine, theirs = base.given(), given.given()
        _no_clash(mine, theirs)
        return base.merge(given)
    # two mappings: one Roles from both (``merge`` of two would build three)
    mine, theirs = normalise_roles(roles or {}), normalise_roles(named)
    if mine.keys() & theirs.keys():  # the usual call names each role once
        _no_clash(mine, theirs)
    return Roles.from_normalised({**theirs, **mine})


def _no_clash(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> None:
    """Raise unless the roles given both ways name the same columns."""
    clash = sorted(k for k in mine.keys() & theirs.keys() if _listed(mine[k]) != _listed(theirs[k]))
    if clash:
        raise RoleError(
            f"role '{clash[0]}' given twice with different values: "
            f"{_listed(theirs[clash[0]])!r} as a keyword and {_listed(mine[clash[0]])!r} in "
            "roles=",
            details={"role": clash[0]},
        )


def _listed(value: Any) -> Any:
    """A role's value as :meth:`Roles.given` shows it (a list for several columns)."""
    return list(value) if isinstance(value, tuple) else value


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
    **keywords: Any,
) -> Estimate:
    """Run one registered estimator and return its :class:`Estimate`.

    Every role is a keyword (``unit="id"``, ``time="year"``, ``running="score"``,
    ``cutoff=0``, …; the names of :data:`cqox.core.roles.ALL_ROLES`) or an entry of the
    ``roles`` mapping; every other keyword is an estimator parameter.

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
    role_keywords, params = split_role_keywords(keywords)
    r = _roles_from(
        roles,
        {"outcome": outcome, "treatment": treatment, "covariates": covariates, **role_keywords},
    )
    _check_columns(df, r)
    ctx = Context(seed=seed, thresholds=dict(thresholds or {}))
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
    network: DataLike | None = None,
    **role_keywords: Any,
) -> Analysis:
    """Analyse a table: infer roles, find designs, run every applicable estimator.

    Parameters
    ----------
    data : DataFrame or path
        The table (CSV/TSV, Parquet, Excel, JSON/NDJSON when a path).
    outcome, treatment, covariates : optional
        Roles; covariates as a list of columns or a formula string.
    roles : mapping, optional
        Roles as a mapping (``{"unit": "id", "time": "year"}``).  Explicit roles always
        win over inferred ones.
    **role_keywords
        Every other role as a keyword: ``unit``, ``time``, ``cohort``, ``instrument``,
        ``running``, ``cutoff``, ``cluster``, … (:data:`cqox.core.roles.ALL_ROLES`).  An
        unknown keyword is a :class:`~cqox.errors.RoleError` with a "did you mean".
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
    network : DataFrame or path, optional
        An edge table (``source``, ``target``, optional weights) linking the ids of the
        ``unit`` role: units may affect their neighbours (interference).  The network
        design replaces the backdoor one (whose estimators assume no interference; name
        them in ``estimators`` to run them anyway) and every estimator with a
        ``network`` parameter (``network_exposure``) receives the table.  Its columns
        and direction are that estimator's parameters (``source``, ``target``,
        ``edge_weight``, ``directed``).
    """
    start = time.perf_counter()
    df = _load(data)
    given = _roles_from(
        roles,
        {"outcome": outcome, "treatment": treatment, "covariates": covariates, **role_keywords},
    )
    _check_columns(df, given)
    from cqox.data.profile import distinct_counts

    distinct = distinct_counts(df)  # once, for the inference and the profile
    r = infer_roles(df, given, distinct) if infer else given
    ctx = Context(seed=seed, thresholds=dict(thresholds or {}), progress=progress)
    plan = None
    if dag is not None:
        # imported here: NetworkX is loaded only by analyses that give a graph
        from cqox.analysis.dag import plan_from_graph

        plan = plan_from_graph(df, r, given, dag, ctx.threshold("dag_independences"))
        r = plan.roles
    designs, design_notes = refine_designs(df, r, designs_for(r))
    graph_estimates: list[Estimate] = []
    if plan is not None:
        designs, design_notes = plan.designs(designs), [*plan.notes, *design_notes]
        front = plan.identification.frontdoor
        if plan.identification.strategy == "frontdoor" and front and estimators is None:
            # the graph identifies the effect through its mediators only
            from cqox.estimators.frontdoor.twostage import frontdoor_estimate

            assert r.outcome is not None and r.treatment is not None  # checked by the plan
            graph_estimates.append(frontdoor_estimate(df, r.outcome, r.treatment, list(front)))
    params = {k: dict(v) for k, v in (params or {}).items()}
    if network is not None:
        designs, design_notes = _network_design(network, r, designs, design_notes, params)
    if not designs and estimators is None and not graph_estimates:
        raise no_design_error(df, r)

    classes = _choose(estimators, designs, r, params)
    if graph_estimates:
        # the graph's front-door estimate (every mediator of its set) is the one to keep
        classes = [c for c in classes if Design.FRONTDOOR not in c.designs]
    if (
        estimators is not None
        and Design.FRONTDOOR not in designs
        and any(Design.FRONTDOOR in c.designs for c in classes)
    ):
        # never inferred from roles: naming the estimator is the request for the design
        designs = [*designs, Design.FRONTDOOR]
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
    estimates: list[Estimate] = list(graph_estimates)
    failures: list[dict[str, Any]] = []
    input_errors: list[CqoxError] = []
    unnamed = _inferred_covariates(r)
    for i, (cls, p) in enumerate(runs):
        ctx.report(f"{cls.name} {p.get('estimand', '')}".strip(), i / max(1, len(runs)))
        est = cls(**p)
        key = cls.prepare_key(df, r)
        try:
            if cls.needs_named_covariates and unnamed:
                raise covariates_to_name(cls, unnamed)
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

    # data-level gates, refutations and E-values read a table of complete rows: a
    # trial-plus-target table (transport) has no outcome in its target rows
    first = next((d for d in prepared.values() if _complete(d)), None)
    data_level_gates = _data_gates(ctx, first, designs) + backdoor_refutation_gates(
        first, designs, ctx
    )
    if plan is not None:
        data_level_gates += plan.gates
    agreed, consensus_notes = consensus_with_notes(estimates, _outcome_scale(first))
    analysis = Analysis(
        profile=_profile(df, distinct),
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
        compute=describe_current(),
        figure_data=_figure_data(ctx, first),
        graph=plan.to_dict() if plan is not None else None,
        baseline=(
            unadjusted_baseline(df, r, first)
            if Design.BACKDOOR in designs and Design.IV not in designs
            else None
        ),
    )
    analysis.elapsed_s = time.perf_counter() - start
    return analysis


def _inferred_covariates(roles: Roles) -> list[str]:
    """The covariates inference filled (empty when named, from a graph, or none)."""
    cov = roles.covariates
    if not cov or isinstance(cov, str):
        return []
    how = next((g for g in roles.guesses if g.role == "covariates"), None)
    return list(cov) if how is not None and how.source == "inferred" else []


def covariates_to_name(cls: type[Estimator], inferred: Sequence[str]) -> RoleError:
    """The refusal of an estimator whose assumption needs covariates the analyst names."""
    why = (
        "an instrument is valid given the controls the analyst chooses"
        if Design.IV in cls.designs
        else "sequential ignorability holds given the pre-treatment confounders the analyst chooses"
    )
    shown = ", ".join(inferred[:8]) + (f", … ({len(inferred)} in all)" if len(inferred) > 8 else "")
    return RoleError(
        f"{cls.name} needs the role 'covariates' named: {why}, and the inferred columns "
        f"({shown}) may be consequences of the treatment, which would bias it; give "
        "--covariates A,B,... (Python: covariates=[...]), or --no-infer (infer=False) "
        "for none",
        details={"role": "covariates", "estimator": cls.name, "inferred": list(inferred)},
    )


def _network_design(
    network: DataLike,
    roles: Roles,
    designs: list[Any],
    notes: list[str],
    params: dict[str, Any],
) -> tuple[list[Any], list[str]]:
    """The designs and notes of an analysis given an edge table; fills ``params``.

    Every estimator with a ``network`` parameter receives the table (``params`` is
    changed in place); a ``network`` also given in ``params`` is an error rather than
    one silently winning.
    """
    edges = _load(network)
    for role in ("outcome", "treatment", "unit"):
        if getattr(roles, role) is None:
            raise RoleError(
                f"network=: the network design needs the '{role}' role"
                + (" (the column of the ids the edge table links)" if role == "unit" else ""),
                details={"role": role, "parameter": "network"},
            )
    for cls in registry.for_designs([Design.NETWORK]):
        if not any(p.name == "network" for p in cls.parameters):
            continue
        mine = params.setdefault(cls.name, {})
        if "network" in mine:
            raise ParameterError(
                f"the edge table is given twice: as network= and as the 'network' "
                f"parameter of {cls.name}; give it once",
                details={"parameter": "network", "estimator": cls.name},
            )
        mine["network"] = edges
    out = [Design.NETWORK, *(d for d in designs if d not in (Design.BACKDOOR, Design.NETWORK))]
    if Design.BACKDOOR in designs:
        notes = [
            *notes,
            "a network was given: the backdoor estimators assume no interference between "
            "units and are not run (name them in estimators= to run them anyway)",
        ]
    return out, notes


def _complete(data: CausalData) -> bool:
    """Whether the outcome and the treatment (where present) are observed on every row."""
    return all(v is None or bool(np.isfinite(v).all()) for v in (data.y, data.t))


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
    # the families of these designs first: parameters of their estimators (the usual
    # case) are then checked without importing every other family
    registry.load_for(designs)
    for name, given in params.items():
        # a parameter the user set is checked even when its estimator does not apply
        # here; an unknown name raises with a "did you mean"
        registry.get(name)(**dict(given)).resolved_params()
    if names is not None:
        return [registry.get(n) for n in names]
    chosen = registry.for_designs(designs, roles, default_only=True)
    if Design.NETWORK in designs:
        # present only when an edge table was given, which is the request to run them
        chosen += [c for c in registry.for_designs([Design.NETWORK], roles) if c not in chosen]
    return chosen


def _profile(df: pd.DataFrame, distinct: dict[str, int] | None = None) -> dict[str, Any]:
    from cqox.data.profile import profile

    return profile(df, nunique=distinct)


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

    Estimates that publish their matched sets (``tables["matched_pairs"]``) also get
    Rosenbaum bounds of exactly that matching; estimators that declare ``"ovb"`` in
    ``sensitivity`` get the Cinelli–Hazlett OVB robustness values (binary treatment
    with covariates).
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
    for e in estimates:
        key = f"{e.estimator}:{e.estimand}"
        ros = bounds_of_matched_pairs(e.tables, e.estimate) if key in out else None
        if ros is not None:
            out[key]["rosenbaum"] = ros
    ovb_keys = [
        f"{e.estimator}:{e.estimand}"
        for e in estimates
        if registry.is_registered(e.estimator)  # not the graph's front-door estimate
        and "ovb" in registry.get(e.estimator).sensitivity
        and f"{e.estimator}:{e.estimand}" in out
    ]
    if (
        ovb_keys
        and data.t is not None
        and ctx is not None
        and _backdoor_propensity(ctx, data) is not None  # a binary treatment, covariates
    ):
        try:
            ovb: dict[str, Any] = ovb_sensitivity(
                y, data.t, data.X, data.covariate_names, max_benchmarks=3
            ).to_dict()
        except (CqoxError, ValueError, np.linalg.LinAlgError) as exc:
            ovb = {"applicable": False, "reason": str(exc)}
        for key in ovb_keys:
            out[key]["ovb"] = ovb
    return out


def _figure_data(ctx: Context, data: CausalData | None) -> dict[str, Any]:
    """Numbers only the report needs that no estimate carries: the shared propensity."""
    return _propensity_data(ctx, data)


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
