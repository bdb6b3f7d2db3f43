"""`thidua up`'s lifecycle as an operator meets it, with real processes in a real terminal (a
pseudo-terminal whose session `thidua up` leads, as in a shell):

- the embedded Temporal dev server killed with SIGKILL is reaped (no zombie) and launched
  again on the same ports, and a timer that fell due while it was down fires after;
- closing the terminal (SIGHUP) stops every process, the embedded services included;
- a start after a run killed with SIGKILL ends what that run left and prints the same
  addresses (the Temporal ports are fixed).

The tests run in order on one data directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.processes import alive
from thidua import demo_data as D
from thidua.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
READY_WITHIN = 300.0  # a first start loads the demo
STOPPED_WITHIN = 60.0
ESCALATE_AFTER_SECONDS = 8
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")

pytestmark = pytest.mark.timeout(900)


def _become_terminal_session() -> None:
    """preexec_fn: a new session whose controlling terminal is the pty on stdin."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`thidua up` in a pseudo-terminal; what it prints is collected until the hang-up."""

    def __init__(self, env: dict[str, str]) -> None:
        master, slave = os.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "thidua.cli", "up"], cwd=REPO, env=env,
            stdin=slave, stdout=slave, stderr=slave, preexec_fn=_become_terminal_session, close_fds=True,
        )
        os.close(slave)
        self._master = master
        self._text: list[str] = []
        self._hang_up = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while not self._hang_up.is_set():
                ready, _, _ = select.select([self._master], [], [], 0.1)
                if ready:
                    try:
                        data = os.read(self._master, 65536)
                    except OSError:  # EIO: every process of the session closed the terminal
                        data = b""
                    if not data:
                        self._hang_up.wait()
                        break
                    self._text.append(data.decode("utf-8", errors="replace"))
        finally:
            os.close(self._master)  # the kernel hangs the terminal up: SIGHUP to its session

    def output(self) -> str:
        return ANSI.sub("", "".join(self._text))

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                time.sleep(0.3)
                raise AssertionError(f"`thidua up` exited ({self.process.returncode}) before {text!r}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n{self.output()}")
            time.sleep(0.1)

    def close(self) -> None:
        """Close the terminal window."""
        self._hang_up.set()
        self._reader.join(10)


@dataclass
class Setup:
    data_dir: Path
    env: dict[str, str]
    api_url: str
    temporal_port: int
    ui_port: int
    terminals: list[Terminal] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Terminal:
        terminal = Terminal(self.env)
        self.terminals.append(terminal)
        return terminal

    def state(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "up.json").read_text())

    def token(self, user_id: str) -> str:
        return json.loads((self.data_dir / "demo-tokens.json").read_text())[user_id]

    def request(self, method: str, path: str, user_id: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user_id)}"}
        return httpx.request(method, f"{self.api_url}{path}", headers=headers, timeout=60, **kw)


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    data_dir = Path(tempfile.mkdtemp(prefix="thl", dir="/tmp"))  # short: the PG socket lives in it
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("THIDUA_", "TEMPORAL_")) and k.upper() != "DATABASE_URL"}
    env.update(
        THIDUA_DATA_DIR=str(data_dir), THIDUA_API_PORT=str(api_port), THIDUA_TEMPORAL_PORT=str(temporal_port),
        THIDUA_TEMPORAL_UI_PORT=str(ui_port), THIDUA_LOG_LEVEL="INFO", PYTHONPATH=str(REPO), TERM="xterm",
    )
    s = Setup(data_dir, env, f"http://127.0.0.1:{api_port}", temporal_port, ui_port)
    try:
        yield s
    finally:
        for terminal in s.terminals:
            if terminal.process.poll() is None:
                terminal.process.send_signal(signal.SIGINT)
                try:
                    terminal.process.wait(60)
                except subprocess.TimeoutExpired:
                    terminal.process.kill()
            terminal.close()
        for proc in processes_using(data_dir):  # whatever a failed test left
            with_suppressed(proc.kill)
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)


def with_suppressed(fn: Any) -> None:
    try:
        fn()
    except psutil.Error:
        pass


def processes_using(data_dir: Path) -> list[psutil.Process]:
    """Live processes whose command line names the data directory (Temporal, PostgreSQL)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and str(data_dir) in " ".join(proc.info["cmdline"] or ()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def until(what: str, condition: Any, timeout: float, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(step)


def hold_port(port: int) -> socket.socket:
    """Listen on `port` as soon as the killed server has let it go (so no restart can take it)."""
    def bound() -> socket.socket | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the dead server's clients' TIME_WAITs
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            return None
        sock.listen()
        return sock

    return until(f"port {port} free after the kill", bound, timeout=10, step=0.01)


def addresses(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.startswith(("API ", "Temporal UI", "Temporal "))]


def target_status(setup: Setup, tid: str) -> str:
    response = setup.request("GET", f"/v1/targets/{tid}", "nguyen-ngoc-binh")
    assert response.status_code == 200, response.text
    return response.json()["status"]


# ------------------------------------------------------------------------------------------


def test_a_killed_temporal_server_is_restarted_and_the_timers_due_meanwhile_fire(setup: Setup) -> None:
    terminal = setup.start()
    terminal.wait_for("thidua is up.", READY_WITHIN)
    setup.facts["addresses"] = addresses(terminal.output())
    assert f"Temporal UI  http://127.0.0.1:{setup.ui_port}" in setup.facts["addresses"], terminal.output()
    state = setup.state()
    assert state["temporal_address"] == f"127.0.0.1:{setup.temporal_port}"

    # A blocked target escalates ESCALATE_AFTER_SECONDS after it was blocked.
    campaign = f"/v1/campaigns/{D.CAMPAIGN_ID}"
    policy = setup.request("GET", campaign, "secretariat").json()["policy"]
    policy = {k: policy[k] for k in ("resolution_sla", "stale_after")} | {"escalate_after": f"PT{ESCALATE_AFTER_SECONDS}S"}
    response = setup.request("PUT", f"{campaign}/policy", "secretariat", json=policy)
    assert response.status_code == 200, response.text
    listed = setup.request("GET", f"{campaign}/targets", "head-ngo-quyen",
                           params={"unit_id": "ngo-quyen", "status": "in_progress", "limit": 1})
    tid = listed.json()["items"][0]["id"]
    response = setup.request("POST", f"/v1/targets/{tid}/block", "head-ngo-quyen", json={"reason": "Chờ phê duyệt"})
    assert response.status_code == 200, response.text
    due = time.monotonic() + ESCALATE_AFTER_SECONDS  # blocked before this answer: due no later

    # The dev server dies; its port stays taken, so it cannot come back before the timer is due.
    old = state["embedded"]["temporal"]
    os.kill(old, signal.SIGKILL)
    held = hold_port(setup.temporal_port)
    try:
        terminal.wait_for("the Temporal dev server was killed by signal 9; restarting it", 30)
        until("the killed server reaped (no zombie)", lambda: not psutil.pid_exists(old), timeout=30)
        terminal.wait_for("the Temporal dev server could not start", 30)
        until("the timer due", lambda: time.monotonic() > due + 1, timeout=ESCALATE_AFTER_SECONDS + 5)
        assert target_status(setup, tid) == "blocked"  # due, and nothing could fire it
    finally:
        held.close()

    terminal.wait_for("the Temporal dev server runs again", 60)
    state = setup.state()
    new = state["embedded"]["temporal"]
    assert new != old and alive(new)
    assert state["temporal_address"] == f"127.0.0.1:{setup.temporal_port}"
    until("the overdue escalation fired", lambda: target_status(setup, tid) == "escalated", timeout=120, step=0.5)


def test_closing_the_terminal_stops_every_process(setup: Setup) -> None:
    terminal = setup.terminals[0]
    state = setup.state()
    pids = {**{f"child {k}": v for k, v in state["children"].items()},
            **{f"embedded {k}": v for k, v in state["embedded"].items()}, "thidua up": terminal.process.pid}
    assert all(isinstance(p, int) and alive(p) for p in pids.values()), pids
    terminal.close()
    try:
        terminal.process.wait(STOPPED_WITHIN)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"`thidua up` did not stop within {STOPPED_WITHIN:.0f} s after SIGHUP") from None
    until("every process gone", lambda: not any(alive(p) for p in pids.values()), timeout=15)
    assert not processes_using(setup.data_dir)
    assert not (setup.data_dir / "up.json").exists()


def test_a_start_after_a_killed_run_cleans_up_and_prints_the_same_addresses(setup: Setup) -> None:
    killed = setup.start()
    killed.wait_for("thidua is up.", READY_WITHIN)
    assert addresses(killed.output()) == setup.facts["addresses"]
    left = setup.state()["embedded"]["temporal"]
    killed.process.kill()
    killed.process.wait(10)
    killed.close()
    assert alive(left)  # the dev server outlives a killed `thidua up`...

    terminal = setup.start()
    terminal.wait_for("thidua is up.", READY_WITHIN)
    text = terminal.output()
    assert f"stopped the Temporal dev server (pid {left}) an earlier run left running" in text  # ...until the next start
    assert not alive(left)
    assert addresses(text) == setup.facts["addresses"]
    assert setup.request("GET", "/v1/me", "secretariat").status_code == 200

    terminal.process.send_signal(signal.SIGINT)
    assert terminal.process.wait(STOPPED_WITHIN) == 0
    terminal.close()
    until("nothing left running on the data directory", lambda: not processes_using(setup.data_dir), timeout=15)
