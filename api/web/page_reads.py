"""What many pages read on every view, read once for the concurrent views and never stale.

- `unit_names` and `campaign`: the read models' units and a campaign's row, through
  `scoreboards.SharedReads`: concurrent page views share one read that started after they
  asked (so none sees older data than a read of its own would have), instead of each
  reading and decoding every unit. A read decodes the names or the campaign's state only
  when its rows moved since the last (the row's position, the units' count and highest
  position); otherwise it answers what it decoded then.
- `paper_lists`: a target's comments and evidence files (events of the target, so they
  change with its version), kept per (target, version) once the audit trail they are read
  from holds the event of the row's version.
- `timeline`: a target's rendered timeline, kept per (target, version, language, time
  zone). Its history comes from the audit read model, which may trail the target's row:
  a timeline is kept (as UTF-8) only once it includes the event of the row's version, so what is
  kept is what a fresh read would show.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from fastapi import Request

from thidua.api import readmodels
from thidua.api.scoreboards import SharedReads
from thidua.api.web import queries as web_queries
from thidua.api.web.render import fragment, language
from thidua.projections import paper

PAPERS = 512  # targets' comment and evidence lists kept per app
TIMELINES = 512  # rendered timelines kept per app (a few KB each)
HISTORY_LIMIT = 500  # entries a target's page shows


def _shared(services: Any, name: str, read: Any) -> SharedReads:
    shared = services.extras.get(name)
    if shared is None:
        shared = services.extras[name] = SharedReads(read)
    return shared


async def unit_names(services: Any) -> dict[str, str]:
    """Unit id -> name, for every registered unit. Each read asks only for the units'
    mark (web.queries.units_mark) and reads and decodes the names again when it moved."""
    async def read(_: str) -> dict[str, str]:
        mark = await web_queries.units_mark(services.pool)
        kept = services.extras.get("page_unit_names_kept")
        if kept is not None and kept[0] == mark:
            return kept[1]
        names = await readmodels.queries().unit_names(services.pool, 500)
        # Names read after the mark are at least as new as it: kept under it, never stale.
        services.extras["page_unit_names_kept"] = (mark, names)
        return names

    return await _shared(services, "page_unit_names", read).get("units")


async def campaign(services: Any, campaign_id: str) -> dict[str, Any] | None:
    """A campaign's read-model row (None when unknown or not projected yet)."""
    kept: dict[str, tuple[int, dict[str, Any]]] = services.extras.setdefault("page_campaigns_kept", {})

    async def read(cid: str) -> dict[str, Any] | None:
        known = kept.get(cid)
        found = await web_queries.campaign_if_moved(services.pool, cid, None if known is None else known[0])
        if found is None:
            kept.pop(cid, None)
            return None
        position, state = found
        if state is None and known is not None:
            return known[1]  # the row has not moved: the state decoded before
        kept[cid] = (position, state)
        return state

    return await _shared(services, "page_campaigns", read).get(campaign_id)


async def timeline(request: Request, services: Any, target: dict[str, Any], tz: str | None) -> bytes:
    """The target's timeline (who did what and why), rendered and encoded in UTF-8 (for
    render's `encoded`: put into the page's bytes, not escaped, joined and encoded per view)."""
    key = (target["id"], target.get("version"), language(request), tz)
    cache = _kept(services, "page_timelines")
    found = _get(cache, key)
    if found is not None:
        return found
    history = (await readmodels.queries().target_history(services.pool, target["id"], HISTORY_LIMIT, None))["items"]
    html = fragment(request, "timeline.html", {"history": history, "tz": tz}).encode()
    if any(e["aggregate_version"] == target.get("version") for e in history):
        _put(cache, key, html, TIMELINES)
    return html


async def paper_lists(services: Any, target_id: str, version: int | None, limit: int) -> tuple[list, list]:
    """(comments, evidence) of a target, the first `limit` of each (projections.paper)."""
    key = (target_id, version, limit)
    cache = _kept(services, "page_papers")
    found = _get(cache, key)
    if found is not None:
        return found
    # Asked before the lists: when the trail holds the row's version then, the lists read
    # after hold at least everything up to it, which is what a fresh read would show.
    complete = version is not None and await web_queries.trail_has(services.pool, target_id, version)
    comments, evidence = (page["items"] for page in await paper.target_paper(services.pool, target_id, limit))
    lists = (comments, evidence)
    if complete:
        _put(cache, key, lists, PAPERS)
    return lists


# A per-app cache of what a page keeps per version, least recently used dropped first.
def _kept(services: Any, name: str) -> OrderedDict[Any, Any]:
    return services.extras.setdefault(name, OrderedDict())


def _get(cache: OrderedDict[Any, Any], key: Any) -> Any:
    found = cache.get(key)
    if found is not None:
        cache.move_to_end(key)
    return found


def _put(cache: OrderedDict[Any, Any], key: Any, value: Any, bound: int) -> None:
    cache[key] = value
    while len(cache) > bound:
        cache.popitem(last=False)
