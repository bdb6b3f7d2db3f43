"""The projections' fast decoding gives exactly what the application's mapper gives:
the same domain events, and audit payloads equal to those of the decoded events."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from thidua.domain.application import ThiduaApplication
from thidua.domain.campaign import Campaign
from thidua.domain.user import User
from thidua.domain.values import SYSTEM, Actor, Command, Decision, Policy, Role, ScoringScale
from thidua.projections.codec import (
    StoredDecoder,
    dumps,
    event_changes,
    event_reason,
    loads,
    plain,
    stored_changes,
    stored_reason,
    topic_info,
)
from thidua.domain.scoring import RewardForm, RewardRules
from tests.integration.projection_conftest import COMMITTEE, OPS, World, head_of

SEC = Actor("sec", "Thư ký", Role.SECRETARIAT)
AT = datetime(2022, 3, 1, 8, 0, tzinfo=timezone.utc)


def _stored_history() -> tuple[ThiduaApplication, list]:
    """Every kind of event the domain stores, through an in-memory application."""
    app = ThiduaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    world = World(app)
    for k in range(12):
        world.lifecycle(world.assign(k), k)
    for k in range(80):
        world.apply(OPS[(k * 7) % len(OPS)], k, k % 50)
    # the timers' events and a deadline extension, on a target of their own
    t = world.assign(99)
    head = head_of(t.unit_id)
    t.extend_deadline(world.cmd(COMMITTEE), new_deadline=t.deadline + timedelta(days=3), reason="gia hạn",
                      decision=Decision("7/QĐ", date(2022, 1, 5), "UBND"))
    t.mark_overdue(Command("timer-1", SYSTEM, t.deadline_at + timedelta(seconds=1)), deadline_at=t.deadline_at)
    t.block(world.cmd(head), reason="vướng")
    t.auto_escalate(world.cmd(SYSTEM, timedelta(days=3)), block_no=t.blocks)
    t.remind_escalation(world.cmd(SYSTEM, timedelta(days=7)), escalation_no=1, reminder_no=1)
    t.resolve(world.cmd(COMMITTEE), directive="giao lại", reassign_to=world.unit_ids[-1],
              coordinating_unit_ids=[world.unit_ids[0]])
    head = head_of(t.unit_id)
    t.block(world.cmd(head), reason="lại vướng", help_needed="kinh phí")
    t.unblock(world.cmd(head), note="đã gỡ")
    t.reassign(world.cmd(SEC), unit_id=world.unit_ids[1], reason="điều chuyển")
    done = world.assign(98)  # completed, then reopened
    done.complete(world.cmd(head_of(done.unit_id)), result="xong")
    done.reopen(world.cmd(SEC), reason="chưa đạt")
    campaign = Campaign.create(Command("c-x", SEC, AT), campaign_id="c-x", name="X", starts_on=date(2022, 1, 1),
                               ends_on=date(2022, 12, 31), scoring=ScoringScale(Decimal("2"), Decimal("0.5"), 2))
    campaign.record_decision(Command("c-x-d", SEC, AT), Decision("12/QĐ", date(2022, 1, 2), "UBND", "Giao"))
    campaign.change_policy(Command("c-x-p", SEC, AT), Policy("PT2S", "P1D", "P3D"))
    campaign.change_rules(Command("c-x-r", SEC, AT), RewardRules((
        RewardForm("co", "Cờ thi đua", "collective", "cluster", 1, Decimal("0.95"), 0, 2, 1),)), effective_at=AT)
    campaign.close(Command("c-x-c", SEC, AT), reason="xong")
    user = User.create(Command("u-1", SEC, AT), user_id="u1", name="Kiểm tra", role=Role.INSPECTOR, unit_id=None,
                       token_hash="secret")
    user.revoke(Command("u-2", SEC, AT))
    world.save()
    app.save_changes(campaign, user)
    stored = [item for item in app.recorder.select_notifications(start=1, limit=1_000_000)]
    return app, stored


def test_fast_decoding_gives_the_events_the_mapper_gives_and_the_same_audit_payloads():
    app, stored = _stored_history()
    decoder = StoredDecoder(app.mapper)
    kinds = set()
    for item in stored:
        expected = app.mapper.to_domain_event(item)
        event, data = decoder.decode(item.originator_id, item.originator_version, item.topic, item.state)
        assert type(event) is type(expected) and vars(event) == vars(expected), item.topic
        assert stored_changes(data) == event_changes(expected)
        assert stored_reason(data) == event_reason(expected)
        # what the audit trail stores reads back as the changes of the decoded event
        assert loads(dumps(stored_changes(data))) == event_changes(expected)
        kinds.add(topic_info(item.topic)[1:3])
    assert {k for k, _ in kinds} == {"campaign", "unit", "target", "user"}
    assert ("campaign", "RulesChanged") in kinds
    assert {e for k, e in kinds if k == "target"} >= {
        "Assigned", "Started", "ProgressReported", "Blocked", "Unblocked", "Escalated", "EscalationReminded",
        "Resolved", "Completed", "Reopened", "DeadlineExtended", "Reassigned", "Cancelled", "DeadlinePassed"}


def test_a_value_object_measure_reads_as_its_fields():
    wrapped = {"_type_": "measure", "_data_": {"kind": "tỷ lệ", "goal": {"_type_": "decimal_str", "_data_": "95.5"},
                                               "unit": "%", "direction": "up"}}
    assert plain(wrapped) == {"kind": "tỷ lệ", "goal": 95.5, "unit": "%", "direction": "up"}
