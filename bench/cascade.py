"""The cascade's rollup lag: how long a parent with many children takes to show its
rollup after a child's event (the issue's "a rollup of a parent with 1,000 children
updated within the P4 live-lag goal").

A parent and `children` children are saved through the domain application; the real
projector (`thidua.projections.projector.Projector`, following the store by NOTIFY as
`thidua projector` does) runs while, one round at a time, a child completes and the
clock runs from its save until `target_rollups` shows it (the parent's row recomputed
from all its children's rows). The last round completes the last open child.

    from bench.cascade import rollup_lag
    figures = await rollup_lag(database_url)          # an empty database of its own
    # {"children": 1000, "rounds": 20, "p50": s, "p99": s, "max": s, "last_child": s}

or from the shell, on a scratch database of a PostgreSQL server:

    .venv/bin/python -m bench.cascade --database-url postgresql://root@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg

from thidua.dburl import asyncpg_dsn, eventsourcing_env
from thidua.domain.application import new_application
from thidua.domain.campaign import Campaign, Unit
from thidua.domain.target import Target
from thidua.domain.values import Actor, Command, Role

from bench.spec import ALL, Goal, Spec

# The P4 live-lag goal (bench.figures: P4.lag_p99 < 500 ms) applies to a parent of 1,000 children.
SPECS: tuple[Spec, ...] = (
    Spec("C.rollup_lag_p50", "rollup of a parent with 1,000 children after a child's event, p50", "ms",
         modes=ALL),
    Spec("C.rollup_lag_p99", "rollup of a parent with 1,000 children after a child's event, p99", "ms",
         goal=Goal("<", 500), modes=ALL),
)
SIZES = {"smoke": (50, 5), "default": (1000, 20), "large": (1000, 20)}  # mode -> (children, rounds)

OFFICE = Actor("bench-office", "Văn phòng Thành ủy", Role.SECRETARIAT)
POLL = 0.002  # seconds between looks at the rollup (the figure's resolution)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _Drive:
    """A campaign with a parent target and its children, saved through the domain."""

    def __init__(self, app: Any, children: int) -> None:
        self.app, self.tag, self.n = app, secrets.token_hex(3), 0
        self.clock = datetime.now(timezone.utc) - timedelta(days=1)
        cid = f"bench-cascade-{self.tag}"
        campaign = Campaign.create(self._cmd(OFFICE), campaign_id=cid, name="Cụ thể hóa", starts_on=date(2022, 1, 1),
                                   ends_on=date.today() + timedelta(days=365))
        self.unit = Unit.register(self._cmd(OFFICE), unit_id=f"ward-{self.tag}", name="Phường", kind="ward")
        self.head = Actor(f"head-{self.tag}", "Bí thư", Role.UNIT_HEAD, self.unit.unit_id)
        deadline = date.today() + timedelta(days=90)
        self.parent = Target.assign(self._cmd(OFFICE), campaign_id=cid, unit_id=self.unit.unit_id, title="Cha",
                                    area="GPMB", deadline=deadline, points=Decimal(100), timezone=campaign.timezone,
                                    key="parent")
        self.children = [
            Target.assign(self._cmd(OFFICE), campaign_id=cid, unit_id=self.unit.unit_id, title=f"Con {i}",
                          area="GPMB", deadline=deadline, points=Decimal(1 + i % 5), timezone=campaign.timezone,
                          key=f"child-{i}", parent_id=str(self.parent.id))
            for i in range(children)
        ]
        everything = [campaign, self.unit, self.parent, *self.children]
        for i in range(0, len(everything), 500):
            app.save_changes(*everything[i:i + 500])

    def _cmd(self, actor: Actor) -> Command:
        self.n += 1
        self.clock += timedelta(seconds=1)
        return Command(f"bench-cascade-{self.tag}-{self.n}", actor, self.clock)

    def complete(self, child: Target) -> int:
        child.complete(self._cmd(self.head), result="Xong")
        return int(self.app.save_changes(child))


async def measure(ctx: Any) -> None:
    """The group's figures in a run: thidua's own projector process (ctx.stack) follows the
    store, as it does in production, while the children complete."""
    children, rounds = SIZES[ctx.run.profile.mode]
    figures = await rollup_lag(ctx.database_url, children=children, rounds=rounds, own_projector=False)
    detail = {"children": children, "rounds": rounds, "max_ms": round(figures["max"] * 1000, 1),
              "last_child_ms": round(figures["last_child"] * 1000, 1)}
    ctx.run.results.put("C.rollup_lag_p50", figures["p50"] * 1000, **detail)
    ctx.run.results.put("C.rollup_lag_p99", figures["p99"] * 1000, **detail)


async def rollup_lag(database_url: str, *, children: int = 1000, rounds: int = 20,
                     own_projector: bool = True) -> dict[str, Any]:
    """Seconds from a child's completion being stored to its parent's rollup showing it,
    with `children` children (the projector following live: one started here, or, with
    `own_projector=False`, the one already running); `rounds` children complete one after
    the other, the last of them the last open child."""
    from thidua.projections.projector import Projector

    app = new_application(eventsourcing_env(database_url))
    try:
        drive = await asyncio.to_thread(_Drive, app, children)
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            async with Projector(database_url) if own_projector else contextlib.nullcontext():
                await _wait_rollup(conn, drive.parent.id, completed=0)
                # All but `rounds` children complete unmeasured, so the last round closes the tree.
                for child in drive.children[:children - rounds]:
                    await asyncio.to_thread(drive.complete, child)
                await _wait_rollup(conn, drive.parent.id, completed=children - rounds)
                lags = []
                for done, child in enumerate(drive.children[children - rounds:], start=children - rounds + 1):
                    await asyncio.to_thread(drive.complete, child)
                    started = time.perf_counter()
                    await _wait_rollup(conn, drive.parent.id, completed=done)
                    lags.append(time.perf_counter() - started)
        finally:
            await conn.close()
    finally:
        app.close()
    return {"children": children, "rounds": rounds, "p50": _quantile(lags, 0.5), "p99": _quantile(lags, 0.99),
            "max": max(lags), "last_child": lags[-1]}


async def _wait_rollup(conn: asyncpg.Connection, parent_id: Any, *, completed: int, timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        seen = await conn.fetchval(
            "SELECT completed_on_time + completed_late FROM public.target_rollups WHERE target_id = $1", parent_id)
        if seen is not None and seen >= completed:
            return
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the rollup did not show {completed} completed children in {timeout}s")
        await asyncio.sleep(POLL)


def main() -> None:
    from bench.services import fresh_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://root@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server to create the scratch database on")
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with fresh_database(args.database_url) as url:
        print(json.dumps(asyncio.run(rollup_lag(url, children=args.children, rounds=args.rounds)), indent=2))


if __name__ == "__main__":
    main()
