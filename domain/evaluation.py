"""The Evaluation aggregate: one round of a drive's review (sơ kết, tổng kết).

The secretariat creates a round with the period's end and two due times; the system
scores of every unit as of the period's end are frozen into the round when it is
created (the caller computes them with the scoreboard's as-of rules), so a later change
of the past cannot move them; so are the reward rules in force then. Each unit head then
scores its own unit's targets (self-assessment), and the head of the unit's cluster
reviews them (the deputy for the head's own unit: nobody reviews themselves), giving a
reason for every score it changes. The round's workflow reminds before each due time and
closes each stage on time; the Standing Committee may extend a stage, with a reason.
The cluster head proposes units and people for the forms of the rules (checked on the
reviewed scores, domain/evaluation_rules.py); the Standing Committee approves awards by a
decision, which closes the round; an award can later be revoked (Law 06/2022).

Values are kept as plain data in the events (ids, decimal strings), so no transcoding
is needed and the audit trail shows them as they were given.

A round is recorded by one save (one transaction: a round is never half-frozen) of a
`Created` event, with the round's facts and each unit's frozen summary, followed by
`TargetsFrozen` events of at most FROZEN_CHUNK_TARGETS targets each, with the points and
system score of every target: a big round is many ordinary events rather than one event
of megabytes encoded, hashed into the audit chain and projected at once. Rounds stored
before carry every target in their `Created` event (`target_points`, `target_scores` in
each unit), which still loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from thidua.domain.commandlog import CommandLog, event_meta, fingerprint, optional_text, require_text
from thidua.domain.errors import BadInput, InvalidTransition, NotAllowed, NotFound
from thidua.domain.evaluation_rules import Standing, check_proposals, criteria_met
from thidua.domain.permissions import check_may
from thidua.domain.scoring import CAMPAIGN, COLLECTIVE, INDIVIDUAL, RewardRules
from thidua.domain.values import Actor, Command, Role, check_instant, to_decimal

NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/evaluations")
MAX_ITEMS = 5_000
MAX_PROPOSALS = 500
# Targets per TargetsFrozen event (a round's frozen targets follow its Created event in chunks).
FROZEN_CHUNK_TARGETS = 2_000
ZERO = Decimal(0)
# The stages a round goes through, in order; the first two close at their due times.
SELF_ASSESSMENT, REVIEW, PROPOSAL, CLOSED = "self_assessment", "review", "proposal", "closed"
STAGES = (SELF_ASSESSMENT, REVIEW)
# What happens to a self-assessment sent after its due time (until the review closes).
REFUSE_LATE, MARK_LATE = "refuse", "mark_late"
_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def evaluation_uuid(evaluation_id: str) -> UUID:
    return uuid5(NAMESPACE, evaluation_id)


def award_id_of(evaluation_id: str, number: int) -> str:
    return f"{evaluation_id}:{number}"


def evaluation_of_award(award_id: str) -> str:
    """The round an award id belongs to (ids are `<evaluation id>:<n>`)."""
    evaluation_id, sep, number = award_id.rpartition(":")
    if not sep or not number.isdigit() or not _ID.match(evaluation_id):
        raise BadInput(f"not an award id: {award_id!r}", field="award_id")
    return evaluation_id


@dataclass(frozen=True)
class FrozenUnit:
    """A unit's system score as of the period's end, and the points of each of its
    targets then (the most a self-assessment or a review may give a target), with the
    system's score of each (what the self-assessment form starts from) and the counts
    the reward rules read (overdue, completed late)."""

    unit_id: str
    cluster_id: str
    score: Decimal
    max_score: Decimal
    target_points: Mapping[str, Decimal]
    target_scores: Mapping[str, Decimal] = field(default_factory=dict)
    overdue: int = 0
    late: int = 0
    completion_rate: Decimal = ZERO

    def to_dict(self) -> dict[str, Any]:
        """The unit with its targets' points and scores (the shape rounds kept in their
        Created event before the targets moved to TargetsFrozen events)."""
        return {**self.summary(),
                "target_points": {t: str(p) for t, p in sorted(self.target_points.items())},
                "target_scores": {t: str(p) for t, p in sorted(self.target_scores.items())}}

    def summary(self) -> dict[str, Any]:
        """The unit without its targets (what the round's Created event carries)."""
        return {"unit_id": self.unit_id, "cluster_id": self.cluster_id, "score": str(self.score),
                "max_score": str(self.max_score), "overdue": self.overdue, "late": self.late,
                "completion_rate": str(self.completion_rate)}

    def target_groups(self) -> list[dict[str, Any]]:
        """The unit's targets grouped by the same points and system score (what
        TargetsFrozen events carry): `[{unit_id, points, score, target_ids}]`."""
        groups: dict[tuple[Decimal, Decimal], list[str]] = {}
        scores = self.target_scores
        for target_id, points in sorted(self.target_points.items()):
            groups.setdefault((points, scores.get(target_id, ZERO)), []).append(target_id)
        return [{"unit_id": self.unit_id, "points": str(p), "score": str(s), "target_ids": ids}
                for (p, s), ids in sorted(groups.items())]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FrozenUnit:
        """From the aggregate's state of a unit (either shape of stored round gives it)."""
        return cls(data["unit_id"], data["cluster_id"], Decimal(data["score"]), Decimal(data["max_score"]),
                   {t: Decimal(p) for t, p in data["target_points"].items()},
                   {t: Decimal(p) for t, p in (data.get("target_scores") or {}).items()},
                   int(data.get("overdue", 0)), int(data.get("late", 0)),
                   Decimal(data.get("completion_rate", "0")))


@dataclass(frozen=True)
class ClusterLeads:
    cluster_id: str
    head_unit_id: str
    deputy_unit_id: str

    def reviewer_of(self, unit_id: str) -> str:
        """The unit whose head reviews `unit_id`: the cluster head, or its deputy for the
        head's own unit."""
        return self.deputy_unit_id if unit_id == self.head_unit_id else self.head_unit_id


def target_chunks(units: Iterable[FrozenUnit], size: int = FROZEN_CHUNK_TARGETS) -> list[list[dict[str, Any]]]:
    """The units' targets as the payloads of TargetsFrozen events: lists of groups
    `{unit_id, points, score, target_ids}` of at most `size` targets in all (a group with
    more is split over several)."""
    chunks: list[list[dict[str, Any]]] = []
    chunk: list[dict[str, Any]] = []
    room = size
    for unit in units:
        for group in unit.target_groups():
            ids = group["target_ids"]
            while ids:
                taken, ids = ids[:room], ids[room:]
                chunk.append({**group, "target_ids": taken})
                room -= len(taken)
                if room == 0:
                    chunks.append(chunk)
                    chunk, room = [], size
    if chunk:
        chunks.append(chunk)
    return chunks


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


def _initiatives(initiatives: Iterable[Mapping[str, Any]], points_field: str) -> list[dict[str, Any]]:
    """`[{title, points_claimed|points, evidence?}]`: claimed initiatives (sáng kiến);
    `evidence` is the sha256 digest of an evidence file, when there is one."""
    checked = []
    for i, item in enumerate(initiatives):
        if i >= MAX_ITEMS:
            raise BadInput(f"at most {MAX_ITEMS} initiatives", field="initiatives")
        points = to_decimal(item.get(points_field, 0), f"initiatives.{i}.{points_field}")
        if points < 0:
            raise BadInput(f"initiatives.{i}.{points_field} must not be negative", field=f"initiatives.{i}.{points_field}")
        evidence = item.get("evidence")
        if evidence is not None and not re.fullmatch(r"[0-9a-f]{64}", str(evidence)):
            raise BadInput("evidence is the sha256 digest (64 hex digits) of an evidence file",
                           field=f"initiatives.{i}.evidence")
        checked.append({"title": require_text(item.get("title"), f"initiatives.{i}.title", max_len=500),
                        "points": str(points), "evidence": evidence})
    return checked


def _sum(values: Iterable[Any]) -> Decimal:
    return sum((Decimal(v) for v in values), ZERO)


class Evaluation(CommandLog, Aggregate):
    """A round of review with its frozen system scores, self-assessments, reviews,
    proposals and awards."""

    @staticmethod
    def create_id(evaluation_id: str) -> UUID:  # type: ignore[override]
        return evaluation_uuid(evaluation_id)

    @classmethod
    def create(
        cls, cmd: Command, *, evaluation_id: str, campaign_id: str, name: str, period_end: datetime,
        self_assessment_due: datetime, review_due: datetime, units: Iterable[FrozenUnit],
        clusters: Iterable[ClusterLeads], rules: RewardRules = RewardRules(), late_submissions: str = REFUSE_LATE,
    ) -> Evaluation:
        check_may(cmd.actor, "create_evaluation")
        if not isinstance(evaluation_id, str) or not _ID.match(evaluation_id):
            raise BadInput("an evaluation id is 1..100 letters, digits, '-', '_' or '.'", field="id")
        for field_name, value in (("period_end", period_end), ("self_assessment_due", self_assessment_due),
                                  ("review_due", review_due)):
            check_instant(value, field_name)
        if not period_end < self_assessment_due <= review_due:
            raise BadInput("the round needs period_end < self_assessment_due <= review_due",
                           field="self_assessment_due")
        if late_submissions not in (REFUSE_LATE, MARK_LATE):
            raise BadInput("late_submissions is 'refuse' or 'mark_late'", field="late_submissions")
        leads = {c.cluster_id: {"head_unit_id": c.head_unit_id, "deputy_unit_id": c.deputy_unit_id}
                 for c in clusters}
        ordered = sorted(units, key=lambda u: u.unit_id)
        if any(u.cluster_id not in leads for u in ordered):
            raise BadInput("every frozen unit belongs to a cluster of the round", field="units")
        payload = {
            "evaluation_id": evaluation_id,
            "campaign_id": require_text(campaign_id, "campaign_id", max_len=100),
            "name": require_text(name, "name", max_len=300),
            "period_end": period_end, "self_assessment_due": self_assessment_due, "review_due": review_due,
            "units": [u.summary() for u in ordered], "clusters": leads, "rules": rules.to_list(),
            "late_submissions": late_submissions,
        }
        meta = event_meta(cmd, fingerprint("create_evaluation", **payload))
        evaluation = cls(**payload, **meta)
        for chunk in target_chunks(ordered):
            evaluation._targets_frozen(groups=chunk, **meta)
        return evaluation

    @event("Created")
    def __init__(
        self, evaluation_id: str, campaign_id: str, name: str, period_end: datetime, self_assessment_due: datetime,
        review_due: datetime, units: list[dict[str, Any]], clusters: dict[str, dict[str, str]], actor: Actor,
        occurred_at: datetime, command_id: str, fingerprint: str, rules: list[dict[str, Any]] | None = None,
        late_submissions: str = REFUSE_LATE,
    ) -> None:
        self.evaluation_id = evaluation_id
        self.campaign_id = campaign_id
        self.name = name
        self.period_end = period_end
        self.self_assessment_due = self_assessment_due
        self.review_due = review_due
        # A unit's targets come in the TargetsFrozen events that follow (rounds stored
        # before carry them here).
        self.units = {u["unit_id"]: {"target_points": {}, "target_scores": {}, **u} for u in units}
        self.created_by = command_id
        self.clusters = clusters
        self.rules_list = list(rules or [])
        self.late_submissions = late_submissions
        self.self_assessments: dict[str, dict[str, Any]] = {}
        self.reviews: dict[str, dict[str, Any]] = {}
        self.closed_stages: dict[str, datetime] = {}
        self.reminded: dict[str, str] = {}  # stage -> the due time reminded of
        self.extensions: list[dict[str, Any]] = []
        self.proposals: dict[str, dict[str, Any]] = {}  # cluster id -> its proposal
        self.decision: dict[str, Any] | None = None
        self.awards: dict[str, dict[str, Any]] = {}
        self.created_at = occurred_at
        self.applied = {}
        self._remember(command_id, fingerprint, occurred_at, actor, 1)

    @event("TargetsFrozen")
    def _targets_frozen(self, groups: list[dict[str, Any]], actor: Actor, occurred_at: datetime, command_id: str,
                        fingerprint: str) -> None:
        """Part of the round's creation (the same save): the points and system score of
        groups of targets as of the period's end."""
        changed = dict(self.units)
        for group in groups:
            unit = changed[group["unit_id"]]
            ids = group["target_ids"]
            changed[group["unit_id"]] = {
                **unit, "target_points": {**unit["target_points"], **dict.fromkeys(ids, group["points"])},
                "target_scores": {**unit["target_scores"], **dict.fromkeys(ids, group["score"])}}
        self.units = changed
        # The creating command's answer is the round with all its targets.
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    # ------------------------------------------------------------- reading
    @property
    def rules(self) -> RewardRules:
        return RewardRules.from_list(self.rules_list)

    @property
    def stage(self) -> str:
        if self.decision is not None:
            return CLOSED
        for stage in STAGES:
            if stage not in self.closed_stages:
                return stage
        return PROPOSAL

    def due_of(self, stage: str) -> datetime:
        return self.self_assessment_due if stage == SELF_ASSESSMENT else self.review_due

    def frozen(self, unit_id: str) -> FrozenUnit:
        data = self.units.get(unit_id)
        if data is None:
            raise BadInput(f"unit {unit_id!r} is not in this round", field="unit_id")
        return FrozenUnit.from_dict(data)

    def leads_of(self, unit_id: str) -> ClusterLeads:
        cluster_id = self.frozen(unit_id).cluster_id
        return ClusterLeads(cluster_id, **self.clusters[cluster_id])

    def self_score(self, unit_id: str) -> Decimal | None:
        own = self.self_assessments.get(unit_id)
        if own is None:
            return None
        return _sum(i["score"] for i in own["items"].values()) + _sum(i["points"] for i in own["initiatives"])

    def reviewed_items(self, unit_id: str) -> dict[str, dict[str, Any]] | None:
        """Each target's score after the review: the reviewer's, or the unit's own where
        the review left it as it was."""
        reviewed = self.reviews.get(unit_id)
        if reviewed is None:
            return None
        own = self.self_assessments.get(unit_id, {}).get("items", {})
        return {**{t: {"score": i["score"], "reason": None} for t, i in own.items()}, **reviewed["items"]}

    def reviewed_score(self, unit_id: str) -> Decimal | None:
        items = self.reviewed_items(unit_id)
        if items is None:
            return None
        return _sum(i["score"] for i in items.values()) + _sum(i["points"] for i in self.reviews[unit_id]["initiatives"])

    def standings(self) -> dict[str, Standing]:
        """What the rules read of every unit: the reviewed score, else the self score,
        else the system score."""
        result = {}
        for unit_id in self.units:
            frozen = self.frozen(unit_id)
            score = self.reviewed_score(unit_id)
            score = self.self_score(unit_id) if score is None else score
            result[unit_id] = Standing(unit_id, frozen.cluster_id, frozen.score if score is None else score,
                                       frozen.max_score, frozen.completion_rate, frozen.overdue, frozen.late)
        return result

    def criteria_met(self) -> dict[str, list[str]]:
        return criteria_met(self.rules, self.standings())

    def _check_open(self, command: str) -> None:
        if self.decision is not None:
            raise InvalidTransition(command, CLOSED, f"the round {self.evaluation_id!r} is closed: its results are frozen")

    # ------------------------------------------------------------- self-assessment
    def self_assess(self, cmd: Command, *, unit_id: str, items: Iterable[Mapping[str, Any]],
                    summary: str | None = None, initiatives: Iterable[Mapping[str, Any]] = ()) -> bool:
        """The unit head scores its own unit's targets; again and again until the due time
        (after it, until the review closes, only when the round marks late submissions)."""
        items, initiatives = list(items), list(initiatives)
        fp = fingerprint("self_assess", unit_id=unit_id, items=items, summary=summary, initiatives=initiatives)
        if self.is_replay(cmd, fp):
            return False
        self._check_open("self_assess")
        if cmd.actor.role != Role.UNIT_HEAD or cmd.actor.unit_id != unit_id:
            raise NotAllowed(f"only the head of unit {unit_id!r} assesses it", command="self_assess",
                             role=str(cmd.actor.role))
        late = cmd.at > self.self_assessment_due or SELF_ASSESSMENT in self.closed_stages
        if late and (self.late_submissions != MARK_LATE or cmd.at > self.review_due or REVIEW in self.closed_stages):
            raise InvalidTransition("self_assess", "self_assessment_closed",
                                    f"self-assessment closed at {self.self_assessment_due.isoformat()}")
        checked = _items(items, self.frozen(unit_id), "note")
        self._self_assessed(unit_id=unit_id, items=checked, summary=optional_text(summary, "summary"),
                            initiatives=_initiatives(initiatives, "points_claimed"), late=late, **event_meta(cmd, fp))
        return True

    @event("SelfAssessed")
    def _self_assessed(self, unit_id: str, items: dict[str, Any], summary: str | None, actor: Actor,
                       occurred_at: datetime, command_id: str, fingerprint: str,
                       initiatives: list[dict[str, Any]] | None = None, late: bool = False) -> None:
        self.self_assessments = {**self.self_assessments, unit_id: {
            "items": items, "summary": summary, "initiatives": list(initiatives or []), "late": late,
            "by": actor.id, "at": occurred_at}}
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    # ------------------------------------------------------------- the cluster's review
    def review(self, cmd: Command, *, unit_id: str, items: Iterable[Mapping[str, Any]],
               initiatives: Iterable[Mapping[str, Any]] | None = None) -> bool:
        """The cluster head (its deputy for the head's own unit) confirms or changes each
        self-assessed score; a changed score needs a reason. `initiatives`: the points
        it grants each claimed initiative (None: as claimed)."""
        items = list(items)
        initiatives = None if initiatives is None else list(initiatives)
        fp = fingerprint("review", unit_id=unit_id, items=items, initiatives=initiatives)
        if self.is_replay(cmd, fp):
            return False
        self._check_open("review")
        reviewer = self.leads_of(unit_id).reviewer_of(unit_id)
        if cmd.actor.role != Role.UNIT_HEAD or cmd.actor.unit_id != reviewer:
            raise NotAllowed(f"unit {unit_id!r} is reviewed by the head of unit {reviewer!r}", command="review",
                             role=str(cmd.actor.role))
        if cmd.at > self.review_due or REVIEW in self.closed_stages:
            raise InvalidTransition("review", "review_closed", f"the review closed at {self.review_due.isoformat()}")
        assessed = self.self_assessments.get(unit_id)
        if assessed is None:
            raise InvalidTransition("review", "not_self_assessed", f"unit {unit_id!r} has not assessed itself yet")
        checked = _items(items, self.frozen(unit_id), "reason")
        for i, (target_id, item) in enumerate(checked.items()):
            own = assessed["items"].get(target_id)
            if (own is None or Decimal(own["score"]) != Decimal(item["score"])) and not item["reason"]:
                raise BadInput(f"a changed score of target {target_id!r} needs a reason", field=f"items.{i}.reason")
        granted = assessed["initiatives"] if initiatives is None else _initiatives(initiatives, "points")
        self._reviewed(unit_id=unit_id, items=checked, initiatives=granted, **event_meta(cmd, fp))
        return True

    @event("Reviewed")
    def _reviewed(self, unit_id: str, items: dict[str, Any], actor: Actor, occurred_at: datetime, command_id: str,
                  fingerprint: str, initiatives: list[dict[str, Any]] | None = None) -> None:
        self.reviews = {**self.reviews, unit_id: {"items": items, "initiatives": list(initiatives or []),
                                                  "by": actor.id, "at": occurred_at}}
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    # ------------------------------------------------------------- the timers (the round's workflow)
    def remind(self, cmd: Command, *, stage: str) -> bool:
        """Before a stage's due time: the unit and cluster heads are reminded (once per due time)."""
        due = self.due_of(stage).isoformat()
        if self.reminded.get(stage) == due or stage in self.closed_stages or self.decision is not None:
            return False
        self._due_soon(stage=stage, due=due, **event_meta(cmd, fingerprint("remind", stage=stage, due=due)))
        return True

    @event("DueSoon")
    def _due_soon(self, stage: str, due: str, actor: Actor, occurred_at: datetime, command_id: str,
                  fingerprint: str) -> None:
        self.reminded = {**self.reminded, stage: due}
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    def close_stage(self, cmd: Command, *, stage: str) -> bool:
        """At a stage's due time (no earlier): nothing more is taken for it."""
        if stage not in STAGES:
            raise BadInput(f"unknown stage {stage!r}", field="stage")
        if stage in self.closed_stages or self.decision is not None:
            return False
        if cmd.at < self.due_of(stage):
            raise InvalidTransition("close_stage", stage, f"{stage} is due at {self.due_of(stage).isoformat()}")
        self._stage_closed(stage=stage, **event_meta(cmd, fingerprint("close_stage", stage=stage)))
        return True

    @event("StageClosed")
    def _stage_closed(self, stage: str, actor: Actor, occurred_at: datetime, command_id: str,
                      fingerprint: str) -> None:
        self.closed_stages = {**self.closed_stages, stage: occurred_at}
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    def extend(self, cmd: Command, *, stage: str, due: datetime, reason: str) -> bool:
        """The Standing Committee gives a stage that has not closed a later due time
        (the review's moves along when the self-assessment's would pass it)."""
        fp = fingerprint("extend", stage=stage, due=due, reason=reason)
        if self.is_replay(cmd, fp):
            return False
        self._check_open("extend")
        check_may(cmd.actor, "extend_evaluation")
        if stage not in STAGES:
            raise BadInput("stage is 'self_assessment' or 'review'", field="stage")
        check_instant(due, "due")
        reason = require_text(reason, "reason")
        if stage in self.closed_stages:
            raise InvalidTransition("extend", f"{stage}_closed", f"{stage} closed at {self.due_of(stage).isoformat()}")
        if due <= self.due_of(stage) or due <= cmd.at:
            raise BadInput(f"the new due time must be later than {self.due_of(stage).isoformat()} and than now",
                           field="due")
        self._extended(stage=stage, due=due, reason=reason, **event_meta(cmd, fp))
        return True

    @event("Extended")
    def _extended(self, stage: str, due: datetime, reason: str, actor: Actor, occurred_at: datetime,
                  command_id: str, fingerprint: str) -> None:
        if stage == SELF_ASSESSMENT:
            self.self_assessment_due = due
            self.review_due = max(self.review_due, due)
        else:
            self.review_due = due
        self.extensions = [*self.extensions, {"stage": stage, "due": due.isoformat(), "reason": reason,
                                              "by": actor.id, "at": occurred_at.isoformat()}]
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    # ------------------------------------------------------------- the cluster's proposal
    def propose(self, cmd: Command, *, cluster_id: str, collectives: Iterable[Mapping[str, Any]] = (),
                individuals: Iterable[Mapping[str, Any]] = ()) -> bool:
        """The cluster head proposes units and people for the forms; each proposal is
        checked against the round's rules on the reviewed scores. A new proposal of the
        cluster replaces its last one."""
        collectives, individuals = list(collectives), list(individuals)
        fp = fingerprint("propose", cluster_id=cluster_id, collectives=collectives, individuals=individuals)
        if self.is_replay(cmd, fp):
            return False
        self._check_open("propose")
        if cmd.actor.role != Role.UNIT_HEAD:
            raise NotAllowed("only a cluster head proposes", command="propose", role=str(cmd.actor.role))
        leads = self.clusters.get(cluster_id)
        if leads is None:
            raise NotFound(f"cluster {cluster_id!r} is not in this round", cluster_id=cluster_id)
        if cmd.actor.unit_id != leads["head_unit_id"]:
            raise NotAllowed(f"the head of unit {leads['head_unit_id']!r} proposes for cluster {cluster_id!r}",
                             command="propose", role=str(cmd.actor.role))
        if len(collectives) + len(individuals) > MAX_PROPOSALS:
            raise BadInput(f"at most {MAX_PROPOSALS} proposals", field="collectives")
        units = [_collective(p, i) for i, p in enumerate(collectives)]
        people = [_individual(p, i) for i, p in enumerate(individuals)]
        for i, proposal in enumerate(units):
            if proposal["unit_id"] in self.units and proposal["unit_id"] not in self.reviews:
                raise InvalidTransition("propose", "not_reviewed",
                                        f"unit {proposal['unit_id']!r} has not been reviewed yet")
        rules = self.rules
        standings = self.standings()
        check_proposals(rules, units, COLLECTIVE, cluster_id, standings,
                        self._campaign_scope_counts(cluster_id, "collectives"))
        check_proposals(rules, people, INDIVIDUAL, cluster_id, standings,
                        self._campaign_scope_counts(cluster_id, "individuals"))
        self._proposed(cluster_id=cluster_id, collectives=units, individuals=people, **event_meta(cmd, fp))
        return True

    def _campaign_scope_counts(self, cluster_id: str, kind: str) -> dict[str, int]:
        campaign_forms = {f.id for f in self.rules.forms if f.scope == CAMPAIGN}
        counts: dict[str, int] = {}
        for other, proposal in self.proposals.items():
            if other == cluster_id:
                continue
            for p in proposal[kind]:
                if p["form_id"] in campaign_forms:
                    counts[p["form_id"]] = counts.get(p["form_id"], 0) + 1
        return counts

    @event("Proposed")
    def _proposed(self, cluster_id: str, collectives: list[dict[str, Any]], individuals: list[dict[str, Any]],
                  actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.proposals = {**self.proposals, cluster_id: {"collectives": collectives, "individuals": individuals,
                                                         "by": actor.id, "at": occurred_at.isoformat()}}
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    def proposed(self) -> list[dict[str, Any]]:
        """Every proposal of every cluster, as awards would name them."""
        listed = []
        for cluster_id, proposal in sorted(self.proposals.items()):
            listed += [{"kind": "collective", "cluster_id": cluster_id, **p} for p in proposal["collectives"]]
            listed += [{"kind": "individual", "cluster_id": cluster_id, **p} for p in proposal["individuals"]]
        return listed

    # ------------------------------------------------------------- the Standing Committee's decision
    def approve(self, cmd: Command, *, decision_number: str, issued_on: date,
                awards: Iterable[Mapping[str, Any]] | None = None) -> bool:
        """Awards (all proposed, or those listed) by a decision with a number and date;
        the round closes and its results are frozen."""
        listed = None if awards is None else [dict(a) for a in awards]
        fp = fingerprint("approve", decision_number=decision_number, issued_on=issued_on, awards=listed)
        if self.is_replay(cmd, fp):
            return False
        self._check_open("approve")
        check_may(cmd.actor, "approve_awards")
        number = require_text(decision_number, "decision.number", max_len=100)
        if not isinstance(issued_on, date):
            raise BadInput("decision.issued_on must be a date", field="decision.issued_on")
        proposed = self.proposed()
        if listed is None:
            chosen = proposed
        else:
            chosen = []
            for i, wanted in enumerate(listed):
                match = next((p for p in proposed if _same_award(p, wanted)), None)
                if match is None:
                    raise BadInput(f"award {i + 1} ({wanted.get('form_id')!r} to {wanted.get('name') or wanted.get('unit_id')!r}) "
                                   "was not proposed", field=f"awards.{i}")
                if match in chosen:
                    raise BadInput(f"award {i + 1} is listed twice", field=f"awards.{i}")
                chosen.append(match)
        if not chosen:
            raise BadInput("no proposal to approve", field="awards")
        forms = {f.id: f.name for f in self.rules.forms}
        granted = [{**p, "award_id": award_id_of(self.evaluation_id, n), "form_name": forms.get(p["form_id"], p["form_id"])}
                   for n, p in enumerate(chosen, start=1)]
        self._approved(decision={"number": number, "issued_on": issued_on.isoformat()}, awards=granted,
                       **event_meta(cmd, fp))
        return True

    @event("Approved")
    def _approved(self, decision: dict[str, Any], awards: list[dict[str, Any]], actor: Actor, occurred_at: datetime,
                  command_id: str, fingerprint: str) -> None:
        self.decision = {**decision, "by": actor.id, "at": occurred_at.isoformat()}
        self.awards = {a["award_id"]: {**a, "revoked": None} for a in awards}
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    def revoke(self, cmd: Command, *, award_id: str, reason: str) -> bool:
        """An award won on false records is revoked (Law 06/2022/QH15), with the reason."""
        fp = fingerprint("revoke", award_id=award_id, reason=reason)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "revoke_award")
        award = self.awards.get(award_id)
        if award is None:
            raise BadInput(f"award {award_id!r} was not given in this round", field="award_id")
        if award["revoked"] is not None:
            raise InvalidTransition("revoke", "revoked", f"award {award_id!r} was already revoked")
        self._revoked(award_id=award_id, reason=require_text(reason, "reason"), **event_meta(cmd, fp))
        return True

    @event("AwardRevoked")
    def _revoked(self, award_id: str, reason: str, actor: Actor, occurred_at: datetime, command_id: str,
                 fingerprint: str) -> None:
        self.awards = {**self.awards, award_id: {**self.awards[award_id], "revoked": {
            "reason": reason, "by": actor.id, "at": occurred_at.isoformat()}}}
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    # ------------------------------------------------------------- the state as JSON
    def unit_state(self, unit_id: str) -> dict[str, Any]:
        data = self.units[unit_id]
        own, reviewed = self.self_score(unit_id), self.reviewed_score(unit_id)
        system = Decimal(data["score"])
        assessed = self.self_assessments.get(unit_id)
        return {
            "unit_id": unit_id, "cluster_id": data["cluster_id"],
            "system_score": float(system), "max_score": float(Decimal(data["max_score"])),
            "self_score": None if own is None else float(own),
            "reviewed_score": None if reviewed is None else float(reviewed),
            "self_minus_system": None if own is None else float(own - system),
            "reviewed_minus_self": None if reviewed is None or own is None else float(reviewed - own),
            "self_assessed_late": bool(assessed and assessed["late"]),
            "overdue": int(data.get("overdue", 0)), "late": int(data.get("late", 0)),
        }

    def header_state(self) -> dict[str, Any]:
        """The round without its units (the read model keeps those one row each)."""
        return {"id": self.evaluation_id, "campaign_id": self.campaign_id, "name": self.name, "state": self.stage,
                "period_end": self.period_end.isoformat(), "self_assessment_due": self.self_assessment_due.isoformat(),
                "review_due": self.review_due.isoformat(), "late_submissions": self.late_submissions,
                "extensions": list(self.extensions), "proposals": self.proposed(),
                "decision": self.decision, "awards": [self.awards[a] for a in sorted(self.awards)],
                "version": self.version}

    def to_state(self) -> dict[str, Any]:
        return {**self.header_state(), "units": [self.unit_state(u) for u in sorted(self.units)]}


def _collective(p: Mapping[str, Any], i: int) -> dict[str, Any]:
    return {"unit_id": require_text(p.get("unit_id"), f"collectives.{i}.unit_id", max_len=100),
            "form_id": require_text(p.get("form_id"), f"collectives.{i}.form_id", max_len=100),
            "reason": optional_text(p.get("reason"), f"collectives.{i}.reason")}


def _individual(p: Mapping[str, Any], i: int) -> dict[str, Any]:
    return {"name": require_text(p.get("name"), f"individuals.{i}.name", max_len=200),
            "unit_id": require_text(p.get("unit_id"), f"individuals.{i}.unit_id", max_len=100),
            "position": require_text(p.get("position"), f"individuals.{i}.position", max_len=200),
            "form_id": require_text(p.get("form_id"), f"individuals.{i}.form_id", max_len=100),
            "achievements": require_text(p.get("achievements"), f"individuals.{i}.achievements")}


def _same_award(proposal: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return (proposal["unit_id"] == wanted.get("unit_id") and proposal["form_id"] == wanted.get("form_id")
            and proposal.get("name") == wanted.get("name"))
