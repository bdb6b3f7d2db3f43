"""RFC 9457 problem details: the one shape every error response of the API has.

Every failure ends here: request validation (422 with field paths), domain refusals
(mapped by their `kind`), HTTP errors of the router (401, 404, 405), dependencies that
are down (503) and, last, anything unexpected (500 with no traceback; the traceback goes
to the log with the request's path).
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import psycopg
from eventsourcing.persistence import ConnectionPoolClosedError, InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from thidua.domain.errors import DomainError
from thidua.workflows.errors import ServiceUnavailable

log = logging.getLogger("thidua.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://thidua.example/problems/"

# domain error kind -> (HTTP status, problem type slug, title)
DOMAIN_PROBLEMS: dict[str, tuple[int, str, str]] = {
    "not_allowed": (403, "forbidden", "Not allowed"),
    "invalid_transition": (409, "invalid-transition", "Invalid transition"),
    "campaign_closed": (409, "campaign-closed", "Campaign closed"),
    "conflict": (409, "version-conflict", "Version conflict"),
    "bad_input": (422, "validation", "Invalid input"),
    "command_id_reused": (422, "command-id-reused", "Command id reused"),
    "not_found": (404, "not-found", "Not found"),
    "activation_gone": (410, "activation-gone", "Gone"),
}

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    413: "content-too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "too-many-requests",
    500: "internal",
    503: "unavailable",
}


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending input, e.g. `body.deadline`")
    message: str
    type: str | None = None


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; extension members depend on the problem type."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": PROBLEM_BASE + "invalid-transition",
                    "title": "Invalid transition",
                    "status": 409,
                    "detail": "cannot complete a target that is blocked",
                    "instance": "/v1/targets/5f0c.../complete",
                    "state": "blocked",
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    state: str | None = None


class Problem(Exception):
    """Raise anywhere in the API to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        type_slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or _TITLES.get(status, ""))
        self.status = status
        self.detail = detail
        self.type_slug = type_slug or _SLUGS.get(status, "error")
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    *,
    instance: str | None,
    detail: str | None = None,
    type_slug: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (type_slug or _SLUGS.get(status, "error")),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(
        jsonable_encoder(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def from_problem(problem: Problem, instance: str | None) -> JSONResponse:
    return problem_response(
        problem.status,
        instance=instance,
        detail=problem.detail,
        type_slug=problem.type_slug,
        title=problem.title,
        headers=problem.headers,
        **problem.extra,
    )


def from_domain_error(error: DomainError, instance: str | None) -> JSONResponse:
    status, slug, title = DOMAIN_PROBLEMS.get(error.kind, (422, "domain", "Refused"))
    extra: dict[str, Any] = {k: v for k, v in error.details.items() if _is_jsonable_scalar(v)}
    extra["kind"] = error.kind
    if error.kind == "bad_input":
        field = error.details.get("field")
        extra["errors"] = [{"field": f"body.{field}" if field else "body", "message": error.message,
                            "type": "bad_input"}]
    return problem_response(status, instance=instance, detail=error.message, type_slug=slug, title=title, **extra)


def _is_jsonable_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as `{field, message, type}` with dotted field paths."""
    result = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        result.append({"field": ".".join(loc) or "body", "message": str(err.get("msg", "invalid")),
                       "type": str(err.get("type", "invalid"))})
    return result


def _instance(request: Request) -> str:
    return request.url.path


# ----------------------------------------------------------------- dependencies down
def is_unavailable(exc: BaseException) -> bool:
    """True when the exception means PostgreSQL or Temporal cannot be reached now."""
    if isinstance(exc, ServiceUnavailable):
        return True
    if isinstance(exc, (OperationalError, InterfaceError, ConnectionPoolClosedError)):
        return True
    if isinstance(
        exc,
        (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError,
            asyncpg.AdminShutdownError,
            asyncpg.exceptions.ConnectionDoesNotExistError,
            # a pooled connection ended by the server mid-operation can be left in a state
            # asyncpg refuses to reuse ("cannot switch to state ..."): the outage, not the request
            asyncpg.exceptions.InternalClientError,
        ),
    ):
        return True
    if isinstance(exc, psycopg.OperationalError):
        return True
    if isinstance(exc, asyncpg.PostgresError) and _refused_by_the_server(exc):
        return True
    if isinstance(exc, RPCError) and exc.status in (
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
    ):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError))


# SQLSTATE classes of a server that cannot serve now: connection exceptions (08), insufficient
# resources (53: too many connections), operator intervention (57: shut down, cancelled by a
# statement timeout or an administrator).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")


def _refused_by_the_server(exc: Any) -> bool:
    """The server answered but will not serve now: its state, not the request, is the cause
    (e.g. `database "x" is not currently accepting connections` during maintenance)."""
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or (
        state == "55000" and "accepting connections" in str(exc))


def unavailable_response(request: Request, exc: BaseException) -> JSONResponse:
    log.warning("dependency unavailable on %s %s: %r", request.method, request.url.path, exc)
    return problem_response(
        503,
        instance=_instance(request),
        detail="a service the API depends on (PostgreSQL or Temporal) is unavailable; retry later",
        headers={"Retry-After": "2"},
    )


# ----------------------------------------------------------------- handlers
def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return from_problem(exc, _instance(request))

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return from_domain_error(exc, _instance(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            422, instance=_instance(request), detail="the request does not match the schema",
            errors=validation_errors(exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != _TITLES.get(exc.status_code) else None
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's message for undecodable JSON; say it as a validation problem
            return problem_response(422, instance=_instance(request), detail="the body is not valid JSON",
                                    errors=[{"field": "body", "message": "not valid JSON", "type": "json_invalid"}])
        return problem_response(exc.status_code, instance=_instance(request), detail=detail,
                                headers=dict(exc.headers or {}))



def unexpected_response(request: Request, exc: BaseException) -> JSONResponse:
    """The answer for anything no handler knew: 503 when a dependency is down, else 500."""
    if is_unavailable(exc):
        return unavailable_response(request, exc)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, instance=_instance(request), detail="an unexpected error occurred")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problems a route can answer with. A route that
    authenticates (401) can also refuse a client that failed too many tokens (429)."""
    if 401 in statuses and 429 not in statuses:
        statuses = (*statuses, 429)
    return {
        status: {
            "model": ProblemDetails,
            "description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for status in statuses
    }
