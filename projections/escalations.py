"""The `escalations` projection: one row per escalation of a target (open or resolved)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from thidua.projections.batch import BatchContext, Prepared, upsert
from thidua.projections.pipeline import Step

_COLUMNS = (
    ("target_id", "uuid"),
    ("number", "integer"),
    ("campaign_id", "text"),
    ("unit_id", "text"),
    ("state", "text"),
    ("trigger", "text"),
    ("opened_at", "timestamptz"),
    ("resolved_at", "timestamptz"),
    ("reason", "text"),
    ("help_needed", "text"),
    ("directive", "text"),
    ("reminders", "integer"),
    ("last_reminded_at", "timestamptz"),
    ("resolved_by", "text"),
    ("position", "bigint"),
)


class EscalationsProjection:
    name = "escalations"

    async def sync(self, conn: asyncpg.Connection, schema: str, start: int) -> None:
        pass

    def prepare(self, batch: Prepared, steps: list[Step]) -> list[tuple[Any, ...]]:
        rows: dict[tuple[UUID, int], tuple[Any, ...]] = {}
        for step in steps:
            if step.kind != "target":
                continue
            before, after = step.before, step.after
            assert after is not None
            esc = after.escalation
            if esc is None:
                continue
            changed = before is None or before.escalation is not esc
            # the row follows its target to a new unit while the escalation is open
            moved = before is not None and before.unit_id != after.unit_id and str(esc["state"]) == "open"
            if not (changed or moved):
                continue
            # a resolution that reassigns the target stays with the unit that escalated
            unit_id = before.unit_id if before is not None and str(esc["state"]) == "resolved" else after.unit_id
            rows[(step.stored.originator_id, esc["number"])] = (
                step.stored.originator_id, esc["number"], after.campaign_id, unit_id, str(esc["state"]),
                str(esc["trigger"]), esc["opened_at"], esc.get("resolved_at"), esc.get("reason"),
                esc.get("help_needed"), esc.get("directive"), int(esc.get("reminders") or 0),
                esc.get("last_reminded_at"), esc.get("resolved_by"), step.position,
            )
        return list(rows.values())

    async def write(self, ctx: BatchContext, rows: list[tuple[Any, ...]]) -> None:
        await upsert(ctx.conn, ctx.table("escalations"), _COLUMNS, rows, ("target_id", "number"))

    async def flush(self, ctx: BatchContext) -> bool:
        return False
