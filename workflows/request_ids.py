"""One request id from the API to the activity: a Temporal interceptor carries
`thidua.logs.REQUEST_ID` in a header of the workflow update (or update-with-start, signal,
start), the workflow hands it to the activities its update handler starts, and the activity
runs with it set, so everything logged on the way carries the id of the HTTP request.

Pass `RequestIdInterceptor()` to `Client.connect(interceptors=...)` (thidua.workflows.client.connect
does); a worker built on that client uses it too (it is also a worker interceptor). A
workflow whose whole run serves the request that started it (`RUNS_FOR_ITS_REQUEST = True`:
an import's batch, a campaign operation) gives that id to all its activities. Timers and
other work no request asked for carry no id.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from temporalio import activity, client, workflow
from temporalio import worker as temporal_worker
from temporalio.api.common.v1 import Payload
from temporalio.converter import default as default_converter

from thidua.logs import REQUEST_ID

HEADER = "thidua-request-id"
log = logging.getLogger("thidua.request_ids")

# The request id of the update handler running in this workflow task (each handler runs in
# its own asyncio task, so concurrent updates of one workflow keep theirs apart).
_HANDLER_REQUEST_ID: ContextVar[str | None] = ContextVar("thidua_handler_request_id", default=None)


def _with_request_id(headers: Mapping[str, Payload], request_id: str | None) -> Mapping[str, Payload]:
    if request_id is None:
        return headers
    return {**headers, HEADER: default_converter().payload_converter.to_payloads([request_id])[0]}


def _request_id(headers: Mapping[str, Payload]) -> str | None:
    payload = headers.get(HEADER)
    if payload is None:
        return None
    value = default_converter().payload_converter.from_payloads([payload])[0]
    return value if isinstance(value, str) else None


class RequestIdInterceptor(client.Interceptor, temporal_worker.Interceptor):
    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _ClientOutbound(next)

    def intercept_activity(
        self, next: temporal_worker.ActivityInboundInterceptor
    ) -> temporal_worker.ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: temporal_worker.WorkflowInterceptorClassInput
    ) -> type[temporal_worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _ClientOutbound(client.OutboundInterceptor):
    async def start_workflow_update(self, input: client.StartWorkflowUpdateInput) -> Any:
        input.headers = _with_request_id(input.headers, REQUEST_ID.get())
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(self, input: client.StartWorkflowUpdateWithStartInput) -> Any:
        request_id = REQUEST_ID.get()
        input.update_workflow_input.headers = _with_request_id(input.update_workflow_input.headers, request_id)
        input.start_workflow_input.headers = _with_request_id(input.start_workflow_input.headers, request_id)
        return await super().start_update_with_start_workflow(input)

    async def start_workflow(self, input: client.StartWorkflowInput) -> Any:
        input.headers = _with_request_id(input.headers, REQUEST_ID.get())
        return await super().start_workflow(input)

    async def signal_workflow(self, input: client.SignalWorkflowInput) -> None:
        input.headers = _with_request_id(input.headers, REQUEST_ID.get())
        await super().signal_workflow(input)


class _WorkflowInbound(temporal_worker.WorkflowInboundInterceptor):
    def init(self, outbound: temporal_worker.WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound))

    async def execute_workflow(self, input: temporal_worker.ExecuteWorkflowInput) -> Any:
        if getattr(input.type, "RUNS_FOR_ITS_REQUEST", False):
            request_id = _request_id(input.headers)
            if request_id is not None:
                _HANDLER_REQUEST_ID.set(request_id)  # the run's task: its activities carry it
                REQUEST_ID.set(request_id)
        return await super().execute_workflow(input)

    async def handle_update_handler(self, input: temporal_worker.HandleUpdateInput) -> Any:
        request_id = _request_id(input.headers)
        if request_id is not None:
            _HANDLER_REQUEST_ID.set(request_id)
            REQUEST_ID.set(request_id)  # for what the workflow logs while handling it
            workflow.logger.info("update %s for request %s", input.update, request_id)
        return await super().handle_update_handler(input)


class _WorkflowOutbound(temporal_worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: temporal_worker.StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = _with_request_id(input.headers, _HANDLER_REQUEST_ID.get())
        return super().start_activity(input)

    def start_local_activity(self, input: temporal_worker.StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = _with_request_id(input.headers, _HANDLER_REQUEST_ID.get())
        return super().start_local_activity(input)


class _ActivityInbound(temporal_worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporal_worker.ExecuteActivityInput) -> Any:
        request_id = _request_id(input.headers)
        if request_id is None:
            return await super().execute_activity(input)
        name = activity.info().activity_type
        if not inspect.iscoroutinefunction(input.fn):
            # Synchronous activities run in the executor's threads, which do not inherit
            # the event loop's context: set the id in the thread.
            input.fn = _in_request(input.fn, request_id, name)
        token = REQUEST_ID.set(request_id)
        try:
            if inspect.iscoroutinefunction(input.fn):
                log.info("activity %s for request %s", name, request_id)
            return await super().execute_activity(input)
        finally:
            REQUEST_ID.reset(token)


def _in_request(fn: Any, request_id: str, name: str) -> Any:
    @functools.wraps(fn)
    def with_request_id(*args: Any, **kwargs: Any) -> Any:
        token = REQUEST_ID.set(request_id)
        try:
            log.info("activity %s for request %s", name, request_id)
            return fn(*args, **kwargs)
        finally:
            REQUEST_ID.reset(token)

    return with_request_id
