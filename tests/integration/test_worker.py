"""The worker process's pair of Temporal workers (targets' and imports' queues) lives
and dies as one (real Temporal)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest

from thidua.workflows.client import connect
from thidua.workflows.worker import build_worker


async def test_a_worker_that_cannot_serve_its_queues_stops_and_says_why(temporal_address, workflow_app):
    client = await connect(temporal_address, f"no-such-namespace-{secrets.token_hex(3)}")
    worker = build_worker(client, workflow_app, f"wf-{secrets.token_hex(3)}",
                          graceful_shutdown_timeout=timedelta(seconds=1))
    with pytest.raises(Exception, match="(?i)namespace"):
        async with asyncio.timeout(30):
            await worker.run()
    assert not worker.targets.is_running and not worker.imports.is_running


async def test_a_worker_shuts_down_both_of_its_queues(temporal_client, workflow_app):
    worker = build_worker(temporal_client, workflow_app, f"wf-{secrets.token_hex(3)}",
                          graceful_shutdown_timeout=timedelta(seconds=1))
    async with worker:
        await asyncio.sleep(0.2)
        assert worker.targets.is_running and worker.imports.is_running
    assert worker.targets.is_shutdown and worker.imports.is_shutdown
