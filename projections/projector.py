"""The projector: keeps every read model up to date, exactly once.

In-process use (tests, the API's e2e tests), on the caller's event loop:

    async with Projector(database_url) as projector:      # runs in a background task
        ...
        await projector.wait_for(position)                # until every projection passed it

    projector = Projector(database_url)
    await projector.catch_up()                            # apply everything committed now
    await projector.close()

As a process: `thidua projector` (`thidua.bootstrap.run_projector`), or
`python -m thidua.projections.projector --database-url URL [--batch-size N]`; SIGTERM/SIGINT
finish the current batch and exit.

Live updates: LISTEN on the event store's channel (`thidua_events`, NOTIFYed by
eventsourcing in every insert transaction) wakes the loop; a poll every
`poll_interval` seconds covers a lost notification or a dropped listening connection.

Starting on read models that never projected anything while the store already holds
many events (a new deployment, read models dropped), the projector first builds them
the way `thidua projections rebuild` does — in bulk, indexes made at the end, two
processes, swapped in one transaction; the notifications outbox with them, as it has
delivered nothing yet — then carries on event by event.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import threading
import time
from typing import Any

import asyncpg

from thidua.domain.application import EVENTS_TABLE
from thidua.projections import faults
from thidua.projections.engine import Engine, make_groups
from thidua.projections.pipeline import MAX_CACHED_TARGETS, EventReader
from thidua.projections.rebuild import rebuild
from thidua.projections.schema import ALL_TRACKING, EVENT_STORE_KEYS, GROUPS, PUBLIC, analyze_if_unplanned, create_tables
from thidua import heap, heartbeats
from thidua.dburl import asyncpg_dsn
from thidua.event_store import domain_application
from thidua.metrics import serve_projector_metrics

log = logging.getLogger("thidua.projector")

CHANNEL = EVENTS_TABLE  # eventsourcing NOTIFYs on the events table's name
BULK_BUILD_MIN_EVENTS = 50_000  # below this, batches into the live tables are quick enough
BULK_PROGRESS_EVERY = 30.0  # seconds between the bulk build's progress lines


# Under a steady stream of commands each event would otherwise be a batch of its own
# (its own transaction, tracking update and scoreboard recompute): after a batch that
# found the projector live (not a full batch), wait this long before the next one, so
# events arriving meanwhile share a batch. It adds at most this much to the lag.
LIVE_INTERVAL = 0.05


class Projector:
    def __init__(
        self,
        database_url: str,
        *,
        batch_size: int = 5000,
        poll_interval: float = 1.0,
        live_interval: float = LIVE_INTERVAL,
        max_cached_targets: int = MAX_CACHED_TARGETS,
        groups: list[str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.dsn = asyncpg_dsn(database_url)
        self.poll_interval = poll_interval
        self.live_interval = live_interval
        self.batch_size = batch_size
        self.group_names = list(groups or GROUPS)
        self.max_cached_targets = max_cached_targets
        self.engine = self._engine(self.group_names)
        # Read models stopped at an event they cannot apply (thidua.projections.faults); the
        # others go on. Tried again when a new projector starts.
        self.stopped: dict[str, faults.Fault] = {}
        self._faults_recorded = False  # rows in projection_faults may be cleared
        self.position = 0  # lowest tracking position seen after the last batch
        self._conn: asyncpg.Connection | None = None
        self._side: asyncpg.Connection | None = None
        self._ahead: asyncpg.Connection | None = None
        self._listen: asyncpg.Connection | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Condition()
        self._logged_at = 0.0
        self._bulk_checked = False

    def _engine(self, groups: list[str]) -> Engine:
        return Engine(make_groups(groups), schema=PUBLIC, batch_size=self.batch_size,
                      max_cached_targets=self.max_cached_targets)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect and create the read-model tables if missing (idempotent)."""
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn)
            await self._ensure_events_table(self._conn)
            await create_tables(self._conn, PUBLIC, list(GROUPS))
            self._faults_recorded = bool(await faults.stopped(self._conn))
        if self._side is None or self._side.is_closed():
            self._side = await asyncpg.connect(self.dsn)
        if self._ahead is None or self._ahead.is_closed():
            self._ahead = await asyncpg.connect(self.dsn)

    async def _ensure_events_table(self, conn: asyncpg.Connection) -> None:
        # The projector may start before anything was ever saved: let eventsourcing
        # create its table (same DDL as the application) so reads never fail.
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{EVENTS_TABLE}")
        if not exists:
            await asyncio.to_thread(_create_event_store, self.database_url)

    async def _listen_connect(self) -> None:
        if self._listen is not None and not self._listen.is_closed():
            return
        try:
            self._listen = await asyncpg.connect(self.dsn)
            await self._listen.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot LISTEN (%s); polling every %.1fs", exc, self.poll_interval)
            self._listen = None

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Ask `run()` to return after the current batch (safe from signal handlers)."""
        self._stopping = True
        self._wake.set()

    async def close(self) -> None:
        self.stop()
        if self._task is not None:
            await self._task
            self._task = None
        await self.engine.discard_ahead()
        for conn in (self._listen, self._ahead, self._side, self._conn):
            if conn is not None and not conn.is_closed():
                await conn.close()
        self._listen = self._ahead = self._side = self._conn = None

    async def __aenter__(self) -> Projector:
        await self.start()
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="thidua-projector")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ------------------------------------------------------------------ work
    async def step(self) -> int:
        """Apply one batch; the number of events it read (0 when caught up)."""
        await self.start()
        assert self._conn is not None and self._side is not None
        if not self._bulk_checked:
            self._bulk_checked = True
            # A catch-up reads the store in batches by position: without statistics
            # each batch would sort everything after its position.
            await analyze_if_unplanned(self._conn, f"public.{EVENTS_TABLE}", EVENT_STORE_KEYS)
            await self._bulk_build_if_empty()
        if not self.engine.groups:
            return 0  # every read model is stopped
        try:
            result = await self.engine.process_batch(self._conn, EventReader(self._side), self._ahead)
        except Exception as exc:
            if faults.is_transient(exc):
                raise
            return await self._isolate(exc)
        self.position = result.position
        if self._faults_recorded and result.events:
            await faults.clear_passed(self._conn)
            self._faults_recorded = bool(await faults.stopped(self._conn))
        now = time.monotonic()
        if result.events and (result.full or now - self._logged_at > 10) and now - self._logged_at > 5:
            log.info("projected up to position %d", result.position)
            self._logged_at = now
        async with self._progress:
            self._progress.notify_all()
        return result.events

    async def _isolate(self, exc: BaseException) -> int:
        """A batch failed for a reason retrying will not cure: run each read model alone
        over the failed stretch; stop those that fail on one event, let the others go on.
        Returns 1 (something was done: the caller goes on at once)."""
        assert self._conn is not None and self._side is not None
        await self.engine.discard_ahead()
        size = max(1, self.engine.size)
        active = [g for g in self.group_names if g not in self.stopped]
        low = min([await faults.group_position(self._conn, PUBLIC, g) for g in active])
        log.warning("a batch after position %d failed (%s); applying each read model alone to find the event "
                    "at fault", low, faults.reason_of(exc))
        for name in active:
            fault = await faults.locate(self._conn, self._side, PUBLIC, name, until=low + size, size=size)
            if fault is None:
                continue
            await faults.record(self._conn, fault)
            self._faults_recorded = True
            self.stopped[name] = fault
            log.error("read model stopped: %s; the other read models go on. Fix the cause and restart the "
                      "projector, or rebuild %s", fault.describe(), name)
        self.engine = self._engine([g for g in self.group_names if g not in self.stopped])
        return 1

    async def _bulk_build_if_empty(self) -> None:
        """Read models at position 0 everywhere and a store of at least
        `BULK_BUILD_MIN_EVENTS`: build them as a rebuild does (several times faster
        than batches into indexed tables). Another rebuild running: carry on as usual."""
        assert self._conn is not None
        if sorted(self.group_names) != sorted(GROUPS):
            return
        moved = await self._conn.fetchval(
            "SELECT count(*) FROM public.projection_tracking WHERE position <> 0 AND name = ANY($1)", list(ALL_TRACKING)
        )
        head = await self._conn.fetchval(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}")
        if moved or head < BULK_BUILD_MIN_EVENTS:
            return
        log.info("the read models are empty and the store holds %d events: building them in bulk", head)
        logged = [time.monotonic()]

        def progress(position: int, head: int) -> None:
            # (the country's store takes minutes: say how far, now and then)
            if time.monotonic() - logged[0] >= BULK_PROGRESS_EVERY:
                logged[0] = time.monotonic()
                log.info("building the read models in bulk: at position %d of %d", position, head)

        try:
            # (the outbox too: nothing was delivered yet, and batch by batch it would
            # go over every event again once the others are built)
            result = await rebuild(self.database_url, progress=progress, outbox=True)
        except RuntimeError as exc:  # another rebuild holds the lock
            log.info("no bulk build (%s); projecting batch by batch", exc)
            return
        await self.engine.discard_ahead()
        self.engine.cache.clear()
        log.info("built the read models in bulk up to position %d", result["position"])

    async def catch_up(self) -> int:
        """Apply every event committed so far; return the lowest tracking position."""
        while await self.step():
            pass
        return self.position

    async def wait_for(self, position: int, timeout: float = 10.0) -> bool:
        """Wait until the running projector (`async with`) has passed `position`."""

        async def go() -> None:
            async with self._progress:
                await self._progress.wait_for(lambda: self.position >= position)

        try:
            await asyncio.wait_for(go(), timeout)
            return True
        except TimeoutError:
            return False

    async def run(self) -> None:
        """Until `stop()`: catch up, then wait for a NOTIFY or the poll interval."""
        backoff = 0.5
        while not self._stopping:
            try:
                await self._listen_connect()
                self._wake.clear()  # before reading, so a NOTIFY during the batch is kept
                events = await self.step()
                backoff = 0.5
                if events and not self._stopping:
                    if events < self.batch_size:
                        # Live: let the next few events arrive and project them together.
                        await asyncio.sleep(self.live_interval)
                    continue
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("projector batch failed (%s: %s); retrying in %.1fs", type(exc).__name__, exc, backoff)
                await self._reset_connections()
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            except Exception:
                # A bug or an undecodable event: never skip it (that would lose it);
                # log, back off, and try again so an operator can see and fix it.
                log.exception("projector batch failed; retrying in %.1fs", backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            await self._sleep(self.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _reset_connections(self) -> None:
        for conn in (self._conn, self._side, self._ahead, self._listen):
            if conn is not None and not conn.is_closed():
                conn.terminate()
        await self.engine.discard_ahead()
        self._conn = self._side = self._ahead = self._listen = None
        self.engine.cache.clear()


def _create_event_store(database_url: str) -> None:
    domain_application(database_url).close()


class ProjectorThread:
    """The projector on its own event loop in a daemon thread, for synchronous callers:

        with ProjectorThread(database_url) as p:
            p.wait_for(position)
    """

    def __init__(self, database_url: str, **kwargs: Any) -> None:
        self.projector_args = (database_url, kwargs)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="thidua-projector", daemon=True)
        self.projector: Projector | None = None

    def __enter__(self) -> ProjectorThread:
        self.thread.start()
        url, kwargs = self.projector_args

        async def begin() -> Projector:
            projector = Projector(url, **kwargs)
            await projector.__aenter__()
            return projector

        self.projector = asyncio.run_coroutine_threadsafe(begin(), self.loop).result()
        return self

    def wait_for(self, position: int, timeout: float = 10.0) -> bool:
        assert self.projector is not None
        return asyncio.run_coroutine_threadsafe(self.projector.wait_for(position, timeout), self.loop).result()

    def __exit__(self, *exc: Any) -> None:
        if self.projector is not None:
            asyncio.run_coroutine_threadsafe(self.projector.close(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def serve(database_url: str, *, batch_size: int = 5000, metrics_address: str | None = None,
                heartbeat_seconds: float = heartbeats.DEFAULT_INTERVAL) -> None:
    projector = Projector(database_url, batch_size=batch_size)
    if metrics_address is not None:
        metrics = serve_projector_metrics(metrics_address, lambda: projector.position)
        log.info("projector metrics at http://%s/metrics", metrics_address)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, projector.stop)
    await projector.start()
    heap.settle()  # a long-running process: see thidua/heap.py
    log.info("projector started")
    try:
        async with heartbeats.Heartbeat(database_url, heartbeats.PROJECTOR, interval=heartbeat_seconds):
            await projector.run()
    finally:
        await projector.close()
        log.info("projector stopped at position %d", projector.position)
        if metrics_address is not None:
            metrics.shutdown()


if __name__ == "__main__":  # python -m thidua.projections.projector (used by the crash test)
    parser = argparse.ArgumentParser(description="thidua projector")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.database_url, batch_size=args.batch_size))
