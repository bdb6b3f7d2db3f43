"""temporalio's OpenTelemetry interceptor, with each update traced in its caller's trace.

The SDK's `TracingInterceptor` puts every span of a workflow (its update handlers and the
activities they run included) in the trace of whoever *started* the workflow, and only
links an update to its caller. A target's workflow lives as long as the target, so each
command would land in the trace of the assignment. Here an update that carries a span
context (the API's request) is handled in that context: one command, one trace, from
the HTTP request to the activity that stores it.

Imported only when traces are on (thidua.tracing).
"""

from __future__ import annotations

from typing import Any

import temporalio.worker
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor


class _UpdateInItsCallersTrace(TracingWorkflowInboundInterceptor):
    _next_carrier: Any = None

    async def handle_update_handler(self, input: temporalio.worker.HandleUpdateInput) -> Any:
        header = input.headers.get(self.header_key)
        if header is not None:
            # Read (once) by _load_workflow_context_carrier as the handler's context is
            # entered, synchronously, before anything else of the workflow runs.
            self._next_carrier = self.payload_converter.from_payloads([header])[0]
        return await super().handle_update_handler(input)

    def _load_workflow_context_carrier(self) -> Any:
        carrier, self._next_carrier = self._next_carrier, None
        return carrier or super()._load_workflow_context_carrier()


class ThiduaTracingInterceptor(TracingInterceptor):
    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the span-recording extern function
        return _UpdateInItsCallersTrace
