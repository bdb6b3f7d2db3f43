"""Running the projector in-process for the e2e tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from thidua.settings import Settings


async def start_projector(settings: Settings) -> Callable[[], Awaitable[None]]:
    """Start the projector on the running loop; return the coroutine function that stops it."""
    from thidua.projections.projector import Projector

    assert settings.database_url is not None
    projector = Projector(settings.database_url, poll_interval=0.5)
    await projector.__aenter__()

    async def stop() -> None:
        await projector.__aexit__(None, None, None)

    return stop
