"""`/healthz` (PostgreSQL and Temporal reachable) and `/metrics` (Prometheus). No token needed."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api import readmodels
from api.deps import get_services
from api.metrics import CONTENT_TYPE_LATEST
from api.models import HealthOut
from api.problems import PROBLEM_MEDIA_TYPE, problem_response

router = APIRouter(tags=["system"])
log = logging.getLogger("thidua.api")

CHECK_TIMEOUT = 2.0


async def _check_postgres(services: Any) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await services.pool.fetchval("SELECT 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("health: postgres: %r", exc)
        return "unavailable"


async def _check_temporal(services: Any) -> str:
    client = services.temporal_client
    if client is None:
        return "unknown"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT + 0.5):
            ok = await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT))
        return "ok" if ok else "unavailable"
    except Exception as exc:  # noqa: BLE001
        log.warning("health: temporal: %r", exc)
        return "unavailable"


@router.get("/healthz", response_model=HealthOut, summary="Liveness and readiness",
            responses={503: {"description": "PostgreSQL or Temporal is down",
                             "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}})
async def healthz(request: Request) -> Any:
    services = get_services(request)
    postgres, temporal = await asyncio.gather(_check_postgres(services), _check_temporal(services))
    checks = {"postgres": postgres, "temporal": temporal}
    if "unavailable" in checks.values():
        return problem_response(503, instance="/healthz", detail="a dependency is down", checks=checks,
                                headers={"Retry-After": "2"})
    return JSONResponse({"status": "ok", "checks": checks})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"description": "Prometheus text format", "content": {CONTENT_TYPE_LATEST: {
                "schema": {"type": "string"}}}}})
async def metrics(request: Request) -> Response:
    services = get_services(request)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            queries = readmodels.queries()
            last = await queries.max_event_position(services.pool)
            positions = await queries.projection_positions(services.pool)
        services.metrics.set_projection_positions(int(last or 0), dict(positions))
    except Exception as exc:  # noqa: BLE001 - metrics must still answer when the db is down
        log.warning("metrics: projection lag unavailable: %r", exc)
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
