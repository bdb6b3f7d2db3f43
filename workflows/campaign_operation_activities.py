"""The activities of CampaignOperationWorkflow.

- `change_campaign` records the campaign command through the one write path
  (`ThiduaApplication.change`): a retry with the same command id stores nothing and
  answers with the event stored the first time.
- `count_targets` waits for the `targets` read model to reach a position, then counts.
- `reach_targets` takes one page of target ids from the read model and reaches each
  target's workflow through the `TargetGateway` (finish, refresh, start), heartbeating
  the last id reached so a retry on another worker goes on from there.

Reaching is idempotent: finishing a finished workflow, refreshing one twice or starting
one that runs changes nothing, so a page retried after a crash does no harm.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import activity

from thidua.domain.application import ThiduaApplication
from thidua.domain.campaign import Campaign
from thidua.domain.values import Actor, Command, Policy, ScoringScale
from thidua.workflows.activities import _guarded as guarded
from thidua.workflows.campaign_operation_messages import (
    CHANGE_CAMPAIGN_ACTIVITY,
    CLOSE,
    COUNT_TARGETS_ACTIVITY,
    POLICY,
    REACH_TARGETS_ACTIVITY,
    REOPEN,
    SCORING,
    CampaignChanged,
    ChangeInput,
    Counted,
    CountInput,
    Reached,
    ReachInput,
)
from thidua.workflows.campaign_operation_targets import count_campaign_targets, page_of_campaign_targets, targets_projected_to
from thidua.workflows.client import TargetGateway
from thidua.workflows.commands import as_utc

log = logging.getLogger("thidua.workflows")

# Workflows reached at once within a page, and between two heartbeats.
REACH_CONCURRENCY = 32
# A heartbeat at least this often while workflows are being reached (the workflow's
# heartbeat timeout is a few times longer).
HEARTBEAT_EVERY_SECONDS = 2.0
# How often waiting for the read model looks again (and heartbeats).
PROJECTION_POLL_SECONDS = 0.2


class CampaignOperationActivities:
    """Bound to the worker's domain application and to a gateway on the targets' queue."""

    def __init__(self, app: ThiduaApplication, gateway: TargetGateway) -> None:
        self.app = app
        self.gateway = gateway

    def all(self) -> list[Callable[..., Any]]:
        return [self.change_campaign, self.count_targets, self.reach_targets]

    # ------------------------------------------------------------------ the campaign
    @activity.defn(name=CHANGE_CAMPAIGN_ACTIVITY)
    def change_campaign(self, inp: ChangeInput) -> CampaignChanged:
        return guarded(lambda: self._change(inp))

    def _change(self, inp: ChangeInput) -> CampaignChanged:
        op = inp.operation
        cmd = Command(op.command_id, Actor.from_dict(op.actor), as_utc(inp.at))
        act = _campaign_command(op.kind, op.args, cmd)
        changed = self.app.change(lambda: self.app.get_campaign(op.campaign_id), act, op.command_id)
        return CampaignChanged(campaign=changed.aggregate.to_state(), position=changed.position)

    # ------------------------------------------------------------------ the targets
    @activity.defn(name=COUNT_TARGETS_ACTIVITY)
    def count_targets(self, inp: CountInput) -> Counted:
        return guarded(lambda: self._count(inp))

    def _count(self, inp: CountInput) -> Counted:
        wait_for = self.app.max_position() if inp.wait_for is None else inp.wait_for
        while (projected := targets_projected_to(self.app)) < wait_for:
            activity.heartbeat(projected)  # the projector is behind (or down): keep waiting, visibly
            time.sleep(PROJECTION_POLL_SECONDS)
        return Counted(total=count_campaign_targets(self.app, inp.campaign_id, inp.after_position),
                       projected_to=projected)

    @activity.defn(name=REACH_TARGETS_ACTIVITY)
    async def reach_targets(self, inp: ReachInput) -> Reached:
        after_id, reached, errors = inp.after_id, 0, []
        details = activity.info().heartbeat_details
        if details:  # a retry: go on after the last target the previous attempt reached
            after_id = None if details[0] is None else str(details[0])
            reached, errors = int(details[1]), list(details[2])
        ids = await asyncio.to_thread(page_of_campaign_targets, self.app, inp.campaign_id, after_id,
                                      inp.after_position, inp.limit - reached)
        for start in range(0, len(ids), REACH_CONCURRENCY):
            chunk = ids[start:start + REACH_CONCURRENCY]
            reaching = asyncio.ensure_future(self._reach(inp.kind, inp.campaign_id, chunk))
            try:
                # Alive while the chunk's workflows take their time to finish (the last
                # target reached stays the same until the chunk is done).
                while not (await asyncio.wait({reaching}, timeout=HEARTBEAT_EVERY_SECONDS))[0]:
                    activity.heartbeat(after_id, reached, errors)
            finally:
                reaching.cancel()  # a no-op once done; else the activity was cancelled
            errors.extend(reaching.result())
            reached += len(chunk)
            after_id = chunk[-1]
            activity.heartbeat(after_id, reached, errors)
        return Reached(reached=reached, last_id=after_id, more=reached >= inp.limit, errors=errors)

    async def _reach(self, kind: str, campaign_id: str, target_ids: list[str]) -> list[str]:
        errors: list[str] = []
        if kind == CLOSE:
            await self.gateway.close_campaign(campaign_id, target_ids, errors=errors)
        elif kind == POLICY:
            await self.gateway.refresh(target_ids)
        elif kind == REOPEN:
            await self.gateway.start_workflows(target_ids)
        else:
            raise ValueError(f"operation {kind!r} reaches no target")
        return errors


def _campaign_command(kind: str, args: dict[str, Any], cmd: Command) -> Callable[[Campaign], bool]:
    """The Campaign method an operation applies (with its arguments rebuilt from JSON)."""
    if kind == CLOSE:
        return lambda c: c.close(cmd, reason=args.get("reason"))
    if kind == REOPEN:
        return lambda c: c.reopen(cmd, reason=args.get("reason"))
    if kind == POLICY:
        policy = Policy(**args)
        return lambda c: c.change_policy(cmd, policy)
    if kind == SCORING:
        scale = ScoringScale(on_time=args["on_time"], late=args["late"], reward_slots=args["reward_slots"])
        effective_at = args.get("effective_at")
        at = None if effective_at is None else datetime.fromisoformat(effective_at)
        return lambda c: c.change_scoring(cmd, scale, effective_at=at)
    raise ValueError(f"unknown campaign operation {kind!r}")


__all__ = ["CampaignOperationActivities"]
