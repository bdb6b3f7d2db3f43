"""Scoring (thang điểm) as pure functions: the one copy of the rules.

The projections, the "as of" and the "what if" scoreboards all call these, so a
scoreboard is the same whichever way it is asked for.

Rules (DESIGN.md): a unit's score = sum of points x factor over its targets
(on time: `on_time`, late: `late`, overdue and open: 0; cancelled counts in neither
score nor maximum) + bonuses - deductions. Maximum = sum of points x `on_time` over
its non-cancelled targets. Completion rate = completed / non-cancelled. Ranking in a
cluster: score desc, then completion rate desc; units equal on both share a rank
(listed by name). Reward candidates: with no reward rules in force, the units ranked
within the first `reward_slots`; with rules, a unit is a candidate for a collective
form when it meets the form's criteria and its place is within the form's
`max_awards` for its scope (see `apply_rules`), and a candidate at all only if it is
one for some form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from thidua.domain.errors import BadInput
from thidua.domain.values import Cluster, ReportClass, ScoringScale, Status

ZERO = Decimal(0)
COUNT_KEYS = (
    "completed_on_time",
    "completed_late",
    "in_progress_within_deadline",
    "overdue",
    "blocked",
    "escalated",
    "cancelled",
    "awaiting_acceptance",  # a fifth class: reported completed, not yet accepted (worth nothing until then)
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
    eligible_forms: tuple[str, ...] = ()

    @property
    def score_ratio(self) -> Decimal:
        """Score / maximum; 0 for a unit with nothing to score (it has met nothing)."""
        return self.score / self.max_score if self.max_score > 0 else ZERO

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
            "eligible_forms": list(self.eligible_forms),
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


def _merit(s: UnitScore) -> tuple[Decimal, Decimal]:
    return (s.score, s.completion_rate)


def shared_ranks(scores: Iterable[UnitScore]) -> dict[str, int]:
    """Competition ranks ("1, 2, 2, 4"): 1 + the number of units strictly better on
    (score, completion rate). Units equal on both share a rank; nothing else breaks it."""
    ordered = sorted(scores, key=_merit, reverse=True)
    ranks: dict[str, int] = {}
    for i, s in enumerate(ordered):
        same_as_previous = i > 0 and _merit(ordered[i - 1]) == _merit(s)
        ranks[s.unit_id] = ranks[ordered[i - 1].unit_id] if same_as_previous else i + 1
    return ranks


def listing_key(rank: int, name: str, unit_id: str) -> tuple[int, str, str, str]:
    """A board's order: by rank, units sharing one by name (the id only keeps two
    units of the same name in a stable order; it never decides a rank)."""
    return (rank, name.casefold(), name, unit_id)


def rank_units(scores: Iterable[UnitScore], reward_slots: int) -> tuple[UnitScore, ...]:
    """Ranked by `shared_ranks`, equal ones listed by name; the units ranked within the
    first `reward_slots` are candidates (the rule when a campaign has no reward rules)."""
    units = list(scores)
    ranks = shared_ranks(units)
    ordered = sorted(units, key=lambda s: listing_key(ranks[s.unit_id], s.name, s.unit_id))
    return tuple(replace(s, rank=ranks[s.unit_id], reward_candidate=ranks[s.unit_id] <= reward_slots)
                 for s in ordered)


# ---------------------------------------------------------------------- reward rules (quy chế khen thưởng)
COLLECTIVE, INDIVIDUAL = "collective", "individual"
CLUSTER, CAMPAIGN = "cluster", "campaign"
MAX_FORMS = 50
MAX_COUNT = 100_000


def _count(value: Any, field: str, *, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
        raise BadInput(f"{field} must be an integer {low}..{MAX_COUNT}", field=field)
    return value


@dataclass(frozen=True)
class RewardForm:
    """A form of commendation and its criteria (e.g. Cờ thi đua: the best unit of each
    cluster, at least 95 % of the maximum, nothing overdue). `recipient` is the JSON
    field `for`: collective (units, marked on the scoreboard) or individual."""

    id: str
    name: str
    recipient: str
    scope: str
    max_awards: int
    min_score_ratio: Decimal
    max_overdue: int
    max_late: int
    top_rank: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not 1 <= len(self.id) <= 100 \
                or not all(ch.isalnum() or ch in "-_." for ch in self.id):
            raise BadInput("a form id is 1..100 letters, digits, '-', '_' or '.'", field="forms.id")
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 300:
            raise BadInput("a form needs a name (at most 300 characters)", field="forms.name")
        if self.recipient not in (COLLECTIVE, INDIVIDUAL):
            raise BadInput("a form is for 'collective' or 'individual'", field="forms.for")
        if self.scope not in (CLUSTER, CAMPAIGN):
            raise BadInput("a form's scope is 'cluster' or 'campaign'", field="forms.scope")
        _count(self.max_awards, "forms.max_awards")
        _count(self.max_overdue, "forms.max_overdue")
        _count(self.max_late, "forms.max_late")
        if self.top_rank is not None:
            _count(self.top_rank, "forms.top_rank", low=1)
        try:
            ratio = Decimal(str(self.min_score_ratio))
        except ArithmeticError:
            ratio = Decimal("NaN")
        if not ratio.is_finite() or not ZERO <= ratio <= 1:
            raise BadInput("forms.min_score_ratio must be a number 0..1", field="forms.min_score_ratio")
        object.__setattr__(self, "min_score_ratio", ratio)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "for": self.recipient, "scope": self.scope,
                "max_awards": self.max_awards, "min_score_ratio": str(self.min_score_ratio),
                "max_overdue": self.max_overdue, "max_late": self.max_late, "top_rank": self.top_rank}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RewardForm:
        return cls(id=data["id"], name=data["name"], recipient=data["for"], scope=data["scope"],
                   max_awards=data["max_awards"], min_score_ratio=data["min_score_ratio"],
                   max_overdue=data["max_overdue"], max_late=data["max_late"], top_rank=data.get("top_rank"))

    def criteria_met(self, unit: UnitScore, rank_in_scope: int) -> bool:
        """The form's thresholds, without its `max_awards` (see `apply_rules`)."""
        return (
            self.recipient == COLLECTIVE
            and unit.score_ratio >= self.min_score_ratio
            and unit.counts.get("overdue", 0) <= self.max_overdue
            and unit.counts.get("completed_late", 0) <= self.max_late
            and (self.top_rank is None or rank_in_scope <= self.top_rank)
        )


@dataclass(frozen=True)
class RewardRules:
    """The forms in force. No forms: the campaign has no rules, `reward_slots` decide."""

    forms: tuple[RewardForm, ...] = ()

    def __post_init__(self) -> None:
        forms = tuple(self.forms)
        if len(forms) > MAX_FORMS:
            raise BadInput(f"at most {MAX_FORMS} forms", field="forms")
        ids = [f.id for f in forms]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise BadInput(f"form ids must be unique: {', '.join(repeated)} repeated", field="forms.id")
        object.__setattr__(self, "forms", forms)

    def __bool__(self) -> bool:
        return bool(self.forms)

    @property
    def campaign_wide(self) -> bool:
        """Does any collective form rank units across the whole campaign? (Then one
        cluster's change can move another cluster's marks.)"""
        return any(f.recipient == COLLECTIVE and f.scope == CAMPAIGN for f in self.forms)

    def to_list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.forms]

    @classmethod
    def from_list(cls, forms: Iterable[Mapping[str, Any]] | None) -> RewardRules:
        return cls(tuple(RewardForm.from_dict(f) for f in forms or ()))


NO_RULES = RewardRules()


def in_force(history: Iterable[tuple[Any, Any]], at: Any | None, default: Any) -> Any:
    """From (effective_at, value) pairs sorted by effective time (stably, so of equal
    times the later recorded wins): the value in force at `at`, the latest when None."""
    value = default
    for effective_at, candidate in history:
        if at is None or effective_at <= at:
            value = candidate
    return value


def _awarded(form: RewardForm, units: list[UnitScore], ranks: Mapping[str, int]) -> set[str]:
    """The units of one scope that get `form`: those meeting its criteria, best first,
    as many as `max_awards` allows. Units sharing a rank go together or not at all: a
    tie is never broken (by id or anything else), so a tie that would overflow the
    form's places, and everyone below it, is left to the people who decide."""
    meeting = [u for u in units if form.criteria_met(u, ranks[u.unit_id])]
    by_rank: dict[int, list[str]] = {}
    for u in meeting:
        by_rank.setdefault(ranks[u.unit_id], []).append(u.unit_id)
    chosen: set[str] = set()
    for rank in sorted(by_rank):
        group = by_rank[rank]
        if len(chosen) + len(group) > form.max_awards:
            break
        chosen.update(group)
    return chosen


def apply_rules(boards: Iterable[ClusterBoard], rules: RewardRules) -> tuple[ClusterBoard, ...]:
    """Each unit's `eligible_forms` (the collective forms it is a candidate for, in the
    rules' order) and `reward_candidate` (some form), under `rules`. Campaign-scope
    forms rank over every unit of `boards`, so pass the whole campaign's boards."""
    boards = tuple(boards)
    if not rules:
        return boards
    everyone = [u for b in boards for u in b.units]
    campaign_ranks = shared_ranks(everyone)
    forms_of: dict[str, list[str]] = {u.unit_id: [] for u in everyone}
    for form in rules.forms:
        if form.recipient != COLLECTIVE:
            continue
        if form.scope == CAMPAIGN:
            chosen = _awarded(form, everyone, campaign_ranks)
        else:
            chosen = set().union(*(_awarded(form, list(b.units), {u.unit_id: u.rank for u in b.units})
                                   for b in boards))
        for unit_id in chosen:
            forms_of[unit_id].append(form.id)
    return tuple(
        replace(b, units=tuple(replace(u, eligible_forms=tuple(forms_of[u.unit_id]),
                                       reward_candidate=bool(forms_of[u.unit_id])) for u in b.units))
        for b in boards
    )


def scoreboard(
    clusters: Iterable[Cluster],
    targets: Iterable[ScoredTarget],
    adjustments: Iterable[Adjustment],
    scale: ScoringScale,
    unit_names: Mapping[str, str] | None = None,
    rules: RewardRules = NO_RULES,
) -> tuple[ClusterBoard, ...]:
    """Every cluster with its units ranked and marked under `rules`. Units outside every
    cluster are not ranked."""
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
    return apply_rules(boards, rules)


def what_if(
    clusters: Iterable[Cluster],
    targets: Iterable[ScoredTarget],
    adjustments: Iterable[Adjustment],
    proposed: ScoringScale,
    unit_names: Mapping[str, str] | None = None,
    rules: RewardRules = NO_RULES,
) -> tuple[ClusterBoard, ...]:
    """The scoreboard under a proposed scale (and the rules in force); records nothing."""
    return scoreboard(clusters, targets, adjustments, proposed, unit_names, rules)
