"""The Campaign aggregate (đợt thi đua) and the organisation-wide Unit registry."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from thidua.domain.commandlog import CommandLog, check_key, event_meta, fingerprint, optional_text, require_text
from thidua.domain.errors import BadInput, CampaignClosed, CommandIdReused, InvalidTransition
from thidua.domain.permissions import check_may
from thidua.domain.scoring import NO_RULES, RewardRules, in_force
from thidua.domain.values import (
    DEFAULT_TIMEZONE,
    MAX_CAMPAIGN_YEARS,
    Actor,
    Cluster,
    Command,
    ISSUER_LEVELS,
    Decision,
    DecisionCitation,
    Policy,
    ScoringScale,
    check_date,
    check_instant,
    check_timezone,
    end_of_day,
    to_decimal,
    years_later,
)

NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/campaigns")
MAX_BONUS = Decimal("10000")


def campaign_uuid(campaign_id: str) -> UUID:
    return uuid5(NAMESPACE, campaign_id)


def check_slug(value: str, field: str) -> str:
    text = require_text(check_key(value, field), field, max_len=100)
    if not all(ch.isalnum() or ch in "-_." for ch in text):
        raise BadInput(f"{field} may contain only letters, digits, '-', '_' and '.'", field=field)
    return text


class Campaign(CommandLog, Aggregate):
    """A drive with its period, time zone, decisions, clusters, policy and scoring scale."""

    @staticmethod
    def create_id(campaign_id: str) -> UUID:  # type: ignore[override]
        return campaign_uuid(campaign_id)

    @classmethod
    def create(
        cls, cmd: Command, *, campaign_id: str, name: str, starts_on: date, ends_on: date,
        timezone: str = DEFAULT_TIMEZONE, policy: Policy | None = None, scoring: ScoringScale | None = None,
    ) -> Campaign:
        check_may(cmd.actor, "create_campaign")
        payload = cls.creation_payload(campaign_id=campaign_id, name=name, starts_on=starts_on, ends_on=ends_on,
                                       timezone=timezone, policy=policy, scoring=scoring)
        return cls(**payload, **event_meta(cmd, fingerprint("create_campaign", **payload)))

    @staticmethod
    def creation_payload(**kw: Any) -> dict[str, Any]:
        starts_on, ends_on = kw["starts_on"], kw["ends_on"]
        for name, day in (("starts_on", starts_on), ("ends_on", ends_on)):
            check_date(day, name)
        if ends_on < starts_on:
            raise BadInput("ends_on must not be before starts_on", field="ends_on")
        if ends_on >= years_later(starts_on, MAX_CAMPAIGN_YEARS):
            raise BadInput(f"a campaign's period is at most {MAX_CAMPAIGN_YEARS} years", field="ends_on")
        check_timezone(kw["timezone"])
        return {
            "campaign_id": check_slug(kw["campaign_id"], "id"),
            "name": require_text(kw["name"], "name", max_len=300),
            "starts_on": starts_on,
            "ends_on": ends_on,
            "timezone": kw["timezone"],
            "policy": (kw["policy"] or Policy()).check_new(),
            "scoring": kw["scoring"] or ScoringScale(),
        }

    def check_same_creation(self, cmd: Command, **kw: Any) -> None:
        """A repeated create with the same details is a replay; other details are a conflict."""
        fp = fingerprint("create_campaign", **self.creation_payload(**kw))
        if fp != self.creation_fingerprint:
            raise CommandIdReused(f"campaign {self.campaign_id!r} already exists with other details",
                                  campaign_id=self.campaign_id)

    @event("Created")
    def __init__(
        self, campaign_id: str, name: str, starts_on: date, ends_on: date, timezone: str, policy: Policy,
        scoring: ScoringScale, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str,
    ) -> None:
        self.campaign_id = campaign_id
        self.name = name
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.timezone = timezone
        self.policy = policy
        self.scoring = scoring
        # (effective_at, scale): the scale in force at any instant, for "as of" scoreboards
        self.scoring_history: list[list[Any]] = [[occurred_at, scoring]]
        # (effective_at, forms as dicts): the reward rules in force at any instant; none at first
        self.rules_history: list[list[Any]] = []
        self.decisions: dict[str, Decision] = {}
        self.clusters: dict[str, Cluster] = {}
        self.adjustments: list[dict[str, Any]] = []
        self.closed = False
        self.applied = {}
        self.creation_fingerprint = fingerprint
        self._remember(command_id, fingerprint, occurred_at, actor, 1)

    def _record_meta(self, command_id: str, fp: str, occurred_at: datetime, actor: Actor) -> None:
        self._remember(command_id, fp, occurred_at, actor, self.version + 1)

    def check_open(self, command: str) -> None:
        """Refuse `command` (of the campaign or of one of its targets) while it is closed."""
        if self.closed:
            raise CampaignClosed(command, message=f"cannot {command}: campaign {self.campaign_id!r} is closed",
                                 campaign_id=self.campaign_id)

    # ------------------------------------------------------------- clusters
    def set_cluster(self, cmd: Command, cluster: Cluster) -> bool:
        fp = fingerprint("set_cluster", cluster=cluster)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "set_cluster")
        self.check_open("set_cluster")
        check_slug(cluster.cluster_id, "cluster_id")
        require_text(cluster.name, "name", max_len=300)
        for unit_id in cluster.unit_ids:
            other = self.cluster_of(unit_id)
            if other is not None and other != cluster.cluster_id:
                raise BadInput(f"unit {unit_id!r} already belongs to cluster {other!r}", field="member_unit_ids",
                               unit_id=unit_id, cluster_id=other)
        if self.clusters.get(cluster.cluster_id) == cluster:
            return False  # PUT of what is already there changes nothing
        self._cluster_set(cluster=cluster, **event_meta(cmd, fp))
        return True

    @event("ClusterSet")
    def _cluster_set(self, cluster: Cluster, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.clusters = {**self.clusters, cluster.cluster_id: cluster}
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    def cluster_leads_of(self, unit_id: str) -> frozenset[str]:
        """The head and deputy units of every cluster `unit_id` belongs to."""
        return frozenset(
            lead for c in self.clusters.values() if unit_id in c.unit_ids for lead in (c.head_unit_id, c.deputy_unit_id)
        )

    def cluster_of(self, unit_id: str) -> str | None:
        for cluster in self.clusters.values():
            if unit_id in cluster.unit_ids:
                return cluster.cluster_id
        return None

    # ------------------------------------------------------------- decisions
    def record_decision(self, cmd: Command, decision: Decision) -> bool:
        fp = fingerprint("record_decision", decision=decision)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "record_decision")
        self.check_open("record_decision")
        number = require_text(decision.number, "number", max_len=100)
        require_text(decision.issuer, "issuer", max_len=300)
        check_date(decision.issued_on, "issued_on")
        if decision.issuer_level and decision.issuer_level not in ISSUER_LEVELS:
            raise BadInput(f"issuer.level must be one of {', '.join(ISSUER_LEVELS)}", field="issuer.level")
        if decision.parent_number is not None:
            if decision.parent_number == number:
                raise BadInput("a decision cannot make itself concrete", field="parent_number")
            if decision.parent_number not in self.decisions:
                raise BadInput(f"parent decision {decision.parent_number!r} is not registered in this campaign",
                               field="parent_number")
        if number in self.decisions:
            if self.decisions[number] == decision:
                return False
            raise BadInput(f"decision {number!r} is already recorded with other details", field="number")
        self._decision_recorded(decision=decision, **event_meta(cmd, fp))
        return True

    def registered_decision(self, citation: DecisionCitation, field: str = "decision") -> Decision:
        """The registered decision a target cites; BadInput naming the field otherwise."""
        decision = self.decisions.get(citation.number)
        if decision is None:
            raise BadInput(f"decision {citation.number!r} is not registered in campaign {self.campaign_id!r}",
                           field=f"{field}.number")
        mismatch = decision.matches(citation)
        if mismatch is not None:
            raise BadInput(f"{field}.{mismatch} does not match the registered decision {citation.number!r}",
                           field=f"{field}.{mismatch}")
        return decision

    @event("DecisionRecorded")
    def _decision_recorded(self, decision: Decision, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.decisions = {**self.decisions, decision.number: decision}
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    # ------------------------------------------------------------- policy and scoring
    def change_policy(self, cmd: Command, policy: Policy) -> bool:
        fp = fingerprint("change_policy", policy=policy)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "change_policy")
        self.check_open("change_policy")
        policy.check_new()
        self._policy_changed(policy=policy, **event_meta(cmd, fp))
        return True

    @event("PolicyChanged")
    def _policy_changed(self, policy: Policy, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.policy = policy
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    def change_scoring(self, cmd: Command, scoring: ScoringScale, effective_at: datetime | None = None) -> bool:
        fp = fingerprint("change_scoring", scoring=scoring, effective_at=effective_at)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "change_scoring")
        self.check_open("change_scoring")
        self.check_effective_at(effective_at)
        self._scoring_changed(scoring=scoring, effective_at=effective_at or cmd.at, **event_meta(cmd, fp))
        return True

    def check_effective_at(self, effective_at: datetime | None) -> None:
        """From when a scale or a set of rules counts: an instant within the campaign's period."""
        if effective_at is None:
            return
        # a naive time cannot be ordered against the recorded (UTC) ones
        check_instant(effective_at, "effective_at")
        first, last = end_of_day(self.starts_on - timedelta(days=1), self.timezone), self.deadline_end(self.ends_on)
        if not first < effective_at <= last:
            raise BadInput(f"effective_at must be within the campaign's period ({self.starts_on.isoformat()} "
                           f"to {self.ends_on.isoformat()})", field="effective_at")

    @event("ScoringChanged")
    def _scoring_changed(
        self, scoring: ScoringScale, effective_at: datetime, actor: Actor, occurred_at: datetime, command_id: str,
        fingerprint: str,
    ) -> None:
        self.scoring_history = sorted([*self.scoring_history, [effective_at, scoring]], key=lambda row: row[0])
        self.scoring = self.scale_at(None)
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    def scale_at(self, at: datetime | None) -> ScoringScale:
        """The scale in force at `at` (the latest when None)."""
        return in_force(self.scoring_history, at, self.scoring_history[0][1])

    # ------------------------------------------------------------- reward rules
    def change_rules(self, cmd: Command, rules: RewardRules, effective_at: datetime | None = None) -> bool:
        """New reward rules (quy chế), in force from `effective_at` (default now). The
        same people who set the scale set them (the `change_scoring` permission)."""
        forms = rules.to_list()
        fp = fingerprint("change_rules", forms=forms, effective_at=effective_at)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "change_scoring")
        self.check_open("change_rules")
        self.check_effective_at(effective_at)
        self._rules_changed(forms=forms, effective_at=effective_at or cmd.at, **event_meta(cmd, fp))
        return True

    @event("RulesChanged")
    def _rules_changed(
        self, forms: list[dict[str, Any]], effective_at: datetime, actor: Actor, occurred_at: datetime,
        command_id: str, fingerprint: str,
    ) -> None:
        self.rules_history = sorted([*self.rules_history, [effective_at, forms]], key=lambda row: row[0])
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    def rules_at(self, at: datetime | None) -> RewardRules:
        """The rules in force at `at` (the latest when None, as for the scale); no rules
        before the first change takes effect."""
        forms = in_force(self.rules_history, at, None)
        return NO_RULES if forms is None else RewardRules.from_list(forms)

    @property
    def rules(self) -> RewardRules:
        return self.rules_at(None)

    # ------------------------------------------------------------- bonuses
    def award_bonus(self, cmd: Command, unit_id: str, points: Decimal | int | str, reason: str) -> bool:
        """Points from the Standing Committee; negative points are a deduction."""
        fp = fingerprint("award_bonus", unit_id=unit_id, points=points, reason=reason)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "award_bonus")
        self.check_open("award_bonus")
        value = to_decimal(points, "points")
        if value == 0 or abs(value) > MAX_BONUS:
            raise BadInput(f"points must be non-zero and at most {MAX_BONUS} in size", field="points")
        if self.cluster_of(unit_id) is None:
            raise BadInput(f"unit {unit_id!r} is in no cluster of this campaign", field="unit_id")
        self._bonus_awarded(unit_id=unit_id, points=value, reason=require_text(reason, "reason"), **event_meta(cmd, fp))
        return True

    @event("BonusAwarded")
    def _bonus_awarded(
        self, unit_id: str, points: Decimal, reason: str, actor: Actor, occurred_at: datetime, command_id: str,
        fingerprint: str,
    ) -> None:
        self.adjustments = [*self.adjustments, {"unit_id": unit_id, "points": points, "reason": reason,
                                                "awarded_at": occurred_at, "awarded_by": actor.id}]
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    # ------------------------------------------------------------- closing
    def close(self, cmd: Command, reason: str | None = None) -> bool:
        fp = fingerprint("close_campaign", reason=reason)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "close_campaign")
        self.check_open("close_campaign")
        self._closed(reason=optional_text(reason, "reason"), **event_meta(cmd, fp))
        return True

    @event("Closed")
    def _closed(self, reason: str | None, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.closed = True
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    def reopen(self, cmd: Command, reason: str) -> bool:
        """The Standing Committee opens a closed campaign again (its targets take
        commands again); the reason is kept on the event."""
        fp = fingerprint("reopen_campaign", reason=reason)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "reopen_campaign")
        if not self.closed:
            raise InvalidTransition("reopen_campaign", "open", "cannot reopen a campaign that is not closed")
        self._reopened(reason=require_text(reason, "reason"), **event_meta(cmd, fp))
        return True

    @event("Reopened")
    def _reopened(self, reason: str, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.closed = False
        self._record_meta(command_id, fingerprint, occurred_at, actor)

    # ------------------------------------------------------------- reading
    def _rules_state(self) -> dict[str, Any] | None:
        history = self.rules_history
        if not history:
            return None
        effective_at, forms = history[-1]
        return {"effective_at": effective_at.isoformat(), "forms": [
            {**f, "min_score_ratio": float(f["min_score_ratio"])} for f in forms]}

    def deadline_end(self, day: date) -> datetime:
        return end_of_day(day, self.timezone)

    def to_state(self) -> dict[str, Any]:
        return {
            "id": self.campaign_id,
            "name": self.name,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "timezone": self.timezone,
            "policy": self.policy.to_dict(),
            "scoring": {"on_time": float(self.scoring.on_time), "late": float(self.scoring.late),
                        "reward_slots": self.scoring.reward_slots},
            "decisions": [
                {**d.to_dict(), "issued_on": d.issued_on.isoformat()} for d in self.decisions.values()
            ],
            "clusters": [c.to_dict() for c in self.clusters.values()],
            "rules": self._rules_state(),
            "closed": self.closed,
            "version": self.version,
            "updated_at": self.updated_at.isoformat(),
        }


UNIT_NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/units")


def unit_uuid(unit_id: str) -> UUID:
    return uuid5(UNIT_NAMESPACE, unit_id)


class Unit(CommandLog, Aggregate):
    """A body that owns targets (cơ quan, đơn vị, chi bộ, phường/xã), with one head."""

    @staticmethod
    def create_id(unit_id: str) -> UUID:  # type: ignore[override]
        return unit_uuid(unit_id)

    @classmethod
    def register(cls, cmd: Command, *, unit_id: str, name: str, kind: str, head_name: str | None = None) -> Unit:
        check_may(cmd.actor, "register_unit")
        payload = cls.details(name=name, kind=kind, head_name=head_name)
        fp = fingerprint("register_unit", unit_id=unit_id, **payload)
        return cls(unit_id=check_slug(unit_id, "unit_id"), **payload, **event_meta(cmd, fp))

    @staticmethod
    def details(*, name: str, kind: str, head_name: str | None) -> dict[str, Any]:
        return {
            "name": require_text(name, "name", max_len=300),
            "kind": require_text(kind, "kind", max_len=100),
            "head_name": optional_text(head_name, "head_name", max_len=300),
        }

    @event("Registered")
    def __init__(
        self, unit_id: str, name: str, kind: str, head_name: str | None, actor: Actor, occurred_at: datetime,
        command_id: str, fingerprint: str,
    ) -> None:
        self.unit_id = unit_id
        self.name = name
        self.kind = kind
        self.head_name = head_name
        self.applied = {}
        self._remember(command_id, fingerprint, occurred_at, actor, 1)

    def update(self, cmd: Command, *, name: str, kind: str, head_name: str | None = None) -> bool:
        payload = self.details(name=name, kind=kind, head_name=head_name)
        fp = fingerprint("update_unit", **payload)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "register_unit")
        if payload == {"name": self.name, "kind": self.kind, "head_name": self.head_name}:
            return False
        self._updated(**payload, **event_meta(cmd, fp))
        return True

    @event("Updated")
    def _updated(
        self, name: str, kind: str, head_name: str | None, actor: Actor, occurred_at: datetime, command_id: str,
        fingerprint: str,
    ) -> None:
        self.name, self.kind, self.head_name = name, kind, head_name
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    def to_state(self) -> dict[str, Any]:
        return {"id": self.unit_id, "name": self.name, "kind": self.kind, "head_name": self.head_name,
                "version": self.version, "updated_at": self.updated_at.isoformat()}
