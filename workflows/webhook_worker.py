"""Webhook and e-mail delivery beside the worker: a Temporal worker on the webhooks' own task
queue (WebhookBatchWorkflow and its async activities; WebhookDeliveryWorkflow, one per row,
for the workflows of earlier versions still in flight) and the outbox dispatcher that starts
one workflow per batch of webhook and e-mail rows; and the daily digest (DailyDigestWorkflow, its
activity, and the per-campaign schedules kept by thidua.workflows.digest_schedules). Its own queue and slots: receivers that are
slow or dead hold delivery slots only, never the targets' commands."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from thidua.dburl import asyncpg_dsn
from thidua.workflows.digest_activities import DigestActivities
from thidua.workflows.digest_schedules import DigestSchedules
from thidua.workflows.digest_workflow import DailyDigestWorkflow
from thidua.workflows.cascade import CascadeDispatcher
from thidua.workflows.client import TargetGateway
from thidua.workflows.mail import Mailer
from thidua.workflows.webhook_activities import WebhookActivities
from thidua.workflows.webhook_dispatch import Dispatcher
from thidua.workflows.webhook_batch import WebhookBatchWorkflow
from thidua.workflows.webhook_workflow import WebhookDeliveryWorkflow, webhooks_queue

# Async activities (waiting on receivers costs no thread): batches, each with its own
# requests bounded per receiver and in all (thidua.workflows.webhook_activities).
MAX_CONCURRENT_DELIVERIES = 50


class WebhookService:
    def __init__(self, client: Client, app: Any, database_url: str, task_queue: str, *, allow_private: bool = False,
                 workflow_runner: Any = None, initial_interval_ms: int = 1000, window_s: int = 86_400,
                 poll_interval: float = 2.0, mail: Mailer | None = None, digest_interval: float = 60.0) -> None:
        dsn = asyncpg_dsn(database_url)
        self.activities = WebhookActivities(dsn, app, allow_private=allow_private, mail=mail)
        self.digests = DigestActivities(dsn, app)
        extra = {"workflow_runner": workflow_runner} if workflow_runner is not None else {}
        self.worker = Worker(client, task_queue=webhooks_queue(task_queue),
                             workflows=[WebhookBatchWorkflow, WebhookDeliveryWorkflow, DailyDigestWorkflow],
                             activities=[*self.activities.all(), *self.digests.all()],
                             max_concurrent_activities=MAX_CONCURRENT_DELIVERIES, **extra)
        self.dispatcher = Dispatcher(client, dsn, task_queue, poll_interval=poll_interval,
                                     initial_interval_ms=initial_interval_ms, window_s=window_s)
        self.schedules = DigestSchedules(client, dsn, webhooks_queue(task_queue), interval=digest_interval)
        # Parents that follow their children (thidua.workflows.cascade) ride along: it is
        # the same kind of thing, read-model rows turned into Temporal commands.
        self.cascade = CascadeDispatcher(TargetGateway(client, task_queue), dsn, poll_interval=poll_interval)
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> WebhookService:
        self._tasks = [asyncio.create_task(self.worker.run()), asyncio.create_task(self.dispatcher.run()),
                       asyncio.create_task(self.schedules.run()),
                       asyncio.create_task(self.cascade.run())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def run(self) -> None:
        await self.__aenter__()
        await asyncio.gather(*self._tasks)

    async def shutdown(self) -> None:
        self.dispatcher.stop()
        self.schedules.stop()
        self.cascade.stop()
        await self.worker.shutdown()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.activities.close()
        await self.digests.close()
