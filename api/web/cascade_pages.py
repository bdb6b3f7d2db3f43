"""The pages of decisions and the cascade: a campaign's decisions, a decision's tree
(its targets, each with its rollup bar and its children) and the campaign's own
("city") targets. They read what the JSON routes read (thidua.api.routes.cascade:
the Campaign aggregate's registry, thidua.projections.tree_queries) and show each
target as thidua.domain.permissions lets the reader see it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from thidua.api import readmodels
from thidua.api.deps import get_services, wait_for_projections
from thidua.api.routes.cascade import decision_entry, seen_by
from thidua.api.web import page_reads
from thidua.api.web.collation import vi_sorted
from thidua.api.web.render import PageRefused, person, render
from thidua.domain.errors import NotFound
from thidua.projections import tree_queries

router = APIRouter(include_in_schema=False)

ROLLUP_CLASSES = ("completed_on_time", "completed_late", "in_progress_within_deadline", "overdue", "cancelled")


def rollup_bars(rollup: dict[str, Any] | None) -> list[tuple[str, int, float, float]]:
    """(class, count, x, width) in percent of the bar, for each report class of the children."""
    if not rollup:
        return []
    total = sum(int(rollup.get(c, 0)) for c in ROLLUP_CLASSES) or 1
    x, out = 0.0, []
    for c in ROLLUP_CLASSES:
        n = int(rollup.get(c, 0))
        out.append((c, n, x, 100.0 * n / total))
        x += 100.0 * n / total
    return out


async def _campaign(request: Request, cid: str) -> tuple[Any, dict[str, Any]]:
    """The Campaign aggregate (its registry) and its read-model row (the pages' header),
    after the read models reached `?min_position=` when one is given."""
    services = get_services(request)
    min_position = request.query_params.get("min_position", "")
    if min_position.isdigit():
        await wait_for_projections(services, int(min_position))
    try:
        aggregate = await services.in_thread(services.domain_app.get_campaign, cid)
    except NotFound:
        raise PageRefused(404, "not_found") from None
    return aggregate, await readmodels.queries().get_campaign(services.pool, cid) or {"id": cid, "name": cid}


async def _names(request: Request, targets: list[dict[str, Any]]) -> dict[str, str]:
    """The names of the targets' units and of their children's."""
    ids = {t["unit_id"] for t in targets} | {c["unit_id"] for t in targets for c in t.get("children") or ()}
    return await page_reads.unit_names(get_services(request), ids)


@router.get("/campaigns/{cid}/decisions")
async def decisions_page(request: Request, cid: str) -> Response:
    found = await person(request)
    aggregate, campaign = await _campaign(request, cid)
    decisions = sorted(aggregate.decisions.values(), key=lambda d: (d.issued_on, d.number))
    entries = [decision_entry(d) for d in decisions]
    children: dict[str | None, list[dict[str, Any]]] = {}
    for e in entries:  # a decision under the one it makes concrete (when that one is registered)
        parent = e["parent_number"] if e["parent_number"] in aggregate.decisions else None
        children.setdefault(parent, []).append(e)
    return render(request, "decisions.html", {"campaign": campaign, "cid": cid, "children": children,
                                              "tz": campaign.get("timezone")}, found=found)


@router.get("/campaigns/{cid}/decisions/{number:path}")
async def decision_tree_page(request: Request, cid: str, number: str) -> Response:
    found = await person(request)
    who = found[0]
    aggregate, campaign = await _campaign(request, cid)
    decision = aggregate.decisions.get(number)
    if decision is None:
        raise PageRefused(404, "not_found")
    tree = [seen_by(who, aggregate, t) for t in await tree_queries.decision_tree(get_services(request).pool, cid, number)]
    return render(request, "decision_tree.html", {
        "campaign": campaign, "cid": cid, "decision": decision_entry(decision),
        "targets": tree, "names": await _names(request, tree),
        "bars": rollup_bars, "tz": campaign.get("timezone")}, found=found)


@router.get("/campaigns/{cid}/city-targets")
async def city_targets_page(request: Request, cid: str) -> Response:
    found = await person(request)
    who = found[0]
    aggregate, campaign = await _campaign(request, cid)
    items = await tree_queries.parents(get_services(request).pool, cid)
    items = vi_sorted([seen_by(who, aggregate, t) for t in items], key=lambda t: t["title"])
    names = await _names(request, items)
    return render(request, "city_targets.html", {
        "campaign": campaign, "cid": cid, "items": items, "names": names, "bars": rollup_bars,
        "tz": campaign.get("timezone")}, found=found)


READ_IT = object()  # tree_context's rollup when the caller has not read it


async def tree_context(pool: Any, target: dict[str, Any], rollup: Any = READ_IT) -> dict[str, Any]:
    """What the target page shows of the tree: its parent, its rollup (read here unless
    given, as read with the row) and its children (the titles and states every signed-in
    reader may see in the target lists)."""
    parent = None
    if target.get("parent_id"):
        parent = await readmodels.queries().get_target(pool, target["parent_id"])
    if rollup is READ_IT:
        rollup = await tree_queries.rollup(pool, target["id"])
    children = (await tree_queries.children(pool, target["id"], 500, None))["items"] if rollup else []
    return {"parent": parent, "rollup": rollup, "children": children}
