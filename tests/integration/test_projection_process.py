"""`thidua projector` as a process: it follows the store live and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.integration.projection_conftest import (  # noqa: F401  (fixtures)
    World,
    scratch_app,
    scratch_database,
)

REPO = Path(__file__).resolve().parents[2]


def wait_until_projected(database_url: str, position: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(database_url) as conn:
                low = conn.execute("SELECT min(position) FROM projection_tracking").fetchone()[0]
            if low is not None and low >= position:
                return True
        except psycopg.errors.UndefinedTable:
            pass
        time.sleep(0.05)
    return False


def test_the_projector_command_follows_the_store_and_stops_on_sigterm(scratch_database, scratch_app):
    world = World(scratch_app)
    for k in range(20):
        world.lifecycle(world.assign(k), k)
    world.save()
    env = {**os.environ, "DATABASE_URL": scratch_database, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "thidua.cli", "projector"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_until_projected(scratch_database, scratch_app.max_position())
        world.lifecycle(world.assign(99), 99)  # a live update, announced by NOTIFY
        assert wait_until_projected(scratch_database, world.save(), timeout=10)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
