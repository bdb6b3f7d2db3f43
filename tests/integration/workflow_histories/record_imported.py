"""Record the TargetWorkflow histories of an imported target whose runs take their patches
as given (`Carried.patch_level`, set by the import's batch activity and by continue-as-new):
no patch marker and no TemporalChangeVersion upsert in either run, for the replay test.

    .venv/bin/python -m tests.integration.workflow_histories.record_imported [--database-url URL]

One target imported (assign_many: the batch, then a plain start in carry mode) into a
campaign with short escalation and acceptance SLAs: started, blocked, escalated and
reminded by its timers (local activities, search attributes, the reminder floor), resolved;
continued as new; completed, reminded to the secretariat (the acceptance timer), accepted.
Writes `imported_first_run.json` and `imported_next_run.json` next to this file (see
record.py on re-recording: only on purpose).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

from tests.integration.conftest import (
    REMINDER_FLOOR_IN_TESTS, SECRETARIAT, STANDING_COMMITTEE, Seed, eventually, new_id, unit_head,
)
from tests.integration.workflow_histories.record import HERE, TODAY, scratch, server_url_argument, write_history
from thidua.workflows.client import assign_request


async def imported(gateway, seed: Seed) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The target's id and the run id of its first run."""
    from thidua.workflows.client import workflow_id_for
    from thidua.workflows.target_workflow import TargetWorkflow

    campaign = seed.campaign(escalate_after="PT1S", resolution_sla="PT1S", stale_after="P30D",
                             acceptance_required=True, acceptance_sla="PT1S")
    unit = seed.unit()
    head = unit_head(unit)
    [assigned] = await gateway.assign_many(campaign, [assign_request(
        SECRETARIAT, new_id("import"), campaign, unit_id=unit, title="Xây dựng nông thôn mới", area="rural",
        deadline=TODAY + timedelta(days=30), points=8, key=new_id("qd"),
    )])
    tid = assigned.target_id
    await gateway.command(tid, "start", head, new_id("start"))
    await gateway.command(tid, "block", head, new_id("block"), {"reason": "thiếu vốn"})
    await eventually(lambda: "EscalationReminded" in seed.event_types(tid), what="a reminder")
    await gateway.command(
        tid, "resolve", STANDING_COMMITTEE, new_id("resolve"),
        {"directive": "ứng vốn", "new_deadline": TODAY + timedelta(days=45)},
    )
    handle = gateway.client.get_workflow_handle(workflow_id_for(tid))
    first_run = (await handle.describe()).run_id
    await handle.signal(TargetWorkflow.continue_as_new_now)
    await gateway.command(tid, "complete", head, new_id("complete"), {"result": "xong"})
    await eventually(lambda: "AcceptanceReminded" in seed.event_types(tid), what="an acceptance reminder")
    await gateway.command(tid, "accept", SECRETARIAT, new_id("accept"), {"note": "đạt"})
    return tid, first_run


async def record(server_url: str, out_dir: Path = HERE) -> list[Path]:
    from thidua.workflows.client import TargetGateway, connect, workflow_id_for
    from thidua.workflows.worker import build_worker

    with scratch(server_url) as where:
        client = await connect(where.temporal_address, "default")
        queue = "record-imported"
        async with build_worker(client, where.app, queue, reminder_floor=REMINDER_FLOOR_IN_TESTS):
            tid, first_run = await imported(TargetGateway(client, queue), Seed(where.app))
            wid = workflow_id_for(tid)
            return [await write_history(client.get_workflow_handle(wid, run_id=first_run),
                                        out_dir / "imported_first_run.json"),
                    await write_history(client.get_workflow_handle(wid), out_dir / "imported_next_run.json")]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_url_argument(parser)
    asyncio.run(record(parser.parse_args().database_url))
