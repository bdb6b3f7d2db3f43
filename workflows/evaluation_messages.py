"""What crosses Temporal for an evaluation round (EvaluationWorkflow).

Plain dataclasses of JSON-friendly fields, like thidua.workflows.messages: field names are
part of stored workflow histories, so add fields with defaults and never rename or remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Activity names (implemented in workflows/evaluation_activities.py).
CREATE_ROUND_ACTIVITY = "thidua.evaluation.create_round"
REMIND_ACTIVITY = "thidua.evaluation.remind"
CLOSE_STAGE_ACTIVITY = "thidua.evaluation.close_stage"
EXTEND_ACTIVITY = "thidua.evaluation.extend"

SELF_ASSESSMENT, REVIEW = "self_assessment", "review"
STAGES = (SELF_ASSESSMENT, REVIEW)
# How long before a stage's due time its reminder goes out (evaluation.due_soon).
DEFAULT_REMIND_BEFORE_SECONDS = 2 * 24 * 3600


def evaluation_workflow_id(evaluation_id: str) -> str:
    return f"evaluation-{evaluation_id}"


@dataclass
class RoundInput:
    """`POST /v1/campaigns/{cid}/evaluations`, as the workflow starts it."""

    evaluation_id: str
    campaign_id: str
    command_id: str
    actor: dict[str, Any]
    name: str
    period_end: datetime
    self_assessment_due: datetime
    review_due: datetime
    late_submissions: str = "refuse"
    remind_before_seconds: int = DEFAULT_REMIND_BEFORE_SECONDS


@dataclass
class CreateInput:
    round: RoundInput
    at: datetime  # the workflow's time: the command's time, the same on every retry


@dataclass
class RoundState:
    """The round after a command, and the position of the event it stored."""

    state: dict[str, Any]
    position: int
    created_by_command: str = ""  # the command that created the round


@dataclass
class StageInput:
    evaluation_id: str
    stage: str
    at: datetime
    command_id: str


@dataclass
class ExtendInput:
    """`POST /v1/evaluations/{eid}/extend` (the Standing Committee)."""

    evaluation_id: str
    command_id: str
    actor: dict[str, Any]
    stage: str
    due: datetime
    reason: str
    at: datetime | None = None  # set by the workflow


@dataclass
class RoundOutcome:
    """The workflow's result once both stages have closed."""

    evaluation_id: str
    closed_stages: list[str] = field(default_factory=list)
