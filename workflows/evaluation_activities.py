"""The activities of EvaluationWorkflow.

- `create_round` waits for the read models to catch up with everything stored when the
  round was asked for, freezes the units' system scores as of the period's end
  (thidua.projections.evaluation_freeze: the scoreboard's as-of computation) and records the
  round through the one write path. A retry after the save finds the round and answers
  with it (idempotent by the command id).
- `remind`, `close_stage` and `extend` apply one command to the round; their command ids
  come from the workflow (`<workflow id>:close:review`...), so a retried step stores
  nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
from temporalio import activity

from thidua.workflows.lazy_pool import LazyPool
from thidua.dburl import dsn_of_eventsourcing_env
from thidua.domain.application import ThiduaApplication
from thidua.domain.errors import InvalidTransition, NotFound
from thidua.domain.evaluation import Evaluation, evaluation_uuid
from thidua.domain.values import SYSTEM, Actor, Command
from thidua.projections.evaluation_freeze import freeze_round
from thidua.projections.schema import TRACKING_TABLE
from thidua.workflows.activities import _guarded as guarded
from thidua.workflows.commands import as_utc
from thidua.workflows.evaluation_messages import (
    CLOSE_STAGE_ACTIVITY,
    CREATE_ROUND_ACTIVITY,
    EXTEND_ACTIVITY,
    REMIND_ACTIVITY,
    CreateInput,
    ExtendInput,
    RoundState,
    StageInput,
)

# The read models a freeze reads (the clusters, scales and rules; the targets' history).
FREEZE_READS = ("catalog", "targets")
PROJECTION_POLL_SECONDS = 0.2


class EvaluationActivities:
    """Bound to the worker's domain application; reads the read models with asyncpg."""

    def __init__(self, app: ThiduaApplication, dsn: str | None = None) -> None:
        self.app = app
        self.dsn = dsn or dsn_of_eventsourcing_env(app.env)
        self._pools = LazyPool(self.dsn)

    def all(self) -> list[Callable[..., Any]]:
        return [self.create_round, self.remind, self.close_stage, self.extend]

    async def close(self) -> None:
        await self._pools.close()

    def _load(self, evaluation_id: str) -> Evaluation:
        return self.app.load(Evaluation, evaluation_uuid(evaluation_id), f"evaluation {evaluation_id!r}")

    # ------------------------------------------------------------------ creating (freezing)
    @activity.defn(name=CREATE_ROUND_ACTIVITY)
    async def create_round(self, inp: CreateInput) -> RoundState:
        r = inp.round
        existing = await asyncio.to_thread(guarded, lambda: self._existing(r.evaluation_id, r.command_id))
        if existing is not None:
            return existing
        details = activity.info().heartbeat_details
        wait_for = int(details[0]) if details else await asyncio.to_thread(self.app.max_position)
        pool = await self._pools.get()
        while (projected := await _projected_to(pool)) < wait_for:
            activity.heartbeat(wait_for, projected)  # the projector is behind (or down): keep waiting, visibly
            await asyncio.sleep(PROJECTION_POLL_SECONDS)
        frozen = await freeze_round(pool, r.campaign_id, as_utc(r.period_end))
        cmd = Command(r.command_id, Actor.from_dict(r.actor), as_utc(inp.at))

        def create() -> RoundState:
            changed = self.app.change(
                lambda: self._load(r.evaluation_id), lambda e: _same_round(e, r.command_id), r.command_id,
                create=lambda: Evaluation.create(
                    cmd, evaluation_id=r.evaluation_id, campaign_id=r.campaign_id, name=r.name,
                    period_end=as_utc(r.period_end), self_assessment_due=as_utc(r.self_assessment_due),
                    review_due=as_utc(r.review_due), units=frozen.units, clusters=frozen.clusters,
                    rules=frozen.rules, late_submissions=r.late_submissions),
            )
            return _answer(changed.aggregate, changed.position)

        return await asyncio.to_thread(guarded, create)

    def _existing(self, evaluation_id: str, command_id: str) -> RoundState | None:
        try:
            evaluation = self._load(evaluation_id)
        except NotFound:
            return None
        _same_round(evaluation, command_id)
        return _answer(evaluation, self.app.position_of_command(evaluation, command_id))

    # ------------------------------------------------------------------ the timers' steps
    @activity.defn(name=REMIND_ACTIVITY)
    def remind(self, inp: StageInput) -> RoundState:
        cmd = Command(inp.command_id, SYSTEM, as_utc(inp.at))
        return guarded(lambda: self._change(inp.evaluation_id, inp.command_id, lambda e: e.remind(cmd, stage=inp.stage)))

    @activity.defn(name=CLOSE_STAGE_ACTIVITY)
    def close_stage(self, inp: StageInput) -> RoundState:
        cmd = Command(inp.command_id, SYSTEM, as_utc(inp.at))
        return guarded(lambda: self._change(inp.evaluation_id, inp.command_id,
                                            lambda e: e.close_stage(cmd, stage=inp.stage)))

    @activity.defn(name=EXTEND_ACTIVITY)
    def extend(self, inp: ExtendInput) -> RoundState:
        assert inp.at is not None
        cmd = Command(inp.command_id, Actor.from_dict(inp.actor), as_utc(inp.at))
        return guarded(lambda: self._change(
            inp.evaluation_id, inp.command_id,
            lambda e: e.extend(cmd, stage=inp.stage, due=as_utc(inp.due), reason=inp.reason)))

    def _change(self, evaluation_id: str, command_id: str, act: Callable[[Evaluation], bool]) -> RoundState:
        changed = self.app.change(lambda: self._load(evaluation_id), act, command_id)
        return _answer(changed.aggregate, changed.position)


def _same_round(evaluation: Evaluation, command_id: str) -> bool:
    """A round asked for again by the command that created it is answered as it was;
    by another command, refused (ids are unique)."""
    if evaluation.created_by != command_id:
        raise InvalidTransition("create_evaluation", "exists",
                                f"evaluation {evaluation.evaluation_id!r} already exists")
    return False


def _answer(evaluation: Evaluation, position: int) -> RoundState:
    return RoundState(state=evaluation.to_state(), position=position, created_by_command=evaluation.created_by)


async def _projected_to(pool: asyncpg.Pool) -> int:
    """The lowest position of the read models the freeze reads (0 before the projector ran)."""
    present = await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{TRACKING_TABLE}")
    if not present:
        return 0
    rows = await pool.fetch(f"SELECT name, position FROM public.{TRACKING_TABLE} WHERE name = ANY($1)",
                            list(FREEZE_READS))
    found = {r["name"]: int(r["position"]) for r in rows}
    return min(found.get(name, 0) for name in FREEZE_READS)


__all__ = ["EvaluationActivities"]
