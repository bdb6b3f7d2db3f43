"""The Evaluation aggregate: one round of a drive's review (sơ kết, tổng kết).

The secretariat creates a round with the period's end and two due times; the system
scores of every unit as of the period's end are frozen into the round when it is
created (the caller computes them with the scoreboard's as-of rules), so a later change
of the past cannot move them. Each unit head then scores its own unit's targets
(self-assessment), and the head of the unit's cluster reviews them (the deputy for the
head's own unit: nobody reviews themselves), giving a reason for every score it changes.

Values are kept as plain data in the events (ids, decimal strings), so no transcoding
is needed and the audit trail shows them as they were given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from thidua.domain.commandlog import CommandLog, event_meta, fingerprint, optional_text, require_text
from thidua.domain.errors import BadInput, InvalidTransition, NotAllowed
from thidua.domain.permissions import check_may
from thidua.domain.values import Actor, Command, Role, check_instant, to_decimal

NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/evaluations")
MAX_ITEMS = 5_000
ZERO = Decimal(0)


def evaluation_uuid(evaluation_id: str) -> UUID:
    return uuid5(NAMESPACE, evaluation_id)


@dataclass(frozen=True)
class FrozenUnit:
    """A unit's system score as of the period's end, and the points of each of its
    targets then (the most a self-assessment or a review may give a target)."""

    unit_id: str
    cluster_id: str
    score: Decimal
    max_score: Decimal
    target_points: Mapping[str, Decimal]

    def to_dict(self) -> dict[str, Any]:
        return {"unit_id": self.unit_id, "cluster_id": self.cluster_id, "score": str(self.score),
                "max_score": str(self.max_score),
                "target_points": {t: str(p) for t, p in sorted(self.target_points.items())}}


@dataclass(frozen=True)
class ClusterLeads:
    cluster_id: str
    head_unit_id: str
    deputy_unit_id: str

    def reviewer_of(self, unit_id: str) -> str:
        """The unit whose head reviews `unit_id`: the cluster head, or its deputy for the
        head's own unit."""
        return self.deputy_unit_id if unit_id == self.head_unit_id else self.head_unit_id


def _items(items: Iterable[Mapping[str, Any]], frozen: FrozenUnit, text_field: str, *,
           required_text: bool = False) -> dict[str, dict[str, str | None]]:
    """`[{target_id, score, note|reason}]` checked against the unit's frozen targets:
    each of its targets once, a score 0..the target's points."""
    checked: dict[str, dict[str, str | None]] = {}
    for i, item in enumerate(items):
        if i >= MAX_ITEMS:
            raise BadInput(f"at most {MAX_ITEMS} items", field="items")
        target_id = str(item.get("target_id", ""))
        if target_id not in frozen.target_points:
            raise BadInput(f"target {target_id!r} is not a target of unit {frozen.unit_id!r} in this round",
                           field=f"items.{i}.target_id")
        if target_id in checked:
            raise BadInput(f"target {target_id!r} is scored twice", field=f"items.{i}.target_id")
        score = to_decimal(item.get("score"), f"items.{i}.score")
        points = frozen.target_points[target_id]
        if not ZERO <= score <= points:
            raise BadInput(f"score {score} of target {target_id!r} must be 0..{points} (its points)",
                           field=f"items.{i}.score", points=str(points))
        text = item.get(text_field)
        text = require_text(text, f"items.{i}.{text_field}") if required_text else optional_text(
            text, f"items.{i}.{text_field}")
        checked[target_id] = {"score": str(score), text_field: text}
    return checked


def _total(items: Mapping[str, Mapping[str, Any]]) -> Decimal:
    return sum((Decimal(i["score"]) for i in items.values()), ZERO)


class Evaluation(CommandLog, Aggregate):
    """A round of review with its frozen system scores, self-assessments and reviews."""

    @staticmethod
    def create_id(evaluation_id: str) -> UUID:  # type: ignore[override]
        return evaluation_uuid(evaluation_id)

    @classmethod
    def create(
        cls, cmd: Command, *, evaluation_id: str, campaign_id: str, name: str, period_end: datetime,
        self_assessment_due: datetime, review_due: datetime, units: Iterable[FrozenUnit],
        clusters: Iterable[ClusterLeads],
    ) -> Evaluation:
        check_may(cmd.actor, "create_evaluation")
        for field_name, value in (("period_end", period_end), ("self_assessment_due", self_assessment_due),
                                  ("review_due", review_due)):
            check_instant(value, field_name)
        if not period_end < self_assessment_due <= review_due:
            raise BadInput("the round needs period_end < self_assessment_due <= review_due",
                           field="self_assessment_due")
        leads = {c.cluster_id: {"head_unit_id": c.head_unit_id, "deputy_unit_id": c.deputy_unit_id}
                 for c in clusters}
        frozen = [u.to_dict() for u in sorted(units, key=lambda u: u.unit_id)]
        if any(u["cluster_id"] not in leads for u in frozen):
            raise BadInput("every frozen unit belongs to a cluster of the round", field="units")
        payload = {
            "evaluation_id": require_text(evaluation_id, "id", max_len=100),
            "campaign_id": require_text(campaign_id, "campaign_id", max_len=100),
            "name": require_text(name, "name", max_len=300),
            "period_end": period_end, "self_assessment_due": self_assessment_due, "review_due": review_due,
            "units": frozen, "clusters": leads,
        }
        return cls(**payload, **event_meta(cmd, fingerprint("create_evaluation", **payload)))

    @event("Created")
    def __init__(
        self, evaluation_id: str, campaign_id: str, name: str, period_end: datetime, self_assessment_due: datetime,
        review_due: datetime, units: list[dict[str, Any]], clusters: dict[str, dict[str, str]], actor: Actor,
        occurred_at: datetime, command_id: str, fingerprint: str,
    ) -> None:
        self.evaluation_id = evaluation_id
        self.campaign_id = campaign_id
        self.name = name
        self.period_end = period_end
        self.self_assessment_due = self_assessment_due
        self.review_due = review_due
        self.units = {u["unit_id"]: u for u in units}
        self.clusters = clusters
        self.self_assessments: dict[str, dict[str, Any]] = {}
        self.reviews: dict[str, dict[str, Any]] = {}
        self.applied = {}
        self._remember(command_id, fingerprint, occurred_at, actor, 1)

    # ------------------------------------------------------------- reading
    def frozen(self, unit_id: str) -> FrozenUnit:
        data = self.units.get(unit_id)
        if data is None:
            raise BadInput(f"unit {unit_id!r} is not in this round", field="unit_id")
        return FrozenUnit(data["unit_id"], data["cluster_id"], Decimal(data["score"]), Decimal(data["max_score"]),
                          {t: Decimal(p) for t, p in data["target_points"].items()})

    def leads_of(self, unit_id: str) -> ClusterLeads:
        cluster_id = self.frozen(unit_id).cluster_id
        return ClusterLeads(cluster_id, **self.clusters[cluster_id])

    # ------------------------------------------------------------- self-assessment
    def self_assess(self, cmd: Command, *, unit_id: str, items: Iterable[Mapping[str, Any]],
                    summary: str | None = None) -> bool:
        """The unit head scores its own unit's targets; again and again until the due time."""
        items = list(items)
        fp = fingerprint("self_assess", unit_id=unit_id, items=items, summary=summary)
        if self.is_replay(cmd, fp):
            return False
        if cmd.actor.role != Role.UNIT_HEAD or cmd.actor.unit_id != unit_id:
            raise NotAllowed(f"only the head of unit {unit_id!r} assesses it", command="self_assess",
                             role=str(cmd.actor.role))
        if cmd.at > self.self_assessment_due:
            raise InvalidTransition("self_assess", "self_assessment_closed",
                                    f"self-assessment closed at {self.self_assessment_due.isoformat()}")
        checked = _items(items, self.frozen(unit_id), "note")
        self._self_assessed(unit_id=unit_id, items=checked, summary=optional_text(summary, "summary"),
                            **event_meta(cmd, fp))
        return True

    @event("SelfAssessed")
    def _self_assessed(self, unit_id: str, items: dict[str, Any], summary: str | None, actor: Actor,
                       occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.self_assessments = {**self.self_assessments, unit_id: {"items": items, "summary": summary,
                                                                     "by": actor.id, "at": occurred_at}}
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    # ------------------------------------------------------------- the cluster's review
    def review(self, cmd: Command, *, unit_id: str, items: Iterable[Mapping[str, Any]]) -> bool:
        """The cluster head (its deputy for the head's own unit) confirms or changes each
        self-assessed score; a changed score needs a reason."""
        items = list(items)
        fp = fingerprint("review", unit_id=unit_id, items=items)
        if self.is_replay(cmd, fp):
            return False
        reviewer = self.leads_of(unit_id).reviewer_of(unit_id)
        if cmd.actor.role != Role.UNIT_HEAD or cmd.actor.unit_id != reviewer:
            raise NotAllowed(f"unit {unit_id!r} is reviewed by the head of unit {reviewer!r}", command="review",
                             role=str(cmd.actor.role))
        if cmd.at > self.review_due:
            raise InvalidTransition("review", "review_closed", f"the review closed at {self.review_due.isoformat()}")
        assessed = self.self_assessments.get(unit_id)
        if assessed is None:
            raise InvalidTransition("review", "not_self_assessed", f"unit {unit_id!r} has not assessed itself yet")
        checked = _items(items, self.frozen(unit_id), "reason")
        for i, (target_id, item) in enumerate(checked.items()):
            own = assessed["items"].get(target_id)
            if (own is None or Decimal(own["score"]) != Decimal(item["score"])) and not item["reason"]:
                raise BadInput(f"a changed score of target {target_id!r} needs a reason", field=f"items.{i}.reason")
        self._reviewed(unit_id=unit_id, items=checked, **event_meta(cmd, fp))
        return True

    @event("Reviewed")
    def _reviewed(self, unit_id: str, items: dict[str, Any], actor: Actor, occurred_at: datetime, command_id: str,
                  fingerprint: str) -> None:
        self.reviews = {**self.reviews, unit_id: {"items": items, "by": actor.id, "at": occurred_at}}
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    def to_state(self) -> dict[str, Any]:
        units = []
        for unit_id, data in sorted(self.units.items()):
            own = self.self_assessments.get(unit_id)
            reviewed = self.reviews.get(unit_id)
            units.append({
                "unit_id": unit_id, "cluster_id": data["cluster_id"],
                "system_score": float(Decimal(data["score"])), "max_score": float(Decimal(data["max_score"])),
                "self_score": None if own is None else float(_total(own["items"])),
                "reviewed_score": None if reviewed is None else float(_total(reviewed["items"])),
            })
        return {"id": self.evaluation_id, "campaign_id": self.campaign_id, "name": self.name,
                "period_end": self.period_end.isoformat(), "self_assessment_due": self.self_assessment_due.isoformat(),
                "review_due": self.review_due.isoformat(), "units": units, "version": self.version}
