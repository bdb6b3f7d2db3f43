"""What an evaluation round freezes: each unit's system score as of the period's end.

Exactly the scoreboard's as-of computation (`projections.scoreboard.boards_as_of`: the
clusters, targets, bonuses, scale and rules as they stood then), whose groups of targets
with the same facts also carry their target ids, so the same rows give each target's
points and system score then, which bound and prefill the self-assessment. One REPEATABLE READ snapshot: the units, their
targets and the boards agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from thidua.domain.evaluation import ClusterLeads, FrozenUnit
from thidua.domain.scoring import RewardRules, factor
from thidua.domain.values import ReportClass
from thidua.projections.scoreboard import boards_as_of, read_snapshot


@dataclass(frozen=True)
class FrozenRound:
    units: list[FrozenUnit]
    clusters: list[ClusterLeads]
    rules: RewardRules


async def freeze_round(pool: Any, campaign_id: str, at: datetime) -> FrozenRound:
    """The units of every cluster of the campaign as of `at`, with their scores then."""
    async with read_snapshot(pool) as conn:
        computed = await boards_as_of(conn, campaign_id, None, at, per_target=True)
    factors = {str(c): factor(c, computed.scale) for c in ReportClass}
    points: dict[str, dict[str, Decimal]] = {}
    scores: dict[str, dict[str, Decimal]] = {}
    for group in computed.targets or ():
        report_class = group["report_class"]
        if report_class == "cancelled":
            continue  # a cancelled target counts in neither score nor maximum
        unit_id, p = group["unit_id"], group["points"]
        score = p * factors[report_class]
        if unit_id not in points:
            points[unit_id], scores[unit_id] = {}, {}
        ids = group["target_ids"].split(",")
        points[unit_id].update(dict.fromkeys(ids, p))
        scores[unit_id].update(dict.fromkeys(ids, score))
    units = [
        FrozenUnit(unit_id=u.unit_id, cluster_id=board.cluster_id, score=u.score, max_score=u.max_score,
                   target_points=points.get(u.unit_id, {}), target_scores=scores.get(u.unit_id, {}),
                   overdue=u.counts.get("overdue", 0), late=u.counts.get("completed_late", 0),
                   completion_rate=u.completion_rate)
        for board in computed.boards for u in board.units
    ]
    clusters = [ClusterLeads(c.cluster_id, c.head_unit_id, c.deputy_unit_id) for c in computed.clusters]
    return FrozenRound(units, clusters, computed.rules)
