"""Scoring (thang điểm) as pure functions: the one copy of the rules.

The projections, the "as of" and the "what if" scoreboards all call these, so a
scoreboard is the same whichever way it is asked for.

Rules (DESIGN.md): a unit's score = sum of points x factor over its targets
(on time: `on_time`, late: `late`, overdue and open: 0; cancelled counts in neither
score nor maximum) + bonuses - deductions. Maximum = sum of points x `on_time` over
its non-cancelled targets. Completion rate = completed / non-cancelled. Ranking in a
cluster: score desc, completion rate desc, unit id asc; the first `reward_slots`
are reward candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from domain.values import Cluster, ReportClass, ScoringScale, Status

ZERO = Decimal(0)
COUNT_KEYS = (
    "completed_on_time",
    "completed_late",
    "in_progress_within_deadline",
    "overdue",
    "blocked",
    "escalated",
    "cancelled",
)


@dataclass(frozen=True)
class ScoredTarget:
    """What scoring needs to know of one target (the workflow has its own `TargetFacts`: what its timers need)."""

    unit_id: str
    points: Decimal
    report_class: ReportClass
    status: Status


@dataclass(frozen=True)
class Adjustment:
    """A bonus (positive) or deduction (negative) from the Standing Committee."""

    unit_id: str
    points: Decimal
    reason: str = ""


@dataclass(frozen=True)
class UnitScore:
    unit_id: str
    name: str
    score: Decimal
    max_score: Decimal
    completion_rate: Decimal
    counts: Mapping[str, int]
    bonus: Decimal = ZERO
    rank: int = 0
    reward_candidate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "name": self.name,
            "score": float(self.score),
            "max_score": float(self.max_score),
            "completion_rate": float(self.completion_rate),
            "bonus": float(self.bonus),
            "rank": self.rank,
            "reward_candidate": self.reward_candidate,
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class ClusterBoard:
    cluster_id: str
    name: str
    units: tuple[UnitScore, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"cluster_id": self.cluster_id, "name": self.name, "units": [u.to_dict() for u in self.units]}


def factor(report_class: ReportClass, scale: ScoringScale) -> Decimal:
    if report_class == ReportClass.COMPLETED_ON_TIME:
        return scale.on_time
    if report_class == ReportClass.COMPLETED_LATE:
        return scale.late
    return ZERO


def empty_counts() -> dict[str, int]:
    return {key: 0 for key in COUNT_KEYS}


def count_classes(targets: Iterable[ScoredTarget]) -> dict[str, int]:
    """Counts of the four classes plus cancelled, and of blocked/escalated targets
    (these are also counted in their class)."""
    counts = empty_counts()
    for t in targets:
        counts[str(t.report_class)] += 1
        if t.status == Status.BLOCKED:
            counts["blocked"] += 1
        elif t.status == Status.ESCALATED:
            counts["escalated"] += 1
    return counts


def unit_score(
    unit_id: str,
    targets: Iterable[ScoredTarget],
    adjustments: Iterable[Adjustment],
    scale: ScoringScale,
    name: str = "",
) -> UnitScore:
    mine = [t for t in targets if t.unit_id == unit_id]
    counted = [t for t in mine if t.report_class != ReportClass.CANCELLED]
    bonus = sum((a.points for a in adjustments if a.unit_id == unit_id), ZERO)
    earned = sum((t.points * factor(t.report_class, scale) for t in counted), ZERO)
    maximum = sum((t.points * scale.on_time for t in counted), ZERO)
    completed = sum(
        1 for t in counted if t.report_class in (ReportClass.COMPLETED_ON_TIME, ReportClass.COMPLETED_LATE)
    )
    rate = (Decimal(completed) / Decimal(len(counted))).quantize(Decimal("0.0001")) if counted else ZERO
    return UnitScore(
        unit_id=unit_id,
        name=name or unit_id,
        score=earned + bonus,
        max_score=maximum,
        completion_rate=rate,
        counts=count_classes(mine),
        bonus=bonus,
    )


def rank_units(scores: Iterable[UnitScore], reward_slots: int) -> tuple[UnitScore, ...]:
    """Score desc, then completion rate desc, then unit id; top `reward_slots` are candidates."""
    ordered = sorted(scores, key=lambda s: (-s.score, -s.completion_rate, s.unit_id))
    return tuple(
        replace(s, rank=i + 1, reward_candidate=i < reward_slots) for i, s in enumerate(ordered)
    )


def scoreboard(
    clusters: Iterable[Cluster],
    targets: Iterable[ScoredTarget],
    adjustments: Iterable[Adjustment],
    scale: ScoringScale,
    unit_names: Mapping[str, str] | None = None,
) -> tuple[ClusterBoard, ...]:
    """Every cluster with its units ranked. Units outside every cluster are not ranked."""
    by_unit: dict[str, list[ScoredTarget]] = {}
    for t in targets:
        by_unit.setdefault(t.unit_id, []).append(t)
    adj_by_unit: dict[str, list[Adjustment]] = {}
    for a in adjustments:
        adj_by_unit.setdefault(a.unit_id, []).append(a)
    names = unit_names or {}
    boards = []
    for cluster in sorted(clusters, key=lambda c: c.cluster_id):
        scores = [
            unit_score(u, by_unit.get(u, ()), adj_by_unit.get(u, ()), scale, names.get(u, u))
            for u in cluster.unit_ids
        ]
        boards.append(ClusterBoard(cluster.cluster_id, cluster.name, rank_units(scores, scale.reward_slots)))
    return tuple(boards)


def what_if(
    clusters: Iterable[Cluster],
    targets: Iterable[ScoredTarget],
    adjustments: Iterable[Adjustment],
    proposed: ScoringScale,
    unit_names: Mapping[str, str] | None = None,
) -> tuple[ClusterBoard, ...]:
    """The scoreboard under a proposed scale; records nothing."""
    return scoreboard(clusters, targets, adjustments, proposed, unit_names)
