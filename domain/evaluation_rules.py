"""A cluster's proposal checked against the reward rules, on the reviewed scores.

Pure functions beside the Evaluation aggregate: the same forms (domain/scoring.py's
`RewardForm`) that mark the scoreboard's candidates decide whether a proposal stands,
but on the scores the cluster's review settled instead of the live ones. A refusal
names the criterion and the figures ("score 88 % < 95 % required for Cờ thi đua"), so
the person proposing knows what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from thidua.domain.errors import BadInput
from thidua.domain.scoring import CAMPAIGN, COLLECTIVE, INDIVIDUAL, RewardForm, RewardRules, UnitScore, shared_ranks

ZERO = Decimal(0)


@dataclass(frozen=True)
class Standing:
    """What the rules read of one unit in a round: its reviewed score (the self score,
    or the system score, while it has none) and the frozen counts of the period."""

    unit_id: str
    cluster_id: str
    score: Decimal
    max_score: Decimal
    completion_rate: Decimal
    overdue: int
    late: int

    def as_unit_score(self) -> UnitScore:
        return UnitScore(unit_id=self.unit_id, name=self.unit_id, score=self.score, max_score=self.max_score,
                         completion_rate=self.completion_rate,
                         counts={"overdue": self.overdue, "completed_late": self.late})


def percent(ratio: Decimal) -> str:
    """88 %, 87.5 %: at most one decimal, no trailing zero."""
    value = (ratio * 100).quantize(Decimal("0.1"))
    return f"{value.normalize():f}"


def ranks_in_scope(form: RewardForm, unit: Standing, standings: Iterable[Standing]) -> int:
    """The unit's shared rank among the units of the form's scope (its cluster, or the round)."""
    among = [s for s in standings if form.scope == CAMPAIGN or s.cluster_id == unit.cluster_id]
    return shared_ranks(s.as_unit_score() for s in among)[unit.unit_id]


def failed_criterion(form: RewardForm, unit: Standing, rank: int) -> str | None:
    """The first criterion of `form` the unit fails, with its figures; None when it meets them all."""
    ratio = unit.score / unit.max_score if unit.max_score > 0 else ZERO
    if ratio < form.min_score_ratio:
        return f"score {percent(ratio)} % < {percent(form.min_score_ratio)} % required for {form.name}"
    if unit.overdue > form.max_overdue:
        return f"{unit.overdue} overdue target(s) > {form.max_overdue} allowed for {form.name}"
    if unit.late > form.max_late:
        return f"{unit.late} target(s) completed late > {form.max_late} allowed for {form.name}"
    if form.top_rank is not None and rank > form.top_rank:
        return f"rank {rank} > {form.top_rank} required for {form.name}"
    return None


def form_of(rules: RewardRules, form_id: str, recipient: str, field: str) -> RewardForm:
    for form in rules.forms:
        if form.id == form_id:
            if form.recipient != recipient:
                raise BadInput(f"form {form.name!r} is for {'individuals' if form.recipient == INDIVIDUAL else 'collectives'}",
                               field=field, criterion="for")
            return form
    raise BadInput(f"form {form_id!r} is not in the round's reward rules", field=field, criterion="form")


def check_proposals(rules: RewardRules, proposals: list[Mapping[str, Any]], recipient: str, cluster_id: str,
                    standings: Mapping[str, Standing], others: Mapping[str, int]) -> None:
    """Each proposal names a unit of the cluster and a form for `recipient`; a proposed
    unit (collective) meets its form's criteria; no form gets more proposals than its
    `max_awards` in its scope (`others`: proposals of campaign-scope forms made by other
    clusters, by form id)."""
    kind = "collectives" if recipient == COLLECTIVE else "individuals"
    counts: dict[str, int] = {}
    for i, proposal in enumerate(proposals):
        field = f"{kind}.{i}"
        unit = standings.get(proposal["unit_id"])
        if unit is None or unit.cluster_id != cluster_id:
            raise BadInput(f"unit {proposal['unit_id']!r} is not in cluster {cluster_id!r} of this round",
                           field=f"{field}.unit_id")
        form = form_of(rules, proposal["form_id"], recipient, f"{field}.form_id")
        failed = recipient == COLLECTIVE and failed_criterion(form, unit, ranks_in_scope(form, unit, standings.values()))
        if failed:
            raise BadInput(failed, field=field, criterion=form.id, unit_id=unit.unit_id)
        counts[form.id] = counts.get(form.id, 0) + 1
        total = counts[form.id] + (others.get(form.id, 0) if form.scope == CAMPAIGN else 0)
        if total > form.max_awards:
            raise BadInput(f"{total} proposals > {form.max_awards} allowed for {form.name}", field=field,
                           criterion=form.id)


def criteria_met(rules: RewardRules, standings: Mapping[str, Standing]) -> dict[str, list[str]]:
    """For each unit, the collective forms whose criteria it meets (the proposal page
    shows them; places are not counted here). Ranks are computed once per scope."""
    met: dict[str, list[str]] = {u: [] for u in standings}
    everyone = list(standings.values())
    by_cluster: dict[str, list[Standing]] = {}
    for s in everyone:
        by_cluster.setdefault(s.cluster_id, []).append(s)
    campaign_ranks = shared_ranks(s.as_unit_score() for s in everyone)
    cluster_ranks = {c: shared_ranks(s.as_unit_score() for s in members) for c, members in by_cluster.items()}
    for form in rules.forms:
        if form.recipient != COLLECTIVE:
            continue
        for unit in everyone:
            ranks = campaign_ranks if form.scope == CAMPAIGN else cluster_ranks[unit.cluster_id]
            if failed_criterion(form, unit, ranks[unit.unit_id]) is None:
                met[unit.unit_id].append(form.id)
    return met
