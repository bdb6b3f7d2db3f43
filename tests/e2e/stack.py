"""Running the projector in-process for the e2e tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from thidua.heartbeats import PROJECTOR, Heartbeat
from thidua.settings import Settings


async def start_projector(settings: Settings) -> Callable[[], Awaitable[None]]:
    """Start the projector on the running loop; return the coroutine function that stops it."""
    from thidua.projections.projector import Projector

    assert settings.database_url is not None
    projector = Projector(settings.database_url, poll_interval=0.5)
    await projector.__aenter__()
    # Beating as `thidua projector` does, so /healthz sees a live projector.
    heartbeat = await Heartbeat(settings.database_url, PROJECTOR, interval=settings.heartbeat_seconds).__aenter__()

    async def stop() -> None:
        await heartbeat.__aexit__(None, None, None)
        await projector.__aexit__(None, None, None)

    return stop
