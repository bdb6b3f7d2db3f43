"""The demo's evaluation rounds: one done, one open for self-assessment.

`load_rounds(app, gateway, done=..., open_=...)` plays, through the same commands the API
uses (the round's workflow freezes the scores; the other commands go through the domain
application's write path):
- a done round: every unit with a head assesses itself (the system's score per target;
  a few units claim more on an unfinished target, with a note), the clusters review
  (those claims cut back, with a reason), each cluster head proposes the units that meet
  a form's criteria (and one person), and the Standing Committee approves them all by a
  decision, which closes the round;
- an open round: created, with a few units' self-assessments in.
Every command has a fixed id (`demo:<round>:...`), so loading again stores nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from thidua.domain.errors import DomainError, NotFound
from thidua.domain.evaluation import Evaluation, evaluation_uuid
from thidua import demo_data as D
from thidua.domain.scoring import CAMPAIGN, INDIVIDUAL
from thidua.domain.values import Actor, Command
from thidua.workflows.evaluation_client import EvaluationRounds
from thidua.workflows.evaluation_messages import RoundInput

HeadOf = Callable[[str], Actor | None]  # a unit's head (None: the unit has no head user)
# People a cluster proposes (cá nhân tiêu biểu): name and position, by cluster order.
PEOPLE = (("Nguyễn Thị Thu Hà", "Chủ tịch UBND phường"), ("Trần Văn Hùng", "Bí thư Đảng ủy xã"),
          ("Lê Minh Tuấn", "Trưởng phòng"), ("Phạm Thị Lan", "Phó Chánh Văn phòng"))


@dataclass
class RoundPlan:
    campaign_id: str
    evaluation_id: str
    name: str
    secretariat: Actor
    committee: Actor
    head_of: HeadOf
    period_end: datetime | None = None  # None: now (after everything the demo recorded)
    decision: tuple[str, date] | None = None  # (number, issued on) for a done round
    self_assessed: int = 3  # an open round: how many units have sent their self-assessment
    claims: int = 3  # a done round: units that claim more than the system on one target
    summaries: dict[str, str] = field(default_factory=dict)  # unit id -> its self-assessment's summary


async def load_rounds(app: Any, gateway: Any, *, done: RoundPlan | None = None,
                      open_: RoundPlan | None = None) -> list[str]:
    """The rounds of `done` and `open_` (either may be None); the ids of the rounds there."""
    rounds = EvaluationRounds(gateway.client, gateway.task_queue, answer_seconds=300)
    ids = []
    for plan, finish in ((done, True), (open_, False)):
        if plan is None:
            continue
        await _create(app, rounds, plan)
        await asyncio.to_thread(_play, app, plan, finish)
        ids.append(plan.evaluation_id)
    return ids


async def _create(app: Any, rounds: EvaluationRounds, plan: RoundPlan) -> None:
    if await asyncio.to_thread(_exists, app, plan.evaluation_id):
        return
    now = datetime.now(timezone.utc)
    period_end = plan.period_end or now
    await rounds.create(RoundInput(
        evaluation_id=plan.evaluation_id, campaign_id=plan.campaign_id, command_id=f"demo:{plan.evaluation_id}:create",
        actor=plan.secretariat.to_dict(), name=plan.name, period_end=period_end,
        self_assessment_due=max(period_end, now) + timedelta(days=10),
        review_due=max(period_end, now) + timedelta(days=20)))


def _exists(app: Any, evaluation_id: str) -> bool:
    return app.exists(evaluation_uuid(evaluation_id))


def _apply(app: Any, plan: RoundPlan, key: str, actor: Actor, act: Callable[[Evaluation, Command], bool]) -> None:
    """One command of the round, by its fixed id; a refusal is logged in the round's
    story by being left out (the demo never stops for it)."""
    command_id = f"demo:{plan.evaluation_id}:{key}"
    cmd = Command(command_id, actor, datetime.now(timezone.utc))
    try:
        app.change(lambda: app.load(Evaluation, evaluation_uuid(plan.evaluation_id), "evaluation"),
                   lambda e: act(e, cmd), command_id)
    except (DomainError, NotFound):
        pass


def _round(app: Any, plan: RoundPlan) -> Evaluation:
    return app.load(Evaluation, evaluation_uuid(plan.evaluation_id), "evaluation")


def _play(app: Any, plan: RoundPlan, finish: bool) -> None:
    evaluation = _round(app, plan)
    units = [u for u in sorted(evaluation.units) if plan.head_of(u) is not None]
    claimants = set(units[:: max(1, len(units) // max(plan.claims, 1))][:plan.claims]) if finish else set()
    claims: dict[str, str] = {}  # unit id -> the target it claimed more for
    for unit_id in units if finish else units[:plan.self_assessed]:
        frozen = evaluation.frozen(unit_id)
        items, claimed = [], None
        for target_id, points in sorted(frozen.target_points.items()):
            score = frozen.target_scores.get(target_id, Decimal(0))
            note = None
            if unit_id in claimants and claimed is None and score < points:
                score, claimed = points, target_id
                note = "Đơn vị đã hoàn thành, đang hoàn thiện hồ sơ nghiệm thu"
            items.append({"target_id": target_id, "score": str(score), "note": note})
        summary = plan.summaries.get(unit_id, "Đơn vị cơ bản hoàn thành các chỉ tiêu, nhiệm vụ được giao")
        _apply(app, plan, f"self:{unit_id}", plan.head_of(unit_id), lambda e, c, i=items, s=summary, u=unit_id:
               e.self_assess(c, unit_id=u, items=i, summary=s))
        if claimed is not None:
            claims[unit_id] = claimed
    if not finish:
        return
    evaluation = _round(app, plan)
    for unit_id in units:
        reviewer = plan.head_of(evaluation.leads_of(unit_id).reviewer_of(unit_id))
        claimed = claims.get(unit_id)
        items = []
        if claimed is not None:
            frozen = evaluation.frozen(unit_id)
            items = [{"target_id": claimed, "score": str(frozen.target_scores.get(claimed, Decimal(0))),
                      "reason": "Chưa có biên bản nghiệm thu tại thời điểm chốt số liệu"}]
        if reviewer is not None:
            _apply(app, plan, f"review:{unit_id}", reviewer, lambda e, c, u=unit_id, i=items:
                   e.review(c, unit_id=u, items=i))
    _propose_all(app, plan)
    number, issued_on = plan.decision or ("1250-QĐ/TU", date.today())
    _apply(app, plan, "approve", plan.committee, lambda e, c: e.approve(c, decision_number=number,
                                                                         issued_on=issued_on))


def _propose_all(app: Any, plan: RoundPlan) -> None:
    """Each cluster head proposes, best first, the units meeting a form's criteria while
    the form has places, and one person of its best unit."""
    evaluation = _round(app, plan)
    met = evaluation.criteria_met()
    forms = {f.id: f for f in evaluation.rules.forms}
    standings = evaluation.standings()
    used: dict[tuple[str, str], int] = {}
    for n, (cluster_id, leads) in enumerate(sorted(evaluation.clusters.items())):
        head = plan.head_of(leads["head_unit_id"])
        members = sorted((s for s in standings.values() if s.cluster_id == cluster_id and s.unit_id in evaluation.reviews),
                         key=lambda s: -(s.score / s.max_score if s.max_score else 0))
        collectives = []
        for s in members:
            for form_id in met.get(s.unit_id, []):
                scope = "*" if forms[form_id].scope == CAMPAIGN else cluster_id
                if used.get((form_id, scope), 0) < forms[form_id].max_awards:
                    used[(form_id, scope)] = used.get((form_id, scope), 0) + 1
                    collectives.append({"unit_id": s.unit_id, "form_id": form_id,
                                        "reason": "Hoàn thành xuất sắc các chỉ tiêu, nhiệm vụ năm"})
                    break
        individuals = []
        person_form = next((f for f in forms.values() if f.recipient == INDIVIDUAL), None)
        if person_form is not None and members:
            scope = "*" if person_form.scope == CAMPAIGN else cluster_id
            if used.get((person_form.id, scope), 0) < person_form.max_awards:
                used[(person_form.id, scope)] = used.get((person_form.id, scope), 0) + 1
                name, position = PEOPLE[n % len(PEOPLE)]
                individuals.append({"name": name, "unit_id": members[0].unit_id, "position": position,
                                    "form_id": person_form.id,
                                    "achievements": "Trực tiếp chỉ đạo hoàn thành chỉ tiêu giải phóng mặt bằng"})
        if head is not None and (collectives or individuals):
            _apply(app, plan, f"propose:{cluster_id}", head, lambda e, c, k=cluster_id, cs=collectives, i=individuals:
                   e.propose(c, cluster_id=k, collectives=cs, individuals=i))


def _actor(user: D.UserFact) -> Actor:
    return Actor.from_dict({"id": user.user_id, "name": user.name, "role": user.role, "unit_id": user.unit_id})


def _head(unit_id: str) -> Actor | None:
    try:
        return _actor(D.head_of(unit_id))
    except (KeyError, StopIteration, ValueError):
        return None


def demo_plans(done_campaign_id: str, open_campaign_id: str) -> dict[str, RoundPlan]:
    """The demo's two rounds: the year-end review (tổng kết) of `done_campaign_id`, done,
    and a round of `open_campaign_id` open for self-assessment (the same campaign while
    the demo has one drive: then its mid-term review is the done one)."""
    same = done_campaign_id == open_campaign_id
    common = {"secretariat": _actor(D.SECRETARIAT), "committee": _actor(D.BINH), "head_of": _head}
    # The 2022 drive's year-end round (tổng kết) comes after the drive closed: its scores
    # frozen at the year's end, the Standing Committee's decision in the new year.
    year_end = datetime(2022, 12, 31, 23, 59, tzinfo=ZoneInfo(D.TIMEZONE)).astimezone(timezone.utc)
    return {
        "done": RoundPlan(done_campaign_id, "so-ket-2022" if same else "tong-ket-2022",
                          "Sơ kết phong trào thi đua" if same else "Tổng kết phong trào thi đua năm 2022",
                          period_end=None if same else year_end,
                          decision=("1250-QĐ/TU", date.today() if same else date(2023, 1, 10)), **common),
        "open_": RoundPlan(open_campaign_id, "tong-ket-dot" if same else "so-ket-dot-hien-tai",
                           "Tổng kết đợt thi đua (đang tự chấm điểm)" if same else "Sơ kết đợt thi đua hiện tại",
                           **common),
    }


__all__ = ["RoundPlan", "demo_plans", "load_rounds"]
