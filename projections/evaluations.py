"""The `evaluations` projection: each evaluation round as its aggregate stands, and its awards.

A round's row holds `body`, the JSON `GET /v1/evaluations/{eid}` answers (the round's
state, each unit's scores and differences, the items behind them, proposals, awards and
which forms' criteria each unit meets); `awards` has one row per award, so a unit's
awards (and their revocation) show wherever the unit shows. Rows are computed from the
round after the batch's last event of it, so a rebuild writes the same rows.
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
_AWARD_COLUMNS = (
    ("award_id", "text"), ("evaluation_id", "text"), ("campaign_id", "text"), ("kind", "text"), ("unit_id", "text"),
    ("name", "text"), ("form_id", "text"), ("form_name", "text"), ("decision_number", "text"), ("issued_on", "date"),
    ("revoked_reason", "text"), ("revoked_at", "timestamptz"), ("position", "bigint"),
)


def round_body(evaluation: Evaluation) -> dict[str, Any]:
    """The round as the API shows it: its state, plus each unit's items and what the rules say."""
    body = evaluation.to_state()
    met = evaluation.criteria_met()
    for unit in body["units"]:
        unit_id = unit["unit_id"]
        frozen = evaluation.units[unit_id]
        own = evaluation.self_assessments.get(unit_id)
        reviewed = evaluation.reviewed_items(unit_id) or {}
        unit["criteria_met"] = met.get(unit_id, [])
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
    body["clusters"] = [{"cluster_id": c, **leads} for c, leads in sorted(evaluation.clusters.items())]
    body["rules"] = evaluation.rules_list
    return body


class EvaluationsProjection:
    name = "evaluations"
    needs_aggregates = True

    async def sync(self, conn: asyncpg.Connection, schema: str, start: int) -> None:
        pass

    def prepare(self, batch: Prepared, steps: list[Step]) -> tuple[list[Any], list[Any]]:
        last: dict[Any, Step] = {}
        for step in steps:
            if step.kind == "evaluation":
                last[step.stored.originator_id] = step
        rounds, awards = [], []
        for step in last.values():
            e: Evaluation = step.aggregate
            rounds.append((e.evaluation_id, e.campaign_id, e.name, e.stage, e.period_end, dumps(round_body(e)),
                           e.version, e.created_at, step.position))
            decision = e.decision or {}
            for award in e.awards.values():
                revoked = award["revoked"] or {}
                awards.append((award["award_id"], e.evaluation_id, e.campaign_id, award["kind"], award["unit_id"],
                               award.get("name"), award["form_id"], award["form_name"], decision.get("number", ""),
                               date.fromisoformat(decision["issued_on"]), revoked.get("reason"),
                               _instant(revoked.get("at")), step.position))
        return rounds, awards

    async def write(self, ctx: BatchContext, prepared: tuple[list[Any], list[Any]]) -> None:
        rounds, awards = prepared
        await upsert(ctx.conn, ctx.table("evaluations"), _ROUND_COLUMNS, rounds, ("evaluation_id",))
        await upsert(ctx.conn, ctx.table("awards"), _AWARD_COLUMNS, awards, ("award_id",))

    async def flush(self, ctx: BatchContext) -> bool:
        return False


def _instant(value: str | None) -> Any:
    return None if value is None else datetime.fromisoformat(value)
