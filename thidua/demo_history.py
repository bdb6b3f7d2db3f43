"""The 2022 drive of the demo, on 2022's calendar, brought in from its "old records".

The city's 2022 drive is set up as it happened (the campaign in early January, its
clusters and reward rules, Decisions 529, 934 and 937 on their days), then its targets'
past, from assignment in January–February through the year's work, is written as the
rows of a spreadsheet and recorded by the history import (api/history_import.py,
domain/history.py), as a secretariat starting with thidua mid-drive would bring in its
records; the campaign is closed on 31/12/2022. So `as_of` any day of 2022 shows a drive
in motion, and no timer ever runs for it: a closed drive's targets get no workflow.

Deterministic and idempotent: the same rows on every run, under one import id, and the
setup commands have fixed ids (`demo-2022:<step>`): a second run records nothing.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from thidua import demo_data as D
from thidua.api import history_import
from thidua.domain.campaign import Campaign, campaign_uuid
from thidua.domain.values import Actor, Cluster, Command, Policy, ScoringScale

IMPORT_ID = "demo-ho-so-2022"
OFFICE = "Văn phòng Thành ủy"
STARTS_ON, ENDS_ON = date(2022, 1, 1), date(2022, 12, 31)
DEADLINES = (date(2022, 6, 30), date(2022, 9, 30), date(2022, 10, 31), date(2022, 11, 30), date(2022, 12, 15))
# How the 97 targets of 2022 ended (dealt out deterministically).
STORIES = (("on_time", 64), ("blocked_on_time", 9), ("late", 14), ("never_completed", 7), ("cancelled", 3))
LAST_WORKING_DAY = date(2022, 12, 28)
COLUMNS = ("key", "action", "when", "who", "note", "percent", "unit_id", "title", "area", "deadline", "points",
           "decision_number", "decision_issued_on", "decision_issuer")


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(D.TIMEZONE))


@dataclass(frozen=True)
class PastRow:
    key: str
    action: str
    when: datetime
    who: str
    note: str = ""
    percent: str = ""
    target: D.TargetFact | None = None  # on the assign row
    deadline: date | None = None


def plan_rows() -> list[PastRow]:
    """The old records of 2022: every target's actions, in time order per target."""
    rng = random.Random(2022_12_31)
    stories = [name for name, count in STORIES for _ in range(count)]
    assert len(stories) == len(D.TARGETS), (len(stories), len(D.TARGETS))
    rng.shuffle(stories)
    rows: list[PastRow] = []
    for n, (fact, story) in enumerate(zip(D.TARGETS, stories, strict=True)):
        rows += _target_rows(fact, story, n, rng)
    return rows


def _target_rows(fact: D.TargetFact, story: str, n: int, rng: random.Random) -> list[PastRow]:
    decided = next(d.issued_on for d in D.DECISIONS if d.number == fact.decision)
    head = D.UNIT_BY_ID[fact.unit_id].head_title
    deadline = rng.choice(DEADLINES)
    assigned = _local(decided + timedelta(days=1), 8, n % 60)
    rows = [PastRow(fact.key, "assign", assigned, OFFICE, f"Theo Quyết định số {fact.decision}", target=fact,
                    deadline=deadline)]
    if story == "cancelled":
        return rows + [PastRow(fact.key, "cancel", _local(date(2022, 7, 15), 9), OFFICE,
                               "Điều chỉnh chỉ tiêu theo kết luận sơ kết 6 tháng")]
    started = assigned + timedelta(days=rng.randint(3, 15), hours=1)
    rows.append(PastRow(fact.key, "start", started, head, "Đã xây dựng kế hoạch, phân công cán bộ phụ trách"))
    middle = started + (_local(deadline, 9) - started) / 2
    rows.append(PastRow(fact.key, "report_progress", middle, head, "Báo cáo sơ kết tiến độ", percent="50"))
    last = middle
    if story == "blocked_on_time":
        blocked, unblocked = middle + timedelta(days=3), middle + timedelta(days=12)
        rows += [PastRow(fact.key, "block", blocked, head, "Chờ bố trí kinh phí thực hiện"),
                 PastRow(fact.key, "unblock", unblocked, head, "Đã được bố trí kinh phí")]
        last = unblocked
    if story == "never_completed":
        return rows
    if story == "late":
        day = min(deadline + timedelta(days=rng.randint(3, 25)), LAST_WORKING_DAY)
    else:
        day = deadline - timedelta(days=rng.randint(1, 10))
    done = max(_local(day, 16), last + timedelta(days=1))
    if story != "late":
        done = min(done, _local(deadline, 17))
    rows.append(PastRow(fact.key, "complete", done, head, "Hoàn thành chỉ tiêu được giao"))
    return rows


def records_csv(rows: list[PastRow]) -> bytes:
    """The rows as the secretariat's spreadsheet (the history import's CSV layout)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    decisions = {d.number: d for d in D.DECISIONS}
    for r in rows:
        values: dict[str, Any] = {"key": r.key, "action": r.action, "when": r.when.isoformat(), "who": r.who,
                                  "note": r.note, "percent": r.percent}
        if r.target is not None and r.deadline is not None:
            d = decisions[r.target.decision]
            values.update(unit_id=r.target.unit_id, title=r.target.title, area=r.target.area,
                          deadline=r.deadline.isoformat(), points=r.target.points, decision_number=d.number,
                          decision_issued_on=d.issued_on.isoformat(), decision_issuer=d.issuer)
        writer.writerow([values.get(c, "") for c in COLUMNS])
    return out.getvalue().encode()


def setup_campaign(app: Any, office: Actor, committee: Actor, rules: Any) -> Campaign:
    """The 2022 campaign as it was set up: in January, its decisions on their days."""
    def cmd(step: str, at: datetime, actor: Actor = office) -> Command:
        return Command(f"demo-2022:{step}", actor, at.astimezone(timezone.utc))

    if app.exists(campaign_uuid(D.HISTORY_CAMPAIGN_ID)):
        campaign = app.get_campaign(D.HISTORY_CAMPAIGN_ID)
    else:
        campaign = Campaign.create(cmd("campaign", _local(date(2022, 1, 5), 8)), campaign_id=D.HISTORY_CAMPAIGN_ID,
                                   name=D.HISTORY_CAMPAIGN_NAME, starts_on=STARTS_ON, ends_on=ENDS_ON,
                                   timezone=D.TIMEZONE, policy=Policy(escalate_after="P3D", resolution_sla="P7D",
                                                                      stale_after="P14D"),
                                   scoring=ScoringScale(on_time="1.0", late="0.5", reward_slots=1))
    for i, c in enumerate(D.CLUSTERS):
        campaign.set_cluster(cmd(f"cluster:{c.cluster_id}", _local(date(2022, 1, 6), 8, i)),
                             Cluster(c.cluster_id, c.name, c.head_unit_id, c.deputy_unit_id, c.member_unit_ids))
    campaign.change_rules(cmd("rules", _local(date(2022, 1, 6), 9), committee), rules)
    for fact in D.DECISIONS:
        campaign.record_decision(cmd(f"decision:{fact.number}", _local(fact.issued_on, 10)),
                                 D.decision_of(fact.number))
    app.save_changes(campaign)
    return campaign


def load_history(app: Any, office: Actor, committee: Actor, rules: Any, now: datetime) -> int:
    """Set up the 2022 campaign, import its past, close it at the year's end; the number of
    events the import recorded (0 when it was there already)."""
    campaign = setup_campaign(app, office, committee, rules)
    rows = history_import.read_rows("text/csv", records_csv(plan_rows()), D.TIMEZONE)
    errors, outcome = history_import.check_and_record(app, campaign, rows, office, IMPORT_ID, now, record=True)
    if errors:  # the demo's own records: a bug, not bad input
        raise RuntimeError(f"the demo's 2022 records were refused: {errors[:3]}")
    campaign = app.get_campaign(D.HISTORY_CAMPAIGN_ID)
    if campaign.close(Command("demo-2022:close", office, _local(ENDS_ON, 17).astimezone(timezone.utc)),
                      reason="Tổng kết đợt cao điểm thi đua năm 2022"):
        app.save_changes(campaign)
    return 0 if outcome is None else sum(p.events for p in outcome.played)


__all__ = ["IMPORT_ID", "load_history", "plan_rows", "records_csv", "setup_campaign"]
