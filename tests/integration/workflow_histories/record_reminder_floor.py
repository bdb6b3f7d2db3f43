"""Record the TargetWorkflow history of the reminder floor (issue 15, item 6): a run that
carries the `reminder-floor` patch marker and spaces its SLA reminders by the worker's
floor, for the replay test.

    .venv/bin/python -m tests.integration.workflow_histories.record_reminder_floor [--database-url URL]

Writes `reminder_floor.json` next to this file (see record.py for the scratch services).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

from tests.integration.conftest import Seed
from tests.integration.workflow_histories.record import (
    HERE, auto_escalation, scratch, server_url_argument, write_history,
)

FLOOR = timedelta(seconds=2)  # the worker's floor; the campaign's SLA is one second


async def record(server_url: str, out_dir: Path = HERE) -> Path:
    from thidua.workflows.client import TargetGateway, connect, workflow_id_for
    from thidua.workflows.worker import build_worker

    with scratch(server_url) as where:
        client = await connect(where.temporal_address, "default")
        queue = "record-reminder-floor"
        async with build_worker(client, where.app, queue, reminder_floor=FLOOR):
            # record.py's escalation path, its reminders now spaced by the floor
            _, tid = await auto_escalation(TargetGateway(client, queue), Seed(where.app))
            return await write_history(client.get_workflow_handle(workflow_id_for(tid)), out_dir / "reminder_floor.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_url_argument(parser)
    asyncio.run(record(parser.parse_args().database_url))
