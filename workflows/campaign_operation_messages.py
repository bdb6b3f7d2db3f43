"""What crosses Temporal for a campaign-wide operation (CampaignOperationWorkflow).

Plain dataclasses of JSON-friendly fields, like thidua.workflows.messages: field names are part
of stored workflow histories, so add fields with defaults and never rename or remove.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The operations, and what each does to the targets' workflows once the campaign change
# is recorded. A new scoring scale changes nothing a target's workflow holds (its timers
# come from the policy; scores are the projections' business), so it reaches none.
CLOSE = "close"  # finish every target's workflow
POLICY = "policy"  # every running workflow re-reads the campaign and re-arms its timers
SCORING = "scoring"  # no target to reach
REOPEN = "reopen"  # start every target's workflow again (its timers run again)
KINDS = (CLOSE, POLICY, SCORING, REOPEN)
REACHES_TARGETS = frozenset({CLOSE, POLICY, REOPEN})

# Activity names (implemented in workflows/campaign_operation_activities.py).
CHANGE_CAMPAIGN_ACTIVITY = "thidua.operation.change_campaign"
COUNT_TARGETS_ACTIVITY = "thidua.operation.count_targets"
REACH_TARGETS_ACTIVITY = "thidua.operation.reach_targets"

# Per-target errors kept in the operation's progress (the rest are counted, not listed).
MAX_LISTED_ERRORS = 50


def operation_id_for(command_id: str, kind: str, campaign_id: str, args: dict[str, Any]) -> str:
    """The workflow id (and the API's operation id) of one campaign command: its command
    id, plus a digest of what it asks, so a command id reused for another request does
    not find (and answer with) the first one's operation."""
    body = json.dumps({"kind": kind, "campaign_id": campaign_id, "args": args}, sort_keys=True, ensure_ascii=False,
                      default=str)
    return f"op-{command_id}.{hashlib.sha256(body.encode()).hexdigest()[:12]}"


@dataclass
class OperationInput:
    """One campaign command: `args` are its arguments as JSON (close/reopen: reason;
    policy: the three durations; scoring: on_time, late, reward_slots, effective_at)."""

    kind: str
    campaign_id: str
    command_id: str
    actor: dict[str, Any]
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChangeInput:
    operation: OperationInput
    at: datetime  # the workflow's time: the command's time, the same on every retry


@dataclass
class CampaignChanged:
    """The campaign after the command and the position of the event it stored (of the
    event stored the first time, for a replay): the answer the route gives."""

    campaign: dict[str, Any]
    position: int


@dataclass
class CountInput:
    """Count the campaign's targets whose read-model row is past `after_position`, once
    the `targets` read model has reached `wait_for` (None: the last event stored when
    the activity starts)."""

    campaign_id: str
    after_position: int = 0
    wait_for: int | None = None


@dataclass
class Counted:
    total: int
    projected_to: int  # the read model's position when counted


@dataclass
class ReachInput:
    """One page: the campaign's targets after `after_id` (by id) whose row is past
    `after_position`, at most `limit` of them."""

    kind: str
    campaign_id: str
    after_id: str | None = None
    after_position: int = 0
    limit: int = 200


@dataclass
class Reached:
    reached: int
    last_id: str | None  # the cursor for the next page
    more: bool
    errors: list[str] = field(default_factory=list)


@dataclass
class OperationProgress:
    """What `GET /v1/operations/{id}` shows of a running operation (the workflow's
    `progress` query) and, as the workflow's result, of a finished one."""

    kind: str
    campaign_id: str
    done: int = 0
    total: int = 0
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    result: CampaignChanged | None = None
