"""What crosses Temporal: workflow input, update arguments, activity input and results.

Plain dataclasses of JSON-friendly fields, carried by the pydantic data converter
(datetimes stay aware, timedeltas travel as ISO 8601 durations). Field names are part
of stored workflow histories: add fields with defaults, never rename or remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

# Activity names (implemented in workflows/activities.py; the workflow refers to them by
# name so its sandbox never imports the event store).
ASSIGN_ACTIVITY = "thidua.assign_target"
COMMAND_ACTIVITY = "thidua.apply_target_command"
LOAD_ACTIVITY = "thidua.load_target"
ASSIGN_BATCH_ACTIVITY = "thidua.assign_targets"


def imports_queue(task_queue: str) -> str:
    """The task queue of the imports' AssignBatchWorkflows, beside the targets' `task_queue`.

    Every imported target's workflow puts its first task on the targets' queue, and the
    server does not hand a queue's backlog out strictly in the order it came: a batch
    whose first task was queued there among them was measured starting 5 s late, and
    every target of it waited too. On their own queue, which the same worker polls, the
    batches find an idle poller."""
    return f"{task_queue}-imports"


# Workflow start modes.
MODE_ASSIGN = "assign"  # started by update-with-start of `assign`: the update creates the target
MODE_LOAD = "load"  # started for an existing target: state is loaded from the aggregate
MODE_CARRY = "carry"  # continued-as-new: state is carried in the input


@dataclass
class CommandResult:
    """What every command answers: the target as the API shows it (`Target.to_state()`)
    and the global position of the event the command stored (or had stored before, for
    an idempotent replay)."""

    target: dict[str, Any]
    position: int | None


@dataclass
class TargetFacts:
    """What the workflow's timers and update validators need to know of the aggregate."""

    status: str
    unit_id: str
    version: int
    overdue: bool
    deadline_at: datetime
    last_activity_at: datetime
    blocked_at: datetime | None = None
    blocks: int = 0
    escalation_no: int = 0
    escalation_open: bool = False
    escalation_opened_at: datetime | None = None
    escalation_reminders: int = 0
    stale_reminded_for: datetime | None = None
    # A completion waiting for acceptance: which report it is, when it was reported and
    # how many acceptance reminders it has had.
    completion_reports: int = 0
    reported_at: datetime | None = None
    acceptance_reminders: int = 0


# Repeating reminders (an escalation's SLA reminder, a stale reminder) fire at most this
# often, whatever the campaign's policy says; one-shot timers keep their exact time.
# The worker's setting THIDUA_REMINDER_FLOOR overrides it.
DEFAULT_REMINDER_FLOOR = timedelta(hours=1)


@dataclass
class CampaignFacts:
    """The campaign's timer policy and whether it is closed (read at assign/load)."""

    campaign_id: str
    escalate_after: timedelta
    resolution_sla: timedelta
    stale_after: timedelta
    closed: bool = False
    # The worker's THIDUA_REMINDER_FLOOR: repeating reminders fire at most this often
    # (None in facts recorded before the floor: the workflow then uses its default).
    reminder_floor: timedelta | None = None
    acceptance_sla: timedelta | None = None  # None in histories from before acceptance


@dataclass
class Applied:
    """An activity's answer: the new state, the stored event's position, and the facts
    the workflow keeps. `command_ids` are ids now known to be applied: all of them after
    assign/load, the one just applied otherwise. `campaign` is set by assign/load."""

    result: CommandResult
    facts: TargetFacts
    command_ids: list[str] = field(default_factory=list)
    campaign: CampaignFacts | None = None


# What worker code puts in `Carried.patch_level`: the highest level of
# target_workflow.SETTLED_AT, whose patches a run of that level takes without asking Temporal.
PATCH_LEVEL = 1


@dataclass
class Carried:
    """The workflow's state handed over on continue-as-new (and from an import's batch)."""

    facts: TargetFacts
    campaign: CampaignFacts
    command_ids: list[str] = field(default_factory=list)
    # Set only by worker code (the batch activity, continue-as-new): the code that runs
    # the new run has every patch up to this level. 0 in inputs recorded before it.
    patch_level: int = 0


@dataclass
class WorkflowStart:
    target_id: str
    mode: str = MODE_LOAD
    carried: Carried | None = None


@dataclass
class AssignRequest:
    """Update argument of `TargetWorkflow.assign` (the API's assign body, normalised)."""

    actor: dict[str, Any]
    command_id: str
    campaign_id: str
    unit_id: str
    title: str
    area: str
    deadline: date
    points: str
    key: str | None = None
    decision: dict[str, Any] | None = None
    measure: dict[str, Any] | None = None
    note: str | None = None
    parent_id: str | None = None
    # (absent from requests made before units could be named at assignment)
    coordinating_unit_ids: list[str] = field(default_factory=list)


@dataclass
class CommandRequest:
    """Update argument of `TargetWorkflow.command`: one row of the lifecycle table."""

    command: str
    actor: dict[str, Any]
    command_id: str
    args: dict[str, Any] = field(default_factory=dict)
    expected_version: int | None = None


@dataclass
class AssignInput:
    target_id: str
    at: datetime
    request: AssignRequest


@dataclass
class CommandInput:
    """Activity input: a user command (from an update) or a timer command."""

    target_id: str
    command: str
    actor: dict[str, Any]
    command_id: str
    at: datetime
    args: dict[str, Any] = field(default_factory=dict)
    expected_version: int | None = None


@dataclass
class AssignBatchInput:
    """Input of `AssignBatchWorkflow` and of its one activity: many assignments of one
    campaign (a chunk of an import), saved together. `at` is set by the workflow."""

    campaign_id: str
    requests: list[AssignRequest]
    at: datetime | None = None


@dataclass
class BatchAssigned:
    """One assignment of a batch: its target, the position of the event that assigned
    it, and what the target's workflow starts from (no activity needed at start)."""

    key: str
    target_id: str
    position: int | None
    carried: Carried


@dataclass
class LoadInput:
    target_id: str


@dataclass
class Due:
    """A timer the workflow has armed: at `at`, issue `command` as `system`."""

    at: datetime
    command: str
    command_id: str
    args: dict[str, Any] = field(default_factory=dict)
