"""The notification pages (DESIGN.md "Notifications", "The web interface"): a person's inbox
(mark read; the unread count is in every page's header, thidua.api.web.render), their
preferences (kinds x channels, the e-mail address), and for the secretariat the webhooks
(register with the secret shown once, list, each one's delivery log, disable), the
notifications given up and the daily digests.

Each reads what its JSON route reads (thidua.projections.inbox, the Digest aggregate) and writes
through the same functions (thidua.api.routes.notifications, thidua.api.routes.webhooks).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from thidua.api import readmodels
from thidua.api.cursors import decode_cursor, encode_cursor
from thidua.api.deps import get_services, wait_for_projections
from thidua.api.notification_models import PreferencesIn, WebhookCreate, WebhookDisable
from thidua.api.problems import Problem
from thidua.api.routes.notifications import my_preferences, set_preferences
from thidua.api.routes.webhooks import check_webhook, disable_webhook_now, register_webhook
from thidua.api.web import page_reads
from thidua.api.web.render import PageRefused, check_csrf, person, redirect, render
from thidua.domain.digest import Digest, digest_uuid
from thidua.domain.errors import DomainError, NotFound
from thidua.domain.notifications import KINDS
from thidua.domain.permissions import may
from thidua.projections import inbox as outbox_reads

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
CHANNELS = ("inbox", "email")  # what a person chooses per kind (webhooks are the secretariat's)


def _command_id() -> str:
    return "web-" + str(uuid.uuid4())


async def _form(request: Request, found: tuple[Any, Any]) -> dict[str, Any]:
    form = await request.form()
    check_csrf(request, form, found[1])
    return {"form": form, "values": {k: str(v) for k, v in form.items() if isinstance(v, str)}}


async def _zones(services: Any) -> dict[str, str]:
    page = await readmodels.queries().list_campaigns(services.pool, 100, None)
    return {c["id"]: c.get("timezone") or "Asia/Ho_Chi_Minh" for c in page["items"]}


def page_link(item: dict[str, Any]) -> str:
    """Where a notification leads in the pages (its `link` is the JSON API's)."""
    if item.get("target_id"):
        return f"/targets/{item['target_id']}"
    link = str(item.get("link") or "")
    return link.removeprefix("/v1") if link.startswith("/v1/campaigns/") else "/inbox"


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        errors.setdefault(loc[0] if loc else "form", error["msg"])
    return errors


def _problem_errors(exc: Problem, default: str) -> dict[str, str]:
    errors = {}
    for e in exc.extra.get("errors") or []:
        errors[str(e.get("field", default)).removeprefix("body.")] = str(e.get("message"))
    return errors or {default: exc.detail or exc.title}


async def _caught_up(request: Request, services: Any) -> None:
    """After a change, the page it redirects to reads its own write (`?min_position=`)."""
    try:
        position = int(request.query_params.get("min_position") or 0)
    except ValueError:
        position = 0
    await wait_for_projections(services, position or None)


# ------------------------------------------------------------------ inbox
@router.get("/inbox")
async def inbox_page(request: Request) -> Response:
    found = await person(request)
    services = get_services(request)
    unread_only = request.query_params.get("unread") == "1"
    try:
        after = decode_cursor("inbox", request.query_params.get("cursor"))
        result = await outbox_reads.list_inbox(services.pool, found[0].id, unread=unread_only, limit=PAGE_SIZE,
                                               after=after)
    except (Problem, ValueError):
        raise PageRefused(422, "the cursor is not one this list handed out") from None
    zones = await _zones(services)
    items = [{**i, "page_link": page_link(i), "tz": zones.get(i["campaign_id"])} for i in result["items"]]
    return render(request, "inbox.html", {
        "items": items, "unread_only": unread_only, "unread_total": result["unread"],
        "next_cursor": encode_cursor("inbox", result["next"]), "notice": request.query_params.get("notice")},
        found=found)


@router.post("/inbox/{nid}/read")
async def inbox_read_page(request: Request, nid: str) -> Response:
    found = await person(request)
    posted = await _form(request, found)
    try:
        marked = await outbox_reads.mark_read(get_services(request).pool, found[0].id, UUID(nid),
                                              datetime.now(timezone.utc))
    except ValueError:
        marked = None
    if marked is None:
        raise PageRefused(404, "not_found")
    back = "/inbox?unread=1" if posted["values"].get("unread") == "1" else "/inbox"
    return redirect(back)


# ------------------------------------------------------------------ preferences
async def _preferences_view(request: Request, found: Any, *, values: dict[str, Any] | None = None,
                            errors: dict[str, str] | None = None, notice: str | None = None,
                            status: int = 200) -> Response:
    services = get_services(request)
    current = await my_preferences(services, found[0].id)
    if values is None:
        values = {"email": current["email"] or "", "email_kinds": list(current["email_kinds"])}
    return render(request, "preferences.html", {
        "kinds": KINDS, "channels": CHANNELS, "values": values, "errors": errors or {}, "notice": notice},
        found=found, status=status)


@router.api_route("/preferences", methods=["GET", "POST"])
async def preferences_page(request: Request) -> Response:
    found = await person(request)
    if request.method != "POST":
        return await _preferences_view(request, found, notice=request.query_params.get("notice"))
    posted = await _form(request, found)
    email = posted["values"].get("email", "").strip()
    kinds = [k for k in posted["form"].getlist("email_kinds") if isinstance(k, str)]
    values = {"email": email, "email_kinds": kinds}
    try:
        body = PreferencesIn.model_validate({"email": email or None, "email_kinds": kinds})
        await set_preferences(get_services(request), found[0].actor, _command_id(), body.email,
                              list(body.email_kinds))
    except ValidationError as exc:
        errors = {("email_kinds" if k == "email_kinds" else "email"): m for k, m in _field_errors(exc).items()}
        return await _preferences_view(request, found, values=values, errors=errors, status=422)
    except DomainError as exc:
        field = getattr(exc, "field", None) or "email"
        return await _preferences_view(request, found, values=values, errors={field: exc.message}, status=422)
    return redirect("/preferences?notice=saved")


# ------------------------------------------------------------------ the secretariat's
async def _secretariat(request: Request) -> Any:
    found = await person(request)
    if not may(found[0].actor, "manage_notifications"):
        raise PageRefused(403, "forbidden")
    return found


async def _webhooks_view(request: Request, found: Any, *, created: dict[str, Any] | None = None,
                         values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                         notice: str | None = None, status: int = 200) -> Response:
    services = get_services(request)
    await wait_for_projections(services, created["position"] if created else None)
    hooks = await outbox_reads.list_webhooks(services.pool)
    campaigns = sorted(await _zones(services))
    return render(request, "webhooks.html", {
        "hooks": hooks, "campaigns": campaigns, "kinds": KINDS, "created": created,
        "values": values or {"events": []}, "errors": errors or {}, "notice": notice}, found=found, status=status)


@router.api_route("/webhooks", methods=["GET", "POST"])
async def webhooks_page(request: Request) -> Response:
    found = await _secretariat(request)
    if request.method != "POST":
        return await _webhooks_view(request, found, notice=request.query_params.get("notice"))
    posted = await _form(request, found)
    services = get_services(request)
    values = {"url": posted["values"].get("url", "").strip(),
              "campaign_id": posted["values"].get("campaign_id", "").strip(),
              "events": [k for k in posted["form"].getlist("events") if isinstance(k, str)]}
    try:
        body = WebhookCreate.model_validate({"url": values["url"], "campaign_id": values["campaign_id"] or None,
                                             "events": values["events"]})
        await check_webhook(services, body)
        created = await register_webhook(services, found[0].actor, _command_id(), body)
    except ValidationError as exc:
        return await _webhooks_view(request, found, values=values, errors=_field_errors(exc), status=422)
    except Problem as exc:
        return await _webhooks_view(request, found, values=values, errors=_problem_errors(exc, "url"), status=422)
    except DomainError as exc:
        return await _webhooks_view(request, found, values=values,
                                    errors={getattr(exc, "field", None) or "url": exc.message}, status=422)
    # the only time the secret is shown: this answer (never a redirect that could be replayed)
    return await _webhooks_view(request, found, created=created)


@router.get("/webhooks/{wid}")
async def webhook_page(request: Request, wid: str) -> Response:
    found = await _secretariat(request)
    return await _webhook_view(request, found, wid)


async def _webhook_view(request: Request, found: Any, wid: str, *, values: dict[str, Any] | None = None,
                        errors: dict[str, str] | None = None, status: int = 200) -> Response:
    services = get_services(request)
    await _caught_up(request, services)
    hook = next((h for h in await outbox_reads.list_webhooks(services.pool) if h["id"] == wid), None)
    if hook is None:
        raise PageRefused(404, "not_found")
    try:
        after = decode_cursor("deliveries", request.query_params.get("cursor"))
        log = await outbox_reads.list_deliveries(services.pool, wid, limit=PAGE_SIZE, after=after)
    except (Problem, ValueError):
        raise PageRefused(422, "the cursor is not one this list handed out") from None
    zones = await _zones(services)
    return render(request, "webhook.html", {
        "hook": hook, "log": log["items"], "next_cursor": encode_cursor("deliveries", log["next"]),
        "tz": zones.get(hook["campaign_id"] or ""), "values": values or {}, "errors": errors or {},
        "notice": request.query_params.get("notice")}, found=found, status=status)


@router.post("/webhooks/{wid}/disable")
async def webhook_disable_page(request: Request, wid: str) -> Response:
    found = await _secretariat(request)
    posted = await _form(request, found)
    reason = posted["values"].get("reason", "").strip()
    try:
        body = WebhookDisable.model_validate({"reason": reason})
        done = await disable_webhook_now(get_services(request), found[0].actor, _command_id(), wid, body.reason)
    except ValidationError as exc:
        return await _webhook_view(request, found, wid, values={"reason": reason},
                                   errors={"reason": next(iter(_field_errors(exc).values()))}, status=422)
    except NotFound:
        raise PageRefused(404, "not_found") from None
    except DomainError as exc:
        return await _webhook_view(request, found, wid, values={"reason": reason},
                                   errors={"reason": exc.message}, status=409 if exc.kind == "invalid_transition"
                                   else 422)
    return redirect(f"/webhooks/{wid}?notice=disabled&min_position={done['position']}")


@router.get("/notifications/failed")
async def failed_page(request: Request) -> Response:
    found = await _secretariat(request)
    services = get_services(request)
    try:
        after = decode_cursor("failed", request.query_params.get("cursor"))
        result = await outbox_reads.list_failed(services.pool, campaign_id=None, limit=PAGE_SIZE, after=after)
    except (Problem, ValueError):
        raise PageRefused(422, "the cursor is not one this list handed out") from None
    zones = await _zones(services)
    items = [{**i, "page_link": page_link(i), "tz": zones.get(i["campaign_id"])} for i in result["items"]]
    return render(request, "failed.html", {"items": items, "next_cursor": encode_cursor("failed", result["next"])},
                  found=found)


@router.get("/campaigns/{cid}/digests/{day}")
async def digest_page(request: Request, cid: str, day: str) -> Response:
    found = await _secretariat(request)
    services = get_services(request)
    try:
        the_day = date.fromisoformat(day)
        digest = await services.in_thread(lambda: services.domain_app.load(
            Digest, digest_uuid(cid, the_day.isoformat()), "digest"))
    except (ValueError, NotFound):
        raise PageRefused(404, "not_found") from None
    names = await page_reads.unit_names(services, None)
    return render(request, "digest.html", {"digest": digest, "day": the_day, "names": names, "cid": cid},
                  found=found)
