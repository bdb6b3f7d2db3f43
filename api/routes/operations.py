"""Campaign-wide operations: starting one from a route, and `GET /v1/operations/{id}`.

Closing a campaign, changing its policy or scale and reopening it each run as a
CampaignOperationWorkflow (workflows/campaign_operation.py). The route starts it and
waits up to `operation_wait_seconds`: finished in time, the answer is the usual 200
with the campaign; else 202 with `Location: /v1/operations/{id}` and the operation's
progress. The answer is remembered under the Idempotency-Key only once it is final (a
200 or a refusal): a retry of a 202 joins the same operation (its id comes from the
command id) and gets the 200 when it has finished.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import Field

from thidua.api.deps import CommandContext, OperationReaders, ServicesDep
from thidua.api.models import CampaignChangeOut, Output
from thidua.api.problems import Problem, problem_responses
from thidua.api.services import Services
from thidua.workflows.campaign_operation_client import CampaignOperations, OperationStatus
from thidua.workflows.campaign_operation_messages import OperationInput

router = APIRouter(tags=["operations"])

OperationId = Annotated[str, Path(min_length=1, max_length=300, pattern=r"^op-[A-Za-z0-9._-]+$",
                                  description="An operation's id (from a 202's Location)",
                                  examples=["op-k-0b8f0a52-61a5-5d6c-9f4e-1f6c44b0e7a1.3c2f9e1d0a4b"])]


class OperationOut(Output):
    """A campaign-wide operation and how far it got."""

    id: str
    href: str = Field(description="Where to read this operation again")
    kind: Literal["close", "policy", "scoring", "reopen"]
    campaign_id: str
    state: Literal["running", "succeeded", "failed"]
    done: int = Field(description="Targets reached so far")
    total: int = Field(description="Targets to reach, as far as known (it grows if targets are assigned meanwhile)")
    errors: list[str] = Field(description="Targets it could not reach cleanly, or why the operation failed "
                                          "(the first 50)")
    started_at: datetime
    finished_at: datetime | None = None
    result: CampaignChangeOut | None = Field(default=None, description="The campaign change it recorded")


def operations_of(services: Services) -> CampaignOperations:
    return CampaignOperations(services.gateway.client, services.gateway.task_queue)


def href_of(operation_id: str) -> str:
    return f"/v1/operations/{operation_id}"


def operation_out(status: OperationStatus) -> dict[str, Any]:
    """The operation as the API shows it (validated against OperationOut)."""
    return OperationOut.model_validate({
        "id": status.id, "href": href_of(status.id), "kind": status.kind, "campaign_id": status.campaign_id,
        "state": status.state, "done": status.done, "total": status.total, "errors": status.errors,
        "started_at": status.started_at, "finished_at": status.finished_at,
        "result": None if status.result is None else vars(status.result),
    }).model_dump(mode="json")


async def run_operation(ctx: CommandContext, name: str, kind: str, campaign_id: str, args: dict[str, Any]) -> Any:
    """Start the operation for this command and answer as the module's docstring says."""
    services = ctx.services
    operations = operations_of(services)
    op = OperationInput(kind=kind, campaign_id=campaign_id, command_id=ctx.command_id,
                        actor=ctx.principal.actor.to_dict(), args=args)
    operation_id, changed, failure = None, None, None
    try:
        operation_id = await operations.start(op)
        changed = await operations.wait(operation_id, services.operation_wait_seconds)
    except Exception as error:  # a refusal or an outage: answered (and counted) by ctx.run below
        failure = error
    if failure is None and changed is None:
        assert operation_id is not None
        status = await operations.status(operation_id)
        if status is None:  # cannot happen once started; say so rather than guess
            raise Problem(503, "the operation was started but cannot be found; retry")
        services.metrics.command(name, "accepted")
        return JSONResponse(operation_out(status), status_code=202, headers={"Location": href_of(operation_id)})

    async def answer() -> dict[str, Any]:
        if failure is not None:
            raise failure
        assert changed is not None
        return {"campaign": changed.campaign, "position": changed.position}

    return await ctx.run(name, answer, model=CampaignChangeOut)


@router.get("/v1/operations/{operation_id}", response_model=OperationOut,
            summary="A campaign-wide operation (close, policy, scoring, reopen) and its progress",
            responses=problem_responses(401, 403, 404, 422, 503))
async def get_operation(operation_id: OperationId, user: OperationReaders, services: ServicesDep) -> Any:
    status = await operations_of(services).status(operation_id)
    if status is None:
        raise Problem(404, f"operation {operation_id!r} not found")
    return operation_out(status)
