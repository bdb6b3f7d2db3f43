"""Who may do what and read what: the one authorisation module.

Used by the aggregates (through the declarations of domain/lifecycle.py and the
campaign, unit and user commands below), by the workflow's update validator and by the
API's dependencies and pages. A unit head acts only on its own unit's targets;
inspectors read everything and change nothing; timers act as `system`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from thidua.domain.errors import NotAllowed
from thidua.domain.values import Actor, Role

# In a command's `who`: the head of the unit that owns the target.
OWNER = "owning_unit"
# In a command's `who`: a unit head who may read the target (its owner, a unit named to
# coordinate on it, the head or deputy unit of its cluster). Inspectors read but write
# nothing, so they are not in it.
READER = "target_reader"
Who = frozenset[Role | str]

_SC = Role.STANDING_COMMITTEE
_SEC = Role.SECRETARIAT

# Campaign-, unit- and user-level commands (no owning unit involved).
CAMPAIGN_COMMANDS: dict[str, frozenset[Role]] = {
    "create_campaign": frozenset({_SEC}),
    "set_cluster": frozenset({_SEC}),
    "record_decision": frozenset({_SEC}),
    "change_policy": frozenset({_SEC}),
    "change_scoring": frozenset({_SEC, _SC}),
    "create_evaluation": frozenset({_SEC}),
    "extend_evaluation": frozenset({_SC}),
    "approve_awards": frozenset({_SC}),
    "revoke_award": frozenset({_SC}),
    "award_bonus": frozenset({_SC}),
    "close_campaign": frozenset({_SEC}),
    "reopen_campaign": frozenset({_SC}),
    "register_unit": frozenset({_SEC}),
    "manage_users": frozenset({_SEC}),
    # webhooks, the notifications given up, the daily digests (DESIGN.md "Notifications")
    "manage_notifications": frozenset({_SEC}),
    "import_history": frozenset({_SEC}),  # bring a drive's past from the old records (domain/history.py)
}

# The audit trail and its verification.
AUDIT_READERS = frozenset({_SEC, _SC, Role.INSPECTOR})
# The progress of campaign-wide operations (GET /v1/operations/{id}).
OPERATION_READERS = frozenset({_SEC, _SC})


def roles_of(who: Who) -> frozenset[Role]:
    """The roles a `who` admits (the owning unit's head is a unit head)."""
    roles = {r for r in who if isinstance(r, Role)}
    if OWNER in who or READER in who:
        roles.add(Role.UNIT_HEAD)
    return frozenset(roles)


def allows(who: Who, actor: Actor, owning_unit_id: str | None, readers: Collection[str] | None = ()) -> bool:
    """Does `who` admit this actor for a target owned by `owning_unit_id`?

    `readers`: the other units whose heads may read the target (coordinating units,
    its cluster's head and deputy), for a `who` with READER. None: the caller does not
    know them (the workflow's validator holds only the owning unit) and lets any unit
    head through; the aggregate, which knows them, decides."""
    if actor.role in who:
        return True
    if actor.role != Role.UNIT_HEAD or actor.unit_id is None:
        return False
    if (OWNER in who or READER in who) and actor.unit_id == owning_unit_id:
        return True
    return READER in who and (readers is None or actor.unit_id in readers)


def may(actor: Actor, command: str) -> bool:
    """Campaign-, unit- and user-level commands."""
    return actor.role in CAMPAIGN_COMMANDS.get(command, frozenset())


def check_may(actor: Actor, command: str) -> None:
    if not may(actor, command):
        raise NotAllowed(f"{actor.role} {actor.id!r} may not {command}", command=command, role=str(actor.role))


# Who reads every target's detail, whoever owns it.
EVERY_TARGET_READERS = frozenset({_SEC, _SC, Role.INSPECTOR})


def reads_every_target(actor: Actor) -> bool:
    """True when `may_read_target` admits this actor whatever the owner: the check then
    needs nothing of the target, so a reader may be answered from the read model without
    loading the target (whose owner a lagging read model could still have wrong)."""
    return actor.role in EVERY_TARGET_READERS


def may_read_target(actor: Actor, owning_unit_id: str, cluster_leads: Collection[str] = (),
                    coordinating: Collection[str] = ()) -> bool:
    """A target's detail: everyone signed in but a unit head of a unit that neither owns
    the target, nor heads or deputises its cluster (`cluster_leads`: the head and deputy
    units of the clusters the owning unit belongs to), nor is named to coordinate on it
    (`coordinating`)."""
    if actor.role != Role.UNIT_HEAD:
        return reads_every_target(actor)
    return actor.unit_id is not None and (
        actor.unit_id == owning_unit_id or actor.unit_id in cluster_leads or actor.unit_id in coordinating)


# What every signed-in user may see of any target of a campaign: the facts a scoreboard
# is made of and the decision that assigned it. Whoever may not read the target's detail
# (may_read_target) sees only these in lists, exports and pages; block reasons, notes,
# directives, progress and history stay with those who may.
PUBLIC_TARGET_FIELDS = frozenset({
    "id", "key", "campaign_id", "unit_id", "title", "area", "deadline", "deadline_at", "timezone", "points",
    "status", "overdue", "report_class", "version", "decision", "assigned_at", "completed_at", "updated_at",
})
PUBLIC_ESCALATION_FIELDS = frozenset({"state", "trigger", "opened_at", "resolved_at"})


def public_view(target: dict[str, Any]) -> dict[str, Any]:
    """A target (its JSON shape) as someone who may not read its detail sees it."""
    view = {k: v for k, v in target.items() if k in PUBLIC_TARGET_FIELDS}
    escalation = target.get("escalation")
    view["escalation"] = None if escalation is None else {
        k: v for k, v in escalation.items() if k in PUBLIC_ESCALATION_FIELDS}
    view["restricted"] = True
    return view


def visible_target(actor: Actor, target: dict[str, Any], cluster_leads: Collection[str] = ()) -> dict[str, Any]:
    """The target as this actor may see it: whole, or its public view."""
    if may_read_target(actor, target["unit_id"], cluster_leads, target.get("coordinating_unit_ids") or ()):
        return target
    return public_view(target)


def may_read_history(actor: Actor, owning_unit_id: str, coordinating: Collection[str] = ()) -> bool:
    """A target's history (and its comments and evidence): a unit head reads its own
    unit's targets and those its unit is named to coordinate on."""
    if actor.role == Role.UNIT_HEAD:
        return actor.unit_id is not None and (actor.unit_id == owning_unit_id or actor.unit_id in coordinating)
    return actor.role in (_SEC, _SC, Role.INSPECTOR)


def may_read_audit(actor: Actor) -> bool:
    return actor.role in AUDIT_READERS
