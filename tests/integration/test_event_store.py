"""The event store on a real PostgreSQL (a fresh database for the test session):
every aggregate comes back exactly as it was saved, long histories load from a
snapshot, concurrent writers cannot both win, and Vietnamese text is kept byte for byte."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest

from thidua.domain import (
    SYSTEM,
    Actor,
    Campaign,
    Cluster,
    Command,
    Decision,
    Measure,
    NotFound,
    Policy,
    Role,
    ScoringScale,
    Status,
    Target,
    Unit,
    User,
    VersionConflict,
)
from thidua.domain.application import EVENTS_TABLE, ThiduaApplication, new_application

HANOI = "Asia/Ho_Chi_Minh"
TITLE = "Giải phóng mặt bằng dự án đường Nguyễn Tất Thành"
T0 = datetime(2022, 2, 21, 2, 0, tzinfo=timezone.utc)
SEC = Actor("van-phong", "Văn phòng Thành ủy", Role.SECRETARIAT)
BTV = Actor("nguyen-hoai-nam", "Nguyễn Hoài Nam", Role.STANDING_COMMITTEE)
HEAD = Actor("head-ngo-quyen", "Bí thư phường Ngô Quyền", Role.UNIT_HEAD, "ngo-quyen")
NEW_HEAD = Actor("head-lien-bao", "Bí thư phường Liên Bảo", Role.UNIT_HEAD, "lien-bao")


@pytest.fixture
def app(es_env: dict[str, str]) -> Iterator[ThiduaApplication]:
    application = new_application(es_env)
    yield application
    application.close()


@pytest.fixture
def fresh_app(es_env: dict[str, str]) -> Iterator[ThiduaApplication]:
    """A second process's view: nothing cached, everything read back from PostgreSQL."""
    application = new_application(es_env)
    yield application
    application.close()


class Steps:
    """Unique command ids and increasing times for one test."""

    def __init__(self) -> None:
        self.prefix = uuid.uuid4().hex[:8]
        self.n = 0
        self.now = T0

    def __call__(self, actor: Actor, minutes: int = 60) -> Command:
        self.n += 1
        self.now += timedelta(minutes=minutes)
        return Command(f"{self.prefix}-{self.n}", actor, self.now)


def new_target(step: Steps, **overrides) -> Target:
    details = {
        "campaign_id": "vinh-yen-2022", "key": f"QĐ-934/{step.prefix}", "unit_id": "ngo-quyen", "title": TITLE,
        "area": "Giải phóng mặt bằng", "deadline": date(2022, 6, 30), "points": Decimal("12.5"), "timezone": HANOI,
        "decision": Decision("934-QĐ/TU", date(2022, 2, 15), "Ban Thường vụ Thành ủy", "Giao chỉ tiêu"),
        "measure": Measure("tỷ lệ hộ dân đồng thuận", Decimal("95.5"), "%", "up"),
        "note": "Ưu tiên số 1",
    }
    details.update(overrides)
    return Target.assign(step(SEC), **details)


def state_of(aggregate) -> dict:
    """Everything the aggregate holds, as a plain dict (the pending-events list aside)."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def assert_same(loaded, original) -> None:
    assert type(loaded) is type(original)
    assert state_of(loaded) == state_of(original)
    assert loaded.version == original.version


# ------------------------------------------------------------------ round trips
def test_a_target_with_a_full_history_comes_back_exactly_as_saved(app, fresh_app):
    step = Steps()
    target = new_target(step)
    target.start(step(HEAD), note="Khởi động")
    target.report_progress(step(HEAD), value=Decimal("37"), percent=Decimal("42.75"), note="Đã vận động 37 hộ")
    target.extend_deadline(step(BTV), date(2022, 7, 31), reason="Chờ phê duyệt giá đất",
                           decision=Decision("1012-QĐ/TU", date(2022, 6, 20), "Ban Thường vụ Thành ủy"))
    target.block(step(HEAD), reason="Hộ dân chưa đồng ý giá bồi thường", help_needed="Hỗ trợ định giá lại")
    target.escalate(step(HEAD), reason="Vượt thẩm quyền phường")
    target.remind_escalation(step(SYSTEM), escalation_no=1, reminder_no=1)
    target.resolve(step(BTV), directive="Giao Trung tâm Phát triển quỹ đất phối hợp", new_deadline=date(2022, 9, 30),
                   reassign_to="lien-bao", coordinating_unit_ids=["quy-dat", "tai-nguyen-moi-truong"])
    target.complete(step(NEW_HEAD), result="Bàn giao 100% mặt bằng", evidence="Biên bản số 12/BB")
    position = app.save_changes(target)

    loaded = fresh_app.get_target(target.id)

    assert_same(loaded, target)
    assert loaded.to_state() == target.to_state()
    extended = next(e for e in fresh_app.repository.event_store.get(target.id) if type(e).__name__ == "DeadlineExtended")
    assert extended.decision == {"number": "1012-QĐ/TU", "issued_on": date(2022, 6, 20),
                                 "issuer": "Ban Thường vụ Thành ủy", "title": ""}
    assert (extended.actor, extended.new_deadline) == (BTV, date(2022, 7, 31))
    assert loaded.points == Decimal("12.5") and isinstance(loaded.points, Decimal)
    assert loaded.deadline == date(2022, 9, 30) and type(loaded.deadline) is date
    assert loaded.decision["issued_on"] == date(2022, 2, 15)
    assert loaded.measure["goal"] == Decimal("95.5")
    assert loaded.updated_by == NEW_HEAD
    assert loaded.status == Status.COMPLETED
    assert position == fresh_app.position_of(target.id, loaded.version)


def test_a_campaign_with_clusters_decisions_policy_scale_and_bonuses_comes_back_exactly(app, fresh_app):
    step = Steps()
    campaign_id = f"vinh-yen-{step.prefix}"
    campaign = Campaign.create(step(SEC), campaign_id=campaign_id, name="Đợt cao điểm thi đua 2022",
                               starts_on=date(2022, 3, 1), ends_on=date(2022, 12, 31),
                               policy=Policy("PT2S", "PT5S", "P1DT2H"), scoring=ScoringScale("1.0", "0.5", 2))
    campaign.set_cluster(step(SEC), Cluster("cum-1", "Cụm thi đua số 1", "ngo-quyen", "dong-da", ("lien-bao",)))
    campaign.record_decision(step(SEC), Decision("937-QĐ/TU", date(2022, 2, 21), "Ban Thường vụ", "Giao nhiệm vụ"))
    campaign.change_scoring(step(BTV), ScoringScale("1.2", "0.25", 1), effective_at=datetime(2022, 7, 1, tzinfo=timezone.utc))
    campaign.award_bonus(step(BTV), "lien-bao", Decimal("2.75"), reason="Sáng kiến số hóa hồ sơ")
    campaign.award_bonus(step(BTV), "dong-da", -1, reason="Báo cáo chậm")
    campaign.close(step(SEC), reason="Tổng kết")
    app.save_changes(campaign)

    loaded = fresh_app.get_campaign(campaign_id)

    assert_same(loaded, campaign)
    assert loaded.clusters["cum-1"].member_unit_ids == ("ngo-quyen", "dong-da", "lien-bao")
    assert loaded.decisions["937-QĐ/TU"].issued_on == date(2022, 2, 21)
    assert loaded.policy == Policy("PT2S", "PT5S", "P1DT2H")
    assert loaded.scale_at(datetime(2022, 6, 1, tzinfo=timezone.utc)) == ScoringScale("1.0", "0.5", 2)
    assert loaded.adjustments[0]["points"] == Decimal("2.75")
    assert loaded.to_state() == campaign.to_state()


def test_units_and_users_come_back_exactly(app, fresh_app):
    step = Steps()
    unit = Unit.register(step(SEC), unit_id=f"ngo-quyen-{step.prefix}", name="Đảng bộ phường Ngô Quyền",
                         kind="phường", head_name="Nguyễn Văn Á")
    unit.update(step(SEC), name="Đảng bộ phường Ngô Quyền", kind="phường", head_name="Trần Thị Ễ")
    user = User.create(step(SEC), user_id=f"u-{step.prefix}", name="Bí thư Ngô Quyền", role=Role.UNIT_HEAD,
                       unit_id=unit.unit_id, token_hash="sha256:" + "ab" * 32)
    user.revoke(step(SEC), reason="Chuyển công tác")
    app.save_changes(unit, user)

    assert_same(fresh_app.get_unit(unit.unit_id), unit)
    loaded_user = fresh_app.get_user(user.user_id)
    assert_same(loaded_user, user)
    assert loaded_user.role is Role.UNIT_HEAD and loaded_user.revoked


def test_an_applied_command_is_still_recognised_after_a_reload_with_its_position(app, fresh_app):
    step = Steps()
    target = new_target(step)
    start = step(HEAD)
    target.start(start)
    first = app.save_changes(target)

    again = fresh_app.get_target(target.id)
    assert again.start(start) is False
    assert fresh_app.save_changes(again) is None
    assert fresh_app.position_of(target.id, again.version_of_command(start.id)) == first


# ------------------------------------------------------------------ no snapshots
def test_a_long_history_is_replayed_from_its_events_and_no_snapshot_is_trusted(app, fresh_app, database_url):
    """A snapshot is outside the hash chain: a forged one (say, naming another unit)
    must not change what the target says. None is written, and one left in the table by
    an older version is never read."""
    step = Steps()
    target = new_target(step)
    target.start(step(HEAD))
    for percent in range(1, 21):
        target.report_progress(step(HEAD, minutes=10), percent=Decimal(percent) + Decimal("0.5"), note=f"{percent}%")
    target.block(step(HEAD), reason="Vướng mắc")
    target.escalate(step(HEAD))
    for reminder in range(1, 40):
        target.remind_escalation(step(SYSTEM), escalation_no=1, reminder_no=reminder)
    app.save_changes(target)
    assert target.version == 63
    assert app.snapshots is None and fresh_app.snapshots is None

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS thidua_snapshots (LIKE thidua_events INCLUDING DEFAULTS)")
        conn.execute(
            "INSERT INTO thidua_snapshots (originator_id, originator_version, topic, state) VALUES (%s, 63, %s, %s)",
            (target.id, "thidua.domain.target:Target", b'{"unit_id": "another-unit"}'))

    loaded = fresh_app.get_target(target.id)
    assert_same(loaded, target)
    assert loaded.unit_id == target.unit_id and loaded.percent == Decimal("20.5")
    loaded.resolve(step(BTV), directive="Tháo gỡ")
    fresh_app.save_changes(loaded)
    assert app.get_target(target.id).status == Status.IN_PROGRESS


# ------------------------------------------------------------------ concurrency
def test_two_writers_on_one_target_exactly_one_wins_and_the_other_gets_a_conflict(es_env):
    step = Steps()
    setup = new_application(es_env)
    target = new_target(step)
    target.start(step(HEAD))
    setup.save_changes(target)

    both_loaded = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    # Each writer has its own application (its own connection pool), like two workers.
    # They are built one after the other: concurrent CREATE TABLE IF NOT EXISTS races
    # in PostgreSQL's catalog ("tuple concurrently updated").
    applications = {"unit": new_application(es_env), "committee": new_application(es_env)}

    def writer(name: str, act) -> None:
        application = applications[name]
        try:
            mine = application.get_target(target.id)
            act(mine)
            both_loaded.wait(timeout=10)
            try:
                outcomes[name] = application.save_changes(mine)
            except VersionConflict as conflict:
                outcomes[name] = conflict
        finally:
            application.close()

    progress, cancel = step(HEAD), step(BTV)
    threads = [
        threading.Thread(target=writer, args=("unit", lambda t: t.report_progress(progress, note="Đạt 50%"))),
        threading.Thread(target=writer, args=("committee", lambda t: t.cancel(cancel, reason="Dừng dự án"))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    conflicts = [name for name, outcome in outcomes.items() if isinstance(outcome, VersionConflict)]
    winners = [name for name, outcome in outcomes.items() if isinstance(outcome, int)]
    assert len(outcomes) == 2 and len(conflicts) == 1 and len(winners) == 1
    assert outcomes[conflicts[0]].to_dict()["kind"] == "conflict"

    stored = setup.get_target(target.id)
    assert stored.version == 3
    assert stored.status == (Status.IN_PROGRESS if winners == ["unit"] else Status.CANCELLED)
    setup.close()


def test_a_stale_copy_cannot_overwrite_a_newer_one(app, fresh_app):
    step = Steps()
    target = new_target(step)
    app.save_changes(target)
    stale = fresh_app.get_target(target.id)
    target.start(step(HEAD))
    app.save_changes(target)

    stale.cancel(step(SEC), reason="Trùng chỉ tiêu")
    with pytest.raises(VersionConflict):
        fresh_app.save_changes(stale)
    assert app.get_target(target.id).status == Status.IN_PROGRESS


# ------------------------------------------------------------------ Vietnamese text
def test_vietnamese_text_round_trips_byte_for_byte_and_is_stored_as_utf8(app, fresh_app, database_url):
    step = Steps()
    reason = "Vướng mắc: hộ ông Nguyễn Văn Đức chưa nhận tiền bồi thường"
    target = new_target(step, area="GPMB – đường Nguyễn Tất Thành")
    target.block(step(HEAD), reason=reason)
    app.save_changes(target)

    loaded = fresh_app.get_target(target.id)
    assert loaded.title.encode("utf-8") == TITLE.encode("utf-8")
    assert loaded.block_reason.encode("utf-8") == reason.encode("utf-8")
    assert loaded.area == "GPMB – đường Nguyễn Tất Thành"

    with psycopg.connect(database_url) as conn:
        rows = dict(conn.execute(
            f"SELECT originator_version, state FROM {EVENTS_TABLE} WHERE originator_id = %s", (target.id,)
        ).fetchall())
    assert TITLE.encode("utf-8") in bytes(rows[1])
    assert reason.encode("utf-8") in bytes(rows[2])
    assert SEC.name.encode("utf-8") in bytes(rows[1])


# ------------------------------------------------------------------ positions
def test_positions_follow_the_order_events_were_stored(app):
    step = Steps()
    target = new_target(step)
    target.start(step(HEAD))
    target.report_progress(step(HEAD), percent=10)
    last = app.save_changes(target)

    positions = [app.position_of(target.id, v) for v in (1, 2, 3)]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert positions[-1] == last
    assert app.max_position() >= last
    assert app.position_of(target.id, 4) is None
    assert app.save_changes(target) is None  # nothing pending, nothing stored

    other = new_target(Steps())
    assert app.save_changes(other) > last
    assert app.max_position() >= app.position_of(other.id, 1)


# ------------------------------------------------------------------ not found
def test_asking_for_what_is_not_there_is_not_found(app):
    step = Steps()
    unit = Unit.register(step(SEC), unit_id=f"u-{step.prefix}", name="Phường Đống Đa", kind="phường")
    app.save_changes(unit)

    for ask in (
        lambda: app.get_target(uuid.uuid4()),
        lambda: app.get_target("không-phải-uuid"),
        lambda: app.get_target(unit.id),  # a unit is not a target
        lambda: app.get_campaign(f"none-{step.prefix}"),
        lambda: app.get_user(f"none-{step.prefix}"),
    ):
        with pytest.raises(NotFound) as missing:
            ask()
        assert missing.value.to_dict()["kind"] == "not_found"


def test_the_tests_run_on_a_database_of_their_own(es_env):
    assert es_env["POSTGRES_DBNAME"].startswith("thidua_test_")


def test_processes_starting_together_on_a_new_database_all_get_their_event_store(postgres_server_url):
    """api, worker and projector start at once (`thidua up`, compose): each creates the
    event store's tables, and none may fail because another is creating them too."""
    import concurrent.futures
    import threading

    from tests.databases import fresh_database
    from thidua.event_store import domain_application

    for _ in range(4):
        with fresh_database(postgres_server_url, "thidua_ddl_race") as url:
            together = threading.Barrier(6)

            def start() -> None:
                together.wait()
                domain_application(url).close()

            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                for started in [pool.submit(start) for _ in range(6)]:
                    started.result()  # raises what a starting process would have died of
            app = domain_application(url)
            try:
                assert app.recorder.max_notification_id() in (0, None)
            finally:
                app.close()
