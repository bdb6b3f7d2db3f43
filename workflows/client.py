"""How the rest of thidua talks to the target workflows.

`connect()` is the one way to get a Temporal client (it fixes the data converter);
`TargetGateway` turns a command into an update-with-start of the target's workflow
and gives back `CommandResult(target, position)` or raises the domain's own error
(NotAllowed, InvalidTransition, BadInput, CommandIdReused, VersionConflict,
NotFound), `ServiceUnavailable` (retry later with the same command id) or
`CommandFailed` (a bug in the worker).

Every command is idempotent by its command id: it is the Temporal update id (the
server drops a repeated id within a run) and the aggregate's command log answers a
replay with the current state and the position of the event the command stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, timedelta
from typing import Any, NoReturn, TypeVar
from uuid import UUID

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from thidua.domain.errors import BadInput, NotFound
from thidua.domain.target import target_id_for
from thidua.domain.values import SYSTEM, Actor, Decision, Measure
from thidua.domain import lifecycle as lc
from thidua.workflows.commands import encode_args
from thidua.workflows.assign_batch_workflow import AssignBatchWorkflow
from thidua.workflows.converter import data_converter
from thidua.workflows.errors import CommandFailed, CommandPending, ServiceUnavailable, domain_error_from
from thidua.workflows.messages import (
    MODE_ASSIGN,
    MODE_CARRY,
    MODE_LOAD,
    AssignBatchInput,
    AssignRequest,
    BatchAssigned,
    CommandRequest,
    CommandResult,
    WorkflowStart,
    imports_queue,
)
from thidua.workflows import search_attributes
from thidua.workflows.request_ids import RequestIdInterceptor
from thidua.workflows.target_workflow import TargetWorkflow

log = logging.getLogger("thidua.workflows")
T = TypeVar("T")

# How long a caller waits for a command's answer before it is told to retry.
DEFAULT_ANSWER_TIMEOUT = timedelta(seconds=30)
# Assignments saved per transaction by one AssignBatchWorkflow (its input stays far
# below Temporal's payload limit: ~0.5 KB per assignment).
ASSIGN_CHUNK = 250
# The first chunk is small: no workflow starts before a chunk is saved, and the starts
# are the slow part of an import (the next chunks are saved while they run). The chunks
# then double up to ASSIGN_CHUNK, so each one is saved before the starts of those before
# it run out (a large chunk right after the first would leave the starts idle).
FIRST_ASSIGN_CHUNK = 25
# Chunks in flight ahead of the starts. The worker saves one at a time; a second one in
# flight hides the Temporal round trip between two saves. More would not save sooner,
# could be saved out of order
# (the small ones first is the point), and would queue a large import's hundreds of
# batch workflows at once.
BATCHES_IN_FLIGHT = 2
# A command can race with its workflow finishing (campaign closed, continue-as-new);
# the retry starts or finds the next run.
_RACE_RETRIES = 5
_TRANSIENT_RPC = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.UNKNOWN,
}

__all__ = [
    "CommandFailed", "CommandResult", "ServiceUnavailable", "TargetGateway", "assign_request", "connect", "ping",
    "update_id_for", "workflow_id_for",
]


async def connect(address: str, namespace: str = "default", *, lazy: bool = False, runtime: Any = None,
                  interceptors: Sequence[Any] = ()) -> Client:
    """A Temporal client with thidua's data converter. `lazy=True` connects on first use
    (a process can start while Temporal is still coming up); `runtime`: a
    temporalio.runtime.Runtime (e.g. with a metrics exporter), else the default one;
    `interceptors`: more of them (tracing, see thidua.tracing), for a worker on it too."""
    try:
        return await Client.connect(
            address, namespace=namespace, data_converter=data_converter, lazy=lazy, runtime=runtime,
            interceptors=[RequestIdInterceptor(), *interceptors],  # the API's request id, to the activities
        )
    except Exception as exc:  # the core raises RuntimeError with the transport's reason
        raise ServiceUnavailable(f"cannot reach Temporal at {address} (namespace {namespace!r}): {exc}") from exc


async def ping(client: Client, timeout: float = 2.0) -> None:
    """Raise ServiceUnavailable unless Temporal answers its health check (for /healthz)."""
    try:
        healthy = await client.service_client.check_health(timeout=timedelta(seconds=timeout))
    except Exception as exc:
        raise ServiceUnavailable(f"Temporal does not answer: {exc}") from exc
    if not healthy:
        raise ServiceUnavailable("Temporal answers but its workflow service is not serving")


def workflow_id_for(target_id: str | UUID) -> str:
    """The id of a target's workflow."""
    return f"target-{target_id}"


def update_id_for(command_id: str, command: str, payload: Mapping[str, Any]) -> str:
    """The Temporal update id of a command: its command id plus a digest of what it asks.

    Temporal answers a repeated update id (within a run) with the first answer without
    looking at the arguments; the digest makes a reused command id with another payload
    reach the aggregate, which refuses it (CommandIdReused), while a true retry stays
    one update."""
    body = json.dumps({"command": command, "payload": payload}, sort_keys=True, default=str, ensure_ascii=False)
    return f"{command_id}#{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def assign_chunks(requests: list[T], size: int = ASSIGN_CHUNK, first: int = FIRST_ASSIGN_CHUNK) -> list[list[T]]:
    """`requests` in order, cut into chunks that start at `first` rows and double up to
    `size` (the same cut for the same requests: a retried import finds the same batches)."""
    chunks, start, length = [], 0, max(1, min(size, first))
    while start < len(requests):
        chunks.append(requests[start:start + length])
        start, length = start + length, min(size, 2 * length)
    return chunks


class TargetGateway:
    """Commands to target workflows on one task queue."""

    def __init__(
        self, client: Client, task_queue: str, *, answer_timeout: timedelta = DEFAULT_ANSWER_TIMEOUT
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.answer_timeout = answer_timeout

    # ------------------------------------------------------------------ commands
    async def assign(self, request: AssignRequest) -> CommandResult:
        """Assign a target (`assign_request(...)` builds and checks the request) and start
        its workflow; the same key (default: the command id) names the same target, so a
        retried assignment stores nothing new."""
        target_id = str(target_id_for(request.campaign_id, request.key or request.command_id))
        payload = {k: v for k, v in asdict(request).items() if k not in ("actor", "command_id")}
        return await self._update(
            target_id, MODE_ASSIGN, TargetWorkflow.assign, request,
            update_id_for(request.command_id, "assign", payload),
        )

    async def assign_many(
        self, campaign_id: str, requests: list[AssignRequest], *, chunk_size: int = ASSIGN_CHUNK,
        starts_in_flight: int = 32,
    ) -> list[BatchAssigned]:
        """Assign many targets of one campaign (an import) and start their workflows.

        Each chunk (growing from FIRST_ASSIGN_CHUNK rows to `chunk_size`) is saved in one
        transaction by one AssignBatchWorkflow (on the imports' task queue), and as soon as
        it is saved, each of its targets' workflows is started with what it needs carried
        in its input (a plain start, no activity). Idempotent: a retry with the same
        command ids finds the targets (replays) and starts whatever workflow is not
        running yet. Answers in the order of `requests`."""
        chunks = assign_chunks(requests, chunk_size)
        starts = asyncio.Semaphore(starts_in_flight)
        batches: list[asyncio.Future[list[BatchAssigned]]] = []
        starting: list[asyncio.Future[Any]] = []

        def save_ahead(saved: int) -> None:
            """Keep BATCHES_IN_FLIGHT batches in flight past the first `saved` ones."""
            while len(batches) < min(len(chunks), saved + BATCHES_IN_FLIGHT):
                batches.append(asyncio.ensure_future(self._assign_batch(campaign_id, chunks[len(batches)])))

        with _reachable():
            # The batches run on the imports' own task queue, so their tasks never wait
            # behind the first tasks of the targets' workflows started meanwhile (see
            # `imports_queue`). Each batch's workflows start as soon as it is saved.
            try:
                save_ahead(0)
                for i in range(len(chunks)):
                    assigned = await batches[i]
                    save_ahead(i + 1)
                    starting.append(asyncio.gather(*(self._start_carried(a, starts) for a in assigned)))
                await asyncio.gather(*starting)
            finally:
                for future in (*batches, *starting):
                    if not future.done():
                        future.cancel()
                await asyncio.gather(*batches, *starting, return_exceptions=True)
        return [a for batch in batches for a in batch.result()]

    async def _assign_batch(self, campaign_id: str, chunk: list[AssignRequest]) -> list[BatchAssigned]:
        ids = "\x1f".join(r.command_id for r in chunk)
        workflow_id = "assign-batch-" + hashlib.sha256(f"{campaign_id}\x1e{ids}".encode()).hexdigest()[:40]
        try:
            async with asyncio.timeout(self.answer_timeout.total_seconds()):
                return await self.client.execute_workflow(
                    AssignBatchWorkflow.run, AssignBatchInput(campaign_id=campaign_id, requests=chunk),
                    id=workflow_id, task_queue=imports_queue(self.task_queue),
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, result_type=list[BatchAssigned],
                )
        except WorkflowFailureError as exc:
            _raise_failure(exc, "the assignments")
        except RPCError as exc:
            raise _unavailable(exc) from exc
        except TimeoutError as exc:
            raise ServiceUnavailable(
                f"the assignments were not saved within {self.answer_timeout.total_seconds():.0f}s "
                "(is a worker running?); retry with the same command ids: nothing is assigned twice"
            ) from exc

    async def _start_carried(self, assigned: BatchAssigned, limit: asyncio.Semaphore) -> None:
        """Start a just-assigned target's workflow from the facts the batch answered (a
        workflow already running for it is left alone)."""
        async with limit:
            try:
                await self.client.start_workflow(
                    TargetWorkflow.run, WorkflowStart(target_id=assigned.target_id, mode=MODE_CARRY, carried=assigned.carried),
                    id=workflow_id_for(assigned.target_id), task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    # Listed by `temporal workflow list` before its first command: a carried
                    # start publishes nothing of its own while its facts stay these.
                    search_attributes=search_attributes.at_start(assigned.carried.campaign.campaign_id,
                                                                 assigned.carried.facts),
                )
            except RPCError as exc:
                raise _unavailable(exc) from exc

    async def command(
        self,
        target_id: str,
        command: str,
        actor: Actor,
        command_id: str,
        args: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Apply one lifecycle command (start, report_progress, block, unblock, escalate,
        resolve, complete, reopen, extend_deadline, reassign, cancel). `args` are the
        Target method's keyword arguments. A target whose workflow is not running (its
        campaign was closed, or it predates the workflow) gets one, rebuilt from the
        aggregate; an unknown target is NotFound."""
        target_id = _check_target_id(target_id)
        _check_command_id(command_id)
        if expected_version is not None and (isinstance(expected_version, bool) or not isinstance(expected_version, int)):
            raise BadInput("expected_version must be an integer", field="expected_version")
        request = CommandRequest(
            command=command,
            actor=actor.to_dict(),
            command_id=command_id,
            args=encode_args(command, args),
            expected_version=expected_version,
        )
        return await self._update(
            target_id, MODE_LOAD, TargetWorkflow.command, request, update_id_for(command_id, command, request.args)
        )

    async def cascade(self, target_id: str, command: str, command_id: str, args: Mapping[str, Any]) -> CommandResult:
        """A command of the cascade (lc.CASCADE_COMMANDS) on a parent target, as `system`
        (thidua.workflows.cascade); idempotent by its command id like any command."""
        target_id = _check_target_id(target_id)
        _check_command_id(command_id)
        spec = lc.command_named(command, lc.CASCADE_COMMANDS)
        request = CommandRequest(command=command, actor=SYSTEM.to_dict(), command_id=command_id,
                                 args=spec.encode(args))
        return await self._update(
            target_id, MODE_LOAD, TargetWorkflow.command, request, update_id_for(command_id, command, request.args)
        )

    async def refresh(self, target_ids: Iterable[str], *, concurrency: int = 32) -> int:
        """Make these targets' running workflows re-read the target and its campaign
        (call it after changing a campaign's policy). Returns how many were running."""

        async def one(target_id: str) -> bool:
            try:
                await self.client.get_workflow_handle(workflow_id_for(target_id)).signal(TargetWorkflow.reload)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return False  # not running: it reads the campaign when it starts
                raise _unavailable(exc) from exc
            return True

        return sum(await _each(target_ids, one, concurrency))

    async def start_workflows(self, target_ids: Iterable[str], *, concurrency: int = 32) -> None:
        """Start the workflow of each of these targets that has none running (it loads
        the target and its campaign, and arms its timers): after a campaign is reopened."""

        async def one(target_id: str) -> None:
            try:
                await self.client.start_workflow(
                    TargetWorkflow.run, WorkflowStart(target_id=target_id, mode=MODE_LOAD),
                    id=workflow_id_for(target_id), task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
            except RPCError as exc:
                raise _unavailable(exc) from exc

        await _each(target_ids, one, concurrency)

    async def close_campaign(self, campaign_id: str, target_ids: Iterable[str], *, concurrency: int = 32,
                             errors: list[str] | None = None) -> int:
        """Finish the running workflows of these targets (after their commands in flight).
        Closing the Campaign aggregate itself is the caller's job. Returns how many
        workflows were running; a workflow that ended with a failure is named in `errors`."""

        async def finish(target_id: str) -> bool:
            handle = self.client.get_workflow_handle(workflow_id_for(target_id))
            try:
                await handle.signal(TargetWorkflow.campaign_closed, campaign_id)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return False  # not running: nothing to finish
                raise _unavailable(exc) from exc
            try:
                async with asyncio.timeout(self.answer_timeout.total_seconds()):
                    await handle.result()
            except TimeoutError as exc:
                raise ServiceUnavailable(
                    f"the workflow of target {target_id} did not finish in time; close again to retry"
                ) from exc
            except WorkflowFailureError as exc:
                log.warning("workflow of target %s ended with a failure while closing", target_id)
                if errors is not None:
                    errors.append(f"target {target_id}: its workflow ended with a failure: {exc.cause or exc}")
            except RPCError as exc:
                raise _unavailable(exc) from exc
            return True

        return sum(await _each(target_ids, finish, concurrency))

    # ------------------------------------------------------------------ plumbing
    async def _update(self, target_id: str, mode: str, update: Any, request: Any, update_id: str) -> CommandResult:
        with _reachable():
            if mode == MODE_LOAD:
                # Most commands meet a running workflow: a plain update costs Temporal
                # less than update-with-start.
                answered, result = await self._update_running(target_id, update, request, update_id)
                if answered:
                    return result
            return await self._update_with_start(target_id, mode, update, request, update_id)

    async def _update_running(
        self, target_id: str, update: Any, request: Any, update_id: str
    ) -> tuple[bool, Any]:
        """The update sent to the workflow's current run; (False, None) when no run is
        open to take it (never started, finished, or just continued-as-new): the
        caller then sends it with a start."""
        handle = self.client.get_workflow_handle(workflow_id_for(target_id))
        with self._answer_of(target_id):
            try:
                async with asyncio.timeout(self.answer_timeout.total_seconds()):
                    return True, await handle.execute_update(update, request, id=update_id)
            except RPCError as exc:
                if _is_closing_race(exc):
                    log.debug("no open run of %s took the update (%s): sending it with a start", target_id, exc.message)
                    return False, None
                raise _unavailable(exc) from exc

    async def _update_with_start(
        self, target_id: str, mode: str, update: Any, request: Any, update_id: str
    ) -> CommandResult:
        workflow_id = workflow_id_for(target_id)
        with self._answer_of(target_id):
            async with asyncio.timeout(self.answer_timeout.total_seconds()):
                for attempt in range(_RACE_RETRIES):
                    start = WithStartWorkflowOperation(
                        TargetWorkflow.run,
                        WorkflowStart(target_id=target_id, mode=mode),
                        id=workflow_id,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        task_queue=self.task_queue,
                    )
                    _quiet_start_outcome(start)
                    try:
                        return await self.client.execute_update_with_start_workflow(
                            update, request, start_workflow_operation=start, id=update_id
                        )
                    except RPCError as exc:
                        log.debug("update of %s met %s: %s", workflow_id, exc.status.name, exc.message)
                        if _is_closing_race(exc) and attempt + 1 < _RACE_RETRIES:
                            await asyncio.sleep(0.05 * (attempt + 1))
                            continue
                        raise _unavailable(exc) from exc
                raise ServiceUnavailable("the target's workflow kept closing under the command; retry")

    @contextlib.contextmanager
    def _answer_of(self, target_id: str) -> Iterator[None]:
        """How a command's update can end without an answer, said in the domain's terms
        (its refusal) or as ServiceUnavailable (retry with the same command id)."""
        try:
            yield
        except WorkflowUpdateFailedError as exc:
            _raise_failure(exc, "the command")
        except TimeoutError as exc:
            raise CommandPending(
                f"no answer from the workflow of target {target_id} within "
                f"{self.answer_timeout.total_seconds():.0f}s (is a worker running? is PostgreSQL?); "
                "retry with the same command id to read the outcome: it is applied at most once"
            ) from exc
        except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
            raise CommandPending(
                "Temporal did not confirm the command in time; retry with the same command id to read the outcome"
            ) from exc


def assign_request(
    actor: Actor,
    command_id: str,
    campaign_id: str,
    *,
    unit_id: str,
    title: str,
    area: str,
    deadline: date,
    points: Any,
    key: str | None = None,
    decision: Decision | Mapping[str, Any] | None = None,
    measure: Measure | Mapping[str, Any] | None = None,
    note: str | None = None,
    parent_id: str | None = None,
    coordinating_unit_ids: list[str] | tuple[str, ...] = (),
) -> AssignRequest:
    """An assignment checked against its declaration and normalised for the workflows
    (BadInput naming the field when one is wrong)."""
    _check_command_id(command_id)
    _check_text("campaign_id", campaign_id, True)
    args = lc.ASSIGN.parse({
        "unit_id": unit_id, "title": title, "area": area, "deadline": deadline, "points": points, "key": key,
        "decision": _citation(decision), "measure": _plain(measure), "note": note, "parent_id": parent_id,
        "coordinating_unit_ids": list(coordinating_unit_ids or ()),
    })
    as_json = args.model_dump(mode="json")
    return AssignRequest(
        actor=actor.to_dict(), command_id=command_id, campaign_id=campaign_id, unit_id=args.unit_id,
        title=args.title, area=args.area, deadline=args.deadline, points=as_json["points"], key=args.key,
        decision=as_json["decision"], measure=as_json["measure"], note=args.note, parent_id=as_json["parent_id"],
        coordinating_unit_ids=list(args.coordinating_unit_ids),
    )


def _citation(decision: Any) -> Any:
    """A registered Decision cited by a target: its number and the fields that must match."""
    if isinstance(decision, Decision):
        return {"number": decision.number, "issued_on": decision.issued_on, "issuer": decision.issuer}
    return decision


def _plain(value: Any) -> Any:
    """A value object (Decision, Measure) as the dict its argument model reads."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


async def _each(target_ids: Iterable[str], one: Callable[[str], Awaitable[T]], concurrency: int) -> list[T]:
    """`one(target_id)` for every target, at most `concurrency` at a time."""
    limit = asyncio.Semaphore(concurrency)

    async def limited(target_id: str) -> T:
        async with limit:
            return await one(target_id)

    with _reachable():
        return await asyncio.gather(*(limited(str(t)) for t in target_ids))


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    """A lazy client (`connect(lazy=True)`) connects on its first call; when Temporal
    cannot be reached that call fails with a bare RuntimeError("Failed client connect:
    ...") from the SDK's core, not an RPCError. Say it as ServiceUnavailable, like every
    other way of not reaching Temporal."""
    try:
        yield
    except RuntimeError as exc:
        if not str(exc).startswith("Failed client connect"):
            raise
        raise ServiceUnavailable(f"cannot reach Temporal: {exc}") from exc


def _quiet_start_outcome(start: WithStartWorkflowOperation[Any, Any]) -> None:
    """The start half of update-with-start reports its outcome on a future we never
    await (the update's answer is what counts); read it so asyncio does not log
    "Future exception was never retrieved" after a timeout or a refused start."""
    future = getattr(start, "_workflow_handle", None)
    if isinstance(future, asyncio.Future):
        future.add_done_callback(lambda f: f.cancelled() or f.exception())


def _is_closing_race(exc: RPCError) -> bool:
    """The update met a run that was finishing (completed, continued-as-new)."""
    text = exc.message.lower()
    return exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ABORTED) or (
        "completed" in text or "closed" in text or "continued" in text
    )


def _raise_failure(exc: WorkflowFailureError | WorkflowUpdateFailedError, what: str) -> NoReturn:
    """A workflow or update that failed: the domain's refusal (an ApplicationError from
    the workflow) as that refusal, anything else as CommandFailed."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        raise domain_error_from(cause) from None
    raise CommandFailed(f"{what} failed: {cause or exc}") from exc


def _unavailable(exc: RPCError) -> Exception:
    if exc.status in _TRANSIENT_RPC:
        return ServiceUnavailable(f"Temporal is unavailable: {exc.message}")
    return CommandFailed(f"Temporal refused the request ({exc.status.name}): {exc.message}")


def _check_target_id(target_id: str | UUID) -> str:
    try:
        return str(UUID(str(target_id)))
    except ValueError:
        raise NotFound("target not found", id=str(target_id)) from None


def _check_text(field: str, value: Any, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadInput(f"{field} is required (text)" if required else f"{field} must be text", field=field)


def _check_command_id(command_id: str) -> None:
    if not isinstance(command_id, str) or not command_id or len(command_id) > 200:
        raise BadInput("command id must be 1..200 characters", field="command_id")
