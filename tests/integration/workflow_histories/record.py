"""Record the TargetWorkflow histories that the replay test replays.

    .venv/bin/python -m tests.integration.workflow_histories.record [--database-url URL]

Runs each path once against a fresh Temporal dev server and a scratch database
(created on the PostgreSQL server of --database-url / $DATABASE_URL / 127.0.0.1:5432
and dropped afterwards), and writes `<path>.json` (Temporal's JSON history format,
the same as `temporal workflow show --output json`) next to this file.

Re-record only on purpose: a history recorded by the old code is what proves the new
code can still run the workflows that are live in production. After an intended,
patched change, add new recordings rather than replacing the old ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.integration.conftest import (
    REMINDER_FLOOR_IN_TESTS, SECRETARIAT, STANDING_COMMITTEE, Seed, eventually, new_id, unit_head,
)
from thidua.dburl import eventsourcing_env, with_database
from thidua.workflows.client import assign_request

HERE = Path(__file__).resolve().parent
TODAY = date.today()


async def happy_path(gateway, seed: Seed):  # type: ignore[no-untyped-def]
    campaign = seed.campaign()
    unit = seed.unit()
    head = unit_head(unit)
    tid = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Thu ngân sách", area="econ",
        deadline=TODAY + timedelta(days=30), points=10,
    ))).target["id"]
    await gateway.command(tid, "start", head, new_id("start"))
    await gateway.command(tid, "report_progress", head, new_id("progress"), {"percent": 60})
    await gateway.command(tid, "complete", head, new_id("complete"), {"result": "vượt dự toán"})
    await gateway.command(tid, "reopen", SECRETARIAT, new_id("reopen"), {"reason": "thiếu minh chứng"})
    await gateway.command(tid, "complete", head, new_id("complete"), {"evidence": "báo cáo quyết toán"})
    return [("happy_path", None)], tid


async def auto_escalation(gateway, seed: Seed):  # type: ignore[no-untyped-def]
    campaign = seed.campaign(escalate_after="PT1S", resolution_sla="PT1S", stale_after="P30D")
    unit = seed.unit()
    head = unit_head(unit)
    tid = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="GPMB", area="gpmb",
        deadline=TODAY + timedelta(days=30), points=10,
    ))).target["id"]
    await gateway.command(tid, "start", head, new_id("start"))
    await gateway.command(tid, "block", head, new_id("block"), {"reason": "thiếu vốn"})
    await eventually(lambda: "EscalationReminded" in seed.event_types(tid), what="a reminder")
    await gateway.command(
        tid, "resolve", STANDING_COMMITTEE, new_id("resolve"),
        {"directive": "ứng vốn", "new_deadline": TODAY + timedelta(days=45)},
    )
    await gateway.command(tid, "complete", head, new_id("complete"))
    return [("auto_escalation", None)], tid


async def cancel(gateway, seed: Seed):  # type: ignore[no-untyped-def]
    campaign = seed.campaign()
    unit = seed.unit()
    head = unit_head(unit)
    tid = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Chỉ tiêu bị huỷ", area="econ",
        deadline=TODAY + timedelta(days=30), points=1,
    ))).target["id"]
    await gateway.command(tid, "start", head, new_id("start"))
    await gateway.command(tid, "block", head, new_id("block"), {"reason": "không khả thi"})
    await gateway.command(tid, "cancel", SECRETARIAT, new_id("cancel"), {"reason": "điều chỉnh kế hoạch"})
    seed.close_campaign(campaign)
    await gateway.close_campaign(campaign, [tid])
    return [("cancel", None)], tid


async def continue_as_new(gateway, seed: Seed):  # type: ignore[no-untyped-def]
    from thidua.workflows.client import workflow_id_for
    from thidua.workflows.target_workflow import TargetWorkflow

    campaign = seed.campaign()
    unit = seed.unit()
    head = unit_head(unit)
    tid = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Cải cách hành chính", area="admin",
        deadline=TODAY + timedelta(days=30), points=3,
    ))).target["id"]
    await gateway.command(tid, "start", head, new_id("start"))
    handle = gateway.client.get_workflow_handle(workflow_id_for(tid))
    first_run = (await handle.describe()).run_id
    await handle.signal(TargetWorkflow.continue_as_new_now)
    await asyncio.gather(*(
        gateway.command(tid, "report_progress", head, new_id(f"p{n}"), {"percent": 10 * n}) for n in range(1, 4)
    ))
    await gateway.command(tid, "block", head, new_id("block"), {"reason": "chờ phê duyệt"})
    return [("continue_as_new_first_run", first_run), ("continue_as_new_next_run", None)], tid


async def rebuilt_from_the_aggregate(gateway, seed: Seed):  # type: ignore[no-untyped-def]
    """A workflow started in load mode for a target that already exists."""
    from thidua.workflows.client import workflow_id_for

    campaign = seed.campaign()
    unit = seed.unit()
    head = unit_head(unit)
    tid = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Phòng chống tham nhũng", area="anticorruption",
        deadline=TODAY + timedelta(days=30), points=2,
    ))).target["id"]
    await gateway.client.get_workflow_handle(workflow_id_for(tid)).terminate("recording the load path")
    await gateway.command(tid, "start", head, new_id("start"))
    await gateway.command(tid, "report_progress", head, new_id("progress"), {"note": "đang xác minh"})
    return [("rebuilt_from_the_aggregate", None)], tid


SCENARIOS: list[Callable[..., Awaitable[tuple[list[tuple[str, str | None]], str]]]] = [
    happy_path, auto_escalation, cancel, continue_as_new, rebuilt_from_the_aggregate,
]


@dataclass
class Scratch:
    """A fresh Temporal dev server and a scratch database with its domain application."""

    database_url: str
    temporal_address: str
    app: Any


@contextlib.contextmanager
def scratch(server_url: str) -> Iterator[Scratch]:
    """A Scratch, all of it removed afterwards (the database dropped)."""
    from thidua.domain.application import new_application
    from thidua.embedded import EmbeddedTemporal
    from thidua.workflows.search_attributes import CLI_TYPES

    dbname = f"thidua_histories_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    database_url = with_database(server_url, dbname)
    temporal_dir = tempfile.mkdtemp(prefix="thdrec", dir="/tmp")
    server = EmbeddedTemporal(temporal_dir, headless=True, search_attributes=CLI_TYPES).start()
    app = new_application(eventsourcing_env(database_url))
    try:
        yield Scratch(database_url, server.address, app)
    finally:
        app.close()
        server.stop()
        shutil.rmtree(temporal_dir, ignore_errors=True)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


async def write_history(handle: Any, path: Path) -> Path:
    """The workflow's history, in Temporal's JSON format, at `path`."""
    history = await handle.fetch_history()
    path.write_text(history.to_json() + "\n")
    print(f"wrote {path} ({len(history.events)} events)")
    return path


def server_url_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or "postgresql://root@127.0.0.1:5432/postgres",
        help="a PostgreSQL server to create the scratch database on",
    )


async def record(server_url: str, out_dir: Path = HERE, suffix: str = "") -> list[Path]:
    from thidua.workflows.client import TargetGateway, connect, workflow_id_for
    from thidua.workflows.worker import build_worker

    written = []
    with scratch(server_url) as where:
        client = await connect(where.temporal_address, "default")
        queue = "record-histories"
        gateway = TargetGateway(client, queue)
        async with build_worker(client, where.app, queue, reminder_floor=REMINDER_FLOOR_IN_TESTS):
            for scenario in SCENARIOS:
                runs, tid = await scenario(gateway, Seed(where.app))
                for name, run_id in runs:
                    handle = client.get_workflow_handle(workflow_id_for(tid), run_id=run_id)
                    written.append(await write_history(handle, out_dir / f"{name}{suffix}.json"))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_url_argument(parser)
    parser.add_argument(
        "--suffix", default="",
        help="added to each file's name, to record the paths again after a patched change (e.g. _local_activities)",
    )
    args = parser.parse_args()
    asyncio.run(record(args.database_url, suffix=args.suffix))


if __name__ == "__main__":
    main()
