"""The Vĩnh Yên 2022 demo: its facts, its plan played against the domain, its setup and tokens.

Pure tests: the plan is applied to the domain aggregates in memory (as the workflow's activities
would, with the deadline timer simulated), and the setup runs on an in-memory event store.
Loading through Temporal is exercised by tests/e2e/test_up_*.py.
"""

from __future__ import annotations

import stat
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from thidua.api.auth import hash_token, user_id_of
from thidua.domain.application import new_application
from thidua.domain.lifecycle import COMMANDS, EVIDENCE_TYPES, comment_kinds_for
from thidua.domain.target import Target
from thidua.domain.values import SYSTEM, Command, Decision, Measure, ReportClass, Role, Status
from thidua import demo, demo_paper
from thidua.api import sniffing
from thidua import demo_data as D
from thidua.workflows.commands import decode_args, encode_args

ANCHOR = date(2026, 5, 4)


def test_the_drive_has_its_three_decisions() -> None:
    assert {(d.number, d.issued_on) for d in D.DECISIONS} == {
        ("529", date(2022, 1, 11)), ("934", date(2022, 2, 15)), ("937", date(2022, 2, 21)),
    }
    assert {t.decision for t in D.TARGETS} == {"529", "934", "937"}


def test_four_clusters_share_about_twenty_units_with_a_head_and_a_deputy() -> None:
    assert len(D.CLUSTERS) == 4
    assert 18 <= len(D.UNITS) <= 25
    members = Counter(u for c in D.CLUSTERS for u in c.member_unit_ids)
    assert set(members) == set(D.UNIT_BY_ID) and set(members.values()) == {1}  # each unit in exactly one
    for cluster in D.CLUSTERS:
        assert cluster.head_unit_id != cluster.deputy_unit_id
        assert {cluster.head_unit_id, cluster.deputy_unit_id} <= set(cluster.member_unit_ids)
    names = {u.name for u in D.UNITS}
    assert {"Phường Ngô Quyền", "Xã Thanh Trù", "Phòng Tài nguyên và Môi trường", "Ban Dân vận Thành ủy"} <= names


def test_about_a_hundred_targets_cover_every_content_area() -> None:
    assert 90 <= len(D.TARGETS) <= 110
    assert len({t.key for t in D.TARGETS}) == len(D.TARGETS)
    assert {t.area for t in D.TARGETS} == set(D.AREAS)
    assert all(t.unit_id in D.UNIT_BY_ID for t in D.TARGETS)
    assert all(Counter(t.unit_id for t in D.TARGETS)[u.unit_id] >= 3 for u in D.UNITS)
    # Vietnamese titles, intact
    assert any("giải phóng mặt bằng" in t.title for t in D.TARGETS)


def test_users_include_the_named_leaders_an_inspector_and_every_unit_head() -> None:
    by_id = {u.user_id: u for u in D.USERS}
    assert by_id["nguyen-ngoc-binh"].role == by_id["nguyen-hoai-nam"].role == "standing_committee"
    assert by_id["nguyen-ngoc-binh"].name.startswith("Nguyễn Ngọc Bình")
    assert by_id["secretariat"].role == "secretariat" and by_id["inspector"].role == "inspector"
    assert {u.unit_id for u in D.USERS if u.role == "unit_head"} == set(D.UNIT_BY_ID)
    for user in D.USERS:
        assert "_" not in user.user_id  # "_" separates a token's parts


def test_the_plan_is_the_same_on_every_run() -> None:
    first, second = demo.plan_targets(ANCHOR), demo.plan_targets(ANCHOR)
    assert [(p.fact.key, p.scenario, p.deadline, [s.command_id(p.fact.key) for s in p.steps]) for p in first] == [
        (p.fact.key, p.scenario, p.deadline, [s.command_id(p.fact.key) for s in p.steps]) for p in second
    ]
    ids = [s.command_id(p.fact.key) for p in first for s in p.steps]
    assert len(ids) == len(set(ids)) and all(len(i) <= 200 for i in ids)
    assert Counter(p.scenario for p in first) == dict(demo.SCENARIOS)


def test_every_command_of_the_plan_is_sent_by_someone_allowed_to() -> None:
    for plan in demo.plan_targets(ANCHOR):
        owner = plan.fact.unit_id
        for step in plan.steps:
            assert COMMANDS[step.command].allows(step.actor, owner), (plan.fact.key, step.command)
            if step.command == "reassign":
                owner = step.args["unit_id"]
            if step.command == "resolve":
                helpers = step.args["coordinating_unit_ids"]
                assert helpers and owner not in helpers and set(helpers) <= set(D.UNIT_BY_ID)
                assert all(D.UNIT_BY_ID[u].name in step.args["directive"] for u in helpers)
            # the arguments survive the trip through Temporal
            decode_args(step.command, encode_args(step.command, step.args))


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


def play(plan: demo.TargetPlan, now: datetime) -> Target:
    """What the workflow does with this plan: assign, the deadline timer, the commands."""
    fact = plan.fact
    target = Target.assign(
        Command(f"demo:{fact.key}:assign", demo.actor_of(D.SECRETARIAT), now),
        campaign_id=D.CAMPAIGN_ID, unit_id=fact.unit_id, title=fact.title, area=fact.area,
        deadline=plan.deadline, points=fact.points, timezone=D.TIMEZONE, key=fact.key,
        decision=demo._decision(fact.decision),
        measure=Measure(*fact.measure) if fact.measure else None,
    )
    clock = iter(now + timedelta(seconds=i + 1) for i in range(100))

    def deadline_timer() -> None:
        at = next(clock)
        if target.is_open and not target.overdue and at >= target.deadline_at:
            target.mark_overdue(Command(f"timer:{target.version}", SYSTEM, at), target.deadline_at)

    deadline_timer()
    for step in plan.steps:
        kwargs = decode_args(step.command, encode_args(step.command, step.args))
        # what the activity reads of the campaign's policy (the live drive asks for acceptance)
        kwargs |= {name: getattr(demo.POLICY, name) for name in COMMANDS[step.command].policy_fields}
        assert getattr(target, step.command)(Command(step.command_id(fact.key), step.actor, next(clock)), **kwargs)
        deadline_timer()
    return target


def test_played_against_the_domain_the_plan_gives_every_reporting_class() -> None:
    now = _at(ANCHOR)
    targets = {p.fact.key: (p, play(p, now)) for p in demo.plan_targets(ANCHOR)}
    classes = Counter(t.report_class for _, t in targets.values())
    assert set(classes) == set(ReportClass)
    assert classes[ReportClass.COMPLETED_ON_TIME] >= 20
    assert classes[ReportClass.COMPLETED_LATE] >= 5
    assert classes[ReportClass.OVERDUE] >= 5
    statuses = Counter(t.status for _, t in targets.values())
    assert statuses[Status.ESCALATED] >= 3 and statuses[Status.BLOCKED] >= 2
    resolved = [t for _, t in targets.values() if t.escalation and t.escalation["state"] == "resolved"]
    assert len(resolved) >= 5 and all(t.escalation["directive"] for t in resolved)
    # an overdue target whose deadline the Standing Committee extended is completed on time
    for plan, target in targets.values():
        if plan.scenario in ("extended_completed", "escalated_resolved_completed"):
            assert target.report_class == ReportClass.COMPLETED_ON_TIME, plan.fact.key
    # every cluster has something to rank and something in its escalation queue history
    for cluster in D.CLUSTERS:
        mine = [t for _, t in targets.values() if t.unit_id in cluster.member_unit_ids]
        assert any(t.report_class == ReportClass.COMPLETED_ON_TIME for t in mine), cluster.cluster_id


def test_setup_creates_the_campaign_units_and_users_once(tmp_path: Path) -> None:
    app = new_application({})  # in-memory event store
    created, tokens, lost = demo.setup_store(app, tmp_path, ANCHOR)
    assert created == len(D.USERS) and not lost
    campaign = app.get_campaign(D.CAMPAIGN_ID)
    assert set(campaign.clusters) == {c.cluster_id for c in D.CLUSTERS}
    assert set(campaign.decisions) == {"529", "934", "937"}
    assert campaign.decisions["529"] == Decision("529", date(2022, 1, 11), "Ban Thường vụ Tỉnh ủy Vĩnh Phúc",
                                                 D.DECISIONS[0].title, issuer_level="province")
    # 934 and 937 make the province's 529 concrete, for departments and for party bodies and wards
    assert {n: (d.issuer_level, d.parent_number) for n, d in campaign.decisions.items()} == {
        "529": ("province", None), "934": ("city", "529"), "937": ("city", "529")}
    assert campaign.starts_on < ANCHOR < campaign.ends_on
    flag = campaign.rules.forms[0]  # the drive's reward rules, in force from the setup
    assert [f.id for f in campaign.rules.forms] == ["co-thi-dua", "bang-khen", "giay-khen", "giay-khen-ca-nhan"]
    assert (flag.scope, flag.top_rank, flag.min_score_ratio, flag.max_overdue) == ("cluster", 1, Decimal("0.95"), 0)
    assert campaign.rules_at(_at(campaign.starts_on)) == campaign.rules
    assert campaign.updated_at < _at(campaign.starts_on)  # set up before the drive, at explicit times
    assert app.get_unit("ngo-quyen").name == "Phường Ngô Quyền"
    for user in D.USERS:
        stored = app.get_user(user.user_id)
        assert stored.token_hash == hash_token(tokens[user.user_id])
        assert user_id_of(tokens[user.user_id]) == user.user_id
        assert stored.role == Role(user.role)
    assert demo.read_tokens(tmp_path) == tokens
    assert stat.S_IMODE(demo.tokens_path(tmp_path).stat().st_mode) == 0o600

    events = app.recorder.max_notification_id()
    again = demo.setup_store(app, tmp_path, ANCHOR + timedelta(days=9))  # a later day changes nothing
    assert again == (0, tokens, [])
    assert app.recorder.max_notification_id() == events
    assert demo.anchor_day(app, ANCHOR + timedelta(days=9)) == ANCHOR


def test_a_user_whose_token_was_lost_is_named_not_given_a_wrong_token(tmp_path: Path) -> None:
    app = new_application({})
    _, tokens, _ = demo.setup_store(app, tmp_path, ANCHOR)
    demo.write_tokens(tmp_path, {k: v for k, v in tokens.items() if k != "inspector"})
    _, again, lost = demo.setup_store(app, tmp_path, ANCHOR)
    assert lost == ["inspector"] and "inspector" not in again
    assert "inspector" not in demo.read_tokens(tmp_path)


def test_the_bonus_marks_the_demo_complete(tmp_path: Path) -> None:
    app = new_application({})
    demo.setup_store(app, tmp_path, ANCHOR)
    assert demo.demo_state(app) == "partial"
    demo.award_bonus(app, _at(ANCHOR))
    demo.award_bonus(app, _at(ANCHOR, 10))  # idempotent
    campaign = app.get_campaign(D.CAMPAIGN_ID)
    assert [a["points"] for a in campaign.adjustments] == [Decimal(5)]
    assert campaign.adjustments[0]["awarded_by"] == "nguyen-ngoc-binh"
    assert demo.demo_state(app) == "complete"


def test_an_unreadable_tokens_file_counts_as_none(tmp_path: Path) -> None:
    demo.tokens_path(tmp_path).write_text("not json")
    assert demo.read_tokens(tmp_path) == {}


@pytest.mark.parametrize("story", [name for name, _ in demo.SCENARIOS])
def test_past_deadlines_only_where_the_story_needs_them(story: str) -> None:
    for plan in demo.plan_targets(ANCHOR):
        if plan.scenario == story:
            assert (plan.deadline < ANCHOR) == (story in demo.PAST_DEADLINE)


def test_demo_users_sign_in_with_their_id_and_the_printed_password(tmp_path: Path) -> None:
    from thidua.api.auth import password_matches
    from thidua.api.users import user_by_login

    app = new_application({})
    demo.setup_store(app, tmp_path, ANCHOR)
    password = demo.read_password(tmp_path)
    assert password and stat.S_IMODE(demo.password_path(tmp_path).stat().st_mode) == 0o600
    for user in (D.SECRETARIAT, D.USERS[-1]):
        stored = user_by_login(app, user.user_id)
        assert stored is not None and stored.user_id == user.user_id
        assert password_matches(stored.password_hash, password)
        assert not password_matches(stored.password_hash, password + "x")


def test_one_completion_is_returned_for_incomplete_evidence_then_accepted() -> None:
    now = _at(ANCHOR)
    returned = [p for p in demo.plan_targets(ANCHOR) if p.scenario == "returned_accepted"]
    assert len(returned) == 1
    target = play(returned[0], now)
    names = [type(e).__name__ for e in target.collect_events()]
    assert names[-6:] == ["CompletionReported", "Returned", "EvidenceAttached", "EvidenceAttached",
                          "CompletionReported", "Accepted"]
    assert "Minh chứng chưa đầy đủ" in target.return_reason and target.status == Status.COMPLETED
    # the files the unit attached after the return: a generated PDF and PNG, named by their digest
    assert {f["name"] for f in target.evidence_files.values()} == {f.name for f in demo_paper.RETURNED_EVIDENCE}


def test_the_generated_evidence_files_are_of_accepted_types() -> None:
    for file in demo_paper.ALL_FILES:
        assert sniffing.content_type_of(file.data[:sniffing.HEAD_BYTES]) == file.content_type in EVIDENCE_TYPES
        assert file.data.endswith(b"%%EOF\n") or file.data.startswith(b"\x89PNG")


def test_the_paper_trail_comments_are_written_by_someone_allowed_to() -> None:
    plans = demo.plan_targets(ANCHOR)
    for remark in demo_paper.REMARKS:
        plan = next(p for p in plans if p.scenario == remark.story)
        actor = demo.actor_of(remark.author(plan.fact.unit_id))
        assert remark.kind in comment_kinds_for(actor, plan.fact.unit_id), remark
    assert {r.kind for r in demo_paper.REMARKS} == {"comment", "urge", "directive", "reply"}


def test_the_citys_targets_under_529_are_made_concrete_by_unit_targets_under_934_and_937() -> None:
    assert {p.decision for p in D.PARENT_TARGETS} == {"529"}
    assert {p.area for p in D.PARENT_TARGETS} == {D.HCM, D.CTDT}
    keys = {p.key for p in D.PARENT_TARGETS}
    assert not keys & {t.key for t in D.TARGETS}
    for parent in D.PARENT_TARGETS:
        children = [t for t in D.TARGETS if D.parent_key_of(t) == parent.key]
        assert len(children) >= 3 and {t.decision for t in children} <= {"934", "937"}
        assert all(t.area == parent.area for t in children)
    # a target of 529 itself is nobody's child
    assert all(D.parent_key_of(t) is None for t in D.TARGETS if t.decision == "529")


def test_a_ward_target_under_937_is_owned_by_the_wards_party_committee_head() -> None:
    ward = next(t for t in D.TARGETS if t.unit_id == "ngo-quyen" and t.decision == "937")
    assert D.head_of(ward.unit_id).name == "Bí thư Đảng ủy phường Ngô Quyền"
    assert {D.HCM, D.CTDT} <= {t.area for t in D.TARGETS}


# ------------------------------------------------------------------ the 2022 drive, from its records
def test_the_2022_records_lie_on_2022s_calendar() -> None:
    from thidua import demo_history

    rows = demo_history.plan_rows()
    by_key: dict[str, list] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    assert set(by_key) == {t.key for t in D.TARGETS}
    for key, mine in by_key.items():
        assert mine[0].action == "assign" and date(2022, 1, 12) <= mine[0].when.date() <= date(2022, 2, 28), key
        assert [r.when for r in mine] == sorted(r.when for r in mine), key
        assert all(r.when.year == 2022 for r in mine), key


def test_the_2022_drive_is_brought_in_by_the_history_import_and_closed_at_year_end(tmp_path: Path) -> None:
    from thidua import demo_history
    from thidua.domain.campaign import Unit
    from thidua.domain.history import is_migrated
    from thidua.domain.target import target_id_for

    app = new_application({})
    office = demo.actor_of(D.SECRETARIAT)
    for unit in D.UNITS:
        app.save_changes(Unit.register(Command(f"u:{unit.unit_id}", office, _at(date(2021, 12, 1))),
                                       unit_id=unit.unit_id, name=unit.name, kind=unit.kind, head_name=unit.head_title))
    now = _at(ANCHOR)
    recorded = demo_history.load_history(app, office, demo.actor_of(D.BINH), demo.REWARD_RULES, now)
    assert recorded > 4 * len(D.TARGETS)
    campaign = app.get_campaign(D.HISTORY_CAMPAIGN_ID)
    assert campaign.closed and campaign.updated_at.date() == date(2022, 12, 31)
    targets = [app.get_target(target_id_for(D.HISTORY_CAMPAIGN_ID, t.key)) for t in D.TARGETS]
    classes = Counter(t.report_class for t in targets)
    assert classes[ReportClass.COMPLETED_ON_TIME] > 60 and classes[ReportClass.COMPLETED_LATE] > 5
    assert classes[ReportClass.OVERDUE] > 0 and classes[ReportClass.CANCELLED] > 0
    first = targets[0]
    events = list(app.repository.event_store.get(first.id))
    assert all(e.occurred_at.year == 2022 for e in events[:-1]) and type(events[-1]).__name__ == "HistoryMigrated"
    assert all(is_migrated(e.actor.id, e.command_id) for e in events[:-1])
    assert demo_history.load_history(app, office, demo.actor_of(D.BINH), demo.REWARD_RULES, now) == 0  # idempotent
