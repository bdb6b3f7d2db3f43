"""A stored corpus of real domain events, written fast.

One campaign with `units` units in four clusters and `targets` targets whose lifecycles add
up to at least `events` events: assignments, starts, progress reports, blocks and unblocks,
escalations and resolutions, completions (on time and late), cancellations, deadlines that
passed. Aggregates are built with the domain's own commands (so every event is what thidua
would store) and saved many at a time with `ThiduaApplication.save_changes(*batch)` — one
transaction per batch instead of one per event.

Event times run from the campaign's start to shortly before now, so scoreboards `as_of` a
past instant and "overdue" both have something to show.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from thidua.domain.application import ThiduaApplication
from thidua.domain.campaign import Campaign, Unit
from thidua.domain.target import Target
from thidua.domain.values import Actor, Cluster, Command, Decision, Role

SECRETARIAT = Actor(id="bench-secretariat", name="Văn phòng Thành ủy", role=Role.SECRETARIAT)
STANDING_COMMITTEE = Actor(id="bench-btv", name="Ban Thường vụ", role=Role.STANDING_COMMITTEE)
SYSTEM = Actor(id="system", name="system", role=Role.SYSTEM)
AREAS = (
    "Phát triển kinh tế - xã hội", "Cải cách hành chính", "Phòng, chống tham nhũng", "Thực hành tiết kiệm",
    "Giải quyết khiếu nại, tố cáo", "Xây dựng Đảng", "Giải phóng mặt bằng", "Tài nguyên và môi trường",
)
BATCH_TARGETS = 100


def unit_id(n: int, prefix: str = "unit") -> str:
    return f"{prefix}-{n:03d}"


def head_of(unit: str) -> Actor:
    return Actor(id=f"head-{unit}", name=f"Trưởng {unit}", role=Role.UNIT_HEAD, unit_id=unit)


@dataclass
class Corpus:
    """What was written: ids to use later, and how long it took."""

    campaign_id: str
    unit_ids: list[str]
    cluster_ids: list[str]
    target_ids: list[str] = field(default_factory=list)
    events: int = 0
    seconds: float = 0.0
    first_at: datetime | None = None
    last_at: datetime | None = None
    last_position: int = 0
    stages: dict[str, float] = field(default_factory=dict)  # seconds of each step of the writing

    @property
    def middle(self) -> datetime:
        assert self.first_at and self.last_at
        return self.first_at + (self.last_at - self.first_at) / 2


class _Clock:
    """Command times of one target: increasing, from its assignment to `end`."""

    def __init__(self, start: datetime, end: datetime, steps: int, rng: random.Random) -> None:
        self.at = start
        self.end = end
        self.step = max((end - start) / max(steps, 1), timedelta(minutes=1))
        self.rng = rng

    def next(self) -> datetime:
        self.at = min(self.at + self.step * (0.5 + self.rng.random()), self.end)
        return self.at


def register(app: ThiduaApplication, campaign_id: str, units: int, *, now: datetime,
             unit_prefix: str = "unit") -> tuple[Corpus, Campaign]:
    """Units, the campaign and four clusters."""
    start = now - timedelta(days=300)
    at = start - timedelta(days=1)

    def cmd(cid: str, actor: Actor = SECRETARIAT) -> Command:
        return Command(id=cid, actor=actor, at=at)

    unit_ids = [unit_id(n, unit_prefix) for n in range(units)]
    unit_aggs = []
    for u in unit_ids:
        if not app.exists(Unit.create_id(u)):
            unit_aggs.append(Unit.register(cmd(f"register-{u}"), unit_id=u, name=f"Đơn vị {u}", kind="phuong",
                                           head_name=f"Trưởng {u}"))
    campaign = Campaign.create(
        cmd(f"create-{campaign_id}"), campaign_id=campaign_id, name=f"Đợt cao điểm {campaign_id}",
        starts_on=start.date(), ends_on=(now + timedelta(days=65)).date(),
    )
    campaign.record_decision(cmd(f"{campaign_id}-qd934"), Decision(
        number="934-QĐ/TU", issued_on=start.date(), issuer="BTV Thành ủy Vĩnh Yên", title="Giao chỉ tiêu"))
    clusters = max(1, min(4, units // 2))
    groups = [unit_ids[i::clusters] for i in range(clusters)]
    cluster_ids = []
    for n, members in enumerate(groups):
        cid = f"cum-{n + 1}"
        cluster_ids.append(cid)
        campaign.set_cluster(cmd(f"{campaign_id}-cluster-{cid}"), Cluster(
            cluster_id=cid, name=f"Cụm thi đua số {n + 1}", head_unit_id=members[0], deputy_unit_id=members[1],
            member_unit_ids=tuple(members)))
    app.save_changes(*unit_aggs, campaign)
    corpus = Corpus(campaign_id=campaign_id, unit_ids=unit_ids, cluster_ids=cluster_ids)
    corpus.events = len(unit_aggs) + campaign.version
    return corpus, campaign


def _target(campaign: Campaign, n: int, budget: int, rng: random.Random, now: datetime,
            unit_ids: list[str]) -> Target:
    """One target whose lifecycle stores `budget` events (at least 2)."""
    unit = unit_ids[n % len(unit_ids)]
    head = head_of(unit)
    assigned_at = datetime.combine(campaign.starts_on, datetime.min.time(), timezone.utc) + timedelta(
        days=rng.randint(1, 30), seconds=rng.randint(0, 86_000))
    deadline = (now - timedelta(days=150) + timedelta(days=rng.randint(0, 210))).date()
    key = f"t{n:07d}"
    ids = iter(range(1, 10_000))

    def cmd(actor: Actor, at: datetime) -> Command:
        return Command(id=f"{campaign.campaign_id}:{key}:{next(ids)}", actor=actor, at=at)

    target = Target.assign(
        cmd(SECRETARIAT, assigned_at), campaign_id=campaign.campaign_id, unit_id=unit,
        title=f"Chỉ tiêu {n}: {AREAS[n % len(AREAS)]}", area=AREAS[n % len(AREAS)], deadline=deadline,
        points=Decimal(rng.choice((5, 10, 10, 15, 20))), timezone=campaign.timezone, key=key,
        decision=Decision(number="934-QĐ/TU", issued_on=campaign.starts_on, issuer="BTV Thành ủy Vĩnh Yên"),
    )
    end = now - timedelta(minutes=5)
    clock = _Clock(assigned_at, end, budget, rng)
    roll = rng.random()
    # (tail of commands that fix the final state, how many events it stores)
    if roll < 0.45:
        tail = ["complete"]
    elif roll < 0.55:
        tail = ["block", "escalate", "resolve", "complete"]
    elif roll < 0.70:
        tail = []
    elif roll < 0.80:
        tail = ["block"]
    elif roll < 0.87:
        tail = ["block", "escalate"]
    elif roll < 0.92:
        tail = ["cancel"]
    else:
        tail = ["overdue"]
    left = budget - 1  # assign is stored
    if left <= 0:
        return target
    target.start(cmd(head, clock.next()), note="Bắt đầu triển khai")
    left -= 1
    tail = tail[: max(left, 0)]
    middle = left - len(tail)
    for i in range(middle):
        at = clock.next()
        if i % 12 == 5 and middle - i >= 2:
            target.block(cmd(head, at), reason="Vướng mắc mặt bằng", help_needed="Cần BTV chỉ đạo")
        elif target.status == "blocked":
            target.unblock(cmd(head, at), note="Đã tháo gỡ")
        else:
            target.report_progress(cmd(head, at), percent=Decimal(min(99, 3 * (i + 1))), note=f"Báo cáo lần {i + 1}")
    for step in tail:
        at = clock.next()
        if step == "complete":
            target.complete(cmd(head, at), result="Hoàn thành", evidence="Báo cáo kết quả")
        elif step == "block":
            target.block(cmd(head, at), reason="Thiếu kinh phí")
        elif step == "unblock":
            target.unblock(cmd(head, at))
        elif step == "escalate":
            target.escalate(cmd(head, at), reason="Đề nghị BTV tháo gỡ")
        elif step == "resolve":
            target.resolve(cmd(STANDING_COMMITTEE, at), directive="Giao Phòng TC-KH bố trí vốn")
        elif step == "cancel":
            target.cancel(cmd(SECRETARIAT, at), reason="Điều chỉnh chỉ tiêu")
        elif step == "overdue":
            when = max(at, target.deadline_at + timedelta(seconds=1))
            if when < now and not target.overdue:
                target.mark_overdue(cmd(SYSTEM, when), deadline_at=target.deadline_at)
            else:
                target.report_progress(cmd(head, at), note="Đang thực hiện")
    return target


def build(app: ThiduaApplication, campaign_id: str, *, units: int, targets: int, events: int,
          seed: int = 2022, now: datetime | None = None, progress=None,  # type: ignore[no-untyped-def]
          unit_prefix: str = "unit") -> Corpus:
    """Write the corpus; `progress(done_events)` is called after each batch."""
    now = now or datetime.now(timezone.utc)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    corpus, campaign = register(app, campaign_id, units, now=now, unit_prefix=unit_prefix)
    per_target, extra = divmod(max(events - corpus.events, 2 * targets), targets)
    batch: list[Target] = []
    first_at: datetime | None = None
    last_at: datetime | None = None
    for n in range(targets):
        target = _target(campaign, n, per_target + (1 if n < extra else 0), rng, now, corpus.unit_ids)
        batch.append(target)
        corpus.target_ids.append(str(target.id))
        first_at = min(first_at or target.assigned_at, target.assigned_at)
        last_at = max(last_at or target.updated_at, target.updated_at)
        if len(batch) >= BATCH_TARGETS:
            corpus.events += sum(len(t.pending_events) for t in batch)
            corpus.last_position = app.save_changes(*batch) or corpus.last_position
            batch = []
            if progress is not None:
                progress(corpus.events)
    if batch:
        corpus.events += sum(len(t.pending_events) for t in batch)
        corpus.last_position = app.save_changes(*batch) or corpus.last_position
    corpus.first_at, corpus.last_at = first_at, last_at
    corpus.seconds = time.perf_counter() - t0
    return corpus
