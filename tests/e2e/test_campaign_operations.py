"""Campaign-wide operations (close, policy, scoring, reopen) as Temporal workflows.

A route waits a bounded time and answers 202 with a link to the operation when it has
not finished; the operation goes on by itself, whatever happens to the process that
started it or to the worker running it, and the same command sent again joins it
instead of doing anything twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.e2e.conftest import Person, make_person, register_unit, unique
from tests.e2e.test_campaign_changes import eventually, workflow_of
from tests.integration.test_workflow_worker_crash import discard, log_of, start_worker_process
from thidua.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def temporal(e2e_settings: Settings) -> Client:
    from thidua.workflows.client import connect

    return await connect(e2e_settings.temporal_address, e2e_settings.temporal_namespace)


# ------------------------------------------------------------------ helpers
async def new_campaign(secretariat: Person, targets: int, *, api: Any = None) -> tuple[str, str, list[str]]:
    """A campaign with one unit and `targets` targets (assigned through the session's API)."""
    unit = unique("ward")
    await register_unit(secretariat, unit, f"Phường {unit}")
    campaign = unique("ops")
    created = await secretariat.post("/v1/campaigns", {"id": campaign, "name": "Đợt thi đua",
                                                       "starts_on": "2022-01-01", "ends_on": "2030-12-31"})
    assert created.status_code == 201, created.text
    ids = []
    for _ in range(targets):
        assigned = await secretariat.post(f"/v1/campaigns/{campaign}/targets", {
            "unit_id": unit, "title": "Chỉnh trang đô thị", "area": "GPMB",
            "deadline": (date.today() + timedelta(days=365)).isoformat(), "points": 1})
        assert assigned.status_code == 201, assigned.text
        ids.append(assigned.json()["target"]["id"])
    return campaign, unit, ids


def closings(database_url: str, campaign: str) -> int:
    """How many Closed events the campaign has."""
    from thidua.domain.campaign import campaign_uuid
    from thidua.event_store import domain_application

    app = domain_application(database_url)
    try:
        return sum(1 for e in app.recorder.select_events(campaign_uuid(campaign)) if e.topic.endswith(".Closed"))
    finally:
        app.close()


@asynccontextmanager
async def in_process_worker(settings: Settings, task_queue: str) -> AsyncIterator[None]:
    """A worker on `task_queue` on this loop, for as long as the block runs."""
    from thidua.event_store import domain_application
    from thidua.workflows.client import connect
    from thidua.workflows.worker import build_worker

    domain_app = await asyncio.to_thread(domain_application, settings.database_url)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    worker = build_worker(client, domain_app, task_queue, graceful_shutdown_timeout=timedelta(seconds=2))
    try:
        async with worker:
            yield
    finally:
        domain_app.close()


@asynccontextmanager
async def api_on_queue(settings: Settings, task_queue: str, wait: float) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process, its commands and operations on `task_queue`, waiting `wait`
    seconds for an operation."""
    from thidua.bootstrap import build_api

    app = build_api(settings.model_copy(update={"task_queue": task_queue, "operation_wait_seconds": wait}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                     timeout=60) as client:
            yield client


async def operation_of(person: Person, href: str, state: str) -> dict[str, Any] | None:
    response = await person.get(href)
    assert response.status_code == 200, response.text
    body = response.json()
    return body if body["state"] == state else None


async def statuses(temporal: Client, ids: list[str]) -> set[WorkflowExecutionStatus | None]:
    return {(await workflow_of(temporal, tid).describe()).status for tid in ids}


# ------------------------------------------------------------------ 202, progress, running it twice
async def test_a_long_operation_answers_202_and_its_progress_is_readable_until_it_succeeds(
    secretariat: Person, worker: None, projector: None, e2e_settings: Settings, temporal: Client,
) -> None:
    campaign, unit, ids = await new_campaign(secretariat, 3)
    head = await make_person(secretariat, name="Bí thư", role="unit_head", unit_id=unit)
    committee = await make_person(secretariat, name="Ban Thường vụ", role="standing_committee")
    queue = unique("ops-q")  # nobody serves it yet: the operation cannot finish in the route's wait
    key = {"Idempotency-Key": unique("close"), **secretariat.headers}
    async with api_on_queue(e2e_settings, queue, wait=0.5) as api:
        accepted = await api.post(f"/v1/campaigns/{campaign}/close", json={"reason": "Kết thúc"}, headers=key)
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        href = accepted.headers["location"]
        assert href == body["href"] == f"/v1/operations/{body['id']}"
        assert body["kind"] == "close" and body["campaign_id"] == campaign and body["state"] == "running"
        assert body["done"] == 0 and body["finished_at"] is None and body["result"] is None

        read = await api.get(href, headers=committee.headers)
        assert read.status_code == 200 and read.json()["state"] == "running", read.text
        assert (await api.get(href, headers=head.headers)).status_code == 403
        assert (await api.get("/v1/operations/op-nothing.0", headers=secretariat.headers)).status_code == 404
        assert (await api.get(f"/v1/operations/{workflow_of(temporal, ids[0]).id}",
                              headers=secretariat.headers)).status_code == 422  # not an operation's id

        # The same request again joins the same operation (a 202 is not a final answer).
        joined = await api.post(f"/v1/campaigns/{campaign}/close", json={"reason": "Kết thúc"}, headers=key)
        assert joined.status_code == 202 and joined.json()["id"] == body["id"], joined.text
        assert await statuses(temporal, ids) == {WorkflowExecutionStatus.RUNNING}

        async with in_process_worker(e2e_settings, queue):
            done = await eventually(lambda: operation_of(secretariat, href, "succeeded"), "the operation succeeded")
        assert done["done"] == done["total"] == 3 and done["errors"] == [] and done["finished_at"]
        assert done["result"]["campaign"]["closed"] is True
        assert await statuses(temporal, ids) == {WorkflowExecutionStatus.COMPLETED}

        # Now the request gets its final answer, remembered from then on.
        final = await api.post(f"/v1/campaigns/{campaign}/close", json={"reason": "Kết thúc"}, headers=key)
        assert final.status_code == 200, final.text
        assert final.json() == done["result"]
        replayed = await api.post(f"/v1/campaigns/{campaign}/close", json={"reason": "Kết thúc"}, headers=key)
        assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.content == final.content

    # Started again with the same command: the same (finished) operation, nothing recorded twice.
    from thidua.api.idempotency import command_id_for
    from thidua.workflows.campaign_operation_client import CampaignOperations
    from thidua.workflows.campaign_operation_messages import CLOSE, OperationInput, operation_id_for

    operations = CampaignOperations(temporal, queue)
    again = OperationInput(kind="close", campaign_id=campaign, actor={"id": secretariat.id, "name": "VP",
                                                                      "role": "secretariat"},
                           command_id=command_id_for(secretariat.id, key["Idempotency-Key"]),
                           args={"reason": "Kết thúc"})
    run_before = (await temporal.get_workflow_handle(body["id"]).describe()).run_id
    assert await operations.start(again) == body["id"]
    assert (await temporal.get_workflow_handle(body["id"]).describe()).run_id == run_before
    assert await asyncio.to_thread(closings, e2e_settings.database_url, campaign) == 1

    # A refused operation (closing a closed campaign) is a 409 for its route, and reads as failed.
    other_key = unique("close")
    refused = await secretariat.post(f"/v1/campaigns/{campaign}/close", {}, headers={"Idempotency-Key": other_key})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/campaign-closed"), refused.text
    failed_id = operation_id_for(command_id_for(secretariat.id, other_key), CLOSE, campaign, {"reason": None})
    failed = await secretariat.get(f"/v1/operations/{failed_id}")
    assert failed.status_code == 200 and failed.json()["state"] == "failed", failed.text
    assert failed.json()["finished_at"] and "is closed" in failed.json()["errors"][-1]
    assert await asyncio.to_thread(closings, e2e_settings.database_url, campaign) == 1


# ------------------------------------------------------------------ crashes
async def test_a_worker_killed_in_the_middle_of_an_operation_is_replaced_and_it_completes(
    secretariat: Person, worker: None, projector: None, e2e_settings: Settings, temporal: Client,
) -> None:
    """The targets' workflows run on a queue of their own, whose worker the test stops:
    the operation's page then waits for them to finish, and the operation's worker is
    killed right there, after the campaign is closed and before any target is done."""
    from thidua.domain.values import Actor, Role
    from thidua.workflows.campaign_operation_client import CampaignOperations
    from thidua.workflows.campaign_operation_messages import REACH_TARGETS_ACTIVITY, OperationInput
    from thidua.workflows.client import TargetGateway, assign_request

    campaign, unit, _ = await new_campaign(secretariat, 0)
    targets_queue, operations_queue = unique("ops-targets"), unique("ops-run")
    actor = Actor(id=secretariat.id, name="Văn phòng", role=Role.SECRETARIAT)
    gateway = TargetGateway(temporal, targets_queue, answer_timeout=timedelta(seconds=60))
    async with in_process_worker(e2e_settings, targets_queue):
        ids = [(await gateway.assign(assign_request(
            actor, unique("assign"), campaign, unit_id=unit, title="Lát vỉa hè", area="GPMB",
            deadline=date.today() + timedelta(days=90), points=2))).target["id"] for _ in range(4)]
    assert await statuses(temporal, ids) == {WorkflowExecutionStatus.RUNNING}  # nobody serves them now

    doomed = start_worker_process(e2e_settings.database_url, e2e_settings.temporal_address, operations_queue)
    successor = None
    try:
        operations = CampaignOperations(temporal, operations_queue)
        operation_id = await operations.start(OperationInput(
            kind="close", campaign_id=campaign, command_id=unique("close"), actor=actor.to_dict(), args={}))
        handle = temporal.get_workflow_handle(operation_id)

        async def reaching() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return any(a.activity_type.name == REACH_TARGETS_ACTIVITY and a.attempt == 1 for a in pending)

        await eventually(reaching, "the operation reaching the targets", timeout=60)
        assert await asyncio.to_thread(closings, e2e_settings.database_url, campaign) == 1
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        status = await operations.status(operation_id)
        assert status is not None and status.state == "running" and status.done == 0

        successor = start_worker_process(e2e_settings.database_url, e2e_settings.temporal_address, operations_queue)
        async with in_process_worker(e2e_settings, targets_queue):
            changed = await operations.wait(operation_id, 120)
            assert changed is not None and changed.campaign["closed"] is True, log_of(successor)
        status = await operations.status(operation_id)
        assert status is not None and status.state == "succeeded" and status.done == status.total == 4
        assert await statuses(temporal, ids) == {WorkflowExecutionStatus.COMPLETED}
        assert await asyncio.to_thread(closings, e2e_settings.database_url, campaign) == 1
    finally:
        for process in (doomed, successor):
            if process is not None:
                discard(process)


def start_api_process(settings: Settings, task_queue: str, port: int) -> subprocess.Popen:
    """`thidua api` in its own process group, its log in a temporary file."""
    log = tempfile.NamedTemporaryFile(prefix="thidua-api-", suffix=".log", delete=False)  # noqa: SIM115
    data_dir = tempfile.mkdtemp(prefix="thda", dir="/tmp")
    process = subprocess.Popen(
        [sys.executable, "-m", "thidua.cli", "api"], cwd=REPO,
        env={**os.environ, "DATABASE_URL": str(settings.database_url),
             "TEMPORAL_ADDRESS": str(settings.temporal_address), "THIDUA_TASK_QUEUE": task_queue,
             "THIDUA_API_PORT": str(port), "THIDUA_DATA_DIR": data_dir, "THIDUA_OPERATION_WAIT_SECONDS": "60"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    process.log_path = log.name  # type: ignore[attr-defined]
    process.data_dir = data_dir  # type: ignore[attr-defined]
    return process


async def test_an_api_killed_while_it_waits_for_an_operation_leaves_it_running_to_completion(
    secretariat: Person, worker: None, projector: None, e2e_settings: Settings, temporal: Client,
    http: httpx.AsyncClient,
) -> None:
    from thidua.api.idempotency import command_id_for
    from thidua.embedded import free_port
    from thidua.workflows.campaign_operation_client import CampaignOperations
    from thidua.workflows.campaign_operation_messages import CLOSE, operation_id_for

    campaign, _, ids = await new_campaign(secretariat, 3)
    queue, port = unique("ops-api"), free_port()
    key = unique("close")
    operation_id = operation_id_for(command_id_for(secretariat.id, key), CLOSE, campaign, {"reason": "Kết thúc"})
    api = start_api_process(e2e_settings, queue, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=90) as client:
            async def serving() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(serving, "the API process serving", timeout=60)
            # Nobody serves `queue` yet: the API waits for the operation, and is killed waiting.
            answer = asyncio.create_task(client.post(f"/v1/campaigns/{campaign}/close", json={"reason": "Kết thúc"},
                                                     headers={"Idempotency-Key": key, **secretariat.headers}))

            async def started() -> bool:
                try:
                    await temporal.get_workflow_handle(operation_id).describe()
                except Exception:
                    return False
                return True

            await eventually(started, "the operation started")
            os.killpg(api.pid, signal.SIGKILL)
            api.wait(timeout=10)
            try:
                await answer
            except httpx.TransportError:
                pass  # the connection died with the API
            else:
                raise AssertionError("the killed API answered")
    finally:
        discard(api)

    operations = CampaignOperations(temporal, queue)
    async with in_process_worker(e2e_settings, queue):
        changed = await operations.wait(operation_id, 120)
    assert changed is not None and changed.campaign["closed"] is True
    assert await statuses(temporal, ids) == {WorkflowExecutionStatus.COMPLETED}

    # The caller's retry (another API, same key) gets the operation's answer; nothing twice.
    retried = await http.post(f"/v1/campaigns/{campaign}/close", json={"reason": "Kết thúc"},
                              headers={"Idempotency-Key": key, **secretariat.headers})
    assert retried.status_code == 200, retried.text
    assert retried.json()["position"] == changed.position
    assert await asyncio.to_thread(closings, e2e_settings.database_url, campaign) == 1
