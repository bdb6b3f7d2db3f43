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
import os
import secrets
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from tests.integration.conftest import SECRETARIAT, STANDING_COMMITTEE, Seed, new_id
from thidua.dburl import eventsourcing_env, with_database
from workflows.client import assign_request

OUT = Path(__file__).resolve().parent / "campaign_operation"
# kind -> (who, arguments); run in this order on one campaign with three targets.
OPERATIONS = [
    ("policy", SECRETARIAT, {"escalate_after": "P2D", "resolution_sla": "P7D", "stale_after": "P20D"}),
    ("scoring", STANDING_COMMITTEE, {"on_time": "1", "late": "0.6", "reward_slots": 2, "effective_at": None}),
    ("close", SECRETARIAT, {"reason": "kết thúc đợt"}),
    ("reopen", STANDING_COMMITTEE, {"reason": "gia hạn"}),
]


async def record(server_url: str, out_dir: Path = OUT) -> list[Path]:
    from domain.application import new_application
    from projections.projector import Projector
    from thidua.embedded import EmbeddedTemporal
    from workflows.campaign_operation_client import CampaignOperations
    from workflows.campaign_operation_messages import OperationInput
    from workflows.client import TargetGateway, connect
    from workflows.worker import build_worker

    dbname = f"thidua_histories_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    database_url = with_database(server_url, dbname)
    temporal_dir = tempfile.mkdtemp(prefix="thdrec", dir="/tmp")
    server = EmbeddedTemporal(temporal_dir, headless=True).start()
    app = new_application(eventsourcing_env(database_url))
    projector = Projector(database_url, poll_interval=0.2)
    written = []
    try:
        await projector.__aenter__()
        client = await connect(server.address, "default")
        queue = "record-operations"
        gateway, operations = TargetGateway(client, queue), CampaignOperations(client, queue)
        seed = Seed(app)
        async with build_worker(client, app, queue):
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
                history = await client.get_workflow_handle(operation_id).fetch_history()
                path = out_dir / f"{kind}.json"
                path.write_text(history.to_json() + "\n")
                written.append(path)
                print(f"wrote {path} ({len(history.events)} events)")
    finally:
        await projector.__aexit__(None, None, None)
        app.close()
        server.stop()
        shutil.rmtree(temporal_dir, ignore_errors=True)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or "postgresql://root@127.0.0.1:5432/postgres",
        help="a PostgreSQL server to create the scratch database on",
    )
    asyncio.run(record(parser.parse_args().database_url))


if __name__ == "__main__":
    main()
