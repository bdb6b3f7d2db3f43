"""What the routes use, in one object on `app.state.services`.

`create_app` fills it (from the parts a test hands it, or in the lifespan from the
settings); routes reach it only through the dependencies in `api.deps`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar
from uuid import UUID

import anyio

from api.auth import TokenVerifier
from api.idempotency import IdempotencyStore
from api.metrics import ApiMetrics
from domain.errors import VersionConflict
from domain.values import Actor, Command

T = TypeVar("T")

SAVE_ATTEMPTS = 5


@dataclass
class Services:
    domain_app: Any  # domain.application.ThiduaApplication
    pool: Any  # asyncpg.Pool
    gateway: Any  # workflows.client.TargetGateway
    temporal_client: Any | None
    verifier: TokenVerifier
    idempotency: IdempotencyStore
    metrics: ApiMetrics
    task_queue: str
    position_wait_seconds: float = 5.0
    extras: dict[str, Any] = field(default_factory=dict)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """eventsourcing is synchronous: every store call leaves the event loop."""
        return await anyio.to_thread.run_sync(fn, *args)


def now() -> datetime:
    return datetime.now(timezone.utc)


def command(command_id: str, actor: Actor) -> Command:
    return Command(id=command_id, actor=actor, at=now())


def apply_and_save(
    domain_app: Any,
    load: Callable[[], T],
    act: Callable[[T], bool],
    command_id: str,
) -> tuple[T, int]:
    """Load an aggregate, apply one command, save; retry on a concurrent writer.

    Returns the aggregate and the position of the last event the command stored, or,
    when it stored nothing (a replayed command id or a change to what is already
    there), of the event that recorded it or of the aggregate's current version.
    """
    for _ in range(SAVE_ATTEMPTS):
        aggregate = load()
        if act(aggregate):
            try:
                position = domain_app.save_changes(aggregate)
            except VersionConflict:
                continue
            if position is not None:
                return aggregate, position
        return aggregate, position_of_command(domain_app, aggregate, command_id)
    raise VersionConflict("the record kept changing under concurrent writers; retry")


def position_of_command(domain_app: Any, aggregate: Any, command_id: str) -> int:
    version = aggregate.version_of_command(command_id) or aggregate.version
    position = domain_app.position_of(aggregate.id if isinstance(aggregate.id, UUID) else UUID(str(aggregate.id)),
                                      version)
    return int(position or 0)
