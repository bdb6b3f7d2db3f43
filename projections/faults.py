"""A read model that cannot apply an event stops alone.

Every group (see thidua.projections.schema) is applied in one transaction per batch, so one
event that a group cannot apply (a value its table refuses, a bug in its code) would
roll the whole batch back again and again and stop every read model. Instead, when a
batch fails for a reason that retrying will not cure, each group is run on its own
(`locate`): it commits what it can apply, in batches that shrink around the failure,
until it either passes the failed stretch or fails on one event alone. That group is
stopped at that event; the others go on.

Where a group stopped, and why, is kept in `projection_faults` (one row per group):
`/healthz` reads it (degraded, naming the read model, the position and why), `/metrics`
exports it, and the projector logs it. A stopped group is tried again when the
projector starts (code may have been fixed meanwhile); its row is deleted once the group
has applied the event, or when a rebuild swaps in a new copy of the group.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from thidua.projections.codec import EVENTS
from thidua.projections.engine import Engine, make_groups
from thidua.projections.pipeline import EventReader
from thidua.projections.schema import TRACKING_ROWS, qident

log = logging.getLogger("thidua.projections")

# SQLSTATE classes worth retrying: connection (08), transaction rollback such as a
# serialization failure or deadlock (40), insufficient resources (53), object not in
# prerequisite state such as a lock timeout (55), operator intervention such as a
# cancelled statement or a shutdown (57), system error (58).
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "55", "57", "58"})


def is_transient(exc: BaseException) -> bool:
    """True when the same batch may well succeed if tried again (the database or the
    network was in the way); False when the batch itself is the problem."""
    if isinstance(exc, asyncpg.PostgresError):
        return (getattr(exc, "sqlstate", None) or "")[:2] in _TRANSIENT_CLASSES
    return isinstance(exc, (OSError, asyncpg.InterfaceError, TimeoutError))


@dataclass(frozen=True)
class Fault:
    """Group `group` cannot apply the event at `position`."""

    group: str
    position: int
    originator_id: UUID | None
    version: int | None
    topic: str | None
    reason: str

    def describe(self) -> str:
        return (f"read model {self.group!r} cannot apply the event at position {self.position} "
                f"({self.topic}, aggregate {self.originator_id} version {self.version}): {self.reason}")


class PoisonEvent(RuntimeError):
    """An event a read model cannot apply (raised by rebuilds, which must not skip it)."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.describe())
        self.fault = fault


def reason_of(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


async def group_position(conn: asyncpg.Connection, schema: str, group: str) -> int:
    """Where `group` stands: its first tracking row says which events it has applied."""
    return await conn.fetchval(
        f"SELECT position FROM {qident(schema)}.projection_tracking WHERE name = $1", TRACKING_ROWS[group][0]
    )


async def event_after(conn: asyncpg.Connection, position: int) -> Any:
    return await conn.fetchrow(
        f"SELECT notification_id, originator_id, originator_version, topic FROM {EVENTS} "
        "WHERE notification_id > $1 ORDER BY notification_id LIMIT 1",
        position,
    )


async def locate(
    conn: asyncpg.Connection,
    side: asyncpg.Connection,
    schema: str,
    group: str,
    *,
    until: int,
    size: int,
    **group_options: Any,
) -> Fault | None:
    """Run `group` alone from where it stands until it passes `until` (committing as it
    goes) or fails on a single event: that event's `Fault`. Batches start at `size` and
    shrink eightfold after each failure, so the event is found in a few tries. Raises
    what `is_transient` calls transient (the caller retries later)."""
    engine = Engine(make_groups([group], **group_options), schema=schema, batch_size=max(1, size))
    reader = EventReader(side)
    while True:
        start = await group_position(conn, schema, group)
        if start >= until:
            return None
        engine.size = engine.max_batch_size = size
        try:
            result = await engine.process_batch(conn, reader)
        except Exception as exc:
            if is_transient(exc):
                raise
            if size > 1:
                size = max(1, size // 8)
                continue
            row = await event_after(conn, start)
            if row is None:  # nothing to blame: the failure was not about an event
                raise
            await engine.flush(conn)
            return Fault(group, row["notification_id"], row["originator_id"], row["originator_version"],
                         row["topic"], reason_of(exc))
        if result.events == 0:
            return None


async def record(conn: asyncpg.Connection, fault: Fault) -> None:
    await conn.execute(
        "INSERT INTO public.projection_faults (name, position, originator_id, originator_version, topic, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, "
        "originator_id = EXCLUDED.originator_id, originator_version = EXCLUDED.originator_version, "
        "topic = EXCLUDED.topic, reason = EXCLUDED.reason, stopped_at = now()",
        fault.group, fault.position, fault.originator_id, fault.version, fault.topic, fault.reason,
    )


async def clear_passed(conn: asyncpg.Connection) -> int:
    """Forget the faults of groups that have since applied the event (fixed code)."""
    status = await conn.execute(
        "DELETE FROM public.projection_faults AS f USING public.projection_tracking AS t "
        "WHERE t.name = f.name AND t.position >= f.position"
    )
    return int(status.split()[-1])


async def stopped(pool_or_conn: Any) -> list[dict[str, Any]]:
    """The read models stopped at an event they cannot apply (for /healthz and /metrics)."""
    rows = await pool_or_conn.fetch(
        "SELECT name, position, originator_id, originator_version, topic, reason, stopped_at "
        "FROM public.projection_faults ORDER BY name"
    )
    return [dict(r) for r in rows]
