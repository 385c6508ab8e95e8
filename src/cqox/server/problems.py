"""One error shape for every response: ``{"error": {"code", "message", "details", "request_id"}}``.

Engine errors (:mod:`cqox.errors`) carry their code in a ``code`` attribute; the service's
own errors (:class:`ServiceError` and subclasses) do the same.  One handler turns either
into the error body with the HTTP status of its code; anything unexpected becomes
``INTERNAL_ERROR`` (500) without leaking the traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cqox.core.jsonable import to_jsonable
from cqox.errors import CqoxError

log = logging.getLogger("cqox.server")

#: HTTP status of each error code.
STATUS: dict[str, int] = {
    "INVALID_REQUEST": 400,
    "INVALID_MAPPING": 400,
    "INVALID_DATA": 400,
    "INVALID_PARAMETER": 400,
    "INSUFFICIENT_DATA": 400,
    "ESTIMATION_FAILED": 422,
    "QUALITY_GATE_FAILED": 422,
    "NO_DESIGN": 422,
    "CANCELLED": 409,
    "TIME_LIMIT_EXCEEDED": 504,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RATE_LIMIT_EXCEEDED": 429,
    "WORK_BUDGET_EXCEEDED": 422,
    "TOO_MANY_JOBS": 429,
    "INTERNAL_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}
_BY_STATUS = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_REQUEST",
    429: "RATE_LIMIT_EXCEEDED",
    503: "SERVICE_UNAVAILABLE",
}


class ServiceError(Exception):
    """An error of the service layer with its code, message and details."""

    code = "INTERNAL_ERROR"
    #: HTTP status when it differs from the code's usual one (:data:`STATUS`).
    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.headers = dict(headers or {})


class InvalidRequestError(ServiceError):
    """The request is malformed (bad id, path-like value, bad JSON)."""

    code = "INVALID_REQUEST"


class InvalidMappingError(ServiceError):
    """The mapping names a role or column wrongly."""

    code = "INVALID_MAPPING"


class InvalidDataError(ServiceError):
    """The uploaded file is not a usable table."""

    code = "INVALID_DATA"


class UnauthorizedError(ServiceError):
    """No, or no valid, credentials."""

    code = "UNAUTHORIZED"

    def __init__(self, message: str = "authentication required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class ForbiddenError(ServiceError):
    """The user's role does not allow the action."""

    code = "FORBIDDEN"


class NotFoundError(ServiceError):
    """No such resource (or not the caller's: ownership answers 404, never 403)."""

    code = "NOT_FOUND"


class ConflictError(ServiceError):
    """The resource exists already or is in the wrong state."""

    code = "CONFLICT"


class PayloadTooLargeError(ServiceError):
    """The upload exceeds the configured limit."""

    code = "PAYLOAD_TOO_LARGE"


class RateLimitExceededError(ServiceError):
    """Too many requests in the current minute."""

    code = "RATE_LIMIT_EXCEEDED"


class QualityGateFailedError(ServiceError):
    """Gates failed and the caller asked them to be enforced."""

    code = "QUALITY_GATE_FAILED"


def status_of(code: str) -> int:
    """The HTTP status of an error code (400 for client errors not in the table)."""
    return STATUS.get(code, 400)


def error_body(
    code: str, message: str, details: dict[str, Any] | None, request_id: str | None
) -> dict[str, Any]:
    """The error shape."""
    return {
        "error": {
            "code": code,
            "message": message,
            "details": to_jsonable(details or {}),
            "request_id": request_id,
        }
    }


def error_response(
    request: Request,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    status: int | None = None,
) -> JSONResponse:
    """A JSON error response carrying the request id."""
    request_id = getattr(request.state, "request_id", None)
    hdrs = dict(headers or {})
    hdrs["X-Error-Code"] = code
    if request_id:
        hdrs["X-Request-ID"] = request_id
    return JSONResponse(
        error_body(code, message, details, request_id),
        status_code=status or status_of(code),
        headers=hdrs,
    )


def engine_error_code(exc: CqoxError) -> str:
    """The service code of an engine error (its ``code`` attribute)."""
    return str(getattr(exc, "code", "INTERNAL_ERROR"))


def install_handlers(app: FastAPI) -> None:
    """Register the one handler family that shapes every error body."""

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(
            request, exc.code, exc.message, exc.details, exc.headers, status=exc.status
        )

    @app.exception_handler(CqoxError)
    async def _engine(request: Request, exc: CqoxError) -> JSONResponse:
        code = engine_error_code(exc)
        if code == "INTERNAL_ERROR":
            code = "INVALID_REQUEST"
        return error_response(request, code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"][1:] if len(first["loc"]) > 1 else first["loc"])
        return error_response(
            request,
            "INVALID_REQUEST",
            f"invalid request: {where}: {first['msg']}" if where else str(first["msg"]),
            {"errors": errors},
            status=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _BY_STATUS.get(exc.status_code, "INVALID_REQUEST")
        message = str(exc.detail) if exc.detail else code.replace("_", " ").lower()
        return error_response(
            request, code, message, None, dict(exc.headers or {}), status=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            request, "INTERNAL_ERROR", "internal error; the request id identifies it in the log"
        )
