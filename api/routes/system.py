"""`/healthz` (PostgreSQL and Temporal reachable, no read model stopped, the worker and the
projector beating and the worker's activity threads free) and `/metrics` (Prometheus). No
token needed."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from thidua import heartbeats
from thidua.api import readmodels
from thidua.api.deps import get_services
from thidua.api.metrics import CONTENT_TYPE_LATEST
from thidua.api.notification_metrics import gauges_of
from thidua.api.models import HealthOut
from thidua.api.problems import PROBLEM_MEDIA_TYPE, problem_response
from thidua.projections import faults

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


async def _stopped_read_models(services: Any) -> list[dict[str, Any]] | None:
    """Read models stopped at an event they cannot apply (None: could not tell)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            rows = await faults.stopped(services.pool)
    except Exception as exc:  # noqa: BLE001 - postgres' own check says why
        log.warning("health: read models: %r", exc)
        return None
    return [{"read_model": r["name"], "position": r["position"],
             "aggregate_id": str(r["originator_id"]) if r["originator_id"] else None,
             "aggregate_version": r["originator_version"], "event_type": _event_type(r["topic"]),
             "reason": r["reason"], "stopped_at": r["stopped_at"].isoformat()} for r in rows]


def _event_type(topic: str | None) -> str | None:
    return topic.rsplit(".", 1)[-1] if topic else None


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
    stopped = await _stopped_read_models(services) or []
    checks["read_models"] = "degraded" if stopped else "ok"
    found = await _processes(services)
    if found is not None:
        checks["workers"] = heartbeats.verdict(found, heartbeats.WORKER)
        checks["projector"] = heartbeats.verdict(found, heartbeats.PROJECTOR)
    # Degraded is still 200, as for a stopped read model: the API serves what it can, and
    # `checks` and `processes` say what is wrong (a worker stuck, stale or missing, ...).
    degraded = any(checks.get(name, "ok") != "ok" for name in ("read_models", "workers", "projector"))
    return JSONResponse({"status": "degraded" if degraded else "ok", "checks": checks,
                         "stopped_read_models": stopped, "processes": [p.to_dict() for p in found or []]})


async def _processes(services: Any) -> list[heartbeats.ProcessHealth] | None:
    """The worker and projector processes by their heartbeats (None: could not tell)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await heartbeats.processes(services.pool, services.heartbeat_seconds)
    except Exception as exc:  # noqa: BLE001 - postgres' own check says why
        log.warning("health: heartbeats: %r", exc)
        return None


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
            stopped = await faults.stopped(services.pool)
            services.metrics.open_escalations.rows = await queries.open_escalations_by_campaign(services.pool)
            await gauges_of(services.metrics).refresh(services.pool)
        services.metrics.set_projection_positions(int(last or 0), dict(positions))
        services.metrics.set_stopped_read_models({r["name"]: r["position"] for r in stopped})
    except Exception as exc:  # noqa: BLE001 - metrics must still answer when the db is down
        log.warning("metrics: projection lag unavailable: %r", exc)
        services.metrics.open_escalations.rows = []  # unknown: no series rather than stale ones
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
