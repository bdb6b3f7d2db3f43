"""From the event store to `Step`s: reading in order without skipping, decoding, and
keeping each aggregate's state so projections see what every event did.

Why aggregates: a projection that re-implemented the lifecycle would be a second copy
of the rules. Instead each stored event is decoded with the application's mapper and
applied to the aggregate with the domain's own `mutate`, so `status`, `overdue`,
`report_class` (via `domain.target.classify`) and the escalation are exactly what the
domain says they are.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from domain.target import Target
from projections.codec import EVENTS, event_names, mapper

log = logging.getLogger("thidua.projections")

_SELECT_EVENTS = (
    f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
    "WHERE notification_id > $1 AND notification_id <= $2 ORDER BY notification_id LIMIT $3"
)
_NO_UPPER = 2**62


@dataclass(slots=True, frozen=True)
class Stored:
    position: int
    originator_id: UUID
    version: int
    topic: str
    state: bytes


@dataclass(slots=True, frozen=True)
class TargetSnap:
    """What the read models need of a target right after one event."""

    campaign_id: str
    unit_id: str
    points: Decimal
    status: str
    overdue: bool
    report_class: str
    escalation: dict[str, Any] | None  # the aggregate replaces this dict on change
    occurred_at: datetime

    @property
    def facts(self) -> tuple[Any, ...]:
        return (self.unit_id, self.points, self.status, self.overdue, self.report_class)


def snap_target(target: Target, occurred_at: datetime) -> TargetSnap:
    return TargetSnap(
        campaign_id=target.campaign_id,
        unit_id=target.unit_id,
        points=target.points,
        status=str(target.status),
        overdue=bool(target.overdue),
        report_class=str(target.report_class),
        escalation=target.escalation,
        occurred_at=occurred_at,
    )


@dataclass(slots=True)
class Step:
    """One stored event with what it did. `aggregate` is the live object: by the time
    projections run it holds the state at the end of the batch."""

    stored: Stored
    event: Any
    kind: str  # target | campaign | unit | user | ...
    event_type: str
    aggregate: Any
    before: TargetSnap | None = None  # targets only
    after: TargetSnap | None = None

    @property
    def position(self) -> int:
        return self.stored.position


def _stored(row: Any) -> Stored:
    return Stored(
        position=row["notification_id"],
        originator_id=row["originator_id"],
        version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


class EventReader:
    """Reads committed events after a position, never past one that may still commit.

    eventsourcing inserts under `LOCK TABLE ... IN EXCLUSIVE MODE`, so ids commit in
    order and a gap below a visible id is a rolled-back insert. We do not rely on that
    alone: whenever a read shows a gap, a `LOCK TABLE ... IN SHARE MODE` on a side
    connection waits for every transaction that is inserting (any writer holds at least
    ROW EXCLUSIVE, which SHARE waits for); after it, every id up to what we saw is
    final. If the lock cannot be had quickly (a slow writer), only the gap-free prefix
    is returned and the rest waits for the next round.
    """

    def __init__(self, side_conn: asyncpg.Connection, settle_timeout: float = 1.0) -> None:
        self.side_conn = side_conn
        self.settle_timeout = settle_timeout

    async def read(self, conn: asyncpg.Connection, after: int, limit: int) -> list[Stored]:
        rows = [_stored(r) for r in await conn.fetch(_SELECT_EVENTS, after, _NO_UPPER, limit)]
        if not rows or _gap_free(after, rows):
            return rows
        seen_upto = rows[-1].position
        if await self._settle():
            rows = [_stored(r) for r in await conn.fetch(_SELECT_EVENTS, after, seen_upto, limit)]
            return rows
        return _gap_free_prefix(after, rows)

    async def _settle(self) -> bool:
        try:
            async with self.side_conn.transaction():
                await self.side_conn.execute(f"SET LOCAL lock_timeout = '{int(self.settle_timeout * 1000)}ms'")
                await self.side_conn.execute(f"LOCK TABLE {EVENTS} IN SHARE MODE")
            return True
        except asyncpg.exceptions.LockNotAvailableError:
            log.info("a writer is still inserting into the event store; waiting for it before passing the gap")
            return False


async def read_ahead(conn: asyncpg.Connection, after: int, limit: int) -> list[Stored]:
    """The gap-free run of committed events after `after` (no waiting: used to read the
    next batch while the current one is being written)."""
    rows = [_stored(r) for r in await conn.fetch(_SELECT_EVENTS, after, _NO_UPPER, limit)]
    return _gap_free_prefix(after, rows)


def _gap_free(after: int, rows: list[Stored]) -> bool:
    return rows[-1].position - after == len(rows)


def _gap_free_prefix(after: int, rows: list[Stored]) -> list[Stored]:
    expected = after + 1
    for i, row in enumerate(rows):
        if row.position != expected:
            return rows[:i]
        expected += 1
    return rows


class _Entry:
    __slots__ = ("aggregate", "snap")

    def __init__(self, aggregate: Any, snap: TargetSnap | None) -> None:
        self.aggregate = aggregate
        self.snap = snap


class AggregateCache:
    """Aggregates as of `position` (every event up to it applied).

    Targets are kept in an LRU (there may be 100k); campaigns, units and users (few)
    are kept all. A miss, or an entry whose version does not precede the event (after a
    rolled-back batch), is reloaded from the event store with one query per batch.
    """

    def __init__(self, max_targets: int = 100_000) -> None:
        self.mapper = mapper()
        self.max_targets = max_targets
        self._targets: OrderedDict[UUID, _Entry] = OrderedDict()
        self._others: dict[UUID, _Entry] = {}
        self.position: int | None = None

    def clear(self) -> None:
        self._targets.clear()
        self._others.clear()
        self.position = None

    def _get(self, originator_id: UUID) -> _Entry | None:
        entry = self._targets.get(originator_id)
        if entry is not None:
            self._targets.move_to_end(originator_id)
            return entry
        return self._others.get(originator_id)

    def _put(self, originator_id: UUID, aggregate: Any, snap: TargetSnap | None) -> None:
        entry = _Entry(aggregate, snap)
        if isinstance(aggregate, Target):
            self._targets[originator_id] = entry
            self._targets.move_to_end(originator_id)
        else:
            self._others[originator_id] = entry

    def trim(self) -> None:
        while len(self._targets) > self.max_targets:
            self._targets.popitem(last=False)

    def decode(self, stored: Stored) -> Any:
        from eventsourcing.persistence import StoredEvent

        return self.mapper.to_domain_event(
            StoredEvent(
                originator_id=stored.originator_id,
                originator_version=stored.version,
                topic=stored.topic,
                state=stored.state,
            )
        )

    async def advance(
        self, conn: asyncpg.Connection, start: int, rows: list[Stored], events: list[Any] | None = None
    ) -> list[Step]:
        """Apply the events `rows` (which follow `start`; `events` are their decoded
        form when already decoded) and describe each one."""
        if self.position != start:
            self.clear()
        if events is None:
            events = [self.decode(r) for r in rows]
        await self._preload(conn, rows)
        steps: list[Step] = []
        for stored, event in zip(rows, events):
            entry = self._get(stored.originator_id)
            before_agg = entry.aggregate if entry else None
            before_snap = entry.snap if entry else None
            aggregate = event.mutate(before_agg)
            kind, event_type = event_names(event)
            after_snap = None
            if isinstance(aggregate, Target):
                after_snap = snap_target(aggregate, event.occurred_at)
            self._put(stored.originator_id, aggregate, after_snap)
            steps.append(Step(stored, event, kind, event_type, aggregate, before_snap, after_snap))
        self.position = rows[-1].position if rows else start
        return steps

    async def _preload(self, conn: asyncpg.Connection, rows: list[Stored]) -> None:
        """Load (from the store) every aggregate whose cached state does not end just
        before its first event in this batch."""
        first_version: dict[UUID, int] = {}
        for r in rows:
            first_version.setdefault(r.originator_id, r.version)
        needed: dict[UUID, int] = {}
        for oid, version in first_version.items():
            entry = self._get(oid)
            have = entry.aggregate.version if entry and entry.aggregate is not None else 0
            if have != version - 1:
                needed[oid] = version
        if not needed:
            return
        ids = list(needed)
        history = await conn.fetch(
            f"SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state "
            f"FROM unnest($1::uuid[], $2::bigint[]) AS x(id, v) "
            f"JOIN {EVENTS} e ON e.originator_id = x.id AND e.originator_version < x.v "
            "ORDER BY e.originator_id, e.originator_version",
            ids,
            [needed[i] for i in ids],
        )
        self._replay(ids, history)

    async def get_at(self, conn: asyncpg.Connection, originator_id: UUID, position: int) -> Any:
        """The aggregate as of `position` (None when it did not exist then). Used for
        campaigns and units that a batch's scoreboards need but did not touch."""
        entry = self._get(originator_id)
        if entry is not None and self.position == position:
            return entry.aggregate
        history = await conn.fetch(
            f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
            "WHERE originator_id = $1 AND notification_id <= $2 ORDER BY originator_version",
            originator_id,
            position,
        )
        aggregate = self._replay_one(history)
        if self.position is not None and self.position == position:
            self._put(originator_id, aggregate, _snap_of(aggregate))
        return aggregate

    def _replay(self, ids: list[UUID], history: list[Any]) -> None:
        by_id: dict[UUID, list[Any]] = {oid: [] for oid in ids}
        for row in history:
            by_id[row["originator_id"]].append(row)
        for oid, rows in by_id.items():
            aggregate = self._replay_one(rows)
            if aggregate is None:
                self._targets.pop(oid, None)
                self._others.pop(oid, None)
            else:
                self._put(oid, aggregate, _snap_of(aggregate))

    def _replay_one(self, rows: list[Any]) -> Any:
        aggregate = None
        for row in rows:
            aggregate = self.decode(_stored(row)).mutate(aggregate)
        return aggregate


def _snap_of(aggregate: Any) -> TargetSnap | None:
    if isinstance(aggregate, Target):
        return snap_target(aggregate, aggregate.updated_at)
    return None
