"""TargetWorkflow: one per target, the lifecycle's durable driver.

- Commands arrive as updates (`assign`, `command`); each is validated cheaply against
  what the workflow knows (who may, from which state, which version) and applied by ONE
  local activity that loads the aggregate, calls the domain and saves. Handlers are
  serialised with a lock, so concurrent updates are applied one after the other.
- Local, because a command is then one workflow task: the update is accepted, applied
  and answered together, where an ordinary activity costs a second workflow task and
  an activity task (about half of Temporal's CPU per command, and ~30 ms of latency).
  Nothing is lost when the worker dies mid-command: the update is not yet accepted, so
  the server delivers it again with the next attempt of the workflow task, and the
  activity, idempotent by command id, answers a command it already stored as it did
  the first time (`TargetActivities._as_of`; tests/integration/test_workflow_worker_crash.py).
  An update not yet accepted lives only in the Temporal server's memory: should the
  server restart in that window too, the caller's wait fails and its retry with the same
  command id is answered from the store, as any retry is.
- Timers come from the campaign policy and the aggregate's facts; when one is due the
  workflow issues the timer command as `system`, with a deterministic command id, at
  the workflow's time. A timer command the domain refuses (the situation changed) is
  dropped.
- The workflow keeps only `TargetFacts` (what timers and validators need), the
  campaign policy and the ids of the commands already applied; all of it can be
  rebuilt from the aggregate (`load` mode), and is carried over on continue-as-new.

Workflow code must stay deterministic: no I/O, no clock but `workflow.now()`. Any
change to the sequence of timers/activities of a running workflow needs
`workflow.patched(...)`; the replay tests under tests/integration/workflow_histories
catch the ones that forget.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from thidua.domain.errors import BadInput, DomainError, NotFound, VersionConflict
    from thidua.domain import lifecycle as lc
    from thidua.domain.values import SYSTEM, Actor, Status
    from thidua.workflows import search_attributes
    from thidua.workflows.commands import UPDATE_COMMANDS
    from thidua.workflows.errors import INTERNAL_ERROR, failure_of_activity, to_application_error
    from thidua.workflows.messages import (
        DEFAULT_REMINDER_FLOOR,
        ASSIGN_ACTIVITY,
        COMMAND_ACTIVITY,
        LOAD_ACTIVITY,
        MODE_ASSIGN,
        MODE_CARRY,
        MODE_LOAD,
        PATCH_LEVEL,
        Applied,
        AssignInput,
        AssignRequest,
        CampaignFacts,
        Carried,
        CommandInput,
        CommandRequest,
        CommandResult,
        Due,
        LoadInput,
        TargetFacts,
        WorkflowStart,
    )

# One load-decide-save takes milliseconds; 10 s leaves room for a busy database and
# lets a killed worker's activity be retried elsewhere soon.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
# Infrastructure errors are retried until they heal (the update waits; the caller gets
# ServiceUnavailable and retries with the same id); domain refusals are non-retryable.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=0,
)
# Temporal allows 2,000 updates per run; continue-as-new well before.
MAX_UPDATES_PER_RUN = 1000
# The name of each timer, as operators see it (Temporal's user metadata on the timer).
TIMER_SUMMARIES = {
    lc.AUTO_ESCALATE.name: "auto-escalate",
    lc.REMIND_ESCALATION.name: "SLA reminder",
    lc.MARK_OVERDUE.name: "deadline",
    lc.REMIND_STALE.name: "stale reminder",
    lc.REMIND_ACCEPTANCE.name: "acceptance reminder",
}
# Runs started before commands used local activities replay with ordinary ones.
LOCAL_ACTIVITIES = "local-activities"
# Runs started before the workflow published its search attributes replay without them.
SEARCH_ATTRIBUTES = "search-attributes"
# Runs started since then space repeating reminders by at least the worker's floor.
REMINDER_FLOOR = "reminder-floor"
# The acceptance reminder timer (a completion waiting for the secretariat) is armed in
# runs that passed this marker; the marker is only asked for once a target waits.
ACCEPTANCE_TIMER = "acceptance-sla-timer"
# The patches above, each with the patch level from which a run takes it as given: a run
# whose input says the worker code that made it has that level (`Carried.patch_level`: an
# import's batch activity, continue-as-new) does not ask Temporal. Asking
# (`workflow.patched`) costs every new run a marker event and an upsert of the
# TemporalChangeVersion search attribute (a visibility write) per patch: up to four per target
# over its life, one in the first task of each imported target (docs/benchmarks.md, P3).
# The input is in the history, so replays decide alike; runs started otherwise (level 0:
# update-with-start, load mode, inputs recorded before) still ask. A patch settled later
# takes the next level (and messages.PATCH_LEVEL with it): runs made at a lower level, by
# code that did not know it, must still ask.
SETTLED_AT = {LOCAL_ACTIVITIES: 1, SEARCH_ATTRIBUTES: 1, REMINDER_FLOOR: 1, ACCEPTANCE_TIMER: 1}


def _stamp(value: datetime) -> str:
    """A datetime as it appears in a timer command id (one representation, always UTC)."""
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


@workflow.defn(name="TargetWorkflow")
class TargetWorkflow:
    @workflow.init
    def __init__(self, start: WorkflowStart) -> None:
        self._target_id = start.target_id
        self._lock = asyncio.Lock()
        self._started = False  # run() has begun: handlers may use the activities
        self._facts: TargetFacts | None = None
        self._campaign: CampaignFacts | None = None
        self._applied_ids: set[str] = set()
        self._failure: ApplicationError | None = None  # why there is no target (yet)
        self._resync = False  # an unexpected activity error: reload before going on
        self._closing = False
        self._force_continue_as_new = False
        self._reload_requested = False
        self._dropped: set[str] = set()  # timer command ids the domain refused
        self._updates = 0
        self._floored = False  # repeating reminders are spaced by the floor (REMINDER_FLOOR)
        self._acceptance_timer = False  # ACCEPTANCE_TIMER patched in (see _note_acceptance)
        self._patch_level = start.carried.patch_level if start.carried is not None else 0
        if start.carried is not None:
            self._facts = start.carried.facts
            self._campaign = start.carried.campaign
            self._applied_ids = set(start.carried.command_ids)

    # ------------------------------------------------------------------ run
    @workflow.run
    async def run(self, start: WorkflowStart) -> str:
        # Update-with-start may deliver the update before run() starts: handlers wait
        # for this flag, so `assign` never runs against a half-initialised workflow.
        self._started = True
        # Decided once per run, before any timer: runs recorded before the floor replay as they were.
        self._floored = self._patched(REMINDER_FLOOR)
        self._note_acceptance()
        if start.mode == MODE_LOAD and self._facts is None:
            async with self._lock:
                await self._load()
        # In assign mode the `assign` update (delivered with the start) creates the
        # target. When it fails, or its validator refused it (then no handler runs at
        # all), there is no target: the workflow ends once every handler is done.
        await workflow.wait_condition(
            lambda: self._facts is not None
            or (workflow.all_handlers_finished() and (self._failure is not None or start.mode == MODE_ASSIGN))
        )
        if self._facts is None:
            return f"no target: {self._failure}"

        while True:
            if self._finishing():
                await workflow.wait_condition(workflow.all_handlers_finished)
                return "campaign closed"
            if self._reload_requested:
                self._reload_requested = False
                async with self._lock:
                    await self._load()
                continue
            if self._continue_as_new_due():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._finishing():
                    workflow.continue_as_new(WorkflowStart(self._target_id, MODE_CARRY, self._carried()))
                continue
            due = self._next_due()
            now = workflow.now()
            if due is not None and due.at <= now:
                await self._fire(due)
                continue
            # Sleep until the earliest due timer. A command that makes something due
            # sooner wakes the loop; one that only pushes it later (the usual progress
            # report) leaves the sleep alone, which saves a cancel and a restart of the
            # Temporal timer per command in the history; the early wake finds nothing due.
            wake_at = None if due is None else due.at
            try:
                await workflow.wait_condition(
                    lambda: self._finishing()
                    or self._reload_requested
                    or self._continue_as_new_due()
                    or self._due_before(wake_at),
                    timeout=None if wake_at is None else wake_at - now,
                    # What the timer is for, as `temporal workflow describe` and the Web UI show it.
                    timeout_summary=None if due is None else TIMER_SUMMARIES.get(due.command),
                )
            except asyncio.TimeoutError:
                pass  # the timer is due (or was pushed later); looked at on the next turn

    def _finishing(self) -> bool:
        return self._closing or (self._campaign is not None and self._campaign.closed)

    def _continue_as_new_due(self) -> bool:
        return (
            self._force_continue_as_new
            or self._updates >= MAX_UPDATES_PER_RUN
            or workflow.info().is_continue_as_new_suggested()
        )

    def _carried(self) -> Carried:
        assert self._facts is not None and self._campaign is not None
        return Carried(facts=self._facts, campaign=self._campaign, command_ids=sorted(self._applied_ids),
                       patch_level=PATCH_LEVEL)

    # ------------------------------------------------------------------ updates
    @workflow.update(name="assign")
    async def assign(self, req: AssignRequest) -> CommandResult:
        self._updates += 1
        await workflow.wait_condition(lambda: self._started)
        async with self._lock:
            try:
                applied = await self._activity(
                    ASSIGN_ACTIVITY, AssignInput(target_id=self._target_id, at=workflow.now(), request=req)
                )
            except ApplicationError as error:
                if self._facts is None:
                    self._failure = error
                raise
            self._failure = None
            self._take(applied)
            return applied.result

    @assign.validator
    def _validate_assign(self, req: AssignRequest) -> None:
        try:
            lc.ASSIGN.check_allowed(_actor(req.actor), req.unit_id)
        except DomainError as error:
            raise to_application_error(error) from None

    @workflow.update(name="command")
    async def command(self, req: CommandRequest) -> CommandResult:
        self._updates += 1
        await workflow.wait_condition(lambda: self._facts is not None or self._failure is not None)
        async with self._lock:
            await self._resync_if_needed()
            if self._facts is None:
                raise to_application_error(NotFound("target not found", id=self._target_id))
            applied = await self._activity(
                COMMAND_ACTIVITY,
                CommandInput(
                    target_id=self._target_id,
                    command=req.command,
                    actor=req.actor,
                    command_id=req.command_id,
                    at=workflow.now(),
                    args=req.args,
                    expected_version=req.expected_version,
                ),
            )
            self._take(applied)
            return applied.result

    @command.validator
    def _validate_command(self, req: CommandRequest) -> None:
        """Cheap checks on what the workflow knows; a command id already applied is let
        through (the activity answers it as a replay)."""
        try:
            spec = lc.command_named(req.command, UPDATE_COMMANDS)
            spec.parse(req.args)
            actor = _actor(req.actor)
            if not req.command_id or len(req.command_id) > 200:
                raise BadInput("command id must be 1..200 characters", field="command_id")
            facts = self._facts
            if facts is None or self._resync or req.command_id in self._applied_ids:
                return
            spec.check_allowed(actor, facts.unit_id)
            spec.check_from(facts.status)
            if req.expected_version is not None and req.expected_version != facts.version:
                raise VersionConflict(
                    f"target is at version {facts.version}, not {req.expected_version}",
                    expected_version=req.expected_version,
                    current_version=facts.version,
                )
        except DomainError as error:
            raise to_application_error(error) from None

    # ------------------------------------------------------------------ signals, queries
    @workflow.signal(name="campaign_closed")
    def campaign_closed(self, campaign_id: str) -> None:
        """The campaign was closed: finish (after the commands in flight)."""
        if self._campaign is None or self._campaign.campaign_id == campaign_id:
            self._closing = True

    @workflow.signal(name="reload")
    def reload(self) -> None:
        """Re-read the target and its campaign (e.g. after the campaign's policy changed)."""
        self._reload_requested = True

    @workflow.signal(name="continue_as_new_now")
    def continue_as_new_now(self) -> None:
        """Start a fresh run now (operations, and the tests that prove nothing is lost)."""
        self._force_continue_as_new = True

    @workflow.query(name="facts")
    def facts(self) -> TargetFacts | None:
        return self._facts

    @workflow.query(name="armed")
    def armed(self) -> list[Due]:
        """Every timer currently armed, earliest first."""
        return sorted(self._timers(), key=lambda d: d.at)

    # ------------------------------------------------------------------ timers
    def _timers(self) -> list[Due]:
        facts, policy = self._facts, self._campaign
        if facts is None or policy is None or self._finishing():
            return []
        tid = self._target_id
        status = Status(facts.status)
        timers: list[Due] = []
        # Each timer's states are its command's from-states (domain/lifecycle.py).
        if status in lc.AUTO_ESCALATE.from_states and facts.blocked_at is not None:
            timers.append(Due(
                at=facts.blocked_at + policy.escalate_after,
                command=lc.AUTO_ESCALATE.name,
                command_id=f"{tid}:auto-escalate:{facts.blocks}",
                args={"block_no": facts.blocks},
            ))
        if status in lc.REMIND_ESCALATION.from_states and facts.escalation_open \
                and facts.escalation_opened_at is not None:
            reminder_no = facts.escalation_reminders + 1
            timers.append(Due(
                at=facts.escalation_opened_at + reminder_no * self._repeating(policy.resolution_sla),
                command=lc.REMIND_ESCALATION.name,
                command_id=f"{tid}:escalation-reminder:{facts.escalation_no}:{reminder_no}",
                args={"escalation_no": facts.escalation_no, "reminder_no": reminder_no},
            ))
        if status in lc.REMIND_ACCEPTANCE.from_states and self._acceptance_timer \
                and policy.acceptance_sla is not None and facts.reported_at is not None:
            reminder_no = facts.acceptance_reminders + 1
            timers.append(Due(
                at=facts.reported_at + reminder_no * policy.acceptance_sla,
                command=lc.REMIND_ACCEPTANCE.name,
                command_id=f"{tid}:acceptance-reminder:{facts.completion_reports}:{reminder_no}",
                args={"report_no": facts.completion_reports, "reminder_no": reminder_no},
            ))
        if status in lc.MARK_OVERDUE.from_states and not facts.overdue:
            timers.append(Due(
                at=facts.deadline_at,
                command=lc.MARK_OVERDUE.name,
                command_id=f"{tid}:deadline-passed:{_stamp(facts.deadline_at)}",
                args={"deadline_at": facts.deadline_at},
            ))
        if status in lc.REMIND_STALE.from_states and facts.stale_reminded_for != facts.last_activity_at:
            timers.append(Due(
                at=facts.last_activity_at + self._repeating(policy.stale_after),
                command=lc.REMIND_STALE.name,
                command_id=f"{tid}:stale:{_stamp(facts.last_activity_at)}",
                args={"since": facts.last_activity_at},
            ))
        return [t for t in timers if t.command_id not in self._dropped]

    def _repeating(self, interval: timedelta) -> timedelta:
        """A repeating reminder's interval: the policy's, but never under the floor."""
        if not self._floored or self._campaign is None:
            return interval
        return max(interval, self._campaign.reminder_floor or DEFAULT_REMINDER_FLOOR)

    def _next_due(self) -> Due | None:
        return min(self._timers(), key=lambda d: d.at, default=None)

    def _due_before(self, wake_at: datetime | None) -> bool:
        due = self._next_due()
        return due is not None and (wake_at is None or due.at < wake_at)

    async def _fire(self, due: Due) -> None:
        async with self._lock:
            await self._resync_if_needed()
            if self._next_due() != due:
                return  # a command changed the picture while this timer waited for the lock
            try:
                applied = await self._activity(
                    COMMAND_ACTIVITY,
                    CommandInput(
                        target_id=self._target_id,
                        command=due.command,
                        actor=SYSTEM.to_dict(),
                        command_id=due.command_id,
                        at=max(workflow.now(), due.at),
                        args=due.args,
                    ),
                )
            except ApplicationError as error:
                # Refused as stale (or failed): drop this timer, never retry it in a loop.
                self._dropped.add(due.command_id)
                workflow.logger.info("timer %s dropped: %s", due.command_id, error)
                return
            self._take(applied)

    # ------------------------------------------------------------------ state
    async def _load(self) -> None:
        try:
            applied = await self._activity(LOAD_ACTIVITY, LoadInput(target_id=self._target_id))
        except ApplicationError as error:
            if self._facts is None:
                self._failure = error
            return
        self._failure = None
        self._resync = False
        self._applied_ids = set()
        self._take(applied)

    async def _resync_if_needed(self) -> None:
        if self._resync:
            await self._load()

    def _take(self, applied: Applied) -> None:
        self._facts = applied.facts
        if applied.campaign is not None:
            self._campaign = applied.campaign
        self._applied_ids.update(applied.command_ids)
        self._publish_search_attributes()
        self._note_acceptance()

    def _publish_search_attributes(self) -> None:
        """Upsert the search attributes (campaign, unit, status, overdue, deadline) that
        differ from the facts: operators find targets with `temporal workflow list`."""
        facts, campaign = self._facts, self._campaign
        if facts is None or campaign is None:
            return
        values = search_attributes.wanted(campaign.campaign_id, facts)
        changed = search_attributes.updates(workflow.info().typed_search_attributes, values)
        if changed and self._patched(SEARCH_ATTRIBUTES):
            workflow.upsert_search_attributes(changed)

    def _note_acceptance(self) -> None:
        """Arm the acceptance timer in runs that know it. Asked only once the target
        waits for acceptance, so runs (and stored histories) of targets that never do
        carry no marker; called from run() and the handlers, never from a query."""
        if not self._acceptance_timer and self._facts is not None \
                and self._facts.status == Status.AWAITING_ACCEPTANCE:
            self._acceptance_timer = self._patched(ACCEPTANCE_TIMER)

    def _patched(self, patch_id: str) -> bool:
        """`workflow.patched(patch_id)`, unless this run's input settles it (SETTLED_AT)."""
        settled_at = SETTLED_AT.get(patch_id)
        return (settled_at is not None and self._patch_level >= settled_at) or workflow.patched(patch_id)

    async def _activity(self, name: str, arg: object) -> Applied:
        """Run one activity (a local one in runs since LOCAL_ACTIVITIES); a domain refusal
        comes out as the same typed ApplicationError, anything else as `internal_error`
        (and the facts are reloaded before going on)."""
        execute = workflow.execute_local_activity if self._patched(LOCAL_ACTIVITIES) else workflow.execute_activity
        try:
            return await execute(
                name,
                arg,
                result_type=Applied,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
        except ActivityError as error:
            failure = failure_of_activity(error, "the command could not be applied")
            if failure.type == INTERNAL_ERROR:
                self._resync = True
            raise failure from None


def _actor(data: dict[str, object]) -> Actor:
    try:
        return Actor.from_dict(data)  # type: ignore[arg-type]
    except (KeyError, ValueError, TypeError) as exc:
        raise BadInput(f"not a valid actor: {exc}", field="actor") from None
