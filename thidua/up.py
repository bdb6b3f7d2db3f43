"""`thidua up`: everything on one machine, with one command.

1. PostgreSQL: DATABASE_URL, or the embedded server under `$THIDUA_DATA_DIR/pg`.
2. Temporal: TEMPORAL_ADDRESS, or the embedded dev server (with its web UI) under
   `$THIDUA_DATA_DIR/temporal`.
3. The event store's tables are created here, once, before the children race for them.
4. `thidua worker`, `thidua projector` and `thidua api` run as child processes under one
   `Supervisor`, with DATABASE_URL / TEMPORAL_ADDRESS of the services above (so they start
   none of their own); their logs go to `$THIDUA_DATA_DIR/logs/`. A crashed child is reported
   and restarted with backoff.
5. E-mail: THIDUA_SMTP_URL, or a local SMTP catcher (thidua.mailcatcher) whose mail lands
   in the Maildir `$THIDUA_DATA_DIR/mail`; the demo's Standing Committee members get
   escalations by e-mail there (their preferences are set if they have none).
6. Wait for the API's /healthz and for the worker to poll its task queue, then load the Vĩnh
   Yên 2022 demo if the store holds no campaign
   (or finish an interrupted load), and print the URLs and the demo users' tokens (also in
   `$THIDUA_DATA_DIR/demo-tokens.json`).
7. Ctrl-C, SIGINT, SIGTERM or SIGHUP (the terminal closed): stop the API, the projector and
   the worker (SIGTERM, then SIGKILL after a grace period; a second Ctrl-C does not wait), then
   the embedded Temporal and PostgreSQL. A second start reuses all the data.

The embedded Temporal dev server is supervised like the children: killed or crashed, it is
reaped and launched again on the same ports and database file (timers due meanwhile fire
then). Its ports are fixed (THIDUA_TEMPORAL_PORT / THIDUA_TEMPORAL_UI_PORT, default 7233 /
8233), so every start prints the same addresses. A start after a run that was killed
(SIGKILL, a crash) first cleans up what that run left: its children still alive, a Temporal
dev server that nothing holds any more (stopped, then launched anew), stale holder pids of
the embedded PostgreSQL (which is then reused).

While it runs, `$THIDUA_DATA_DIR/up.json` names the pids and URLs (for scripts and tests);
`$THIDUA_DATA_DIR/up.lock` keeps a second `thidua up` off the same data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.markup import escape

from thidua import bootstrap, demo, heartbeats
from thidua.domain.errors import NotFound
from thidua.domain.preferences import Preferences, preferences_uuid
from thidua.domain.values import Actor, Command, Role
from thidua.embedded import EmbeddedServiceError
from thidua.event_store import domain_application
from thidua.mailcatcher import DEMO_MAIL_DOMAIN, DEMO_MAIL_KINDS, MailCatcher
from thidua.settings import Settings
from thidua.supervisor import ChildSpec, Supervisor, tail
from thidua.workflows.client import TargetGateway, connect

HEALTH_TIMEOUT = 120.0  # seconds for /healthz to turn green after the children start
CHILDREN = ("worker", "projector", "api")
# SIGHUP: the terminal `make up` ran in was closed; stop as for Ctrl-C, or the embedded
# services would outlive it with their ports.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TEMPORAL_BACKOFF_MAX = 30.0  # seconds between two attempts to relaunch the dev server
STOP_ORDER = ("api", "projector", "worker")  # stop taking requests first, the worker last
DEMO_STOP_WAIT = 10.0
_PROJECT_ROOT = Path(__file__).resolve().parents[1]  # seconds a stop waits for the command the demo has in flight


class StartupFailed(Exception):
    """A step of `thidua up` failed; the message says which and what to do."""


class _Interrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM while a blocking startup step runs."""


def main(settings: Settings) -> int:
    return Up(settings).run()


class Up:
    def __init__(self, settings: Settings, console: Console | None = None) -> None:
        self.settings = settings
        # soft_wrap: long lines (tokens, paths, curl commands) must stay copyable, never broken
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.data_dir = Path(settings.data_dir).expanduser().absolute()
        self.stop_requested = threading.Event()
        self.force_stop = threading.Event()
        self.blocking = False  # True while a step that cannot poll the stop flag runs
        self.supervisor: Supervisor | None = None
        self.database_url = ""
        self.temporal_address = ""
        self.temporal_ui: str | None = None
        self.api_url = ""
        self.embedded: dict[str, int | None] = {}
        self._lock_fh: Any = None
        self._temporal_restart_at: float | None = None
        self._temporal_failures = 0
        self._elapsed: float | None = None
        self.demo_report: Any = None
        self.mail: MailCatcher | None = None
        self.smtp_url = settings.smtp_url or ""

    # ------------------------------------------------------------------ running

    def run(self) -> int:
        if self.settings.log_level != "DEBUG":
            # This console is for people: library chatter goes to the children's log files.
            logging.getLogger().setLevel(logging.WARNING)
        previous = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
        code = 0
        try:
            self._lock()
            self._reap_earlier_run()
            self._start_services()
            self._start_children()
            self._wait_healthy()
            self._demo_mail_preferences()
            self._load_demo()
            self._print_ready()
            self._supervise()
        except _Interrupted:
            pass
        except StartupFailed as exc:
            self.console.print(f"[bold red]✗[/] {escape(str(exc))}")
            code = 1
        finally:
            self._shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return code

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            # The terminal is gone: writing to it would fail (EIO) and cut the shutdown short.
            with contextlib.suppress(OSError):
                self.console.file = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
        if self.stop_requested.is_set():
            self.force_stop.set()  # a second Ctrl-C: stop without waiting for grace periods
            return
        self.stop_requested.set()
        if self.blocking:
            raise _Interrupted()

    @contextlib.contextmanager
    def _blocking_step(self, message: str) -> Any:
        """A step that cannot poll the stop flag: a signal interrupts it with an exception."""
        if self.stop_requested.is_set():
            raise _Interrupted()
        self.blocking = True
        started = time.monotonic()
        try:
            with self.console.status(message):
                yield
        finally:
            self.blocking = False
        self._elapsed = time.monotonic() - started

    def _done(self, what: str, detail: str = "") -> None:
        took = getattr(self, "_elapsed", None)
        suffix = f" [dim]({took:.1f} s)[/]" if took is not None else ""
        self.console.print(f"[green]✓[/] {what}{(' ' + detail) if detail else ''}{suffix}")
        self._elapsed = None

    # ------------------------------------------------------------------ steps

    def _lock(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupFailed(f"cannot create the data directory {self.data_dir}: {exc}") from exc
        path = self.data_dir / "up.lock"
        fh = path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            other = fh.read().strip() or "?"
            fh.close()
            raise StartupFailed(
                f"another `thidua up` (pid {other}) runs on {self.data_dir}; stop it first, "
                "or use another THIDUA_DATA_DIR"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_fh = fh
        self.console.print(f"[bold]thidua up[/] — data in {self.data_dir}")

    def _reap_earlier_run(self) -> None:
        """`up.json` outlives only a run that did not stop (SIGKILL, a crash): end the children
        of it that still run. (Its Temporal dev server and PostgreSQL are dealt with when they
        are started: see _start_services.)"""
        path = self.data_dir / "up.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            state = {}
        path.unlink(missing_ok=True)
        left = {}
        for name, pid in (state.get("children") or {}).items():
            if isinstance(pid, int) and _is_thidua_child(pid, name):
                left[name] = pid
        for pid in left.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # its own process group: the child and what it started
        if left:
            listed = ", ".join(f"{name} (pid {pid})" for name, pid in left.items())
            self.console.print(f"[yellow]![/] an earlier `thidua up` (pid {state.get('pid', '?')}) did not stop; "
                               f"ended what it left running: {listed}")

    def _start_services(self) -> None:
        s = self.settings
        if s.database_url:
            with self._blocking_step("Checking PostgreSQL at DATABASE_URL..."):
                self._check_database(s.database_url)
            self.database_url = s.database_url
            self._done("PostgreSQL", f"at DATABASE_URL ({_redact(s.database_url)})")
        else:
            with self._blocking_step("Starting the embedded PostgreSQL..."):
                self.database_url = self._resolve(bootstrap.resolve_database_url, "PostgreSQL")
            pg = bootstrap.embedded_service("pg")
            self.embedded["postgres"] = getattr(pg, "pid", None)
            self._done("PostgreSQL", f"embedded, in {self.data_dir / 'pg'}")

        if s.temporal_address:
            self.temporal_address = s.temporal_address
            self._done("Temporal", f"at TEMPORAL_ADDRESS ({s.temporal_address})")
        else:
            with self._blocking_step("Starting the embedded Temporal dev server..."):
                self.temporal_address = self._resolve(
                    lambda settings: bootstrap.resolve_temporal_address(settings, headless=False, adopt_orphans=False),
                    "Temporal",
                )
            server = bootstrap.embedded_service("temporal")
            for pid in getattr(server, "reaped", ()):
                self.console.print(f"[yellow]![/] stopped the Temporal dev server (pid {pid}) an earlier run left running")
            self.temporal_ui = getattr(server, "ui_url", None)
            self.embedded["temporal"] = getattr(server, "pid", None)
            self._done("Temporal", f"dev server at {self.temporal_address}")

        if not s.smtp_url:
            with self._blocking_step("Starting the local mail catcher..."):
                self.mail = self._resolve(lambda _: MailCatcher(self.data_dir / "mail").start(), "The mail catcher")
                self.smtp_url = self.mail.url
            self._done("Mail catcher", f"SMTP at {self.smtp_url}, mail kept in {self.mail.directory}")

        with self._blocking_step("Preparing the event store..."):
            # Created once here: three children creating the same tables at once can collide.
            self.domain_app = self._resolve(lambda _: domain_application(self.database_url), "the event store")
        self._done("Event store ready")

    def _resolve(self, fn: Any, what: str) -> Any:
        try:
            return fn(self.settings)
        except _Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as a failed step
            raise StartupFailed(f"{what} could not start: {exc}") from exc

    @staticmethod
    def _check_database(url: str) -> None:
        import psycopg

        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("select 1")
        except Exception as exc:  # noqa: BLE001
            raise StartupFailed(f"PostgreSQL at DATABASE_URL does not answer: {exc}") from exc

    def _start_children(self) -> None:
        s = self.settings
        host = s.api_host
        probe_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        if not _port_free(probe_host, s.api_port):
            raise StartupFailed(f"port {s.api_port} on {probe_host} is in use: stop what uses it or set THIDUA_API_PORT")
        self.api_url = f"http://{probe_host}:{s.api_port}"
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_NAMESPACE=s.temporal_namespace,
            THIDUA_DATA_DIR=str(self.data_dir),
            THIDUA_API_HOST=host,
            THIDUA_API_PORT=str(s.api_port),
            THIDUA_TASK_QUEUE=s.task_queue,
            THIDUA_LOG_LEVEL=s.log_level,
            PYTHONUNBUFFERED="1",
            _TYPER_STANDARD_TRACEBACK="1",  # plain tracebacks in the log files, not 80-column boxes
            # development on one machine: webhooks may point at a receiver on localhost
            THIDUA_WEBHOOKS_ALLOW_PRIVATE=os.environ.get("THIDUA_WEBHOOKS_ALLOW_PRIVATE") or "true",
        )
        if self.smtp_url:
            env["THIDUA_SMTP_URL"] = self.smtp_url
            env.setdefault("THIDUA_PUBLIC_URL", self.api_url)  # the links in the mails
        # The children import thidua the way this process did, whatever their working directory.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        specs = [ChildSpec(name, [sys.executable, "-m", "thidua.cli", name], env,
                           unhealthy=self._stuck_worker if name == "worker" else None) for name in CHILDREN]
        self.supervisor = Supervisor(specs, log_dir=self.data_dir / "logs", report=self._report)
        self.supervisor.start()
        self._write_state()
        self.console.print(f"[green]✓[/] worker, projector and api started [dim](logs in {self.data_dir / 'logs'})[/]")

    def _stuck_worker(self, pid: int) -> str | None:
        """A worker whose activity threads are all held is restarted (its heartbeat says so)."""
        return heartbeats.stuck_reason(self.database_url, heartbeats.WORKER, pid, self.settings.heartbeat_seconds)

    def _report(self, level: str, message: str) -> None:
        """What the supervisor tells: crashes and slow stops are shown; starts and stops
        are summarised by the steps themselves. Every report may mean new pids."""
        if level != "info":
            style = "red" if level == "error" else "yellow"
            self.console.print(f"[{style}]![/] {escape(message)}", highlight=False)
        if not self.stop_requested.is_set():
            self._write_state()

    def _wait_healthy(self) -> None:
        assert self.supervisor is not None
        url = f"{self.api_url}/healthz"
        deadline = time.monotonic() + HEALTH_TIMEOUT
        started = time.monotonic()
        problem = "no answer yet"
        with self.console.status(f"Waiting for {url}...") as status, httpx.Client(timeout=2.0) as http:
            while not self.stop_requested.is_set():
                self._check()  # reports (and records) crashes and restarts
                try:
                    response = http.get(url)
                    if response.status_code == 200:
                        self._elapsed = time.monotonic() - started
                        self._done("API healthy", f"at {self.api_url}")
                        return
                    problem = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if time.monotonic() > deadline:
                    logs = "\n".join(
                        f"--- {name} ({self.supervisor.log_path(name)}):\n{tail(self.supervisor.log_path(name), lines=8)}"
                        for name in CHILDREN
                    )
                    raise StartupFailed(
                        f"{url} was not healthy within {HEALTH_TIMEOUT:.0f} s (last: {problem}).\n{logs}"
                    )
                status.update(f"Waiting for {url} ({time.monotonic() - started:.0f} s)...")
                time.sleep(0.25)
        raise _Interrupted()

    def _load_demo(self) -> None:
        """Load the demo in a thread while this one keeps supervising (a child may crash)."""
        assert self.supervisor is not None
        outcome: dict[str, Any] = {}
        cancel = threading.Event()
        progress = {"done": 0, "total": len(demo.D.TARGETS)}

        async def load() -> demo.DemoReport:
            client = await connect(self.temporal_address, self.settings.temporal_namespace)
            # "thidua is up" means commands work: the worker polls (also when the demo
            # is loaded already and nothing else here would need it).
            await demo.wait_for_worker(client, self.settings.task_queue, HEALTH_TIMEOUT)
            gateway = TargetGateway(client, self.settings.task_queue)
            return await demo.load(
                self.domain_app, gateway, self.data_dir, cancel=cancel,
                progress=lambda n, total: progress.update(done=n, total=total),
            )

        def work() -> None:
            try:
                outcome["report"] = asyncio.run(load())
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                outcome["error"] = exc

        thread = threading.Thread(target=work, name="thidua-demo", daemon=True)
        started = time.monotonic()
        thread.start()
        give_up_at: float | None = None
        with self.console.status("Checking for the demo campaign...") as status:
            while thread.is_alive():
                if self.stop_requested.is_set():
                    cancel.set()  # the load stops between two commands
                    give_up_at = give_up_at or time.monotonic() + DEMO_STOP_WAIT
                    if time.monotonic() > give_up_at:
                        break  # a daemon thread: it dies with the process
                self._check()  # reports (and records) crashes and restarts
                if progress["done"]:
                    status.update(f"Loading the Vĩnh Yên 2022 demo: {progress['done']}/{progress['total']} targets...")
                thread.join(0.2)
        if self.stop_requested.is_set():
            raise _Interrupted()
        error = outcome.get("error")
        if error is not None:
            self.console.print(
                f"[red]✗[/] the demo could not be loaded: {type(error).__name__}: {escape(str(error))}\n"
                "  thidua runs without it; `thidua demo` (in another terminal) retries and resumes."
            )
            self.demo_report = None
            return
        report: demo.DemoReport = outcome["report"]
        self.demo_report = report
        self._elapsed = time.monotonic() - started
        if report.state_before in ("empty", "partial"):
            self._done("Demo loaded", f"campaign {report.campaign_id}: {report.targets} targets, "
                                      f"{report.commands_sent} commands")
        elif report.state_before == "complete":
            self._elapsed = None
            self._done("Demo", f"campaign {report.campaign_id} already loaded (data reused)")
        else:
            self._elapsed = None
            self.console.print("[green]✓[/] The store holds campaigns already: no demo loaded")
        if report.lost_tokens:
            self.console.print(
                f"[yellow]![/] no token is known for {', '.join(report.lost_tokens)} (the tokens file was replaced); "
                "create users with `thidua users create`"
            )

    def _demo_mail_preferences(self) -> None:
        """With the local mail catcher, the demo's Standing Committee members get escalations
        by e-mail (only those who chose nothing yet: a person's own choice stays). Before the
        demo loads, so its escalations are mailed too."""
        if self.mail is None:
            return
        app = self.domain_app
        for user in demo.D.USERS:
            if user.role != "standing_committee":
                continue
            actor = Actor(id=user.user_id, name=user.name, role=Role.STANDING_COMMITTEE)
            cmd = Command(f"up-mail-{user.user_id}", actor, datetime.now(timezone.utc))
            try:
                app.load(Preferences, preferences_uuid(user.user_id), "preferences")
            except NotFound:
                app.change(lambda: app.load(Preferences, preferences_uuid(actor.id), "preferences"), lambda p: False,
                           cmd.id, create=lambda: Preferences.start(
                               cmd, user_id=actor.id, email=f"{actor.id}@{DEMO_MAIL_DOMAIN}",
                               email_kinds=list(DEMO_MAIL_KINDS)))

    def _print_ready(self) -> None:
        c = self.console
        c.print()
        c.print(f"[bold]Web[/]          {self.api_url}/")
        c.print(f"[bold]API[/]          {self.api_url}")
        c.print(f"[bold]API docs[/]     {self.api_url}/docs")
        if self.mail is not None:
            c.print(f"[bold]Mail[/]         every e-mail sent lands in {self.mail.directory / 'new'} "
                    f"(a Maildir: `mutt -f {self.mail.directory}`); the demo's Standing Committee members "
                    "get escalations there")
        if self.temporal_ui:
            c.print(f"[bold]Temporal UI[/]  {self.temporal_ui}")
        else:
            c.print(f"[bold]Temporal[/]     {self.temporal_address} (its UI is wherever that server serves it)")
        report = getattr(self, "demo_report", None)
        tokens = report.tokens if report is not None else demo.read_tokens(self.data_dir)
        if tokens:
            c.print()
            password = (report.password if report is not None else None) or demo.read_password(self.data_dir)
            if password:
                c.print(f"[bold]Demo users[/] sign in at {self.api_url}/sign-in with the id below as login and "
                        f"the password [bold]{escape(password)}[/] [dim](dev only)[/]")
            c.print(f"[bold]Demo users[/] (tokens in {demo.tokens_path(self.data_dir)}):")
            users = {u.user_id: u for u in demo.D.USERS}
            width = max(len(k) for k in tokens) + 1
            for user_id, token in tokens.items():
                user = users.get(user_id)
                if user is None or user.role != "unit_head":
                    name = f"   [dim]{escape(user.name)}[/]" if user else ""
                    c.print(f"  {user_id:<{width}} {token}{name}")
            heads = [(uid, t) for uid, t in tokens.items() if uid in users and users[uid].role == "unit_head"]
            if heads:
                c.print("  [dim]unit heads (the head of each unit; its id follows `head-`):[/]")
                for user_id, token in heads:
                    c.print(f"  {user_id:<{width}} {token}", markup=False)
            first = "secretariat" if "secretariat" in tokens else next(iter(tokens))
            c.print()
            c.print("Try:", markup=False)
            c.print(
                f"  curl -s -H \"Authorization: Bearer {tokens[first]}\" "
                f"{self.api_url}/v1/campaigns/{demo.D.CAMPAIGN_ID}/scoreboard",
                markup=False, highlight=False, soft_wrap=True,
            )
        c.print()
        c.print("[bold green]thidua is up.[/] Press Ctrl-C to stop.")

    def _check(self) -> None:
        """One supervision step: the children, then the embedded Temporal dev server."""
        assert self.supervisor is not None
        self.supervisor.check()
        self._check_temporal()

    def _check_temporal(self) -> None:
        """Notice a dead embedded Temporal dev server (reaping it) and launch it again on the
        same ports after a backoff that doubles with each failed launch."""
        server: Any = bootstrap.embedded_service("temporal")
        if server is None or self.stop_requested.is_set():
            return
        now = time.monotonic()
        if self._temporal_restart_at is None:
            code = server.poll()
            if code is None:
                return
            if server.adopted:
                how = "is gone"
            else:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            self._temporal_restart_at = now + 1.0
            self.embedded["temporal"] = None
            self._report("error", f"the Temporal dev server {how}; restarting it (log: {server.log_path})")
            return
        if now < self._temporal_restart_at:
            return
        self.blocking = True  # a Ctrl-C during the launch stops `thidua up` at once
        try:
            server.restart()
        except EmbeddedServiceError as exc:
            self._temporal_failures += 1
            delay = min(TEMPORAL_BACKOFF_MAX, 2.0 ** self._temporal_failures)
            self._temporal_restart_at = time.monotonic() + delay
            first_line = str(exc).splitlines()[0]
            self._report("error", f"the Temporal dev server could not start ({first_line}); trying again in {delay:.0f} s")
            return
        finally:
            self.blocking = False
        self._temporal_restart_at = None
        self._temporal_failures = 0
        self.embedded["temporal"] = server.pid
        self._report("warning", f"the Temporal dev server runs again (pid {server.pid}) at {server.address}")

    def _supervise(self) -> None:
        assert self.supervisor is not None
        while not self.stop_requested.is_set():
            self._check()  # reports (and records) crashes and restarts
            self.stop_requested.wait(0.25)

    # ------------------------------------------------------------------ stopping

    def _shutdown(self) -> None:
        if self.supervisor is None and not self.embedded and self._lock_fh is None:
            return
        self.console.print("Stopping...")
        # A signal during shutdown only forces it (no exception may cut it short).
        self.blocking = False
        self.stop_requested.set()
        if self.supervisor is not None:
            self.supervisor.stop(order=STOP_ORDER, force=self.force_stop.is_set)
            self.console.print("[green]✓[/] worker, projector and api stopped")
        app = getattr(self, "domain_app", None)
        if app is not None:
            with contextlib.suppress(Exception):
                app.close()  # its connections would otherwise hold up PostgreSQL's shutdown
        if self.mail is not None:
            with contextlib.suppress(Exception):
                self.mail.stop()
        try:
            bootstrap.stop_embedded()
            if self.embedded:
                self.console.print("[green]✓[/] embedded services stopped")
        except Exception as exc:  # noqa: BLE001
            self.console.print(f"[red]✗[/] stopping the embedded services failed: {exc}")
        with contextlib.suppress(OSError):
            (self.data_dir / "up.json").unlink()
        if self._lock_fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
                self._lock_fh.close()
            self._lock_fh = None
        self.console.print("thidua stopped.")

    def _write_state(self) -> None:
        """`up.json`: what runs now, for scripts and tests (removed on a clean stop)."""
        state = {
            "pid": os.getpid(),
            "children": self.supervisor.pids() if self.supervisor else {},
            "embedded": self.embedded,
            "api_url": self.api_url,
            "temporal_address": self.temporal_address,
            "temporal_ui": self.temporal_ui,
            "smtp_url": self.smtp_url or None,
            "maildir": str(self.mail.directory) if self.mail is not None else None,
        }
        path = self.data_dir / "up.json"
        tmp = path.with_name("up.json.tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(state, indent=2))
            tmp.replace(path)


def _is_thidua_child(pid: int, name: str) -> bool:
    """`pid` is still a `thidua <name>` child process (not a process that reused the pid)."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.cmdline()[-2:] == ["thidua.cli", name]
    except psutil.Error:
        return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _redact(url: str) -> str:
    """The URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
