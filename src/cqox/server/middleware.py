"""Request middleware: request id, body-size guard, rate limits, metrics.

The body-size guard (:mod:`cqox.server.body_limit`) counts bytes as they arrive.

Every response carries ``X-Request-ID`` (the caller's, when it sends a sane one).
The limiters are read from ``app.state.limiters`` at each request: in memory by default,
in the database with ``CQOX_SHARED_STATE`` (:mod:`cqox.server.shared_limits`).
The per-IP rate limit applies to ``/api`` routes here, with 429 and ``Retry-After``;
the per-user limit is counted once the user is known (:mod:`cqox.server.deps`), so all
of a user's tokens and API keys share one budget.  The client IP is the peer address:
``X-Forwarded-For`` counts only when ``cqox serve`` trusts the proxy that sent it
(``CQOX_TRUSTED_PROXIES``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from cqox.server.body_limit import BodyLimitMiddleware
from cqox.server.problems import error_response
from cqox.server.ratelimit import RateLimiter
from cqox.server.settings import Settings

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def route_template(request: Request) -> str:
    """The matched route's template (``/api/datasets/{dataset_id}``), bounding label values."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Add the middleware to ``app``."""
    ip_limiter = RateLimiter(settings.rate_limit_ip_per_minute)
    user_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.limiters = (ip_limiter, user_limiter)
    # inside the request-id middleware (added after it): its 413 carries the request id
    app.add_middleware(BodyLimitMiddleware, settings=settings)

    @app.middleware("http")
    async def _request(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        request.state.request_id = request_id
        start = time.perf_counter()
        metrics = app.state.services.metrics
        response = await _guard(request, app.state.limiters[0])
        if response is None:
            try:
                response = await call_next(request)
            except Exception:
                route = route_template(request)
                metrics.requests.labels(request.method, route, "500").inc()
                metrics.errors.labels(request.method, route, "INTERNAL_ERROR").inc()
                raise
        route = route_template(request)
        response.headers["X-Request-ID"] = request_id
        elapsed = time.perf_counter() - start
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
        if response.status_code >= 400:
            code = response.headers.get("X-Error-Code", str(response.status_code))
            metrics.errors.labels(request.method, route, code).inc()
        return response


async def _guard(request: Request, ip_limiter: RateLimiter) -> Response | None:
    if not request.url.path.startswith("/api"):
        return None
    ip = request.client.host if request.client else "unknown"
    if getattr(ip_limiter, "blocking", False):  # kept in the database: off the event loop
        wait = await run_in_threadpool(ip_limiter.check, f"ip:{ip}")
    else:
        wait = ip_limiter.check(f"ip:{ip}")
    if wait:
        return error_response(
            request,
            "RATE_LIMIT_EXCEEDED",
            f"rate limit exceeded; retry in {wait} s",
            {"retry_after_s": wait},
            {"Retry-After": str(wait)},
        )
    return None
