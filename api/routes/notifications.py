"""A person's inbox and preferences: `GET /v1/me/notifications`,
`POST /v1/me/notifications/{nid}/read`, `GET|PUT /v1/me/preferences`. The rows are the outbox's `inbox` channel
(thidua.projections.notifications); every signed-in person reads only their own."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query

from thidua.api import readmodels
from thidua.api.deps import CommandCtx, CurrentUser, ServicesDep, wait_for_projections
from thidua.api.notification_models import InboxQuery, NotificationOut, NotificationPage, PreferencesIn, PreferencesOut
from thidua.api.problems import Problem, problem_responses
from thidua.api.services import command
from thidua.domain.errors import NotFound
from thidua.domain.preferences import Preferences, preferences_uuid
from thidua.domain.values import Actor

router = APIRouter(tags=["notifications"])

NotificationId = Annotated[UUID, Path(description="The notification's id")]


@router.get("/v1/me/notifications", response_model=NotificationPage, summary="My notifications, newest first",
            responses=problem_responses(401, 422, 503))
async def list_my_notifications(user: CurrentUser, services: ServicesDep,
                                q: Annotated[InboxQuery, Query()]) -> Any:
    from thidua.projections import inbox  # the read side, loaded at the first read (as thidua.api.readmodels does)

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
    from thidua.projections import inbox  # the read side, loaded at the first read (as thidua.api.readmodels does)

    item = await inbox.mark_read(services.pool, user.id, nid, datetime.now(timezone.utc))
    if item is None:
        raise Problem(404, f"you have no notification {nid}")
    return item


def _prefs_out(prefs: Any, position: int | None) -> dict[str, Any]:
    return {"email": prefs.email, "email_kinds": prefs.email_kinds, "position": position}


@router.get("/v1/me/preferences", response_model=PreferencesOut, summary="My notification preferences",
            responses=problem_responses(401, 503))
async def get_my_preferences(user: CurrentUser, services: ServicesDep) -> Any:
    return await my_preferences(services, user.id)


async def set_preferences(services: Any, actor: Actor, command_id: str, email: str | None,
                          kinds: list[str]) -> dict[str, Any]:
    """Record the person's choice (the JSON route and the preferences page)."""
    app = services.domain_app

    def set_them() -> dict[str, Any]:
        cmd = command(command_id, actor)
        changed = app.change(
            lambda: app.load(Preferences, preferences_uuid(actor.id), "preferences"),
            lambda prefs: prefs.change(cmd, email=email, email_kinds=kinds), command_id,
            create=lambda: Preferences.start(cmd, user_id=actor.id, email=email, email_kinds=kinds))
        return _prefs_out(changed.aggregate, changed.position)

    return await services.in_thread(set_them)


async def my_preferences(services: Any, user_id: str) -> dict[str, Any]:
    app = services.domain_app
    try:
        prefs = await services.in_thread(lambda: app.load(Preferences, preferences_uuid(user_id), "preferences"))
    except NotFound:
        return {"email": None, "email_kinds": [], "position": None}
    return _prefs_out(prefs, None)


@router.put("/v1/me/preferences", response_model=PreferencesOut,
            summary="Choose the kinds I also get by e-mail (the inbox is always on)",
            responses=problem_responses(401, 409, 413, 422, 503))
async def put_my_preferences(body: PreferencesIn, user: CurrentUser, ctx: CommandCtx) -> Any:
    async def act() -> dict[str, Any]:
        return await set_preferences(ctx.services, user.actor, ctx.command_id, body.email, list(body.email_kinds))

    return await ctx.run("set_preferences", act, model=PreferencesOut)
