"""Fixtures for the workflow integration tests (real PostgreSQL, real Temporal).

- `workflow_app`: the domain application on the session's database (`es_env`);
- `temporal_client`: a client of the session's dev server (`temporal_address`);
- `workflow_task_queue` / `workflow_worker` / `gateway`: a worker running in this
  process on a task queue of its own per test module (no cross-talk between modules);
- `seed`: builds campaigns (policy in seconds), units and actors for a story;
- `time_skipping`: a second dev server with per-workflow time skipping (virtual days).

Everything is lazy: a test that asks for none of these starts nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from thidua.domain.application import ThiduaApplication, new_application
from thidua.domain.campaign import Campaign, Unit
from thidua.domain.errors import NotFound
from thidua.domain.values import Actor, Command, Policy, Role

T = TypeVar("T")

SECRETARIAT = Actor(id="sec-vp", name="Văn phòng Thành ủy", role=Role.SECRETARIAT)
STANDING_COMMITTEE = Actor(id="btv-nam", name="Nguyễn Hoài Nam", role=Role.STANDING_COMMITTEE)
# The Temporal dev server with per-workflow time skipping (virtual clocks).
# The worker's floor on repeating reminders in the tests on real time, whose policies
# remind every few seconds (the time-skipping worker keeps the default, PT1H).
REMINDER_FLOOR_IN_TESTS = timedelta(seconds=1)
TIME_SKIPPING_ARGS = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]


def unit_head(unit_id: str) -> Actor:
    return Actor(id=f"head-{unit_id}", name=f"Head of {unit_id}", role=Role.UNIT_HEAD, unit_id=unit_id)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def eventually(probe: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = "") -> Any:
    """Poll `probe` (sync, run in a thread) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(probe)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or probe}")
        await asyncio.sleep(interval)


@dataclass
class StoredEvent:
    type: str
    actor: Actor
    occurred_at: datetime
    command_id: str
    version: int
    position: int


class Seed:
    """Sets up what a target needs, straight through the domain application."""

    def __init__(self, app: ThiduaApplication) -> None:
        self.app = app

    def _cmd(self, actor: Actor = SECRETARIAT) -> Command:
        return Command(new_id("seed"), actor, datetime.now(timezone.utc))

    def campaign(
        self,
        *,
        escalate_after: str = "P3D",
        resolution_sla: str = "P7D",
        stale_after: str = "P30D",
        tz: str = "Asia/Ho_Chi_Minh",
        campaign_id: str | None = None,
        acceptance_required: bool = False,
        acceptance_sla: str = "P7D",
    ) -> str:
        campaign_id = campaign_id or new_id("vinh-yen-2022")
        today = date.today()
        campaign = Campaign.create(
            self._cmd(),
            campaign_id=campaign_id,
            name="Đợt cao điểm thi đua 2022",
            starts_on=today - timedelta(days=30),
            ends_on=today + timedelta(days=365),
            timezone=tz,
            policy=Policy(escalate_after=escalate_after, resolution_sla=resolution_sla, stale_after=stale_after,
                          acceptance_required=acceptance_required, acceptance_sla=acceptance_sla),
        )
        self.app.save_changes(campaign)
        return campaign_id

    def close_campaign(self, campaign_id: str) -> None:
        campaign = self.app.get_campaign(campaign_id)
        campaign.close(self._cmd(), reason="the drive is over")
        self.app.save_changes(campaign)

    def unit(self, unit_id: str | None = None, name: str = "Phường Ngô Quyền") -> str:
        unit_id = unit_id or new_id("ngo-quyen")
        try:
            self.app.get_unit(unit_id)
        except NotFound:
            self.app.save_changes(Unit.register(self._cmd(), unit_id=unit_id, name=name, kind="ward"))
        return unit_id

    def events(self, target_id: str) -> list[StoredEvent]:
        """The target's stored events, oldest first."""
        from uuid import UUID

        events = []
        for domain_event in self.app.repository.event_store.get(UUID(target_id)):
            version = domain_event.originator_version
            events.append(StoredEvent(
                type=type(domain_event).__name__,
                actor=getattr(domain_event, "actor"),
                occurred_at=getattr(domain_event, "occurred_at"),
                command_id=getattr(domain_event, "command_id"),
                version=version,
                position=self.app.position_of(UUID(target_id), version) or 0,
            ))
        return events

    def event_types(self, target_id: str) -> list[str]:
        return [e.type for e in self.events(target_id)]


async def armed(client: Any, target_id: str) -> list[Any]:
    """The timers the target's workflow has armed now (its `armed` query)."""
    from thidua.workflows.client import workflow_id_for
    from thidua.workflows.target_workflow import TargetWorkflow

    return await client.get_workflow_handle(workflow_id_for(target_id)).query(TargetWorkflow.armed)


def armed_commands(timers: list[Any]) -> set[str]:
    return {t.command for t in timers}


# ---------------------------------------------------------------------------- store
@pytest.fixture(scope="session")
def workflow_app(es_env: dict[str, str]) -> Iterator[ThiduaApplication]:
    app = new_application(es_env)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture(scope="session")
def seed(workflow_app: ThiduaApplication) -> Seed:
    return Seed(workflow_app)


# ---------------------------------------------------------------------------- Temporal
@pytest.fixture(scope="session")
async def temporal_client(temporal_address: str):  # type: ignore[no-untyped-def]
    from thidua.workflows.client import connect

    return await connect(temporal_address, "default")


@pytest.fixture(scope="module")
def workflow_task_queue(request: pytest.FixtureRequest) -> str:
    return f"wf-{request.module.__name__.rsplit('.', 1)[-1]}-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
async def workflow_worker(temporal_client, workflow_app, workflow_task_queue) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    from thidua.workflows.worker import build_worker

    worker = build_worker(
        temporal_client, workflow_app, workflow_task_queue,
        max_cached_workflows=1000, graceful_shutdown_timeout=timedelta(seconds=3),
        reminder_floor=REMINDER_FLOOR_IN_TESTS,
    )
    async with worker:
        yield worker


@pytest.fixture(scope="module")
def gateway(temporal_client, workflow_task_queue, workflow_worker):  # type: ignore[no-untyped-def]
    from thidua.workflows.client import TargetGateway

    return TargetGateway(temporal_client, workflow_task_queue, answer_timeout=timedelta(seconds=45))


# ---------------------------------------------------------------------------- time skipping
@dataclass
class TimeSkipping:
    """A dev server whose workflows each run on a virtual clock moved by `fast_forward`."""

    skipper: Any  # temporalio.testing.TimeSkipper
    gateway: Any  # TargetGateway over the skipper's client
    client: Any

    async def fast_forward(self, target_id: str, duration: timedelta) -> None:
        from thidua.workflows.client import workflow_id_for

        handle = self.client.get_workflow_handle(workflow_id_for(target_id))
        await self.skipper.fast_forward(handle, duration)

    async def timers_fired(self, target_id: str) -> int:
        """How many timers have fired in the current run (from its history)."""
        from temporalio.api.enums.v1 import EventType

        from thidua.workflows.client import workflow_id_for

        handle = self.client.get_workflow_handle(workflow_id_for(target_id))
        history = await handle.fetch_history()
        return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED)

    async def now(self, target_id: str) -> datetime:
        from thidua.workflows.client import workflow_id_for

        return await self.skipper.get_current_time(self.client.get_workflow_handle(workflow_id_for(target_id)))


@pytest.fixture(scope="session")
def time_skipping_address() -> Iterator[str]:
    from thidua.embedded import EmbeddedTemporal
    from thidua.workflows.search_attributes import CLI_TYPES

    data_dir = tempfile.mkdtemp(prefix="thdts", dir="/tmp")
    server = EmbeddedTemporal(data_dir, headless=True, extra_args=TIME_SKIPPING_ARGS,
                              search_attributes=CLI_TYPES).start()
    try:
        yield server.address
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
async def time_skipping(time_skipping_address: str, workflow_app: ThiduaApplication) -> AsyncIterator[TimeSkipping]:
    from temporalio.testing import TimeSkipper, TimeSkippingConfig

    from thidua.workflows.client import TargetGateway, connect
    from thidua.workflows.worker import build_worker

    client = await connect(time_skipping_address, "default")
    # Workflows start on real time; each test moves a workflow's clock explicitly.
    skipper = TimeSkipper(client, config=TimeSkippingConfig(enabled=False))
    queue = f"wf-ts-{secrets.token_hex(3)}"
    worker = build_worker(client, workflow_app, queue, graceful_shutdown_timeout=timedelta(seconds=3))
    async with worker:
        yield TimeSkipping(
            skipper=skipper,
            gateway=TargetGateway(skipper.client, queue, answer_timeout=timedelta(seconds=45)),
            client=skipper.client,
        )
