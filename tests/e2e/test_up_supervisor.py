"""The supervisor `thidua up` runs its children under, with real processes (no mocks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.processes import gone as _gone
from thidua.supervisor import ChildSpec, Supervisor

REPO = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    return _gone(pid, timeout=10.0)


def python(code: str, tmp_path: Path, name: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", textwrap.dedent(code)], dict(os.environ), cwd=tmp_path)


def until(condition, timeout: float = 15.0, step: float = 0.05):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(step)


SLEEPER = "import time\nwhile True: time.sleep(1)"


def test_a_crashed_child_is_reported_and_restarted_with_backoff(tmp_path: Path) -> None:
    reports: list[tuple[str, str]] = []
    crasher = python(
        """
        import sys, time
        print("starting up", flush=True)
        time.sleep(0.2)
        print("boom: the database went away", file=sys.stderr, flush=True)
        sys.exit(3)
        """,
        tmp_path,
        "crasher",
    )
    supervisor = Supervisor(
        [crasher, python(SLEEPER, tmp_path, "steady")],
        log_dir=tmp_path / "logs",
        report=lambda level, message: reports.append((level, message)),
        backoff_initial=0.2,
        backoff_max=0.8,
    )
    supervisor.start()
    steady_pid = supervisor.pids()["steady"]
    try:
        until(lambda: (supervisor.check(), len(supervisor.all_pids()["crasher"]) >= 4)[1])
    finally:
        supervisor.stop()
    crashes = [m for level, m in reports if level == "error"]
    assert len(crashes) >= 3
    assert "crasher exited with code 3" in crashes[0]
    assert "boom: the database went away" in crashes[0]  # the log's tail comes with the report
    assert "restarting in 0 s" in crashes[0] or "restarting in 1 s" in crashes[0]
    # the same crash again is reported on one line, without the repeated log tail
    assert "boom" not in crashes[1]
    assert len(set(supervisor.all_pids()["crasher"])) >= 4  # a new process each time
    assert supervisor.all_pids()["steady"] == [steady_pid]  # the healthy child was left alone
    assert supervisor.restarts()["crasher"] >= 3
    log = (tmp_path / "logs" / "crasher.log").read_text()
    assert log.count("=== ") >= 4 and "boom" in log


def test_backoff_doubles_and_is_capped(tmp_path: Path) -> None:
    supervisor = Supervisor(
        [python("import sys; sys.exit(1)", tmp_path, "fails")],
        log_dir=tmp_path / "logs",
        report=lambda level, message: None,
        backoff_initial=0.1,
        backoff_max=0.4,
    )
    supervisor.start()
    starts: list[float] = []
    try:
        seen = 0
        while len(starts) < 5:
            supervisor.check()
            pids = supervisor.all_pids()["fails"]
            if len(pids) > seen:
                seen = len(pids)
                starts.append(time.monotonic())
            time.sleep(0.01)
    finally:
        supervisor.stop()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4
    assert gaps[3] < 0.4 + 1.0  # capped at backoff_max (plus the child's own run time)


def test_stop_ends_every_child_and_grandchild_in_order(tmp_path: Path) -> None:
    order_file = tmp_path / "order"
    polite = """
        import signal, sys, time
        def bye(*_):
            with open({path!r}, "a") as fh:
                fh.write({name!r} + "\\n")
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        while True: time.sleep(0.1)
        """
    parent_of_grandchild = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(1)"])
        print(child.pid, flush=True)
        while True: time.sleep(1)
        """
    stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(0.1)"
    specs = [
        python(polite.format(path=str(order_file), name="worker"), tmp_path, "worker"),
        python(polite.format(path=str(order_file), name="api"), tmp_path, "api"),
        python(parent_of_grandchild, tmp_path, "spawner"),
        python(stubborn, tmp_path, "stubborn"),
    ]
    reports: list[str] = []
    supervisor = Supervisor(specs, log_dir=tmp_path / "logs", report=lambda level, m: reports.append(m),
                            stop_timeout=1.0)
    supervisor.start()
    pids = supervisor.pids()
    def printed_pid() -> int | None:
        lines = (tmp_path / "logs" / "spawner.log").read_text().split("\n")
        return next((int(line) for line in lines if line.strip().isdigit()), None)

    grandchild = until(printed_pid)
    time.sleep(0.3)  # let the children install their signal handlers
    assert psutil.pid_exists(grandchild)
    supervisor.stop(order=["api", "worker", "spawner", "stubborn"])
    for name, pid in pids.items():
        assert pid is not None and gone(pid), name
    assert gone(grandchild)
    assert order_file.read_text().split() == ["api", "worker"]
    assert any("stubborn did not stop within 1 s" in m for m in reports)
    supervisor.check()  # after stop, nothing is restarted
    assert all(pid is None for pid in supervisor.pids().values())


HOLDER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from thidua.supervisor import ChildSpec, Supervisor
    spec = ChildSpec("sleeper", [sys.executable, "-c", "import time\\nwhile True: time.sleep(1)"], dict(os.environ))
    sup = Supervisor([spec], log_dir=Path(sys.argv[1]))
    sup.start()
    print(json.dumps(sup.pids()), flush=True)
    time.sleep(600)
    """
)


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        pid = json.loads(holder.stdout.readline())["sleeper"]
        assert psutil.pid_exists(pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    assert gone(pid), "an orphaned child outlived its supervisor"


def test_child_names_must_be_unique(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        Supervisor([python(SLEEPER, tmp_path, "a"), python(SLEEPER, tmp_path, "a")], log_dir=tmp_path)
