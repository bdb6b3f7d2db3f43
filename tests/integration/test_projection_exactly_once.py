"""Exactly once: the read models built event by event, in batches, across restarts and
crashes, equal the read models rebuilt from scratch."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psycopg
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from thidua.domain.user import User
from thidua.domain.values import Role
from thidua.projections.audit import verify
from thidua.projections.projector import Projector
from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    OPS,
    SECRETARIAT,
    World,
    assert_same_models,
    create_read_models,
    fresh_rebuild,
    read_models,
    run,
    scratch_app,
    scratch_database,
)
from thidua.dburl import asyncpg_dsn

REPO = Path(__file__).resolve().parents[2]

operations = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 40), st.integers(0, 4 * 24 * 60)), min_size=3, max_size=50
)


async def live_models(database_url: str) -> dict:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await read_models(conn, "public")
    finally:
        await conn.close()


# No shrinking: each example replays the whole store, so shrinking would outlast the test
# timeout; a failing history (at most 50 commands) is printed as it was found.
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(ops=operations, saves=st.sets(st.integers(0, 49), max_size=6), batch_size=st.integers(1, 40))
def test_incremental_projection_equals_a_full_rebuild(scratch_database, scratch_app, ops, saves, batch_size):
    world = World(scratch_app, parents=True)  # rollups and the scoreboards' parents too

    async def scenario() -> None:
        # A new projector each time: it starts with a cold cache and must reload the
        # aggregates it meets mid-history from the store.
        projector = Projector(scratch_database, batch_size=batch_size)
        try:
            for i, (op, k, minutes) in enumerate(ops):
                world.apply(op, k, minutes)
                if i in saves:
                    world.save()
                    await projector.step()  # some progress between writes, not all
            world.save()
            await projector.catch_up()
        finally:
            await projector.close()
        assert_same_models(await live_models(scratch_database), await fresh_rebuild(scratch_database))

    run(scenario())


def _positions(database_url: str) -> tuple[int, int]:
    """(lowest, highest) tracking position."""
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT min(position), max(position) FROM projection_tracking").fetchone()


def test_a_projector_killed_twenty_times_during_a_catch_up_loses_nothing_and_counts_nothing_twice(
    scratch_database, scratch_app
):
    rng = random.Random(20)
    world = World(scratch_app, units=8)
    # recipients, so the outbox (the notifications group) is checked too
    people = [(f"sc{i}-{world.tag}", Role.STANDING_COMMITTEE, None) for i in range(2)]
    people += [(f"head-{u}", Role.UNIT_HEAD, u) for u in world.unit_ids]
    for user_id, role, unit in people:
        world.touch(User.create(world.cmd(SECRETARIAT), user_id=user_id, name=user_id, role=role, unit_id=unit,
                                token_hash="x", bootstrap=True))
    for k in range(2500):
        world.lifecycle(world.assign(k), k)
    world.save()
    head = scratch_app.max_position()
    run(create_read_models(scratch_database))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed_behind = 0
    for _ in range(20):
        _, before = _positions(scratch_database)
        proc = subprocess.Popen(
            [sys.executable, "-m", "thidua.projections.projector", "--database-url", scratch_database, "--batch-size", "100"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while _positions(scratch_database)[1] == before and before < head and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.05))  # somewhere inside a batch, or between two
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if _positions(scratch_database)[0] < head:
            killed_behind += 1
    assert killed_behind >= 15, "the projector should have been killed mid catch-up"

    async def finish() -> None:
        projector = Projector(scratch_database)
        try:
            assert await projector.catch_up() == head
        finally:
            await projector.close()
        assert_same_models(await live_models(scratch_database), await fresh_rebuild(scratch_database))
        verdict = await verify(scratch_database)
        assert verdict["ok"] and verdict["checked"] == head
        with psycopg.connect(scratch_database) as conn:  # one per escalation and member, no more
            escalated = conn.execute("SELECT count(*) FROM notifications WHERE kind = 'target.escalated'").fetchone()
        assert escalated == (2 * 2500,)

    run(finish())
