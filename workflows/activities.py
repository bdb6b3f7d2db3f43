"""The activities of TargetWorkflow: load the aggregate, call the domain, save.

Thin on purpose: every rule lives in the domain. Each activity is idempotent because
the aggregate remembers the command ids it applied: a retried activity (worker killed
after the save, a timeout) calls the same method with the same command id, which
stores nothing and answers with the current state and the position of the event that
command stored the first time.

Synchronous (eventsourcing has no async API): the worker runs them in a thread pool.
Domain refusals leave as non-retryable ApplicationErrors typed by `kind`; database
trouble is re-raised as is so Temporal retries the activity; anything else is a bug,
reported once as `internal_error` rather than retried forever.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from thidua.domain.application import SAVE_ATTEMPTS, ThiduaApplication
from thidua.domain.campaign import Campaign
from thidua.domain.errors import BadInput, DomainError, NotFound, VersionConflict
from thidua.domain import lifecycle as lc
from thidua.domain.permissions import READER
from thidua.domain.target import Target, target_id_for
from thidua.domain.tree import check_no_cycle, check_parent
from thidua.domain.values import Actor, Command, Status
from thidua.workflows.commands import as_utc
from thidua.workflows.errors import INTERNAL_ERROR, to_application_error
from thidua.workflows.messages import (
    DEFAULT_REMINDER_FLOOR,
    ASSIGN_ACTIVITY,
    ASSIGN_BATCH_ACTIVITY,
    COMMAND_ACTIVITY,
    LOAD_ACTIVITY,
    PATCH_LEVEL,
    Applied,
    AssignBatchInput,
    AssignInput,
    AssignRequest,
    BatchAssigned,
    CampaignFacts,
    Carried,
    CommandInput,
    CommandResult,
    LoadInput,
    TargetFacts,
)

log = logging.getLogger("thidua.workflows")


R = TypeVar("R")


def _is_infrastructure_error(error: BaseException) -> bool:
    """Errors a retry can cure: the database or the network, not our code."""
    from eventsourcing.persistence import InterfaceError, InternalError, OperationalError

    if isinstance(error, (OperationalError, InterfaceError, InternalError, OSError, TimeoutError)):
        return True
    try:
        import psycopg

        return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))
    except ImportError:  # pragma: no cover
        return False


def _guarded(fn: Callable[[], R]) -> R:
    try:
        return fn()
    except DomainError as error:
        raise to_application_error(error) from error
    except ApplicationError:
        raise
    except Exception as error:
        if _is_infrastructure_error(error):
            raise  # retried by Temporal with backoff
        log.exception("activity failed")
        raise ApplicationError(
            f"unexpected error while applying the command: {error!r}", type=INTERNAL_ERROR, non_retryable=True
        ) from error


def facts_of(target: Target) -> TargetFacts:
    escalation = target.escalation or {}
    return TargetFacts(
        status=str(target.status),
        unit_id=target.unit_id,
        version=target.version,
        overdue=target.overdue,
        deadline_at=target.deadline_at,
        last_activity_at=target.last_activity_at,
        blocked_at=target.blocked_at,
        blocks=target.blocks,
        escalation_no=target.escalation_count,
        escalation_open=bool(escalation) and str(escalation.get("state")) == "open",
        escalation_opened_at=escalation.get("opened_at"),
        escalation_reminders=int(escalation.get("reminders") or 0),
        stale_reminded_for=target.stale_reminded_for,
        completion_reports=target.completion_reports,
        reported_at=target.completed_at if target.status == Status.AWAITING_ACCEPTANCE else None,
        acceptance_reminders=target.acceptance_reminders,
    )


def campaign_facts_of(campaign: Campaign, reminder_floor: timedelta | None = None) -> CampaignFacts:
    policy = campaign.policy
    return CampaignFacts(
        campaign_id=campaign.campaign_id,
        escalate_after=policy.duration("escalate_after"),
        resolution_sla=policy.duration("resolution_sla"),
        stale_after=policy.duration("stale_after"),
        closed=campaign.closed,
        reminder_floor=reminder_floor,
        acceptance_sla=policy.duration("acceptance_sla"),
    )


class TargetActivities:
    """The activities, bound to one domain application (one per worker process).

    Temporal cancels a synchronous activity that outlives its timeout by raising an
    exception inside its thread, which can land anywhere: between eventsourcing's
    `lock.acquire()` and its `try` (the per-aggregate fast-forward lock of the
    repository), leaving the lock held and every later command on that target stuck
    for good. So these activities are never interrupted (`no_thread_cancel_exception`):
    a cancelled one finishes its step and its answer is dropped (the retry is answered
    from the store, by command id). What bounds them instead is the database: every
    lock wait times out (POSTGRES_LOCK_TIMEOUT, thidua.dburl), so a stalled PostgreSQL
    ends in errors that Temporal retries until it heals."""

    def __init__(self, app: ThiduaApplication, *, reminder_floor: timedelta = DEFAULT_REMINDER_FLOOR) -> None:
        self.app = app
        # Carried to the workflows with the campaign's facts (THIDUA_REMINDER_FLOOR): an
        # activity's result is part of the history, so the workflow stays deterministic.
        self.reminder_floor = reminder_floor
        # Batches of an import are saved one at a time: in parallel (threads of one
        # process) they would all finish together at the end, while one after the other
        # the caller can start each batch's workflows as soon as it is saved.
        self._batch_lock = threading.Lock()

    def all(self) -> list[Callable[..., Any]]:
        return [self.assign_target, self.assign_targets, self.apply_target_command, self.load_target]

    # ------------------------------------------------------------------ activities
    @activity.defn(name=ASSIGN_ACTIVITY, no_thread_cancel_exception=True)
    def assign_target(self, inp: AssignInput) -> Applied:
        return _guarded(lambda: self._assign(inp))

    @activity.defn(name=ASSIGN_BATCH_ACTIVITY, no_thread_cancel_exception=True)
    def assign_targets(self, inp: AssignBatchInput) -> list[BatchAssigned]:
        with self._batch_lock:
            return _guarded(lambda: self._assign_batch(inp))

    @activity.defn(name=COMMAND_ACTIVITY, no_thread_cancel_exception=True)
    def apply_target_command(self, inp: CommandInput) -> Applied:
        return _guarded(lambda: self._apply(inp))

    @activity.defn(name=LOAD_ACTIVITY, no_thread_cancel_exception=True)
    def load_target(self, inp: LoadInput) -> Applied:
        return _guarded(lambda: self._load(inp))

    # ------------------------------------------------------------------ assign
    def _assign(self, inp: AssignInput) -> Applied:
        req = inp.request
        actor = Actor.from_dict(req.actor)
        cmd = Command(req.command_id, actor, as_utc(inp.at))
        lc.ASSIGN.check_allowed(actor, req.unit_id)
        key = req.key or req.command_id
        if str(target_id_for(req.campaign_id, key)) != inp.target_id:
            raise BadInput("the assignment key does not name this target", field="key")
        campaign = self.app.get_campaign(req.campaign_id)
        details = _assignment(req, campaign)

        def create() -> Target:
            campaign.check_open("assign")
            self._check_units(req)
            if details["parent_id"] is not None:
                check_parent(self._existing_target(details["parent_id"]), req.campaign_id)
            return Target.assign(cmd, **details)

        def same_again(existing: Target) -> bool:
            # Same key again: a replay when it asks for the same thing, else refused.
            existing.is_same_assignment(cmd, **details)
            return False

        changed = self.app.change(lambda: self.app.get_target(inp.target_id), same_again, cmd.id, create=create)
        target = changed.aggregate
        if changed.stored:
            return self._applied(target, changed.position, campaign, every_id=True)
        version = target.version_of_command(cmd.id) or 1
        return self._applied(target, self.app.position_of(target.id, version), campaign, every_id=True,
                             answer=self._as_of(target, version))

    # ------------------------------------------------------------------ assign many
    def _assign_batch(self, inp: AssignBatchInput) -> list[BatchAssigned]:
        """Assign every request of the batch in ONE transaction: all are stored or none.
        A key that already names a target is a replay when it asks for the same thing
        (answered with the event that assigned it), else the whole batch is refused."""
        if inp.at is None:
            raise BadInput("the batch has no time", field="at")
        keys = [req.key or req.command_id for req in inp.requests]
        if len(set(keys)) != len(keys):
            raise BadInput("a key is repeated within the batch", field="key")
        units_seen: set[str] = set()
        target_ids = [target_id_for(inp.campaign_id, key) for key in keys]
        batch_ids = set(target_ids)  # a parent may be assigned in the same batch
        parents_seen: set[str] = set()
        for _ in range(SAVE_ATTEMPTS):
            campaign = self.app.get_campaign(inp.campaign_id)
            stored = self.app.existing(target_ids)
            targets: list[tuple[str, Target, int | None]] = []  # key, target, version that assigned it (replays)
            for key, target_id, req in zip(keys, target_ids, inp.requests, strict=True):
                actor = Actor.from_dict(req.actor)
                cmd = Command(req.command_id, actor, as_utc(inp.at))
                lc.ASSIGN.check_allowed(actor, req.unit_id)
                if req.campaign_id != inp.campaign_id:
                    raise BadInput("every assignment of a batch must be for the batch's campaign", field="campaign_id")
                details = _assignment(req, campaign)
                existing = self._existing_target(str(target_id)) if target_id in stored else None
                if existing is not None:
                    existing.is_same_assignment(cmd, **details)
                    targets.append((key, existing, existing.version_of_command(cmd.id) or 1))
                    continue
                campaign.check_open("assign")
                self._check_units(req, units_seen)
                parent_id = details["parent_id"]
                if parent_id is not None and UUID(parent_id) not in batch_ids and parent_id not in parents_seen:
                    check_parent(self._existing_target(parent_id), inp.campaign_id)
                    parents_seen.add(parent_id)  # (many rows of an import share their parent)
                targets.append((key, Target.assign(cmd, **details), None))
            check_no_cycle({str(t.id): t.parent_id for _, t, replay in targets if replay is None})
            try:
                positions = self.app.save_each(*(target for _, target, replay in targets if replay is None))
            except VersionConflict:
                continue  # a concurrent assignment of one of the keys (or our own earlier attempt)
            policy = campaign_facts_of(campaign, self.reminder_floor)
            return [
                BatchAssigned(
                    key=key, target_id=str(target.id),
                    position=positions.get(target.id) if replay is None else self.app.position_of(target.id, replay),
                    carried=Carried(facts=facts_of(target), campaign=policy, command_ids=sorted(target.applied),
                                    patch_level=PATCH_LEVEL),
                )
                for key, target, replay in targets
            ]
        raise VersionConflict("targets of the batch kept changing while they were being assigned; retry")

    def _existing_target(self, target_id: str) -> Target | None:
        try:
            return self.app.get_target(target_id)
        except NotFound:
            return None

    # ------------------------------------------------------------------ commands
    def _apply(self, inp: CommandInput) -> Applied:
        spec = lc.command_named(inp.command)
        kwargs = spec.decode(inp.args)
        cmd = Command(inp.command_id, Actor.from_dict(inp.actor), as_utc(inp.at))

        def act(target: Target) -> bool:
            campaign = self.app.peek_campaign(target.campaign_id)
            # Heads of the cluster's head and deputy units read (and comment on) its targets.
            audience = campaign.cluster_leads_of(target.unit_id) if READER in spec.who else ()
            # What the command reads of the campaign's policy, as the policy is now.
            context = {name: getattr(campaign.policy, name) for name in spec.policy_fields}
            if not getattr(target, spec.name)(cmd, **kwargs, **context, expected_version=inp.expected_version,
                                              audience=audience):
                return False  # a replay
            # A target can only move to (or involve) a registered unit.
            for field in spec.unit_fields:
                for unit_id in _as_list(kwargs.get(field)):
                    self._check_unit(unit_id, field)
            # A closed campaign takes no command on its targets (not even a timer's)
            # until it is reopened; checked after the target's own rules, before saving.
            campaign.check_open(spec.name)
            return True

        changed = self.app.change(lambda: self.app.get_target(inp.target_id), act, cmd.id)
        target = changed.aggregate
        if not changed.stored:  # a replay: the state now, the position of what it stored then
            return self._applied(target, changed.position, command_id=cmd.id,
                                 answer=self._as_of(target, target.version_of_command(cmd.id)))
        return self._applied(target, changed.position, command_id=cmd.id)

    def _check_units(self, req: AssignRequest, seen: set[str] | None = None) -> None:
        """The units an assignment names are registered (each checked once per batch)."""
        seen = set() if seen is None else seen
        named = [(req.unit_id, "unit_id"), *((u, "coordinating_unit_ids") for u in req.coordinating_unit_ids or ())]
        for unit_id, field in named:
            if unit_id not in seen:
                self._check_unit(unit_id, field)
                seen.add(unit_id)

    def _check_unit(self, unit_id: str, field: str) -> None:
        try:
            self.app.get_unit(unit_id)
        except NotFound as exc:
            raise BadInput(f"unit {unit_id!r} is not registered", field=field) from exc

    # ------------------------------------------------------------------ load
    def _load(self, inp: LoadInput) -> Applied:
        target = self.app.get_target(inp.target_id)
        campaign = self.app.get_campaign(target.campaign_id)
        last = self.app.position_of(target.id, target.version)
        return self._applied(target, last, campaign, every_id=True)

    # ------------------------------------------------------------------ helpers
    def _as_of(self, target: Target, version: int | None) -> Target:
        """A replay gets the answer the first run gave. That matters beyond callers'
        retries: a local activity runs again when its workflow task is lost (worker crash,
        a superseded task under concurrent updates), and its caller must still see its own
        command's state."""
        return self.app.as_left_by(target, version)

    def _applied(
        self, target: Target, position: int | None, campaign: Campaign | None = None, *,
        every_id: bool = False, command_id: str | None = None, answer: Target | None = None,
    ) -> Applied:
        """`target` is the state now (the workflow's facts); `answer` what the caller sees."""
        return Applied(
            result=CommandResult(target=(answer or target).to_state(), position=position),
            facts=facts_of(target),
            command_ids=list(target.applied) if every_id else [command_id] if command_id else [],
            campaign=None if campaign is None else campaign_facts_of(campaign, self.reminder_floor),
        )




def _assignment(req: AssignRequest, campaign: Campaign) -> dict[str, Any]:
    """`Target.assign`'s keyword arguments for an assign request: the decision it cites
    resolved to the campaign's registered one (BadInput naming the field otherwise)."""
    args = lc.ASSIGN.decode({
        "unit_id": req.unit_id, "title": req.title, "area": req.area, "deadline": req.deadline,
        "points": req.points, "key": req.key, "decision": req.decision, "measure": req.measure, "note": req.note,
        "parent_id": req.parent_id, "coordinating_unit_ids": list(req.coordinating_unit_ids or ()),
    })
    if args["decision"] is not None:
        args["decision"] = campaign.registered_decision(args["decision"])
    if args["parent_id"] is not None:
        args["parent_id"] = str(args["parent_id"])
    return {**args, "campaign_id": req.campaign_id, "timezone": campaign.timezone, "key": req.key or req.command_id}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


__all__ = [
    "ASSIGN_ACTIVITY", "COMMAND_ACTIVITY", "LOAD_ACTIVITY", "TargetActivities",
    "campaign_facts_of", "facts_of",
]
