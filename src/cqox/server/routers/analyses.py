"""Analyses: run them (inline within a short wait, else as a job), list, read, figures, report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import undefer

from cqox.analysis.analysis import Analysis
from cqox.core.design import Design
from cqox.core.jsonable import to_jsonable
from cqox.core.roles import LIST_ROLES, VALUE_ROLES, Roles, normalise_covariates
from cqox.core.thresholds import resolve_thresholds
from cqox.data.formula import check_formula
from cqox.errors import LimitExceededError, ParameterError, RoleError, column_not_found
from cqox.estimators import registry
from cqox.server import bounds, budget
from cqox.server.access import (
    analysis_summary,
    job_detail,
    job_detail_json,
    owned,
    result_text,
    visible,
)
from cqox.server.artefacts import ArtefactCache, stored_version
from cqox.server.db import transaction
from cqox.server.deps import Analyst, DbSession, Deleter, ServicesDep, SettingsDep, Viewer
from cqox.server.figures import (
    available,
    gif_figure,
    load_analysis,
    plotly_figure,
    png_figure,
    report_csp,
)
from cqox.server.figures import report_html as render_report
from cqox.server.jobs import ACTIVE
from cqox.server.json_documents import decode, with_document
from cqox.server.models import AnalysisRecord, Dataset, Job, User
from cqox.server.problems import InvalidRequestError, NotFoundError, ServiceError, error_response
from cqox.server.schemas import AnalyzeRequest, AteRequest, CateRequest, SensitivityRequest
from cqox.server.settings import Settings
from cqox.server.shared_queue import lock_owner
from cqox.server.storage import (
    analyses_dir,
    atomic_write,
    check_id,
    check_mapping_value,
    dataset_path,
)

router = APIRouter(prefix="/api", tags=["analyses"])

#: How often a waiting request checks an event that cannot call back (see wait_for_job).
POLL_S = 0.01
#: Retry-After (seconds) of a request refused by the per-user job limit.
QUOTA_RETRY_AFTER_S = 10
#: Serialises count-then-insert of jobs, so that concurrent requests of one user cannot
#: together pass the per-user limit within one process (across processes, with
#: ``CQOX_SHARED_STATE``, :func:`cqox.server.shared_queue.lock_owner` does).
_QUOTA_LOCK = threading.Lock()


class TooManyJobsError(ServiceError):
    """The user has ``CQOX_MAX_JOBS_PER_USER`` jobs queued or running already (429)."""

    code = "TOO_MANY_JOBS"


def artifact_path(settings: Settings, analysis_id: str, suffix: str = ".pkl") -> Path:
    """Path of an analysis's stored file (pickled Analysis, cached report)."""
    return analyses_dir(settings.data_dir) / f"{check_id(analysis_id, 'analysis_id')}{suffix}"


def _validate(body: AnalyzeRequest, dataset: Dataset) -> dict[str, Any]:
    """Check the roles, estimators, parameters and thresholds before queuing a job."""
    for role, value in body.roles.items():
        check_mapping_value(role, value)
    roles = Roles.from_mapping(dict(body.roles))  # unknown roles → INVALID_MAPPING
    columns = [str(c["name"]) for c in dataset.columns]
    for role, value in roles.given().items():
        if role == "covariates" and isinstance(value, str):
            check_formula(value, columns)  # formulas are data: refused before any job
            continue
        if role in VALUE_ROLES:
            continue
        for col in value if role in LIST_ROLES and isinstance(value, list) else [value]:
            if col not in columns:
                raise column_not_found(role, str(col), columns)
    for name in [*(body.estimators or []), *body.options.params]:
        registry.get(name)  # unknown → INVALID_PARAMETER with a "did you mean"
    _check_formula_params(body.options.params, columns)
    gates = body.gates()
    thresholds = resolve_thresholds(gates.thresholds)  # deprecated names → gate names
    return {
        "roles": roles.given(),
        "estimators": body.estimators,
        "params": body.options.params,
        "thresholds": thresholds,
        "quality_gates": gates.model_dump(),
        "seed": body.options.seed,
        "infer": body.options.infer,
        "dag": body.dag,
    }


def _check_network(
    services: Any, settings: Settings, user: User, body: AnalyzeRequest
) -> tuple[str | None, int]:
    """Check the edge dataset a request names, on arrival: its id, its edge count.

    Ownership (404), ``CQOX_MAX_EDGES`` (413, from the stored row count), the edge
    columns (400), then the edges themselves against the ids of the ``unit`` role:
    unknown ids, self-loops, duplicate edges and bad weights (400, naming them), and the
    variance's pair count against ``CQOX_MAX_NETWORK_PAIRS`` (413) — all before a job
    exists, so that a bad network never reaches a worker.
    """
    if body.network_dataset_id is None:
        return None, 0
    import pandas as pd

    from cqox.estimators.network.graph_input import check_edges, dependent_pairs_bound

    check_id(body.network_dataset_id, "network_dataset_id")
    with transaction(services.factory) as s:
        edges_row = owned(s, Dataset, body.network_dataset_id, user)
        units_row = owned(s, Dataset, body.dataset_id, user)
        n_edges, edge_columns = int(edges_row.rows), [str(c["name"]) for c in edges_row.columns]
        edges_file, units_file = edges_row.file, units_row.file
    if n_edges > settings.max_edges:
        raise LimitExceededError(
            f"the network dataset has {n_edges} edges, more than the limit of "
            f"{settings.max_edges} (CQOX_MAX_EDGES)",
            details={"limit": "CQOX_MAX_EDGES", "max": settings.max_edges, "got": n_edges},
        )
    params = registry.get("network_exposure")(
        **{
            k: v
            for k, v in body.options.params.get("network_exposure", {}).items()
            if k in ("source", "target", "edge_weight", "directed")
        }
    ).resolved_params()
    columns = [params["source"], params["target"], params["edge_weight"]]
    for col in (c for c in columns if c is not None):
        if col not in edge_columns:
            raise RoleError(
                f"network: the column '{col}' is not in the network dataset "
                f"(columns: {', '.join(edge_columns[:20])}); name the edge columns with the "
                "network_exposure parameters source, target, edge_weight",
                details={"parameter": "network", "column": col},
            )
    unit = body.roles.get("unit") or body.roles.get("unit_id")
    if not isinstance(unit, str):
        raise RoleError(
            "network_dataset_id needs the 'unit' role: the column of the ids the edges link",
            details={"role": "unit", "parameter": "network"},
        )
    ids = pd.read_parquet(dataset_path(settings.data_dir, units_file), columns=[unit])[unit]
    edges = pd.read_parquet(
        dataset_path(settings.data_dir, edges_file),
        columns=list(dict.fromkeys(c for c in columns if c is not None)),
    )
    checked = check_edges(
        edges,
        ids.tolist(),
        source=params["source"],
        target=params["target"],
        weight=params["edge_weight"],
        directed=params["directed"],
    )
    pairs = dependent_pairs_bound(checked, len(ids), directed=params["directed"])
    if pairs > settings.max_network_pairs:
        raise LimitExceededError(
            f"the network links up to {pairs} unit pairs through shared neighbours (the "
            f"pairs of its variance), more than the limit of {settings.max_network_pairs} "
            "(CQOX_MAX_NETWORK_PAIRS); a hub of high degree makes most of them",
            details={
                "limit": "CQOX_MAX_NETWORK_PAIRS",
                "max": settings.max_network_pairs,
                "got": pairs,
            },
        )
    return edges_row.id, n_edges


def _check_formula_params(params: dict[str, dict[str, Any]], columns: list[str]) -> None:
    """Check every formula given as an estimator parameter (``aipw.propensity_covariates``)."""
    for name, values in params.items():
        declared = {p.name: p for p in registry.get(name).parameters}
        for key, value in values.items():
            param = declared.get(key)
            if param is None or not param.formula or not isinstance(value, str):
                continue
            text = normalise_covariates(value)
            if isinstance(text, str):
                check_formula(text, columns, parameter=key)


def _check_work(
    settings: Settings, kind: str, request: dict[str, Any], dataset: Dataset, edges: int = 0
) -> float:
    """Check the estimator parameters and the work budget at request time (422)."""
    names = [request["estimator"]] if kind == "ate" else request["estimators"]
    network = request.get("network_dataset_id") is not None
    classes = budget.planned(kind, names, request.get("design"), network, request.get("roles"))
    estimate = budget.estimate_work(
        int(dataset.rows), int(dataset.n_columns), classes, request["params"], edges
    )
    budget.check_budget(estimate, settings.max_work)
    return estimate.total


def _check_job_quota(session: Any, settings: Settings, user: User) -> None:
    """Refuse (429) a job when the user already has ``max_jobs_per_user`` queued or running."""
    active = len(
        session.scalars(select(Job.id).where(Job.owner_id == user.id, Job.status.in_(ACTIVE))).all()
    )
    if active >= settings.max_jobs_per_user:
        raise TooManyJobsError(
            f"you have {active} analyses queued or running, the most one user may have "
            f"(CQOX_MAX_JOBS_PER_USER = {settings.max_jobs_per_user}); wait for one to "
            "finish or cancel one (DELETE /api/jobs/{job_id})",
            details={"active_jobs": active, "limit": settings.max_jobs_per_user},
            headers={"Retry-After": str(QUOTA_RETRY_AFTER_S)},
        )


def _create_job(
    services: Any,
    settings: Settings,
    user: User,
    kind: str,
    body: AnalyzeRequest,
    extra: dict[str, Any],
) -> str:
    check_id(body.dataset_id, "dataset_id")
    # read outside the quota lock: checking the edges reads two stored tables
    network_id, n_edges = _check_network(services, settings, user, body)
    with _QUOTA_LOCK, transaction(services.factory) as s:
        dataset = owned(s, Dataset, body.dataset_id, user)
        request = {**_validate(body, dataset), **extra, "dataset_id": dataset.id}
        if network_id is not None:
            request["network_dataset_id"] = network_id
        request["work"] = _check_work(settings, kind, request, dataset, n_edges)
        if settings.shared_state:  # other API processes create jobs too
            lock_owner(s, user.id)
        _check_job_quota(s, settings, user)
        limit = min(
            body.options.time_limit_s or settings.job_time_limit_s, settings.job_time_limit_s
        )
        job = Job(
            owner_id=user.id,
            dataset_id=dataset.id,
            kind=kind,
            status="queued",
            progress=0.0,
            step="queued",
            request=request,
            time_limit_s=limit,
        )
        s.add(job)
        s.flush()
        return job.id


async def wait_for_job(event: threading.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` seconds have passed, without polling.

    The runner's events (:class:`cqox.server.jobs.JobEvent`) call back when set: the
    callback wakes this request's event loop at once.  Another event is polled every
    ``POLL_S``.
    """
    if event.is_set() or timeout <= 0:
        return
    add_callback = getattr(event, "add_done_callback", None)
    if add_callback is None:
        deadline = time.monotonic() + timeout
        while not event.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
        return
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def wake() -> None:
        # from the runner's thread; the loop may have closed when the request went away
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(done.set)

    add_callback(wake)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout)


async def run_analysis(
    request: Request,
    services: Any,
    settings: Settings,
    user: User,
    kind: str,
    body: AnalyzeRequest,
    extra: dict[str, Any] | None = None,
) -> Response:
    """Queue the job, wait up to ``wait_s`` and answer inline (200) or with 202 + job id."""
    job_id = await run_in_threadpool(
        _create_job, services, settings, user, kind, body, dict(extra or {})
    )
    event = services.runner.submit(job_id, user.id)
    wait = settings.inline_wait_s if body.options.wait_s is None else body.options.wait_s
    await wait_for_job(event, wait)

    def read() -> tuple[Job, str | None]:
        with transaction(services.factory) as s:
            job = s.get(Job, job_id)
            assert job is not None
            ok = job.status == "succeeded" and job.analysis_id is not None
            return job, result_text(s, str(job.analysis_id)) if ok else None

    job, document = await run_in_threadpool(read)
    if job.status == "succeeded":
        # the result as the worker encoded it, not decoded and encoded again
        return Response(job_detail_json(job, document), media_type="application/json")
    if job.status in ("failed", "cancelled"):
        err = job.error or {"code": "INTERNAL_ERROR", "message": "the job failed"}
        details = {**(err.get("details") or {}), "job_id": job.id}
        return error_response(request, str(err.get("code")), str(err.get("message")), details)
    return JSONResponse(
        job_detail(job), status_code=202, headers={"Location": f"/api/jobs/{job.id}"}
    )


@router.post(
    "/analyze/comprehensive",
    responses={202: {"description": "still running: poll /api/jobs/{job_id}"}},
)
async def analyze_comprehensive(
    request: Request,
    body: AnalyzeRequest,
    user: Analyst,
    services: ServicesDep,
    settings: SettingsDep,
) -> Response:
    """Every applicable estimator, gates, sensitivity, consensus and figures."""
    return await run_analysis(request, services, settings, user, "comprehensive", body)


@router.post("/analyze/ate", responses={202: {"description": "still running"}})
async def analyze_ate(
    request: Request,
    body: AteRequest,
    user: Analyst,
    services: ServicesDep,
    settings: SettingsDep,
) -> Response:
    """One estimator of an average effect (default: the first of aipw, ipw registered)."""
    name = body.estimator
    if name is None:
        known = registry.all_estimators()
        name = next((n for n in ("aipw", "ipw", "regression_adjustment") if n in known), None)
        if name is None:
            raise InvalidRequestError("no average-effect estimator is registered")
    registry.get(name)
    params = {k: dict(v) for k, v in body.options.params.items()}
    params.setdefault(name, {})["estimand"] = body.estimand
    body = body.model_copy(update={"options": body.options.model_copy(update={"params": params})})
    return await run_analysis(request, services, settings, user, "ate", body, {"estimator": name})


@router.post("/analyze/cate", responses={202: {"description": "still running"}})
async def analyze_cate(
    request: Request,
    body: CateRequest,
    user: Analyst,
    services: ServicesDep,
    settings: SettingsDep,
) -> Response:
    """Unit effects (``method``, ``method_params``); ``prediction_grid`` → ``cate_predictions``."""
    params = {k: dict(v) for k, v in body.options.params.items()}
    params.setdefault(body.method, {}).update(body.method_params)
    registry.get(body.method)(**body.method_params).resolved_params()  # 4xx before queuing
    plain = AnalyzeRequest.model_validate(
        {
            "dataset_id": body.dataset_id,
            "roles": body.roles,
            "estimators": [body.method],
            "quality_gates": body.quality_gates,
            "options": body.options.model_copy(update={"params": params}),
        }
    )
    extra = {"estimator": body.method, "prediction_grid": body.prediction_grid}
    return await run_analysis(request, services, settings, user, "cate", plain, extra)


@router.post("/analyze/did", responses={202: {"description": "still running"}})
async def analyze_did(
    request: Request,
    body: AnalyzeRequest,
    user: Analyst,
    services: ServicesDep,
    settings: SettingsDep,
) -> Response:
    """Difference-in-differences estimators (needs outcome, unit, time and treatment/cohort)."""
    return await run_analysis(request, services, settings, user, "did", body)


@router.post("/analyze/design/{design}", responses={202: {"description": "still running"}})
async def analyze_design(
    design: str,
    request: Request,
    body: AnalyzeRequest,
    user: Analyst,
    services: ServicesDep,
    settings: SettingsDep,
) -> Response:
    """The estimators of one design (backdoor, iv, rd, did, …): a route for every design."""
    values = [d.value for d in Design]
    if design not in values:
        raise NotFoundError(f"unknown design {design[:40]!r} (designs: {', '.join(values)})")
    return await run_analysis(request, services, settings, user, "design", body, {"design": design})


@router.post("/analyze/sensitivity")
def analyze_sensitivity(body: SensitivityRequest, user: Analyst) -> dict[str, Any]:
    """E-value and Rosenbaum bounds from an estimate and its confidence interval."""
    if not body.ci[0] <= body.estimate <= body.ci[1]:
        raise ParameterError(
            f"the estimate {body.estimate} lies outside its interval [{body.ci[0]}, {body.ci[1]}]",
            details={"parameter": "ci"},
        )
    if body.pair_differences is not None:
        rosenbaum = bounds.rosenbaum_pairs(body.pair_differences, body.gammas, body.alpha)
    else:
        rosenbaum = bounds.rosenbaum(
            body.estimate, body.ci, body.ci_level, body.n_pairs, body.gammas, body.alpha
        )
    return {
        "evalue": bounds.evalue(body.estimate, body.ci, body.scale, body.sd_outcome, body.rare),
        "rosenbaum": to_jsonable(rosenbaum),
    }


@router.get("/analyses")
def list_analyses(
    user: Viewer,
    session: DbSession,
    dataset_id: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """The analyses the user may see, newest first."""
    q = visible(AnalysisRecord, user).options(undefer(AnalysisRecord.result))
    if dataset_id is not None:
        q = q.where(AnalysisRecord.dataset_id == check_id(dataset_id))
    rows = session.scalars(q.limit(limit)).all()
    ids = {a.dataset_id for a in rows if a.dataset_id}
    names = dict(session.execute(select(Dataset.id, Dataset.name).where(Dataset.id.in_(ids))).all())
    return {
        "analyses": [
            {
                **analysis_summary(a),
                "dataset_name": names.get(a.dataset_id or ""),
                "roles": {
                    k: v
                    for k, v in ((a.result or {}).get("roles") or {}).items()
                    if k != "inferred"
                },
            }
            for a in rows
        ]
    }


@router.get("/analyses/{analysis_id}", response_model=dict[str, Any])
def get_analysis(analysis_id: str, user: Viewer, session: DbSession) -> Response:
    """An analysis: roles, designs, estimates, consensus, sensitivity, gates.

    ``request`` is what was asked (roles, estimators, parameters, gate options, seed), so
    that the analysis can be run again with changed settings.
    """
    analysis = owned(session, AnalysisRecord, analysis_id, user)
    job = session.get(Job, analysis.job_id) if analysis.job_id else None
    dataset = session.get(Dataset, analysis.dataset_id) if analysis.dataset_id else None
    request = {k: v for k, v in (job.request if job is not None else {}).items() if k != "work"}
    document = result_text(session, analysis.id)
    out = {
        **analysis_summary(analysis, decode(document) if document is not None else {}),
        "result": None,
        "dataset_name": dataset.name if dataset is not None else None,
        "request": request,
    }
    # the result as stored, not encoded again (cqox.server.json_documents)
    return Response(with_document(out, "result", document), media_type="application/json")


@router.delete("/analyses/{analysis_id}")
def delete_analysis(
    analysis_id: str,
    user: Deleter,
    session: DbSession,
    settings: SettingsDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Delete an analysis and its stored files."""
    row = owned(session, AnalysisRecord, analysis_id, user)
    session.delete(row)
    session.commit()
    for suffix in (".pkl", ".html"):
        artifact_path(settings, analysis_id, suffix).unlink(missing_ok=True)
    services.artefacts.invalidate(analysis_id)
    return {"deleted": analysis_id}


def _json_bytes(value: Any) -> bytes:
    """``value`` encoded exactly as a ``JSONResponse`` would send it."""
    return bytes(JSONResponse(value).body)


def cached_artefact(
    cache: ArtefactCache,
    settings: Settings,
    analysis_id: str,
    artefact: str,
    render: Callable[[Analysis], bytes],
) -> bytes:
    """An artefact of a stored analysis from ``cache``, rendered on a miss.

    ``render`` gets the stored analysis.  The caller has checked that the analysis
    exists and that the user may see it.
    """
    path = artifact_path(settings, analysis_id)
    key = (analysis_id, artefact, stored_version(path))
    return cache.get_or_render(key, lambda: render(load_analysis(path)))


@router.get("/analyses/{analysis_id}/figures")
def list_figures(
    analysis_id: str,
    user: Viewer,
    session: DbSession,
    settings: SettingsDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """The figures of an analysis, with their URLs (Plotly JSON and PNG)."""
    owned(session, AnalysisRecord, analysis_id, user)
    session.close()
    base = f"/api/analyses/{analysis_id}/figures"

    def render(an: Analysis) -> bytes:
        return _json_bytes(
            {
                "figures": [
                    {
                        **f,
                        "json": f"{base}/{f['name']}?format=json",
                        "png": f"{base}/{f['name']}?format=png",
                    }
                    for f in available(an)
                ]
            }
        )

    data = cached_artefact(services.artefacts, settings, analysis_id, "figures", render)
    listing: dict[str, Any] = json.loads(data)  # a dict keeps the route's OpenAPI schema
    return listing


@router.get(
    "/analyses/{analysis_id}/figures/{name}",
    responses={200: {"content": {"application/json": {}, "image/png": {}, "image/gif": {}}}},
)
def get_figure(
    analysis_id: str,
    name: str,
    user: Viewer,
    session: DbSession,
    settings: SettingsDep,
    services: ServicesDep,
    format: str = Query(default="json", pattern="^(json|png|gif)$"),
) -> Response:
    """A figure as Plotly JSON (``format=json``, default), PNG or animated GIF.

    ``format=gif`` serves a figure listed as ``animated`` as an animated GIF, saved as
    ``cqox-<id>-<name>.gif`` (404 for a still figure, naming the animated ones).
    """
    owned(session, AnalysisRecord, analysis_id, user)
    session.close()
    if name.endswith(".png"):
        name, format = name[:-4], "png"
    elif name.endswith(".json"):
        name, format = name[:-5], "json"
    elif name.endswith(".gif"):
        name, format = name[:-4], "gif"
    cache = services.artefacts
    if format == "gif":
        gif = cached_artefact(
            cache, settings, analysis_id, f"figure:{name}.gif", lambda an: gif_figure(an, name)
        )
        filename = re.sub(r"[^A-Za-z0-9._-]+", "_", f"cqox-{analysis_id[:8]}-{name}")[:120]
        return Response(
            gif,
            media_type="image/gif",
            headers={"Content-Disposition": f'attachment; filename="{filename}.gif"'},
        )
    if format == "png":
        png = cached_artefact(
            cache, settings, analysis_id, f"figure:{name}.png", lambda an: png_figure(an, name)
        )
        return Response(png, media_type="image/png")
    data = cached_artefact(
        cache,
        settings,
        analysis_id,
        f"figure:{name}.json",
        lambda an: _json_bytes(plotly_figure(an, name)),
    )
    return Response(data, media_type="application/json")


def report_page(settings: Settings, analysis_id: str, cache: ArtefactCache | None = None) -> str:
    """The report of a stored analysis: rendered once, kept beside it and in ``cache``."""

    def render() -> bytes:
        stored = artifact_path(settings, analysis_id, ".html")
        if stored.exists():  # rendered before, by this process or another
            return stored.read_bytes()
        page = render_report(load_analysis(artifact_path(settings, analysis_id)))
        data = page.encode("utf-8")
        atomic_write(stored, data)
        return data

    if cache is None:
        return render().decode("utf-8")
    key = (analysis_id, "report", stored_version(artifact_path(settings, analysis_id)))
    return cache.get_or_render(key, render).decode("utf-8")


def report_filename(session: Any, analysis: AnalysisRecord) -> str:
    """``cqox-report-<data set>-<id>.html``, in characters safe in any header and file system."""
    dataset = session.get(Dataset, analysis.dataset_id) if analysis.dataset_id else None
    stem = Path(dataset.name).stem if dataset is not None else analysis.kind
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "analysis"
    return f"cqox-report-{safe}-{analysis.id[:8]}.html"


@router.get("/analyses/{analysis_id}/report", response_class=HTMLResponse)
def get_report(
    analysis_id: str,
    user: Viewer,
    session: DbSession,
    settings: SettingsDep,
    services: ServicesDep,
    download: bool = Query(default=False, description="as an attachment (save) rather than inline"),
) -> HTMLResponse:
    """The self-contained HTML report of the analysis, named by ``Content-Disposition``."""
    analysis = owned(session, AnalysisRecord, analysis_id, user)
    filename = report_filename(session, analysis)
    session.close()
    disposition = "attachment" if download else "inline"
    return HTMLResponse(
        report_page(settings, analysis_id, services.artefacts),
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "Content-Security-Policy": report_csp(),
        },
    )
