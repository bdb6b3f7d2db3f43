"""What a run needs running: a fresh database, a Temporal dev server, thidua's processes.

- `fresh_database()`: a new database `thidua_bench_<hex>` on $DATABASE_URL's server, else
  on the local PostgreSQL at 127.0.0.1:5432, else on an embedded PostgreSQL; dropped after.
- `temporal_server()`: a headless Temporal dev server (`EmbeddedTemporal`, SQLite in WAL
  mode) in a fresh directory.
- `Process`: one child (`python -m thidua.cli worker|projector|api`, or the trivial
  worker) with its log file, its peak RSS (sampled, and the kernel's high-water mark) and a
  clean stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from thidua.dburl import with_database

LOCAL_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/postgres"
TASK_QUEUE = "thidua-bench"  # thidua's task queue in a bench run
REPO_ROOT = Path(__file__).resolve().parent.parent


def _answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
            conn.execute("select 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not this one"
        return False


@contextlib.contextmanager
def postgres_server(work_dir: Path) -> Iterator[str]:
    """URL of a server to create databases on: $DATABASE_URL's, else the local one at
    127.0.0.1:5432 if it answers, else an embedded PostgreSQL under `work_dir` for as
    long as the context lasts. The test suite chooses its server the same way."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        yield url
        return
    if _answers(LOCAL_POSTGRES_URL):
        yield LOCAL_POSTGRES_URL
        return
    from thidua.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(work_dir / "pg").start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def fresh_database(server_url: str, *, keep: bool = False) -> Iterator[str]:
    """A new, empty database for this run; dropped (WITH FORCE) at the end unless `keep`."""
    import psycopg
    from psycopg import sql

    name = f"thidua_bench_{secrets.token_hex(5)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        if not keep:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def temporal_server(work_dir: Path) -> Iterator[Any]:
    """A fresh headless Temporal dev server (SQLite, WAL pragmas): `.address`, `.pid`."""
    from thidua.embedded import EmbeddedTemporal
    from thidua.workflows.search_attributes import CLI_TYPES

    server = EmbeddedTemporal(work_dir / "temporal", headless=True, search_attributes=CLI_TYPES).start()
    try:
        yield server
    finally:
        server.stop()


def database_backends(database_url: str) -> list[int]:
    """Pids of the PostgreSQL backends connected to this database right now."""
    import psycopg

    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
            me = conn.info.backend_pid
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()").fetchall()
        return [int(r[0]) for r in rows if int(r[0]) != me]
    except Exception:  # noqa: BLE001 - a measurement aid, never a reason to fail a run
        return []


@contextlib.contextmanager
def work_directory(keep: bool = False) -> Iterator[Path]:
    """A short temporary directory (Unix socket paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="thdb", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


try:  # resolved once here: the child's pre-exec hook must not import or dlopen after fork
    _PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _PRCTL = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the harness is killed, its children get SIGTERM instead of living on (Linux only).
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def thidua_env(database_url: str, temporal_address: str, data_dir: Path, *, api_port: int | None = None,
               task_queue: str = TASK_QUEUE, log_level: str = "WARNING") -> dict[str, str]:
    """The environment of a thidua process in this run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THIDUA_")}
    env.update({
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_NAMESPACE": "default",
        "THIDUA_DATA_DIR": str(data_dir),
        "THIDUA_TASK_QUEUE": task_queue,
        "THIDUA_LOG_LEVEL": log_level,
        "PYTHONUNBUFFERED": "1",
        # bench.notifications' webhook receiver listens on 127.0.0.1
        "THIDUA_WEBHOOKS_ALLOW_PRIVATE": "true",
    })
    if api_port is not None:
        env["THIDUA_API_PORT"] = str(api_port)
        env["THIDUA_API_HOST"] = "127.0.0.1"
    return env


class Process:
    """One child process, its log, and its peak RSS."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0  # bytes, sampled
        self.hwm_rss = 0  # bytes, the kernel's VmHWM read at the last sample
        self._sampler: threading.Thread | None = None
        self._stop_sampling = threading.Event()

    @classmethod
    def thidua(cls, name: str, subcommand: str, env: Mapping[str, str], log_dir: Path) -> Process:
        return cls(name, [sys.executable, "-m", "thidua.cli", subcommand], env, log_dir)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv, env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
        log.close()
        self._sampler = threading.Thread(target=self._sample, name=f"rss-{self.name}", daemon=True)
        self._sampler.start()
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited ({self.popen and self.popen.returncode}):\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _read_rss(self) -> None:
        try:
            proc = psutil.Process(self.pid)
            rss = proc.memory_info().rss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss += child.memory_info().rss
            self.peak_rss = max(self.peak_rss, rss)
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        self.hwm_rss = max(self.hwm_rss, int(line.split()[1]) * 1024)
        except (psutil.Error, OSError, ValueError):
            pass

    def _sample(self) -> None:
        while not self._stop_sampling.wait(0.25):
            if not self.alive():
                return
            self._read_rss()

    @property
    def peak_rss_mb(self) -> float:
        return max(self.peak_rss, self.hwm_rss) / (1024 * 1024)

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen is None:
            return
        if self.alive():
            self._read_rss()
        self._stop_sampling.set()
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def wait_until(predicate, timeout: float, what: str, *, interval: float = 0.1, check=None) -> None:  # type: ignore[no-untyped-def]
    """Poll `predicate()` until true; `check()` may raise (e.g. a child died)."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready within {timeout:.0f}s")
        time.sleep(interval)


def wait_idle(pid: int, idle_share: float = 0.05, window: float = 0.5, limit: float = 180.0) -> float:
    """Wait until process `pid` uses under `idle_share` of a CPU over `window` seconds (at
    most `limit` seconds); return how long that took. A stage that leaves work queued
    behind it (workflows whose first tasks still run) settles with this before the next
    stage measures anything."""
    process = psutil.Process(pid)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        before = sum(process.cpu_times()[:2])
        time.sleep(window)
        if sum(process.cpu_times()[:2]) - before < idle_share * window:
            break
    return round(time.perf_counter() - t0, 2)


class Profiler:
    """py-spy flame data of some processes while a stage runs (`--profile-dir`).

    Writes `<dir>/<stage>-<process>.txt` in py-spy's collapsed ("raw") format: one line per
    stack, frames separated by `;`, then the sample count. `bench.hotspots` summarises it.
    With BENCH_PYSPY_GIL=1 only the thread holding the GIL is sampled: the samples then
    follow Python's CPU time instead of including threads waiting on I/O or locks.
    """

    def __init__(self, out_dir: Path | None, stage: str, processes: Mapping[str, Process], rate: int = 200) -> None:
        self.out_dir = out_dir
        self.stage = stage
        self.processes = processes
        self.rate = rate
        self._spies: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Profiler:
        if self.out_dir is None:
            return self
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            raise RuntimeError("--profile-dir needs py-spy: pip install -e '.[bench]' (make bench installs it)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, proc in self.processes.items():
            if not proc.alive():
                continue
            out = self.out_dir / f"{self.stage}-{name}.txt"
            self._spies.append(subprocess.Popen(
                [spy, "record", "--pid", str(proc.pid), "--rate", str(self.rate), "--format", "raw",
                 "--output", str(out), "--nonblocking", *(["--gil"] if os.environ.get("BENCH_PYSPY_GIL") else [])],
                stdout=subprocess.DEVNULL, stderr=(self.out_dir / f"{self.stage}-{name}.log").open("wb"),
            ))
        return self

    def __exit__(self, *exc: object) -> None:
        for spy in self._spies:
            with contextlib.suppress(ProcessLookupError):
                spy.send_signal(signal.SIGINT)
        for spy in self._spies:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()


class CpuMeter:
    """CPU seconds (user + system) that each process of the run spends during a stage.

    `pids()` names the processes to watch (called at the start and at the end, so a database
    backend opened meanwhile is counted from its birth). `per_call(n)` divides by the calls
    the stage made: where one command's CPU goes on a machine where CPU is the limit.
    """

    def __init__(self, pids: Callable[[], Mapping[str, Sequence[int]]]) -> None:
        self.pids = pids
        self.start: dict[str, dict[int, float]] = {}
        self.end: dict[str, dict[int, float]] = {}

    def _sample(self) -> dict[str, dict[int, float]]:
        sample: dict[str, dict[int, float]] = {}
        for name, pids in self.pids().items():
            times = sample.setdefault(name, {})
            for pid in pids:
                try:
                    t = psutil.Process(pid).cpu_times()
                    times[pid] = t.user + t.system
                except psutil.Error:
                    pass
        return sample

    def __enter__(self) -> CpuMeter:
        self.start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end = self._sample()

    def seconds(self) -> dict[str, float]:
        return {
            name: sum(max(0.0, t - self.start.get(name, {}).get(pid, 0.0)) for pid, t in times.items())
            for name, times in self.end.items()
        }

    def per_call(self, calls: int) -> dict[str, float]:
        """Milliseconds of CPU per call, by process."""
        if calls <= 0:
            return {}
        return {name: round(1000 * secs / calls, 2) for name, secs in self.seconds().items()}
