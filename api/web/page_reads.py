"""What many pages read on every view, read once for the concurrent views and never stale.

- `unit_names` and `campaign`: the read models' units and a campaign's row, through
  `scoreboards.SharedReads`: concurrent page views share one read that started after they
  asked (so none sees older data than a read of its own would have), instead of each
  reading and decoding every unit.
- `timeline`: a target's rendered timeline, kept per (target, version, language, time
  zone). Its history comes from the audit read model, which may trail the target's row:
  a timeline is kept only once it includes the event of the row's version, so what is
  kept is what a fresh read would show.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from fastapi import Request
from markupsafe import Markup

from thidua.api import readmodels
from thidua.api.scoreboards import SharedReads
from thidua.api.web.render import fragment, language

TIMELINES = 512  # rendered timelines kept per app (a few KB each)
HISTORY_LIMIT = 500  # entries a target's page shows


def _shared(services: Any, name: str, read: Any) -> SharedReads:
    shared = services.extras.get(name)
    if shared is None:
        shared = services.extras[name] = SharedReads(read)
    return shared


async def unit_names(services: Any) -> dict[str, str]:
    """Unit id -> name, for every registered unit."""
    async def read(_: str) -> dict[str, str]:
        return await readmodels.queries().unit_names(services.pool, 500)

    return await _shared(services, "page_unit_names", read).get("units")


async def campaign(services: Any, campaign_id: str) -> dict[str, Any] | None:
    """A campaign's read-model row (None when unknown or not projected yet)."""
    async def read(cid: str) -> dict[str, Any] | None:
        return await readmodels.queries().get_campaign(services.pool, cid)

    return await _shared(services, "page_campaigns", read).get(campaign_id)


async def timeline(request: Request, services: Any, target: dict[str, Any], tz: str | None) -> Markup:
    """The target's timeline (who did what and why), rendered."""
    key = (target["id"], target.get("version"), language(request), tz)
    cache: OrderedDict[Any, Markup] = services.extras.setdefault("page_timelines", OrderedDict())
    found = cache.get(key)
    if found is not None:
        cache.move_to_end(key)
        return found
    history = (await readmodels.queries().target_history(services.pool, target["id"], HISTORY_LIMIT, None))["items"]
    html = fragment(request, "timeline.html", {"history": history, "tz": tz})
    if any(e["aggregate_version"] == target.get("version") for e in history):
        cache[key] = html
        while len(cache) > TIMELINES:
            cache.popitem(last=False)
    return html
