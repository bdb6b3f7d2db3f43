"""What many pages read on every view, read once for the concurrent views and never stale.

- `unit_names` and `campaign`: unit names and a campaign's row, kept under the mark of the
  `catalog` projection that writes both (web.queries.catalog_mark). Concurrent page views
  share one mark read that started after they asked (`shared_reads.SharedReads`), so none
  sees older data than a read of its own would have; while the mark stays, what was read
  under it is answered again, and a moved mark drops it all. A page asks for the names of
  the units it shows (any of the store's units, not a first few hundred): those not kept
  yet are read, by id.
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
from collections.abc import Iterable
from typing import Any

from fastapi import Request

from thidua.api import readmodels
from thidua.api.shared_reads import SharedReads
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


class _Catalog:
    """What was read of the catalog's rows under one mark: campaigns' states by id, and
    unit names by id (None: no such unit), `every_unit` once all of them were read."""

    def __init__(self, mark: Any) -> None:
        self.mark = mark
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str | None] = {}
        self.every_unit = False


async def catalog(services: Any) -> _Catalog:
    """The kept reads of the catalog's current mark (a fresh, empty one when it moved).
    Rows read after this call are at least as new as its mark: kept under it, never stale.
    A page that reads both names and a campaign passes one to both (`under=`): one mark
    read per view, which started after the view asked."""
    mark = await _shared(services, "page_catalog_mark", lambda _: web_queries.catalog_mark(services.pool)).get("")
    kept = services.extras.get("page_catalog")
    if kept is None or mark is None or kept.mark != mark:
        kept = _Catalog(mark)
        if mark is not None:  # no mark (no read models yet): nothing is kept
            services.extras["page_catalog"] = kept
    return kept


async def unit_names(services: Any, ids: Iterable[str] | None, *, under: _Catalog | None = None) -> dict[str, str]:
    """Unit id -> name of the units `ids` that are registered (every unit when None)."""
    kept = under if under is not None else await catalog(services)
    if ids is None:
        if not kept.every_unit:
            kept.names.update(await readmodels.queries().unit_names(services.pool))
            kept.every_unit = True
        return {u: name for u, name in kept.names.items() if name is not None}
    wanted = set(ids)
    missing = wanted.difference(kept.names) if not kept.every_unit else ()
    if missing:
        found = await readmodels.queries().unit_names(services.pool, missing)
        kept.names.update({u: found.get(u) for u in missing})
    names = kept.names
    return {u: names[u] for u in wanted if names.get(u) is not None}


async def campaign(services: Any, campaign_id: str, *, under: _Catalog | None = None) -> dict[str, Any] | None:
    """A campaign's read-model row (None when unknown or not projected yet)."""
    kept = under if under is not None else await catalog(services)
    state = kept.campaigns.get(campaign_id)
    if state is None:
        state = await readmodels.queries().get_campaign(services.pool, campaign_id)
        if state is not None:
            kept.campaigns[campaign_id] = state
    return state


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
