"""The thidua domain: aggregates, events, rules. No I/O, no Temporal, no HTTP."""

from thidua.domain.campaign import Campaign, Unit, campaign_uuid, unit_uuid
from thidua.domain.errors import (
    BadInput,
    CampaignClosed,
    CommandIdReused,
    DomainError,
    InvalidTransition,
    NotAllowed,
    NotFound,
    VersionConflict,
)
from thidua.domain.target import Target, classify, target_id_for
from thidua.domain.topics import register_legacy_topics
from thidua.domain.user import User, user_uuid
from thidua.domain.values import (
    SYSTEM,
    Actor,
    Cluster,
    Command,
    Decision,
    Measure,
    Policy,
    ReportClass,
    Role,
    ScoringScale,
    Status,
    Trigger,
)

# Events stored before the package moved under the `thidua` namespace still load.
register_legacy_topics()

__all__ = [
    "SYSTEM", "Actor", "BadInput", "Campaign", "CampaignClosed", "Cluster", "Command", "CommandIdReused",
    "Decision", "DomainError", "InvalidTransition", "Measure", "NotAllowed", "NotFound", "Policy", "ReportClass",
    "Role", "ScoringScale", "Status", "Target", "Trigger", "Unit", "User", "VersionConflict",
    "campaign_uuid", "classify", "target_id_for", "unit_uuid", "user_uuid",
]
