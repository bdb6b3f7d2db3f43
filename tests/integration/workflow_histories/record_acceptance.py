"""Record the TargetWorkflow history of the acceptance path (nghiệm thu), which the
replay test replays with the others:

    .venv/bin/python -m tests.integration.workflow_histories.record_acceptance [--database-url URL]

A completion reported under a policy that requires acceptance waits; its reminder timer
(patch `acceptance-sla-timer`) fires; the secretariat returns it, the unit reports again,
the secretariat accepts. Writes `acceptance.json` next to this file (see record.py on
re-recording: only on purpose).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

from tests.integration.conftest import SECRETARIAT, Seed, eventually, new_id, unit_head
from tests.integration.workflow_histories.record import HERE, TODAY, scratch, server_url_argument, write_history
from thidua.workflows.client import assign_request


async def acceptance(gateway, seed: Seed):  # type: ignore[no-untyped-def]
    campaign = seed.campaign(acceptance_required=True, acceptance_sla="PT1S")
    unit = seed.unit()
    head = unit_head(unit)
    tid = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Chỉnh trang đô thị", area="urban",
        deadline=TODAY + timedelta(days=30), points=5,
    ))).target["id"]
    await gateway.command(tid, "start", head, new_id("start"))
    await gateway.command(tid, "complete", head, new_id("complete"), {"result": "xong"})
    await eventually(lambda: "AcceptanceReminded" in seed.event_types(tid), what="an acceptance reminder")
    await gateway.command(tid, "return_completion", SECRETARIAT, new_id("return"), {"reason": "thiếu minh chứng"})
    await gateway.command(tid, "complete", head, new_id("complete"), {"evidence": "biên bản nghiệm thu"})
    await gateway.command(tid, "accept", SECRETARIAT, new_id("accept"), {"note": "đạt"})
    return tid


async def record(server_url: str, out: Path = HERE / "acceptance.json") -> Path:
    from thidua.workflows.client import TargetGateway, connect, workflow_id_for
    from thidua.workflows.worker import build_worker

    with scratch(server_url) as where:
        client = await connect(where.temporal_address, "default")
        queue = "record-acceptance"
        async with build_worker(client, where.app, queue):
            tid = await acceptance(TargetGateway(client, queue), Seed(where.app))
            return await write_history(client.get_workflow_handle(workflow_id_for(tid)), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_url_argument(parser)
    asyncio.run(record(parser.parse_args().database_url))


if __name__ == "__main__":
    main()
