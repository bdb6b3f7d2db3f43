"""The `evaluations` projection: each evaluation round, one row per unit of it, and its awards.

`evaluations.body` is the round without its units (state, due times, extensions,
proposals, decision, awards, clusters, the frozen rules); `evaluation_units.body` is one
unit's scores, their differences and the items behind them, rewritten only when an event
concerns that unit (its self-assessment, its review; every unit at the round's creation,
and again as the TargetsFrozen events that follow bring its targets),
so a round of thousands of units costs a batch what its events touch. `awards` has one
row per award, so a unit's awards (and their revocation) show wherever the unit shows.
Rows are computed from the round after the batch's events, so a rebuild writes the same rows.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from thidua.domain.evaluation import Evaluation
from thidua.projections.batch import BatchContext, Prepared, upsert
from thidua.projections.codec import dumps
from thidua.projections.pipeline import Step

_ROUND_COLUMNS = (
    ("evaluation_id", "text"), ("campaign_id", "text"), ("name", "text"), ("state", "text"),
    ("period_end", "timestamptz"), ("body", "jsonb"), ("version", "integer"), ("created_at", "timestamptz"),
    ("position", "bigint"),
)
_UNIT_COLUMNS = (
    ("evaluation_id", "text"), ("unit_id", "text"), ("cluster_id", "text"), ("body", "jsonb"), ("position", "bigint"),
)
_AWARD_COLUMNS = (
    ("award_id", "text"), ("evaluation_id", "text"), ("campaign_id", "text"), ("kind", "text"), ("unit_id", "text"),
    ("name", "text"), ("form_id", "text"), ("form_name", "text"), ("decision_number", "text"), ("issued_on", "date"),
    ("revoked_reason", "text"), ("revoked_at", "timestamptz"), ("position", "bigint"),
)
# The events that change one unit's row (`unit_id` names it); `Created` writes them all.
_UNIT_EVENTS = ("SelfAssessed", "Reviewed")


def round_body(evaluation: Evaluation) -> dict[str, Any]:
    """The round as the API shows it, without its units."""
    body = evaluation.header_state()
    body["clusters"] = [{"cluster_id": c, **leads} for c, leads in sorted(evaluation.clusters.items())]
    body["rules"] = evaluation.rules_list
    return body


def unit_body(evaluation: Evaluation, unit_id: str) -> dict[str, Any]:
    """One unit of the round: its scores and differences, and each target's item."""
    unit = evaluation.unit_state(unit_id)
    frozen = evaluation.units[unit_id]
    own = evaluation.self_assessments.get(unit_id)
    reviewed = evaluation.reviewed_items(unit_id) or {}
    unit["completion_rate"] = float(frozen.get("completion_rate", 0))
    unit["summary"] = None if own is None else own["summary"]
    unit["initiatives"] = [] if own is None else own["initiatives"]
    unit["items"] = [
        {"target_id": t, "points": float(p), "system_score": float(frozen["target_scores"].get(t, 0)),
         "self_score": None if own is None or t not in own["items"] else float(own["items"][t]["score"]),
         "note": None if own is None or t not in own["items"] else own["items"][t]["note"],
         "reviewed_score": float(reviewed[t]["score"]) if t in reviewed else None,
         "reason": reviewed[t]["reason"] if t in reviewed else None}
        for t, p in sorted(frozen["target_points"].items())
    ]
    return unit


class EvaluationsProjection:
    name = "evaluations"
    needs_aggregates = True

    async def sync(self, conn: asyncpg.Connection, schema: str, start: int) -> None:
        pass

    def prepare(self, batch: Prepared, steps: list[Step]) -> tuple[list[Any], list[Any], list[Any]]:
        last: dict[Any, Step] = {}
        touched: dict[Any, dict[str, int]] = {}  # round -> unit id -> position of its last event
        for step in steps:
            if step.kind != "evaluation":
                continue
            oid = step.stored.originator_id
            last[oid] = step
            units = touched.setdefault(oid, {})
            if step.event_type == "Created":
                units.update(dict.fromkeys(step.aggregate.units, step.position))
            elif step.event_type == "TargetsFrozen":
                units.update(dict.fromkeys((group["unit_id"] for group in step.event.groups), step.position))
            elif step.event_type in _UNIT_EVENTS:
                units[step.event.unit_id] = step.position
        rounds, unit_rows, awards = [], [], []
        for oid, step in last.items():
            e: Evaluation = step.aggregate
            rounds.append((e.evaluation_id, e.campaign_id, e.name, e.stage, e.period_end, dumps(round_body(e)),
                           e.version, e.created_at, step.position))
            for unit_id, position in touched[oid].items():
                unit_rows.append((e.evaluation_id, unit_id, e.units[unit_id]["cluster_id"],
                                  dumps(unit_body(e, unit_id)), position))
            decision = e.decision or {}
            for award in e.awards.values():
                revoked = award["revoked"] or {}
                awards.append((award["award_id"], e.evaluation_id, e.campaign_id, award["kind"], award["unit_id"],
                               award.get("name"), award["form_id"], award["form_name"], decision.get("number", ""),
                               date.fromisoformat(decision["issued_on"]), revoked.get("reason"),
                               _instant(revoked.get("at")), step.position))
        return rounds, unit_rows, awards

    async def write(self, ctx: BatchContext, prepared: tuple[list[Any], list[Any], list[Any]]) -> None:
        rounds, unit_rows, awards = prepared
        await upsert(ctx.conn, ctx.table("evaluations"), _ROUND_COLUMNS, rounds, ("evaluation_id",))
        await upsert(ctx.conn, ctx.table("evaluation_units"), _UNIT_COLUMNS, unit_rows, ("evaluation_id", "unit_id"))
        await upsert(ctx.conn, ctx.table("awards"), _AWARD_COLUMNS, awards, ("award_id",))

    async def flush(self, ctx: BatchContext) -> bool:
        return False


def _instant(value: str | None) -> Any:
    return None if value is None else datetime.fromisoformat(value)
