"""A person's inbox (DESIGN.md "Notifications"): `GET /v1/me/notifications`,
`POST /v1/me/notifications/{nid}/read`. The rows are the outbox's `inbox` channel
(projections.notifications); every signed-in person reads only their own."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query

from api import readmodels
from api.deps import CurrentUser, ServicesDep, wait_for_projections
from api.notification_models import InboxQuery, NotificationOut, NotificationPage
from api.problems import Problem, problem_responses

router = APIRouter(tags=["notifications"])

NotificationId = Annotated[UUID, Path(description="The notification's id")]


@router.get("/v1/me/notifications", response_model=NotificationPage, summary="My notifications, newest first",
            responses=problem_responses(401, 422, 503))
async def list_my_notifications(user: CurrentUser, services: ServicesDep,
                                q: Annotated[InboxQuery, Query()]) -> Any:
    from projections import inbox

    await wait_for_projections(services, q.min_position)
    unread: list[int] = []

    async def fetch(after: Any) -> dict[str, Any]:
        result = await inbox.list_inbox(services.pool, user.id, unread=q.unread, limit=q.limit, after=after)
        unread.append(result["unread"])
        return result

    page = await readmodels.paged("inbox", q.cursor, fetch)
    return {**page, "unread": unread[0]}


@router.post("/v1/me/notifications/{nid}/read", response_model=NotificationOut,
             summary="Mark one of my notifications read (again: no change)",
             responses=problem_responses(401, 404, 422))
async def read_my_notification(nid: NotificationId, user: CurrentUser, services: ServicesDep) -> Any:
    from projections import inbox

    item = await inbox.mark_read(services.pool, user.id, nid, datetime.now(timezone.utc))
    if item is None:
        raise Problem(404, f"you have no notification {nid}")
    return item
