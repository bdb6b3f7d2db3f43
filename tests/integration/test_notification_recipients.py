"""Table-driven from the declaration (thidua.domain.notifications.NOTICES): every declared kind,
raised by its event, reaches exactly its audience — in the inbox, by e-mail for those who
chose it, and to a webhook that asked for it — and no one else (the other roles, the other
units' heads, a revoked member).

A kind declared without a scenario here fails the first test: add one with the kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest

from thidua.dburl import asyncpg_dsn, eventsourcing_env
from thidua.domain.application import ThiduaApplication, new_application
from thidua.domain.digest import Digest
from thidua.domain.evaluation import ClusterLeads, Evaluation, FrozenUnit, award_id_of
from thidua.domain.notifications import EMAIL, INBOX, KINDS, NOTICES, WEBHOOK, Audience
from thidua.domain.preferences import Preferences
from thidua.domain.scoring import RewardForm, RewardRules
from thidua.domain.target import Target
from thidua.domain.user import User
from thidua.domain.values import SYSTEM, Actor, Role
from thidua.domain.webhook import Webhook
from thidua.projections.projector import Projector
from tests.databases import fresh_database
from tests.integration.projection_conftest import COMMITTEE, SECRETARIAT, World, head_of, run


@pytest.fixture
def kinds_app(postgres_server_url: str) -> Iterator[tuple[str, ThiduaApplication]]:
    """A database of each test's own: the directory holds only that test's people, so
    "no one else" is exact."""
    with fresh_database(postgres_server_url, "thidua_kinds") as url:
        app = new_application(eventsourcing_env(url))
        try:
            yield url, app
        finally:
            app.close()


def _escalated(world: World, t: Target) -> None:
    head = head_of(t.unit_id)
    t.start(world.cmd(head))
    t.block(world.cmd(head), reason="thiếu kinh phí")
    t.escalate(world.cmd(head), reason="xin hỗ trợ")


def _reminded(world: World, t: Target) -> None:
    _escalated(world, t)
    t.remind_escalation(world.cmd(SYSTEM), escalation_no=1, reminder_no=1)


def _resolved(world: World, t: Target) -> None:
    _escalated(world, t)
    t.resolve(world.cmd(COMMITTEE), directive="cấp bổ sung kinh phí", coordinating_unit_ids=[world.unit_ids[1]])


def _overdue(world: World, t: Target) -> None:
    t.start(world.cmd(head_of(t.unit_id)))
    t.mark_overdue(world.cmd(SYSTEM, advance=timedelta(days=400)), deadline_at=t.deadline_at)


def _stale(world: World, t: Target) -> None:
    t.start(world.cmd(head_of(t.unit_id)))
    t.remind_stale(world.cmd(SYSTEM, advance=timedelta(days=20)), since=t.last_activity_at)


def _awaiting_acceptance(world: World, t: Target) -> None:
    t.start(world.cmd(head_of(t.unit_id)))
    t.complete(world.cmd(head_of(t.unit_id)), result="đạt", acceptance_required=True)


def _returned(world: World, t: Target) -> None:
    _awaiting_acceptance(world, t)
    t.return_completion(world.cmd(SECRETARIAT), reason="hồ sơ chưa đủ")


def _reopened(world: World, t: Target) -> None:
    t.start(world.cmd(head_of(t.unit_id)))
    t.complete(world.cmd(head_of(t.unit_id)), result="đạt")
    t.reopen(world.cmd(SECRETARIAT), reason="chưa đạt")


def _urged(world: World, t: Target) -> None:
    t.comment(world.cmd(SECRETARIAT), kind="urge", body="đề nghị báo cáo tiến độ trước thứ Sáu")


def _directed(world: World, t: Target) -> None:
    t.comment(world.cmd(COMMITTEE), kind="directive", body="hoàn thành trong quý")


def _digest(world: World, t: Target) -> Digest:
    return Digest.record(world.cmd(SYSTEM), campaign_id=world.campaign_id, day=f"2022-02-{world.n % 28 + 1:02d}",
                         as_of=world.clock.isoformat(), units=[{"unit_id": t.unit_id, "overdue": [str(t.id)],
                                                                 "stale": []}])


# An evaluation round of the first cluster only (units 0 and 1; unit 0 heads it), so the
# other units' heads are outside ROUND_HEADS; its one award goes to unit 1 (AWARDED_HEADS).
MERIT = RewardForm("giay-khen", "Giấy khen", "collective", "cluster", 1, Decimal("0.5"), 0, 0)


def _round_units(world: World) -> list[str]:
    return world.unit_ids[:2]


def _awarded_unit(world: World) -> str:
    return world.unit_ids[1]


def _opened(world: World, t: Target) -> Evaluation:
    head_unit, deputy_unit = _round_units(world)
    start = world.clock
    return Evaluation.create(
        world.cmd(SECRETARIAT), evaluation_id=f"e-{world.tag}", campaign_id=world.campaign_id,
        name=f"Bình xét {world.tag}", period_end=start, self_assessment_due=start + timedelta(days=5),
        review_due=start + timedelta(days=10),
        units=[FrozenUnit(u, "k0", Decimal(8), Decimal(10), {f"t-{u}": Decimal(10)}) for u in (head_unit, deputy_unit)],
        clusters=[ClusterLeads("k0", head_unit, deputy_unit)], rules=RewardRules((MERIT,)))


def _due_soon(world: World, t: Target) -> Evaluation:
    e = _opened(world, t)
    e.remind(world.cmd(SYSTEM), stage="self_assessment")
    return e


def _approved(world: World, t: Target) -> Evaluation:
    e = _opened(world, t)
    head_unit, awarded = _round_units(world)[0], _awarded_unit(world)
    e.self_assess(world.cmd(head_of(awarded)), unit_id=awarded, items=[{"target_id": f"t-{awarded}", "score": 9}])
    e.review(world.cmd(head_of(head_unit)), unit_id=awarded, items=[])  # confirmed as self-assessed
    e.propose(world.cmd(head_of(head_unit)), cluster_id="k0", collectives=[{"unit_id": awarded, "form_id": MERIT.id}])
    e.approve(world.cmd(COMMITTEE), decision_number=f"{world.n}-QĐ/TU", issued_on=date(2022, 12, 30))
    return e


def _revoked(world: World, t: Target) -> Evaluation:
    e = _approved(world, t)
    e.revoke(world.cmd(COMMITTEE), award_id=award_id_of(e.evaluation_id, 1), reason="hồ sơ không trung thực")
    return e


# (kind, raising events) -> what raises it on a fresh target of unit 0 (a Digest scenario
# or an Evaluation scenario returns its aggregate). A kind may be declared more than once (a directive given by a
# resolution and one given in a comment): one scenario per declaration.
SCENARIOS: dict[tuple[str, tuple[str, ...]], Callable[[World, Target], object]] = {
    ("target.escalated", ("Target.Escalated",)): _escalated,
    ("escalation.reminder", ("Target.EscalationReminded",)): _reminded,
    ("escalation.resolved", ("Target.Resolved",)): _resolved,
    ("target.directive", ("Target.Resolved",)): _resolved,
    ("target.directive", ("Target.Commented",)): _directed,
    ("target.urged", ("Target.Commented",)): _urged,
    ("target.overdue", ("Target.DeadlinePassed",)): _overdue,
    ("target.stale", ("Target.StaleReminded",)): _stale,
    ("target.returned", ("Target.Reopened", "Target.Returned")): _returned,
    ("target.awaiting_acceptance", ("Target.CompletionReported", "Target.AcceptanceReminded")): _awaiting_acceptance,
    ("digest.daily", ("Digest.Recorded",)): _digest,
    ("evaluation.opened", ("Evaluation.Created",)): _opened,
    ("evaluation.due_soon", ("Evaluation.DueSoon",)): _due_soon,
    ("award.approved", ("Evaluation.Approved",)): _approved,
    ("award.revoked", ("Evaluation.AwardRevoked",)): _revoked,
}


def _key(notice) -> tuple[str, tuple[str, ...]]:
    return notice.kind, tuple(notice.events)


def test_every_declared_kind_has_a_scenario():
    assert set(SCENARIOS) == {_key(n) for n in NOTICES}, \
        "add a scenario for each new declaration (and drop the ones no longer declared)"
    assert {kind for kind, _ in SCENARIOS} == set(KINDS)


@pytest.mark.parametrize("notice", NOTICES, ids=lambda n: f"{n.kind}<-{'+'.join(n.events)}")
def test_each_kind_reaches_its_audience_on_every_channel_and_no_one_else(kinds_app, notice):
    _check_reaches_exactly_its_audience(kinds_app, notice, SCENARIOS[_key(notice)])


def test_a_reopened_completion_is_returned_to_the_unit_too(kinds_app):
    """target.returned's other raising event: its scenario returns a completion, this one reopens it."""
    (returned,) = [n for n in NOTICES if n.kind == "target.returned"]
    _check_reaches_exactly_its_audience(kinds_app, returned, _reopened)


def _check_reaches_exactly_its_audience(kinds_app, notice, raise_it: Callable[[World, Target], object]) -> None:
    url, app = kinds_app
    world = World(app, units=4)
    tag = world.tag
    owner_unit, coord_unit, other_unit = world.unit_ids[:3]
    people: dict[str, tuple[Role, str | None]] = {
        **{f"sc{i}-{tag}": (Role.STANDING_COMMITTEE, None) for i in range(3)},
        f"head-{world.unit_ids[3]}": (Role.UNIT_HEAD, world.unit_ids[3]),
        **{f"sec{i}-{tag}": (Role.SECRETARIAT, None) for i in range(2)},
        f"insp-{tag}": (Role.INSPECTOR, None),
        f"head-{owner_unit}": (Role.UNIT_HEAD, owner_unit),
        f"head-{coord_unit}": (Role.UNIT_HEAD, coord_unit),
        f"head-{other_unit}": (Role.UNIT_HEAD, other_unit),
    }
    users = {}
    for uid, (role, unit) in people.items():
        users[uid] = User.create(world.cmd(SECRETARIAT), user_id=uid, name=uid, role=role, unit_id=unit,
                                 token_hash="x", bootstrap=True)
        world.touch(users[uid])
        # everybody wants every kind by e-mail: only the audience may get one
        world.touch(Preferences.start(world.cmd(Actor(uid, uid, role, unit)), user_id=uid, email=f"{uid}@x.vn",
                                      email_kinds=list(KINDS)))
    revoked = f"sc2-{tag}"
    users[revoked].revoke(world.cmd(SECRETARIAT), reason="nghỉ hưu")
    hook = f"wh-{tag}"
    world.touch(Webhook.register(world.cmd(SECRETARIAT), webhook_id=hook, url="https://hooks.example.vn/x",
                                 campaign_id=world.campaign_id, kinds=[notice.kind]))
    world.save()

    target = world.assign(0)
    made = raise_it(world, target)
    world.touch(target)
    if made is not None:
        world.touch(made)
    world.save()

    expected = {
        Audience.STANDING_COMMITTEE: {f"sc0-{tag}", f"sc1-{tag}"},
        Audience.SECRETARIAT: {f"sec0-{tag}", f"sec1-{tag}"},
        Audience.UNIT_HEADS: {f"head-{owner_unit}"},
        Audience.COORDINATING_HEADS: {f"head-{coord_unit}"},
        Audience.ROUND_HEADS: {f"head-{u}" for u in _round_units(world)},
        Audience.AWARDED_HEADS: {f"head-{_awarded_unit(world)}"},
    }[notice.audience]

    async def scenario() -> dict[str, list[str]]:
        projector = Projector(url)
        try:
            await projector.catch_up()
        finally:
            await projector.close()
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await conn.fetch("SELECT channel, recipient FROM notifications WHERE kind = $1 AND campaign_id = $2",
                                    notice.kind, world.campaign_id)
        finally:
            await conn.close()
        got: dict[str, list[str]] = {INBOX: [], EMAIL: [], WEBHOOK: []}
        for r in rows:
            got[r["channel"]].append(r["recipient"])
        return got

    got = run(scenario())
    assert sorted(got[INBOX]) == sorted(expected)  # once each, and no one else
    assert sorted(got[EMAIL]) == sorted(expected)
    assert got[WEBHOOK] == [hook]
