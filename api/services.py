"""What the routes use, in one object on `app.state.services`.

`create_app` fills it in its lifespan, from the parts `thidua.bootstrap.build_api` (or a
test) builds; routes reach it only through the dependencies in `thidua.api.deps`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

import anyio

from thidua.api.auth import TokenVerifier
from thidua.api.idempotency import IdempotencyStore
from thidua.api.metrics import ApiMetrics
from thidua.domain.values import Actor, Command

T = TypeVar("T")

@dataclass
class Services:
    domain_app: Any  # thidua.domain.application.ThiduaApplication
    pool: Any  # asyncpg.Pool
    gateway: Any  # thidua.workflows.client.TargetGateway
    temporal_client: Any | None
    verifier: TokenVerifier
    idempotency: IdempotencyStore
    metrics: ApiMetrics
    task_queue: str
    position_wait_seconds: float = 5.0
    sessions: Any = None  # thidua.api.sessions.SessionStore
    throttle: Any = None  # thidua.api.sessions.LoginThrottle
    heartbeat_seconds: float = 5.0  # the processes' beat interval (thidua.settings): when a beat is stale
    token_throttle: Any = None  # the same class, for failed bearer tokens (LoginThrottle.for_tokens)
    operation_wait_seconds: float = 5.0  # see thidua.settings
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
    """The domain application's one write path, as (aggregate, position)."""
    changed = domain_app.change(load, act, command_id)
    return changed.aggregate, changed.position
