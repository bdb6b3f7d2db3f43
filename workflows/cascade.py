"""The cascade: a parent target follows its children.

Runs beside the worker. Woken by the cascade projection's NOTIFY
(`thidua.projections.cascade.CASCADE_CHANNEL`) and by a poll, it reads the rollups and
finds:

- open parents whose children are all closed, at least one completed: it sends the
  parent's workflow `complete_by_children` (late when any child was), naming every
  child's closing event (its position);
- completed parents with an open child: `reopen_by_child`, naming the child's
  reopening event.

Each goes through the parent's TargetWorkflow as a `system` command (the domain's
declaration, lc.CASCADE_COMMANDS), so the parent's guards, timers and audit apply as
to any command. The command id is derived from the child events that call for it, so
the dispatcher keeps no state of its own: after a crash, or while the read model has
not yet seen the parent change, the same command is sent again and the parent's
aggregate answers it as a replay. A command the domain refuses (the parent's campaign
was closed, ...) is not sent again by this process.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from thidua.domain import lifecycle as lc
from thidua.domain.errors import DomainError, VersionConflict
from thidua.projections.cascade import CASCADE_CHANNEL
from thidua.workflows.client import TargetGateway
from thidua.workflows.listening import Listener

log = logging.getLogger("thidua.cascade")

_DUE_TO_COMPLETE = """
    SELECT r.target_id FROM target_rollups r JOIN target_links p ON p.target_id = r.target_id
    WHERE r.open_children = 0 AND r.completed_on_time + r.completed_late > 0
      AND p.status NOT IN ('completed', 'cancelled')
    ORDER BY r.position LIMIT $1"""
_CLOSED_CHILDREN = """
    SELECT target_id, closed_position, report_class FROM target_links
    WHERE parent_id = $1 AND status IN ('completed', 'cancelled') ORDER BY closed_position, target_id"""
_DUE_TO_REOPEN = """
    SELECT DISTINCT ON (r.target_id) r.target_id, c.target_id AS child_id, c.reopened_position
    FROM target_rollups r JOIN target_links p ON p.target_id = r.target_id
    JOIN target_links c ON c.parent_id = r.target_id
    WHERE r.open_children > 0 AND p.status = 'completed'
      AND c.status NOT IN ('completed', 'cancelled') AND c.reopened_position IS NOT NULL
    ORDER BY r.target_id, c.reopened_position DESC LIMIT $1"""


def completion_of(parent_id: Any, children: list[Any]) -> tuple[str, dict[str, Any]]:
    """The command id and arguments of `complete_by_children` for these closed children
    (rows of target_id, closed_position, report_class)."""
    outcomes = [{"target_id": str(c["target_id"]), "position": int(c["closed_position"] or 0),
                 "report_class": c["report_class"]} for c in children]
    last = max(o["position"] for o in outcomes)
    late = any(o["report_class"] == "completed_late" for o in outcomes)
    return f"cascade:{parent_id}:complete:{last}", {"late": late, "children": outcomes}


def reopening_of(parent_id: Any, child_id: Any, position: int) -> tuple[str, dict[str, Any]]:
    return f"cascade:{parent_id}:reopen:{child_id}:{position}", {"child_id": str(child_id), "position": position}


class CascadeDispatcher(Listener):
    channel = CASCADE_CHANNEL
    what = "cascade dispatch"

    def __init__(self, gateway: TargetGateway, dsn: str, *, poll_interval: float = 2.0, batch: int = 100) -> None:
        super().__init__(dsn, poll_interval, log)
        self.gateway = gateway
        self.batch = batch
        self.refused: set[str] = set()  # command ids the domain refused: not sent again by this process

    async def dispatch_once(self, conn: asyncpg.Connection) -> int:
        """Send every command the rollups call for now. Answers 0 (nothing more to do
        at once): what it sent shows in the rollups after the projector's next NOTIFY."""
        sent = 0
        for row in await conn.fetch(_DUE_TO_COMPLETE, self.batch):
            parent = row["target_id"]
            children = await conn.fetch(_CLOSED_CHILDREN, parent)
            if children and all(c["closed_position"] is not None for c in children):
                sent += await self._send(parent, lc.COMPLETE_BY_CHILDREN.name, *completion_of(parent, children))
        for row in await conn.fetch(_DUE_TO_REOPEN, self.batch):
            parent = row["target_id"]
            sent += await self._send(parent, lc.REOPEN_BY_CHILD.name,
                                     *reopening_of(parent, row["child_id"], int(row["reopened_position"])))
        if sent:
            log.debug("cascade sent %d command(s)", sent)
        return 0

    async def _send(self, parent: Any, command: str, command_id: str, args: dict[str, Any]) -> int:
        if command_id in self.refused:
            return 0
        try:
            await self.gateway.cascade(str(parent), command, command_id, args)
        except VersionConflict as error:  # writers raced on the parent: the next pass sends it again
            log.info("cascade %s met a concurrent change: %s", command_id, error)
            return 0
        except DomainError as error:
            self.refused.add(command_id)
            log.info("cascade %s refused: %s", command_id, error)
            return 0
        return 1
