"""`thidua api`: serve the app with uvicorn.

The database URL and the Temporal address are resolved here (embedded services when
unset); the asyncpg pool and the Temporal client are created in the app's lifespan,
on uvicorn's event loop (the Temporal client is bound to the loop that made it).
"""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from thidua.settings import Settings
from thidua.wiring import resolve_database_url, resolve_temporal_address

log = logging.getLogger("thidua.api")


def build(settings: Settings) -> FastAPI:
    database_url = resolve_database_url(settings)
    temporal_address = resolve_temporal_address(settings)
    return create_app(settings, database_url=database_url, temporal_address=temporal_address, settle_heap=True)


def main(settings: Settings) -> None:
    app = build(settings)
    log.info("serving the API on http://%s:%s (docs at /docs)", settings.api_host, settings.api_port)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        # uvicorn's records go through thidua's handler (thidua.logs); the RequestId
        # middleware logs each request with its id, so uvicorn's own access log is off.
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        # Bound the work one client can hold open.
        limit_concurrency=1000,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
    )
