"""Record the CampaignOperationWorkflow histories that its replay test replays.

    .venv/bin/python -m tests.integration.workflow_histories.record_operations [--database-url URL]

Like `record.py` (a fresh Temporal dev server, a scratch database dropped afterwards), with
the projector running too (an operation reads its targets from the `targets` read model).
Writes `campaign_operation/<kind>.json` next to this file. Re-record only on purpose: see
record.py.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, timedelta
from pathlib import Path

from tests.integration.conftest import SECRETARIAT, STANDING_COMMITTEE, Seed, new_id
from tests.integration.workflow_histories.record import scratch, server_url_argument, write_history
from thidua.workflows.client import assign_request

OUT = Path(__file__).resolve().parent / "campaign_operation"
# kind -> (who, arguments); run in this order on one campaign with three targets.
OPERATIONS = [
    ("policy", SECRETARIAT, {"escalate_after": "P2D", "resolution_sla": "P7D", "stale_after": "P20D"}),
    ("scoring", STANDING_COMMITTEE, {"on_time": "1", "late": "0.6", "reward_slots": 2, "effective_at": None}),
    ("close", SECRETARIAT, {"reason": "kết thúc đợt"}),
    ("reopen", STANDING_COMMITTEE, {"reason": "gia hạn"}),
]


async def record(server_url: str, out_dir: Path = OUT) -> list[Path]:
    from thidua.projections.projector import Projector
    from thidua.workflows.campaign_operation_client import CampaignOperations
    from thidua.workflows.campaign_operation_messages import OperationInput
    from thidua.workflows.client import TargetGateway, connect
    from thidua.workflows.worker import build_worker

    written = []
    with scratch(server_url) as where:
        client = await connect(where.temporal_address, "default")
        queue = "record-operations"
        gateway, operations = TargetGateway(client, queue), CampaignOperations(client, queue)
        seed = Seed(where.app)
        async with Projector(where.database_url, poll_interval=0.2), build_worker(client, where.app, queue):
            campaign, unit = seed.campaign(), seed.unit()
            for n in range(3):
                await gateway.assign(assign_request(
                    SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title=f"Chỉ tiêu {n}", area="econ",
                    deadline=date.today() + timedelta(days=30), points=1,
                ))
            out_dir.mkdir(exist_ok=True)
            for kind, actor, args in OPERATIONS:
                operation_id = await operations.start(OperationInput(
                    kind=kind, campaign_id=campaign, command_id=new_id(kind), actor=actor.to_dict(), args=args))
                assert await operations.wait(operation_id, 120) is not None
                written.append(await write_history(client.get_workflow_handle(operation_id), out_dir / f"{kind}.json"))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_url_argument(parser)
    asyncio.run(record(parser.parse_args().database_url))


if __name__ == "__main__":
    main()
