"""Helpers for the projection tests: scratch databases, histories written through the
domain application, and read-model comparison.

Imported by tests/integration/test_projection_*.py (fixtures are re-exported there).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from thidua.domain.application import ThiduaApplication, new_application
from thidua.domain.campaign import Campaign, Unit
from thidua.domain.errors import DomainError
from thidua.domain.scoring import RewardForm, RewardRules
from thidua.domain.target import Target
from thidua.domain.values import SYSTEM, Actor, Cluster, Command, Role, ScoringScale
from thidua.projections.codec import loads
from thidua.projections.schema import GROUPS, qident
from tests.databases import fresh_database
from thidua.dburl import asyncpg_dsn, eventsourcing_env

SECRETARIAT = Actor("sec-1", "Thư ký Hội đồng", Role.SECRETARIAT)
COMMITTEE = Actor("sc-1", "Thường trực", Role.STANDING_COMMITTEE)
T0 = datetime(2022, 1, 3, 1, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def scratch_database(postgres_server_url: str) -> Iterator[str]:
    """A database of this module's own (tests here corrupt or lock the event store)."""
    with fresh_database(postgres_server_url, "thidua_proj") as url:
        yield url


@pytest.fixture(scope="module")
def scratch_app(scratch_database: str) -> Iterator[ThiduaApplication]:
    app = new_application(eventsourcing_env(scratch_database))
    yield app
    app.close()


def head_of(unit_id: str) -> Actor:
    return Actor(f"head-{unit_id}", f"Trưởng {unit_id}", Role.UNIT_HEAD, unit_id)


TARGET_OPS = (
    "assign", "start", "progress", "block", "unblock", "escalate", "auto_escalate", "remind_escalation",
    "resolve", "resolve_reassign", "complete", "reopen", "extend", "reassign", "cancel", "mark_overdue",
    "remind_stale", "replay", "complete_by_children", "reopen_by_child",
)
CATALOG_OPS = ("bonus", "scoring", "rules", "rename_unit", "move_unit")
# Lifecycle commands far more often than campaign changes, as in real use.
OPS = TARGET_OPS * 4 + CATALOG_OPS


def rules_for(k: int) -> RewardRules:
    """Some reward rules (none for one k in five): a flag per cluster, a campaign-wide
    Bằng khen on even k, an individual form that marks no unit."""
    if k % 5 == 0:
        return RewardRules()
    forms = [
        RewardForm("co", "Cờ thi đua", "collective", "cluster", 1, Decimal(k % 4) / 4, k % 2, 3, 1 + k % 2),
        RewardForm("giay-khen", "Giấy khen", "collective", "cluster", 1 + k % 3, Decimal("0.25"), 2, 5, None),
        RewardForm("ca-nhan", "Giấy khen cá nhân", "individual", "cluster", 5, Decimal(0), 0, 0, None),
    ]
    if k % 2 == 0:
        forms.append(RewardForm("bang-khen", "Bằng khen", "collective", "campaign", 2, Decimal("0.5"), 1, 9, 3))
    return RewardRules(tuple(forms))


class World:
    """One campaign with two clusters of three units, and targets driven through the
    domain's own commands (invalid ones are refused by the domain and skipped)."""

    def __init__(self, app: ThiduaApplication, *, units: int = 6, start: datetime = T0, parents: bool = False) -> None:
        self.app = app
        self.parents = parents  # one target in three makes an earlier one concrete (rollups to project)
        self.tag = secrets.token_hex(4)
        self.campaign_id = f"c-{self.tag}"
        self.clock = start
        self.n = 0
        self.unit_ids = [f"u{i}-{self.tag}" for i in range(units)]
        self.targets: list[Target] = []
        self.units: dict[str, Unit] = {}
        self.dirty: dict[int, Any] = {}
        self.last: tuple[Any, ...] | None = None
        self.campaign = Campaign.create(
            self.cmd(SECRETARIAT), campaign_id=self.campaign_id, name=f"Thi đua {self.tag}",
            starts_on=date(2022, 1, 1), ends_on=date(2022, 12, 31), scoring=ScoringScale(),
        )
        for u in self.unit_ids:
            self.units[u] = Unit.register(self.cmd(SECRETARIAT), unit_id=u, name=f"Đơn vị {u}", kind="phường")
            self.touch(self.units[u])
        half = units // 2
        self.clusters = [self.unit_ids[:half], self.unit_ids[half:]]
        for i, members in enumerate(self.clusters):
            self.campaign.set_cluster(self.cmd(SECRETARIAT), Cluster(f"k{i}", f"Cụm {i}", members[0], members[1],
                                                                     tuple(members[2:])))
        self.touch(self.campaign)
        self.save()

    # ------------------------------------------------------------------ plumbing
    def cmd(self, actor: Actor, advance: timedelta = timedelta(minutes=7)) -> Command:
        self.n += 1
        self.clock += advance
        return Command(f"{self.tag}-{self.n}", actor, self.clock)

    def touch(self, aggregate: Any) -> None:
        self.dirty[id(aggregate)] = aggregate

    def save(self) -> int | None:
        aggregates = list(self.dirty.values())
        self.dirty.clear()
        last = None
        for i in range(0, len(aggregates), 200):  # bounded saves (one huge save can stall)
            last = self.app.save_changes(*aggregates[i:i + 200]) or last
        return last

    # ------------------------------------------------------------------ commands
    def assign(self, k: int) -> Target:
        unit = self.unit_ids[k % len(self.unit_ids)]
        deadline = date(2022, 1, 10) + timedelta(days=(k * 5) % 90)
        parent = self.targets[k % len(self.targets)] if self.parents and self.targets and k % 3 == 1 else None
        target = Target.assign(
            self.cmd(SECRETARIAT), campaign_id=self.campaign_id, unit_id=unit, title=f"Chỉ tiêu {k}",
            area="kinh tế", deadline=deadline, points=Decimal(1 + k % 7) * Decimal("2.5"),
            timezone="Asia/Ho_Chi_Minh", key=f"{self.tag}-t{len(self.targets)}",
            parent_id=None if parent is None else str(parent.id),
        )
        self.targets.append(target)
        self.touch(target)
        return target

    def apply(self, op: str, k: int, minutes: int) -> bool:
        """Try one command; False when the domain refuses it."""
        self.clock += timedelta(minutes=minutes)
        try:
            return self._apply(op, k)
        except DomainError:
            return False

    def _apply(self, op: str, k: int) -> bool:
        if op == "assign" or not self.targets:
            self.assign(k)
            return True
        if op == "bonus":
            unit = self.unit_ids[k % len(self.unit_ids)]
            self.touch(self.campaign)
            return self.campaign.award_bonus(self.cmd(COMMITTEE), unit, Decimal(k % 5 - 2) or 1, f"thưởng {k}")
        if op == "scoring":
            self.touch(self.campaign)
            scale = ScoringScale(on_time=Decimal(1 + k % 3), late=Decimal(k % 2) / 2, reward_slots=k % 3)
            return self.campaign.change_scoring(self.cmd(COMMITTEE), scale)
        if op == "rules":
            self.touch(self.campaign)
            return self.campaign.change_rules(self.cmd(COMMITTEE), rules_for(k),
                                              effective_at=self.clock - timedelta(hours=k % 48))
        if op == "rename_unit":
            unit = self.units[self.unit_ids[k % len(self.unit_ids)]]
            self.touch(unit)
            return unit.update(self.cmd(SECRETARIAT), name=f"Đơn vị {unit.unit_id} ({k})", kind="xã")
        if op == "move_unit":
            return self._move_unit(k)
        t = self.targets[k % len(self.targets)]
        self.touch(t)
        head = head_of(t.unit_id)
        if op == "replay" and self.last is not None:
            target, method, cmd, kwargs = self.last
            return getattr(target, method)(cmd, **kwargs)
        call = {
            "start": ("start", head, {}),
            "progress": ("report_progress", head, {"percent": Decimal(k % 101)}),
            "block": ("block", head, {"reason": f"vướng {k}", "help_needed": "kinh phí"}),
            "unblock": ("unblock", head, {"note": "đã gỡ"}),
            "escalate": ("escalate", head, {"reason": "xin ý kiến"}),
            "auto_escalate": ("auto_escalate", SYSTEM, {"block_no": t.blocks}),
            "remind_escalation": ("remind_escalation", SYSTEM, {
                "escalation_no": t.escalation_count,
                "reminder_no": (t.escalation or {}).get("reminders", 0) + 1}),
            "resolve": ("resolve", COMMITTEE, {"directive": f"chỉ đạo {k}",
                                               "new_deadline": t.deadline + timedelta(days=10) if k % 2 else None}),
            "resolve_reassign": ("resolve", COMMITTEE, {"directive": "giao lại", "reassign_to": self._other_unit(t, k)}),
            "complete": ("complete", head, {"result": "xong", "evidence": "biên bản"}),
            "reopen": ("reopen", SECRETARIAT, {"reason": "chưa đạt"}),
            "extend": ("extend_deadline", COMMITTEE, {"new_deadline": t.deadline + timedelta(days=1 + k % 20),
                                                      "reason": "gia hạn"}),
            "reassign": ("reassign", SECRETARIAT, {"unit_id": self._other_unit(t, k), "reason": "điều chuyển"}),
            "cancel": ("cancel", SECRETARIAT, {"reason": "bỏ"}),
            "mark_overdue": ("mark_overdue", SYSTEM, {"deadline_at": t.deadline_at}),
            "remind_stale": ("remind_stale", SYSTEM, {"since": t.last_activity_at}),
            "complete_by_children": ("complete_by_children", SYSTEM, {"late": k % 2 == 0, "children": [
                {"target_id": str(self.targets[0].id), "position": 1 + k, "report_class": "completed_on_time"}]}),
            "reopen_by_child": ("reopen_by_child", SYSTEM, {"child_id": str(self.targets[0].id), "position": 1 + k}),
        }.get(op)
        if call is None:
            return False
        method, actor, kwargs = call
        cmd = self.cmd(actor, advance=timedelta(0))
        done = getattr(t, method)(cmd, **kwargs)
        self.last = (t, method, cmd, kwargs)
        return done

    def lifecycle(self, t: Target, k: int) -> None:
        """A typical life: started, progress, blocked, escalated, resolved, then
        completed or cancelled (8 events with the assignment)."""
        head = head_of(t.unit_id)
        t.start(self.cmd(head))
        t.report_progress(self.cmd(head), percent=Decimal(40))
        t.block(self.cmd(head), reason="thiếu kinh phí")
        if k % 3:
            t.escalate(self.cmd(head), reason="xin hỗ trợ")
        else:
            t.auto_escalate(self.cmd(SYSTEM, timedelta(days=3)), block_no=t.blocks)
        t.resolve(self.cmd(COMMITTEE), directive="cấp bổ sung")
        t.report_progress(self.cmd(head), percent=Decimal(90))
        if k % 5:
            t.complete(self.cmd(head), result="đạt")
        else:
            t.cancel(self.cmd(SECRETARIAT), reason="điều chỉnh kế hoạch")
        self.touch(t)

    def _other_unit(self, t: Target, k: int) -> str:
        others = [u for u in self.unit_ids if u != t.unit_id]
        return others[k % len(others)]

    def _move_unit(self, k: int) -> bool:
        """Move a plain member from one cluster to the other (two ClusterSet events)."""
        src, dst = (0, 1) if k % 2 else (1, 0)
        if len(self.clusters[src]) <= 2:
            return False
        unit = self.clusters[src][-1]
        self.clusters[src] = self.clusters[src][:-1]
        self.clusters[dst] = [*self.clusters[dst], unit]
        self.touch(self.campaign)
        for i in (src, dst):
            m = self.clusters[i]
            self.campaign.set_cluster(self.cmd(SECRETARIAT), Cluster(f"k{i}", f"Cụm {i}", m[0], m[1], tuple(m[2:])))
        return True


# ---------------------------------------------------------------------- comparison
def _normal(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return loads(value)
        except ValueError:
            return value
    return value


async def table_rows(conn: asyncpg.Connection, schema: str, table: str) -> list[tuple[Any, ...]]:
    rows = await conn.fetch(f"SELECT * FROM {qident(schema)}.{qident(table)}")
    return sorted((tuple(_normal(v) for v in r.values()) for r in rows), key=repr)


async def read_models(conn: asyncpg.Connection, schema: str) -> dict[str, Any]:
    """Every read-model table's rows and the tracking positions of `schema`."""
    out: dict[str, Any] = {}
    for tables in GROUPS.values():
        for table in tables:
            out[table] = await table_rows(conn, schema, table)
    rows = await conn.fetch(f"SELECT name, position FROM {qident(schema)}.projection_tracking")
    out["projection_tracking"] = {r["name"]: r["position"] for r in rows}
    return out


async def fresh_rebuild(database_url: str, schema: str = "thidua_check") -> dict[str, Any]:
    """Project the whole store from scratch into `schema` and read it back."""
    from thidua.projections.rebuild import build_into_schema
    from thidua.projections.schema import GROUPS as ALL

    dsn = asyncpg_dsn(database_url)
    conn, side = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        # With `dsn`, the audit trail is filled by a second process, as `thidua
        # projections rebuild` fills it (without aggregates: thidua.projections.identity).
        await build_into_schema(conn, side, schema, list(ALL), dsn=dsn)
        models = await read_models(conn, schema)
        await conn.execute(f"DROP SCHEMA {qident(schema)} CASCADE")
        return models
    finally:
        await side.close()
        await conn.close()


def assert_same_models(live: dict[str, Any], rebuilt: dict[str, Any]) -> None:
    for table in live:
        assert live[table] == rebuilt[table], f"read model {table} differs from a fresh rebuild"


async def create_read_models(database_url: str) -> None:
    from thidua.projections.schema import ensure_schema

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await ensure_schema(conn)
    finally:
        await conn.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
