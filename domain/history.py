"""The past of a drive brought from the old records (history migration).

A secretariat that starts using thidua mid-drive has its past in spreadsheets: rows of
(target key, action, when, who, note). Each row is played, in time order per target,
through the target's own command methods (the same rules as a live command), as a
command whose time is when it happened and whose actor is the person the old records
name: so `as_of`, timeliness and the timeline show the drive as it went, while the
store keeps when each event was recorded (the event's own timestamp) and says plainly
what was migrated and by whom:

- the command id of a migrated event is `history:<import id>:<line>`;
- its actor id is `migrated:<id of the user who imported it>` (its name is the person
  the old records name; its role the one the lifecycle table admits for the action);
- every target an import touched gets one `HistoryMigrated` event, recorded now by the
  importing user, naming the import and the versions it brought.

A deadline that passed in the old records is recorded as passed at the deadline
(`DeadlinePassed`, by `system`), so the target is overdue from then on, as it was; its
workflow then finds nothing left to fire for it. Pure module: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from thidua.domain import lifecycle as lc
from thidua.domain.errors import BadInput, DomainError
from thidua.domain.permissions import OWNER, check_may
from thidua.domain.target import Target
from thidua.domain.values import SYSTEM, Actor, Command, Decision, DecisionCitation, Policy, Role

# The actions the old records may hold: the commands people issue (timers are not
# migrated; the deadline is, see above).
ACTIONS: dict[str, lc.TargetCommand] = {c.name: c for c in (
    lc.ASSIGN, lc.START, lc.REPORT_PROGRESS, lc.BLOCK, lc.UNBLOCK, lc.ESCALATE, lc.RESOLVE, lc.COMPLETE,
    lc.ACCEPT, lc.RETURN, lc.REOPEN, lc.EXTEND_DEADLINE, lc.CANCEL,
)}
# The row's free text (`note`) goes to the first of these a command takes.
TEXT_FIELDS = ("reason", "directive", "note")
MIGRATED_ACTOR_PREFIX = "migrated:"
COMMAND_PREFIX = "history:"


@dataclass(frozen=True)
class PastAction:
    """One row of the old records, checked on its own (its arguments parsed)."""

    line: int
    key: str
    action: str
    when: datetime
    who: str
    args: Mapping[str, Any] = field(default_factory=dict)  # the command's keyword arguments


@dataclass
class RowError:
    line: int
    key: str | None
    field: str
    message: str
    kind: str


@dataclass
class Played:
    """A target after its past was played on it (nothing saved yet)."""

    key: str
    target: Target
    new: bool
    events: int  # events this import added (0: everything was already there)


def text_field(spec: lc.TargetCommand) -> str | None:
    return next((name for name in TEXT_FIELDS if name in spec.args.model_fields), None)


def row_command_id(import_id: str, line: int) -> str:
    return f"{COMMAND_PREFIX}{import_id}:{line}"


def past_actor(spec: lc.TargetCommand, who: str, importer: Actor, unit_id: str) -> Actor:
    """The person the old records name, in the role the lifecycle table admits for the
    action, marked as migrated by `importer`."""
    if OWNER in spec.who:
        role, unit = Role.UNIT_HEAD, unit_id
    elif Role.SECRETARIAT in spec.who:
        role, unit = Role.SECRETARIAT, None
    else:
        role, unit = Role.STANDING_COMMITTEE, None
    return Actor(id=f"{MIGRATED_ACTOR_PREFIX}{importer.id}", name=who, role=role, unit_id=unit)


def play(
    key: str, existing: Target | None, actions: Iterable[PastAction], *, campaign_id: str, timezone: str,
    policy: Policy, importer: Actor, import_id: str, now: datetime,
    registered_decision: Callable[[DecisionCitation], Decision] | None = None,
) -> tuple[Played | None, RowError | None]:
    """Play one target's past actions (in time order, then line order) on it. The first
    refused row ends the target's play: the rows after it depend on it.
    `registered_decision` resolves the decision an assignment cites (the campaign's
    registry: Campaign.registered_decision); without it no row may cite one."""
    check_may(importer, "import_history")
    target = existing
    before = 0 if existing is None else existing.version
    lines: list[int] = []
    for past in sorted(actions, key=lambda a: (a.when, a.line)):
        try:
            target = _apply(target, past, campaign_id=campaign_id, timezone=timezone, policy=policy,
                            importer=importer, import_id=import_id, now=now,
                            registered_decision=registered_decision)
        except DomainError as error:
            name = str(error.details.get("field") or "action")
            return None, RowError(past.line, key, name, error.message, error.kind)
        lines.append(past.line)
    assert target is not None
    _deadline_passed_by(target, now, import_id)
    if target.version > before:
        target.record_migration(Command(f"history-import:{import_id}:{key}", importer, now),
                                import_id=import_id, first_line=min(lines), last_line=max(lines),
                                first_version=before + 1, last_version=target.version)
    return Played(key, target, existing is None, target.version - before), None


def _with_registered_decision(
    past: PastAction, registered_decision: Callable[[DecisionCitation], Decision] | None,
) -> PastAction:
    """An assignment cites its decision by number: the target records the registered one."""
    citation = past.args.get("decision")
    if not isinstance(citation, DecisionCitation):
        return past
    if registered_decision is None:
        raise BadInput(f"decision {citation.number!r} is not registered", field="decision.number")
    return replace(past, args={**past.args, "decision": registered_decision(citation)})


def _apply(target: Target | None, past: PastAction, *, campaign_id: str, timezone: str, policy: Policy,
           importer: Actor, import_id: str, now: datetime,
           registered_decision: Callable[[DecisionCitation], Decision] | None = None) -> Target:
    spec = ACTIONS[past.action]
    if spec is lc.ASSIGN:
        past = _with_registered_decision(past, registered_decision)
    command_id = row_command_id(import_id, past.line)
    if past.when > now:
        raise BadInput("when: this happened in the future", field="when")
    if target is None:
        if spec is not lc.ASSIGN:
            raise BadInput("no target has this key yet: its first action must be `assign`", field="action")
        actor = past_actor(spec, past.who, importer, str(past.args["unit_id"]))
        return Target.assign(Command(command_id, actor, past.when), campaign_id=campaign_id, timezone=timezone,
                             key=past.key, **past.args)
    actor = past_actor(spec, past.who, importer, target.unit_id)
    cmd = Command(command_id, actor, past.when)
    if spec is lc.ASSIGN:
        target.is_same_assignment(cmd, campaign_id=campaign_id, timezone=timezone, key=past.key, **past.args)
        return target
    if command_id in target.applied:  # brought by this import before: its replay
        getattr(target, spec.name)(cmd, **past.args, **_policy_args(spec, policy))
        return target
    if past.when < target.updated_at:
        raise BadInput(f"when: before the target's last recorded event ({target.updated_at.isoformat()}); "
                       "the past is added in time order", field="when")
    _deadline_passed_by(target, past.when, import_id)
    getattr(target, spec.name)(cmd, **past.args, **_policy_args(spec, policy))
    return target


def _policy_args(spec: lc.TargetCommand, policy: Policy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in spec.policy_fields}


def _deadline_passed_by(target: Target, at: datetime, import_id: str) -> None:
    """An open target whose deadline passed by `at` became overdue at its deadline."""
    deadline_at = target.deadline_at
    if target.is_open and not target.overdue and deadline_at <= at and target.updated_at <= deadline_at:
        cmd = Command(f"{COMMAND_PREFIX}{import_id}:{target.key}:deadline:{deadline_at.isoformat()}", SYSTEM,
                      deadline_at)
        target.mark_overdue(cmd, deadline_at=deadline_at)


def is_migrated(actor_id: str | None, command_id: str | None) -> bool:
    """Was this event brought from the old records?"""
    return (actor_id or "").startswith(MIGRATED_ACTOR_PREFIX) or (command_id or "").startswith(COMMAND_PREFIX)
