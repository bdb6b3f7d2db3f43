"""Webhooks (secretariat): `POST /v1/webhooks`, `GET /v1/webhooks`, `POST /v1/webhooks/{id}/disable`,
`GET /v1/webhooks/{id}/deliveries`.

Registering is an event of the `Webhook` aggregate; its signing secret is kept apart
(`webhook_secrets`, see thidua.projections.schema) and shown only in the first answer.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from thidua.api import readmodels
from thidua.api.deps import CommandCtx, Secretariat, ServicesDep, wait_for_projections
from thidua.api.models import PageQuery
from thidua.api.notification_models import (
    DeliveryPage,
    WebhookCreate,
    WebhookCreatedOut,
    WebhookDisable,
    WebhookList,
    WebhookListQuery,
    WebhookOut,
)
from thidua.api.problems import Problem, problem_responses
from thidua.api.services import Services, command
from thidua.domain.errors import NotFound
from thidua.domain.values import Actor
from thidua.domain.webhook import Webhook, webhook_uuid
from thidua.workflows import webhook_urls

router = APIRouter(tags=["webhooks"])

WebhookId = Annotated[str, Path(min_length=1, max_length=100, description="Webhook id")]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _webhook_id_for(command_id: str) -> str:
    # The same command (a retried request) names the same webhook.
    return "wh" + hashlib.sha256(command_id.encode()).hexdigest()[:16]


def _out(hook: Webhook, secret: str | None, position: int) -> dict[str, Any]:
    return {"id": hook.webhook_id, "url": hook.url, "campaign_id": hook.campaign_id, "events": hook.kinds,
            "active": hook.active, "secret": secret, "position": position}


async def check_webhook(services: Services, body: WebhookCreate) -> None:
    """Refuse (422, naming the field) a URL that may not receive webhooks or an unknown campaign."""
    allow_private = bool(services.extras.get("webhooks_allow_private"))
    refused = await services.in_thread(lambda: webhook_urls.refusal(body.url, allow_private=allow_private))
    if refused is not None:
        raise Problem(422, f"this URL may not receive webhooks: {refused}",
                      errors=[{"field": "body.url", "message": refused, "type": "url_refused"}])
    if body.campaign_id is not None:
        try:
            await services.in_thread(services.domain_app.get_campaign, body.campaign_id)
        except NotFound:
            raise Problem(422, f"campaign {body.campaign_id!r} does not exist",
                          errors=[{"field": "body.campaign_id", "message": "unknown campaign",
                                   "type": "not_found"}]) from None


async def register_webhook(services: Services, actor: Actor, command_id: str, body: WebhookCreate) -> dict[str, Any]:
    """Register (after `check_webhook`); the answer carries the secret only when this command
    created it. Shared by the JSON route and the webhooks page."""
    webhook_id = _webhook_id_for(command_id)
    secret = body.secret or new_secret()
    app = services.domain_app

    def register() -> dict[str, Any]:
        changed = app.change(
            lambda: app.load(Webhook, webhook_uuid(webhook_id), "webhook"), lambda hook: False, command_id,
            create=lambda: Webhook.register(command(command_id, actor), webhook_id=webhook_id,
                                            url=body.url, campaign_id=body.campaign_id, kinds=list(body.events)),
        )
        return _out(changed.aggregate, secret if changed.created else None, changed.position)

    # The secret first: a webhook whose event is stored always has one; a secret
    # whose event was refused is only an unused row.
    await services.pool.execute(
        "INSERT INTO webhook_secrets (webhook_id, secret) VALUES ($1, $2) ON CONFLICT (webhook_id) DO NOTHING",
        webhook_id, secret)
    return await services.in_thread(register)


async def disable_webhook_now(services: Services, actor: Actor, command_id: str, wid: str,
                              reason: str) -> dict[str, Any]:
    app = services.domain_app

    def disable() -> dict[str, Any]:
        cmd = command(command_id, actor)
        changed = app.change(lambda: app.load(Webhook, webhook_uuid(wid), "webhook"),
                             lambda hook: hook.disable(cmd, reason), command_id)
        out = _out(changed.aggregate, None, changed.position)
        out.pop("secret")
        return out

    return await services.in_thread(disable)


@router.post("/v1/webhooks", status_code=201, response_model=WebhookCreatedOut,
             summary="Register a webhook (its secret is shown this once)",
             responses=problem_responses(401, 403, 409, 413, 422, 503))
async def post_webhook(body: WebhookCreate, user: Secretariat, ctx: CommandCtx) -> Any:
    await check_webhook(ctx.services, body)  # refused before the command is remembered

    async def act() -> dict[str, Any]:
        return await register_webhook(ctx.services, user.actor, ctx.command_id, body)

    return await ctx.run("register_webhook", act, status=201, model=WebhookCreatedOut,
                         stored_view=lambda payload: {**payload, "secret": None})


@router.get("/v1/webhooks/{wid}/deliveries", response_model=DeliveryPage,
            summary="Every delivery attempt of a webhook, newest first",
            responses=problem_responses(401, 403, 404, 422))
async def list_deliveries(wid: WebhookId, user: Secretariat, services: ServicesDep,
                          q: Annotated[PageQuery, Query()]) -> Any:
    from thidua.projections import inbox  # the read side, loaded at the first read (as thidua.api.readmodels does)

    known = await services.pool.fetchval("SELECT true FROM webhooks WHERE webhook_id = $1 LIMIT 1", wid)
    if not known:
        try:
            await services.in_thread(lambda: services.domain_app.load(Webhook, webhook_uuid(wid), "webhook"))
        except NotFound:
            raise Problem(404, f"webhook {wid!r} not found") from None
    return await readmodels.paged("deliveries", q.cursor, lambda after: inbox.list_deliveries(
        services.pool, wid, limit=q.limit, after=after))


@router.get("/v1/webhooks", response_model=WebhookList, summary="Every registered webhook, newest first",
            responses=problem_responses(401, 403, 422, 503))
async def list_webhooks(user: Secretariat, services: ServicesDep, q: Annotated[WebhookListQuery, Query()]) -> Any:
    from thidua.projections import inbox  # the read side, loaded at the first read (as thidua.api.readmodels does)

    await wait_for_projections(services, q.min_position)
    return {"items": await inbox.list_webhooks(services.pool, campaign_id=q.campaign_id)}


@router.post("/v1/webhooks/{wid}/disable", response_model=WebhookOut,
             summary="Stop a webhook: nothing more is delivered to it (its pending deliveries fail)",
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503))
async def disable_webhook(wid: WebhookId, body: WebhookDisable, user: Secretariat, ctx: CommandCtx) -> Any:
    async def act() -> dict[str, Any]:
        return await disable_webhook_now(ctx.services, user.actor, ctx.command_id, wid, body.reason)

    return await ctx.run("disable_webhook", act, model=WebhookOut)
