"""Record the history of a parent target's TargetWorkflow that the cascade drives.

    .venv/bin/python -m tests.integration.workflow_histories.record_cascade [--database-url URL]

The parent's workflow takes the cascade's `system` commands (`complete_by_children`,
then `reopen_by_child`) through its `command` update, as thidua.workflows.cascade sends
them; the history is written as `cascade_parent.json` beside record.py's and replayed by
test_workflow_replay. Re-record only on purpose (see record.py).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from tests.integration.conftest import SECRETARIAT, Seed, new_id, unit_head
from tests.integration.workflow_histories.record import HERE, TODAY, scratch, server_url_argument, write_history
from thidua.workflows.client import assign_request

NAME = "cascade_parent"


async def record(server_url: str) -> None:
    from thidua.workflows.client import TargetGateway, connect, workflow_id_for
    from thidua.workflows.worker import build_worker

    with scratch(server_url) as where:
        client = await connect(where.temporal_address, "default")
        queue = "record-cascade"
        gateway = TargetGateway(client, queue)
        async with build_worker(client, where.app, queue):
            seed = Seed(where.app)
            campaign, city, ward = seed.campaign(), seed.unit(), seed.unit()
            parent = (await gateway.assign(assign_request(
                SECRETARIAT, new_id("assign"), campaign, unit_id=city, title="GPMB các dự án", area="GPMB",
                deadline=TODAY + timedelta(days=30), points=20,
            ))).target["id"]
            child = await gateway.assign(assign_request(
                SECRETARIAT, new_id("assign"), campaign, unit_id=ward, title="GPMB phường", area="GPMB",
                deadline=TODAY + timedelta(days=30), points=10, parent_id=parent,
            ))
            done = await gateway.command(child.target["id"], "complete", unit_head(ward), new_id("complete"))
            await gateway.cascade(parent, "complete_by_children", f"cascade:{parent}:complete:{done.position}", {
                "late": False, "children": [{"target_id": child.target["id"], "position": done.position,
                                             "report_class": "completed_on_time"}]})
            reopened = await gateway.command(child.target["id"], "reopen", SECRETARIAT, new_id("reopen"),
                                             {"reason": "thiếu hồ sơ"})
            await gateway.cascade(parent, "reopen_by_child",
                                  f"cascade:{parent}:reopen:{child.target['id']}:{reopened.position}",
                                  {"child_id": child.target["id"], "position": reopened.position})
            await write_history(client.get_workflow_handle(workflow_id_for(parent)), HERE / f"{NAME}.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    server_url_argument(parser)
    asyncio.run(record(parser.parse_args().database_url))


if __name__ == "__main__":
    main()
