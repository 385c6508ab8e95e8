"""Request-time checks of an analysis: estimator parameters and the work budget.

An analysis request names estimators and their parameters.  Both are checked here,
before a job is queued, so that a bad or too costly request is answered 422 at once
instead of failing later in a worker (or, worse, keeping a worker busy for hours).

The work of a request is estimated from the dataset's stored size and the resolved
parameters (defaults filled in)::

    work = Σ_runs  rows × columns × R(run)

where a *run* is one estimator fitted for one estimand (``cqox.analyze`` runs an
estimator once per default estimand) and ``R`` is the product of its replicate-like
count parameters (:data:`MULTIPLIER`: bootstrap replicates, repetitions, folds,
permutations, trees, neighbours, draws): each replicate refits or rescans the data.
A count the chosen method leaves unused (``n_boot`` of ``msm_iptw`` or ``panel_match``
without ``se_method='bootstrap'``, of ``g_computation`` with ``'analytic'``, of
``did_cs`` with ``'conley'``: :meth:`Estimator.unused_params`) is not counted.
The ``bootstrap`` estimator costs ``(n_boot + 1 [+ jackknife_groups for BCa])`` times
its base estimator's work.  ``network_exposure`` draws assignments and walks the
edges once per draw, for its Monte Carlo probabilities and again for its randomization
p-value, so its work is ``(rows × columns + edges) × (n_draws + n_perm)`` (the two
counts add, they do not multiply).  It is a proxy (linear in the data, ignoring the learner's
own cost), chosen to be monotone in every parameter an attacker could inflate;
``CQOX_MAX_WORK`` bounds it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cqox.errors import CqoxError
from cqox.estimators import registry
from cqox.estimators.base import Estimator
from cqox.server.problems import ServiceError

#: Integer parameters whose value multiplies the work of an estimator (each one more
#: bootstrap replicate, repetition, fold, permutation, tree, neighbour or draw refits
#: or rescans the data).  ``jackknife_groups`` is accounted for by the bootstrap itself.
MULTIPLIER = re.compile(r"boot|(^|_)n_rep$|folds|perm|trees|neighbors|draws")


class ParameterRefusedError(ServiceError):
    """An estimator parameter is unknown or outside its declared range (422)."""

    code = "INVALID_PARAMETER"
    status = 422


class WorkBudgetExceededError(ServiceError):
    """The estimated work of a request exceeds ``CQOX_MAX_WORK`` (422)."""

    code = "WORK_BUDGET_EXCEEDED"
    status = 422


@dataclass(frozen=True)
class Run:
    """One planned fit: the estimator, its resolved parameters and its work."""

    estimator: str
    params: dict[str, Any]
    work: float
    #: The parameter contributing the largest factor to ``work`` (None: rows only).
    driver: str | None


@dataclass(frozen=True)
class WorkEstimate:
    """The planned runs of a request and their total work."""

    rows: int
    columns: int
    runs: list[Run] = field(default_factory=list)

    @property
    def total(self) -> float:
        """Σ work over the runs."""
        return float(sum(r.work for r in self.runs))


def resolved(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of estimator ``name`` with defaults filled in, or 422."""
    try:
        return registry.get(name)(**dict(given)).resolved_params()
    except CqoxError as exc:
        raise ParameterRefusedError(
            exc.message, details={"estimator": name, **dict(exc.details)}
        ) from None


def _factors(params: Mapping[str, Any]) -> list[tuple[str, float]]:
    return [
        (k, float(v))
        for k, v in params.items()
        if MULTIPLIER.search(k)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and k != "jackknife_groups"
    ]


def _base_params(given: Any) -> dict[str, Any]:
    """The bootstrap's ``base_params`` as a dict.

    A JSON object string is parsed, as the estimator does, so that the replicate
    counts inside it are counted too.
    """
    if given is None:
        return {}
    if isinstance(given, str):
        try:
            given = json.loads(given)
        except json.JSONDecodeError:
            given = None
    if not isinstance(given, dict):
        raise ParameterRefusedError(
            "The 'base_params' parameter of bootstrap must be a dict (or a JSON object). "
            f"Got {str(given)[:80]!r} instead.",
            details={"parameter": "base_params", "estimator": "bootstrap"},
        )
    return given


def run_work(
    name: str, params: Mapping[str, Any], cells: float, edges: float = 0.0
) -> tuple[float, str | None]:
    """Work of one run of ``name`` with resolved ``params`` on ``cells`` = rows × columns.

    ``edges`` is the size of the network an analysis names (0: none).  Returns the work
    and the parameter that multiplies it the most.
    """
    if name == "network_exposure":
        draws = float(params.get("n_draws") or 0)
        perms = float(params.get("n_perm") or 0)
        most = "n_draws" if draws >= perms else "n_perm"
        return (cells + edges) * max(1.0, draws + perms), most
    if name == "bootstrap":
        base = str(params.get("base_estimator") or "ipw")
        base_params = _base_params(params.get("base_params"))
        if base == "bootstrap":
            raise ParameterRefusedError(
                "The 'base_estimator' parameter of bootstrap must name another estimator. "
                "Got 'bootstrap' instead.",
                details={"parameter": "base_estimator", "estimator": "bootstrap"},
            )
        inner_work, _ = run_work(base, resolved(base, base_params), cells)
        n_boot = float(params.get("n_boot") or 0)
        bca = params.get("ci_method") == "bca"
        extra = float(params.get("jackknife_groups") or 0) if bca else 0.0
        return (n_boot + 1 + extra) * inner_work, "n_boot"
    # a replicate count the chosen method does not use (n_boot with an analytic SE) is
    # not work
    unused = registry.get(name).unused_params(params)
    factors = [(k, max(1.0, v)) for k, v in _factors(params) if k not in unused]
    work = cells
    for _, v in factors:
        work *= v
    driver = max(factors, key=lambda kv: kv[1])[0] if factors else None
    return work, driver


def planned(
    kind: str,
    estimators: Sequence[str] | None,
    design: str | None = None,
    network: bool = False,
    roles: Mapping[str, Any] | None = None,
) -> list[type[Estimator]]:
    """The estimators a request may run (an upper bound: some may not apply to the data).

    Mirrors :func:`cqox.server.worker.run_job` and ``cqox.analyze``: the named
    estimators; else, for a design route, every estimator serving the design; else
    every estimator run by default, and with a network the network design's.  An
    estimator that requires covariates the analyst names (``needs_named_covariates`` and
    ``covariates`` in ``requires``: the time-varying ones) cannot run unless the
    request's ``roles`` name covariates, so only then is it counted.
    """
    if estimators:
        return [registry.get(n) for n in estimators]
    if kind in ("did", "design"):
        designs = {"did", "staggered_did"} if kind == "did" else {str(design)}
        return registry.for_designs(designs)
    named = bool((roles or {}).get("covariates"))
    out = [
        c
        for c in registry.all_estimators().values()
        if c.run_by_default
        and (named or not (c.needs_named_covariates and "covariates" in c.requires))
    ]
    if network:
        out += [c for c in registry.for_designs({"network"}) if c not in out]
    return out


def estimate_work(
    rows: int,
    columns: int,
    classes: Sequence[type[Estimator]],
    params: Mapping[str, Mapping[str, Any]],
    edges: int = 0,
) -> WorkEstimate:
    """Validate every given parameter and estimate the work of the planned runs.

    ``edges``: rows of the edge dataset the request names (0: no network).
    """
    for name, given in params.items():
        resolved(name, given)  # checked even when its estimator is not planned (as analyze)
    cells = float(max(1, rows)) * float(max(1, columns))
    runs: list[Run] = []
    for cls in classes:
        given = dict(params.get(cls.name, {}))
        chooses = any(p.name == "estimand" for p in cls.parameters)
        estimands: list[str | None] = (
            list(cls.default_estimands)
            if chooses and "estimand" not in given and cls.default_estimands
            else [None]
        )
        for estimand in estimands:
            p = resolved(cls.name, given if estimand is None else {**given, "estimand": estimand})
            work, driver = run_work(cls.name, p, cells, float(edges))
            runs.append(Run(cls.name, p, work, driver))
    return WorkEstimate(rows, columns, runs)


def check_budget(estimate: WorkEstimate, budget: float) -> None:
    """Refuse (422) a request whose estimated work exceeds ``budget``, naming the culprit."""
    total = estimate.total
    if total <= budget:
        return
    worst = max(estimate.runs, key=lambda r: r.work)
    parameter = worst.driver or "dataset_id"
    value = worst.params.get(parameter) if worst.driver else None
    what = (
        f"the '{parameter}' parameter of {worst.estimator} (= {value})"
        if worst.driver
        else f"the size of the dataset ({estimate.rows} rows × {estimate.columns} columns)"
    )
    raise WorkBudgetExceededError(
        f"the estimated work of this request ({total:.3g} = rows × columns × replicates, "
        f"summed over {len(estimate.runs)} estimator run(s)) exceeds the budget of "
        f"{budget:.3g} (CQOX_MAX_WORK); the largest share comes from {what}: "
        "lower it, name fewer estimators or use a smaller dataset",
        details={
            "parameter": parameter,
            "estimator": worst.estimator,
            "value": value,
            "work": total,
            "budget": budget,
        },
    )
