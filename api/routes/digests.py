"""What the secretariat reads of the notifications beyond its inbox: the daily digest a
`digest.daily` notification links to (`GET /v1/campaigns/{cid}/digests/{day}`, read from the
Digest aggregate), and the notifications given up (`GET /v1/notifications/failed`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from thidua.api import readmodels
from thidua.api.deps import Secretariat, ServicesDep, wait_for_projections
from thidua.api.notification_models import DigestOut, FailedNotificationPage, FailedQuery
from thidua.api.problems import Problem, problem_responses
from thidua.domain.digest import Digest, digest_uuid
from thidua.domain.errors import NotFound

router = APIRouter(tags=["notifications"])


@router.get("/v1/campaigns/{cid}/digests/{day}", response_model=DigestOut,
            summary="The daily digest of a campaign: overdue and stale targets per unit",
            responses=problem_responses(401, 403, 404, 422))
async def get_daily_digest(cid: Annotated[str, Path(min_length=1, max_length=100, description="Campaign id")],
                           day: Annotated[date, Path(description="The local day, yyyy-mm-dd")],
                           user: Secretariat, services: ServicesDep) -> Any:
    app = services.domain_app
    try:
        digest = await services.in_thread(lambda: app.load(Digest, digest_uuid(cid, day.isoformat()), "digest"))
    except NotFound:
        raise Problem(404, f"no digest of campaign {cid!r} for {day.isoformat()}") from None
    return {"campaign_id": digest.campaign_id, "day": digest.day, "as_of": digest.as_of, "units": digest.units}


@router.get("/v1/notifications/failed", response_model=FailedNotificationPage,
            summary="E-mails and webhooks given up after a day of retries (or refused), newest first",
            responses=problem_responses(401, 403, 422, 503))
async def list_failed_notifications(user: Secretariat, services: ServicesDep,
                                    q: Annotated[FailedQuery, Query()]) -> Any:
    from thidua.projections import inbox  # the read side, loaded at the first read (as thidua.api.readmodels does)

    await wait_for_projections(services, q.min_position)
    return await readmodels.paged("failed", q.cursor, lambda after: inbox.list_failed(
        services.pool, campaign_id=q.campaign_id, limit=q.limit, after=after))
