"""Who may do what: pure functions shared by the aggregates, the workflow and the API.

The lifecycle table of DESIGN.md in code. A unit head acts only on its own unit's
targets; inspectors read everything and change nothing; timers act as `system`.
"""

from __future__ import annotations

from domain.errors import NotAllowed
from domain.values import Actor, Role

_OWNER = "owner"  # the head of the unit that owns the target
_SC = Role.STANDING_COMMITTEE
_SEC = Role.SECRETARIAT

TARGET_COMMANDS: dict[str, frozenset[object]] = {
    "assign": frozenset({_SEC, _SC}),
    "start": frozenset({_OWNER}),
    "report_progress": frozenset({_OWNER}),
    "block": frozenset({_OWNER}),
    "unblock": frozenset({_OWNER}),
    "escalate": frozenset({_OWNER}),
    "resolve": frozenset({_SC}),
    "complete": frozenset({_OWNER}),
    "reopen": frozenset({_SEC, _SC}),
    "extend_deadline": frozenset({_SC}),
    "reassign": frozenset({_SEC, _SC}),
    "cancel": frozenset({_SEC, _SC}),
    # timer-made transitions
    "auto_escalate": frozenset({Role.SYSTEM}),
    "remind_escalation": frozenset({Role.SYSTEM}),
    "mark_overdue": frozenset({Role.SYSTEM}),
    "remind_stale": frozenset({Role.SYSTEM}),
}

CAMPAIGN_COMMANDS: dict[str, frozenset[Role]] = {
    "create_campaign": frozenset({_SEC}),
    "set_cluster": frozenset({_SEC}),
    "record_decision": frozenset({_SEC}),
    "change_policy": frozenset({_SEC}),
    "change_scoring": frozenset({_SEC, _SC}),
    "award_bonus": frozenset({_SC}),
    "close_campaign": frozenset({_SEC}),
    "reopen_campaign": frozenset({_SC}),
    "register_unit": frozenset({_SEC}),
    "manage_users": frozenset({_SEC}),
}


def may_command_target(actor: Actor, command: str, owning_unit_id: str | None) -> bool:
    allowed = TARGET_COMMANDS.get(command)
    if allowed is None:
        return False
    if actor.role in allowed:
        return True
    return (
        _OWNER in allowed
        and actor.role == Role.UNIT_HEAD
        and actor.unit_id is not None
        and actor.unit_id == owning_unit_id
    )


def check_may_command_target(actor: Actor, command: str, owning_unit_id: str | None) -> None:
    if not may_command_target(actor, command, owning_unit_id):
        raise NotAllowed(
            f"{actor.role} {actor.id!r} may not {command} a target of unit {owning_unit_id!r}",
            command=command,
            role=str(actor.role),
        )


def may(actor: Actor, command: str) -> bool:
    """Campaign-, unit- and user-level commands (no owning unit involved)."""
    return actor.role in CAMPAIGN_COMMANDS.get(command, frozenset())


def check_may(actor: Actor, command: str) -> None:
    if not may(actor, command):
        raise NotAllowed(f"{actor.role} {actor.id!r} may not {command}", command=command, role=str(actor.role))


def may_read_target(actor: Actor, owning_unit_id: str) -> bool:
    """Target detail and history: everyone but a unit head of another unit."""
    if actor.role == Role.UNIT_HEAD:
        return actor.unit_id == owning_unit_id
    return actor.role in (_SEC, _SC, Role.INSPECTOR)


def may_read_audit(actor: Actor) -> bool:
    return actor.role in (_SEC, _SC, Role.INSPECTOR)


def may_change_anything(actor: Actor) -> bool:
    return actor.role != Role.INSPECTOR
