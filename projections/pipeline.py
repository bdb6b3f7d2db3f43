"""From the event store to `Step`s: reading in order without skipping, decoding, and
keeping each aggregate's state so projections see what every event did.

Why aggregates: a projection that re-implemented the lifecycle would be a second copy
of the rules. Instead each stored event is decoded into the domain event the
application's mapper would give (`codec.StoredDecoder`: same transcodings, a faster
parse) and applied to the aggregate with the domain's own `mutate`, so `status`,
`overdue`, `report_class` (via `thidua.domain.target.classify`) and the escalation are exactly
what the domain says they are. The raw stored payload travels with each step for the
audit trail, which records what was stored rather than a re-encoding of it.
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from thidua.domain.campaign import Campaign, Unit
from thidua.domain.target import Target
from thidua.projections.codec import EVENTS, StoredDecoder, topic_info

log = logging.getLogger("thidua.projections")

_SELECT_EVENTS = (
    f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
    "WHERE notification_id > $1 AND notification_id <= $2 ORDER BY notification_id LIMIT $3"
)
_NO_UPPER = 2**62


class Stored(NamedTuple):
    """One row of the event store (a tuple: made by the hundred thousand)."""

    position: int
    originator_id: UUID
    version: int
    topic: str
    state: bytes


class TargetSnap(NamedTuple):
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
        target.campaign_id,
        target.unit_id,
        target.points,
        str(target.status),
        bool(target.overdue),
        str(target.report_class),
        target.escalation,
        occurred_at,
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
    data: dict[str, Any] | None = None  # the stored payload, parsed, not transcoded
    # (aggregate_id, campaign_id, target_id, unit_id) when followed without aggregates
    # (`thidua.projections.identity`: then `event`, `aggregate` and the snaps are None)
    identity: tuple[Any, ...] | None = None

    @property
    def position(self) -> int:
        return self.stored.position


def _stored(row: Any) -> Stored:
    """A row of `_SELECT_EVENTS` (bytea comes as bytes)."""
    return Stored._make(row)


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


# Targets kept decoded between batches (≈ 3 KB each with the command log trimmed): a
# target not cached is reloaded from the store when its next event comes. 100,000 took
# the projector past 1.8 GB in the scale benchmark (goal < 500 MB per process).
MAX_CACHED_TARGETS = 20_000


class AggregateCache:
    """Aggregates as of `position` (every event up to it applied).

    Targets are kept in an LRU (there may be 100k); campaigns, units and users (few)
    are kept all. A miss, or an entry whose version does not precede the event (after a
    rolled-back batch), is reloaded from the event store with one query per batch.
    """

    def __init__(self, max_targets: int = MAX_CACHED_TARGETS) -> None:
        self.decoder = StoredDecoder()
        self.max_targets = max_targets
        self._targets: OrderedDict[UUID, _Entry] = OrderedDict()
        self._others: dict[UUID, _Entry] = {}
        self.position: int | None = None
        self.generation = 0  # counts clears

    def clear(self) -> None:
        self._targets.clear()
        self._others.clear()
        self.position = None
        self.generation += 1

    def _put(self, originator_id: UUID, aggregate: Any, snap: TargetSnap | None) -> None:
        entry = _Entry(aggregate, snap)
        if isinstance(aggregate, Target):
            # The command log (ids and fingerprints of every command applied, ~45 % of a
            # cached target's memory) serves idempotency in the worker, never a read
            # model: keep only what the last events added.
            if len(aggregate.applied) > 1:
                aggregate.applied = {}
            self._targets[originator_id] = entry
            self._targets.move_to_end(originator_id)
        else:
            self._others[originator_id] = entry

    def trim(self) -> None:
        while len(self._targets) > self.max_targets:
            self._targets.popitem(last=False)

    def decode(self, stored: Stored) -> tuple[Any, dict[str, Any]]:
        """(domain event, stored payload)."""
        return self.decoder.decode(stored.originator_id, stored.version, stored.topic, stored.state)

    def needed(self, start: int, rows: list[Stored]) -> dict[UUID, int]:
        """Aggregates (id -> first version in `rows`) whose cached state does not end
        just before their first event in `rows`: they must be loaded from the store."""
        if self.position != start:
            self.clear()
        first_version: dict[UUID, int] = {}
        for r in rows:
            first_version.setdefault(r.originator_id, r.version)
        needed: dict[UUID, int] = {}
        targets, others = self._targets, self._others
        for oid, version in first_version.items():
            entry = targets.get(oid) or others.get(oid)
            have = entry.aggregate.version if entry is not None and entry.aggregate is not None else 0
            if have != version - 1:
                needed[oid] = version
        return needed

    @staticmethod
    async def history(conn: asyncpg.Connection, needed: dict[UUID, int]) -> list[Any]:
        """The stored events before `needed`'s versions, per aggregate in order."""
        if not needed:
            return []
        ids = list(needed)
        return await conn.fetch(
            f"SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state "
            f"FROM unnest($1::uuid[], $2::bigint[]) AS x(id, v) "
            f"JOIN {EVENTS} e ON e.originator_id = x.id AND e.originator_version < x.v "
            "ORDER BY e.originator_id, e.originator_version",
            ids,
            [needed[i] for i in ids],
        )

    def apply(self, start: int, rows: list[Stored], history: list[Any]) -> list[Step]:
        """Apply the events `rows` (which follow `start`) and describe each one. CPU
        only (no I/O; may run in a worker thread while nothing else uses the cache):
        loads `history` (what `needed`/`history` gave) first."""
        if self.position != start:
            self.clear()
        if history:
            self._replay(history)
        decoded = [self.decode(r) for r in rows]
        steps: list[Step] = []
        append = steps.append
        targets, others = self._targets, self._others
        for stored, (event, data) in zip(rows, decoded):
            oid = stored.originator_id
            entry = targets.get(oid) or others.get(oid)
            if entry is not None:
                before_agg, before_snap = entry.aggregate, entry.snap
            else:
                before_agg = before_snap = None
            aggregate = event.mutate(before_agg)
            _, kind, event_type, _ = topic_info(stored.topic)
            after_snap = None
            if isinstance(aggregate, Target):
                after_snap = snap_target(aggregate, event.occurred_at)
            self._put(oid, aggregate, after_snap)
            append(Step(stored, event, kind, event_type, aggregate, before_snap, after_snap, data))
        self.position = rows[-1].position if rows else start
        self.trim()
        return steps

    def view(self, position: int) -> AggregateView:
        """Campaigns and units as of `position` (the cache's position now, else none
        captured), for writes that may run while the cache moves on."""
        captured: dict[UUID, Any] = {}
        if self.position == position:
            for oid, entry in self._others.items():
                if isinstance(entry.aggregate, (Campaign, Unit)):
                    # The domain replaces attributes and containers rather than changing
                    # them, so a shallow copy keeps this instant's state.
                    captured[oid] = copy.copy(entry.aggregate)
        return AggregateView(position, captured, self)

    def adopt(self, view: AggregateView) -> None:
        """Keep what `view` had to load from the store (call only while no batch is
        being applied). Safe when the cache has applied every event since the view's
        position: an aggregate it does not hold had no event since then."""
        if view.generation != self.generation or self.position is None or self.position < view.position:
            return
        for oid, aggregate in view.loaded.items():
            if aggregate is not None and oid not in self._others and oid not in self._targets:
                self._put(oid, aggregate, _snap_of(aggregate))

    def _replay(self, history: list[Any]) -> None:
        by_id: dict[UUID, list[Any]] = {}
        for row in history:
            by_id.setdefault(row["originator_id"], []).append(row)
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
            aggregate = self.decode(_stored(row))[0].mutate(aggregate)
        return aggregate


class AggregateView:
    """Campaigns and units as of one position: captured from the cache, or loaded
    from the store (events up to the position) on first use."""

    def __init__(self, position: int, captured: dict[UUID, Any], cache: AggregateCache) -> None:
        self.position = position
        self.generation = cache.generation
        self._known = captured
        self._cache = cache
        self.loaded: dict[UUID, Any] = {}

    async def get(self, conn: asyncpg.Connection, originator_id: UUID) -> Any:
        """The aggregate as of the view's position (None when it did not exist then)."""
        return (await self.get_many(conn, [originator_id]))[originator_id]

    async def get_many(self, conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, Any]:
        missing = [oid for oid in dict.fromkeys(ids) if oid not in self._known]
        if missing:
            history = await conn.fetch(
                f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
                "WHERE originator_id = ANY($1::uuid[]) AND notification_id <= $2 "
                "ORDER BY originator_id, originator_version",
                missing,
                self.position,
            )
            by_id: dict[UUID, list[Any]] = {oid: [] for oid in missing}
            for row in history:
                by_id[row["originator_id"]].append(row)
            for oid, rows in by_id.items():
                aggregate = self._cache._replay_one(rows)
                self._known[oid] = self.loaded[oid] = aggregate
        return {oid: self._known[oid] for oid in ids}


def _snap_of(aggregate: Any) -> TargetSnap | None:
    if isinstance(aggregate, Target):
        return snap_target(aggregate, aggregate.updated_at)
    return None
