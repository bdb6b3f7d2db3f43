"""Notification delivery benchmarks (issue 20, "Speed"), to be wired into the run by
bench/run.py (`make bench`):

- `commit_to_receiver(...)`: the latency from an event's commit to a webhook receiver, under a
  command load like P2's (one client per unit head, each driving its own targets through
  start -> block -> escalate; every escalation is a `target.escalated` webhook). Goal: p99 <
  1 s. The commit is when a LISTENer of the event store's NOTIFY (sent in the save's
  transaction) first sees the event's position (`_Split`: a few ms after the commit, so the
  figure errs on the fast side by that). The event's `occurred_at` in the payload is earlier:
  its command's workflow task, before the command's activity and save, which under this load
  is a P2 command's own latency (hundreds of ms); the latency from it is in the detail
  (`from_occurred_at`). Without `database_url` the figure is measured from `occurred_at`.
- `delivery_rate_vs_raw(...)`: notifications delivered per second by thidua's delivery path
  (the outbox dispatcher, one Temporal workflow per batch of rows, a signed POST per
  notification) beside raw
  signed HTTP POSTs to the same receiver from this one process with the same concurrency.
  Goal: ratio >= 0.5.

Both use a real receiver on 127.0.0.1 that verifies every Standard Webhooks signature. The
stack must allow webhooks to a loopback address: THIDUA_WEBHOOKS_ALLOW_PRIVATE=true in the
API's and the worker's environment (bench.services.thidua_env does not set it).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx
import uvicorn
from standardwebhooks.webhooks import Webhook as Verifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.spec import ALL, Goal, Spec
from bench.stats import percentile
from thidua.embedded import free_port

SPECS: tuple[Spec, ...] = (
    Spec("N.commit_to_receiver_p50", "event commit → webhook receiver under P2-like load, p50", "ms", modes=ALL),
    Spec("N.commit_to_receiver_p99", "event commit → webhook receiver under P2-like load, p99", "ms",
         goal=Goal("<", 1000), modes=ALL),
    Spec("N.raw_post_rate", "raw signed HTTP POSTs to the receiver, 50 in flight", "posts/s", modes=ALL),
    Spec("N.delivery_rate", "webhook deliveries through the outbox and its workflows", "deliveries/s",
         "N.raw_post_rate", Goal(">=", 0.5, on_ratio=True), modes=ALL),
)
DELIVERIES = {"smoke": 50, "default": 500, "large": 500}  # notifications delivered per mode

ESCALATION_CYCLE = (("start", {"note": "Bắt đầu"}),
                    ("block", {"reason": "Hộ dân chưa đồng ý phương án bồi thường", "help_needed": "BTV chỉ đạo"}),
                    ("escalate", {"reason": "Đề nghị Ban Thường vụ chỉ đạo"}))
DELIVERY_CONCURRENCY = 50  # thidua.workflows.webhook_activities.PER_RECEIVER


async def measure(ctx: Any) -> None:
    """The group's figures in a run: the unit heads of the live campaign drive their
    targets no earlier stage touched to escalation for P2's load time (the stack runs with
    THIDUA_WEBHOOKS_ALLOW_PRIVATE=true, bench.services.thidua_env); then the delivery rate
    beside raw POSTs, on a scratch database of its own."""
    from bench.product import COMMAND_CYCLE, LIVE_CAMPAIGN

    stack, live, profile = ctx.stack, ctx.live, ctx.run.profile
    used = {u: -(-live.cursor.get(u, 0) // len(COMMAND_CYCLE)) for u in live.by_unit}  # targets begun
    fresh = {u: targets[used[u]:] for u, targets in live.by_unit.items()}
    lag = await commit_to_receiver(f"http://127.0.0.1:{stack.api_port}", stack.secretariat, LIVE_CAMPAIGN,
                                   stack.heads, fresh, seconds=profile.load_seconds, database_url=ctx.database_url,
                                   temporal_address=ctx.address)
    if not lag["delivered"]:
        raise RuntimeError(f"no escalation reached the receiver: {lag}")
    detail = {k: v for k, v in lag.items() if k not in ("p50_ms", "p99_ms")}
    ctx.run.results.put("N.commit_to_receiver_p50", lag["p50_ms"], **detail)
    ctx.run.results.put("N.commit_to_receiver_p99", lag["p99_ms"], **detail)
    # on a database of its own: the stack's worker watches the run's outbox too, and took the
    # rows (or some) before this process's delivery path had started (a smoke run "delivered"
    # 50 in 0.1 ms)
    from bench.services import fresh_database
    from thidua.dburl import with_database

    with fresh_database(with_database(ctx.database_url, "postgres")) as scratch:
        rate = await delivery_rate_vs_raw(scratch, ctx.address, n=DELIVERIES[profile.mode])
    ctx.run.results.put("N.raw_post_rate", rate["raw_rate"], n=rate["n"], concurrency=DELIVERY_CONCURRENCY)
    ctx.run.results.put("N.delivery_rate", rate["thidua_rate"], **{k: rate[k] for k in (
        "delivered", "n", "bad_signatures", "elapsed_s")})


class Receiver:
    """Verifies each delivery's signature; records when each notification id first arrived
    and how long after its event (seconds)."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.lock = threading.Lock()
        self.arrived: dict[str, float] = {}  # notification id -> seconds after occurred_at
        self.arrived_at: dict[str, float] = {}  # notification id -> when it first arrived (epoch seconds)
        self.bad = 0
        self.count = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, name="bench-receiver", daemon=True)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        now = time.time()
        try:
            payload = Verifier(self.secret).verify(body, dict(request.headers)) if self.secret else json.loads(body)
        except Exception:  # noqa: BLE001 - a bad signature is counted, and refused
            with self.lock:
                self.bad += 1
            return Response(status_code=400)
        occurred = datetime.fromisoformat(payload["occurred_at"]).timestamp() if "occurred_at" in payload else now
        with self.lock:
            self.count += 1
            self.arrived.setdefault(str(payload.get("id")), now - occurred)
            self.arrived_at.setdefault(str(payload.get("id")), now)
        return Response(status_code=204)

    def __enter__(self) -> Receiver:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the bench receiver did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def received(self) -> int:
        with self.lock:
            return len(self.arrived)


async def commit_to_receiver(api_url: str, secretariat_token: str, campaign_id: str,
                             heads: dict[str, str], targets_by_unit: dict[str, list[str]], *,
                             seconds: float = 30.0, settle_timeout: float = 30.0, database_url: str | None = None,
                             temporal_address: str | None = None, namespace: str = "default") -> dict[str, Any]:
    """Register a webhook for `target.escalated` of `campaign_id` (through the API), then run
    one client per unit head (`heads`: unit -> token) for `seconds`, each taking its fresh
    (assigned, untouched) targets through start, block, escalate; wait for every escalation
    at the receiver. Returns p50/p99/max latency (ms) from commit to receiver (with
    `database_url`; else from the event's `occurred_at`), how many arrived and were expected,
    the command rate, and bad signatures; with `database_url` and `temporal_address`, also
    where the time went (`split`, see `_Split`)."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        with Receiver() as receiver:
            answer = await http.post("/v1/webhooks", json={"url": receiver.url, "campaign_id": campaign_id,
                                                           "events": ["target.escalated"]},
                                     headers={"Authorization": f"Bearer {secretariat_token}",
                                              "Idempotency-Key": f"bench-wh-{uuid.uuid4()}"})
            answer.raise_for_status()
            receiver.secret = answer.json()["secret"]
            split = _Split(database_url, temporal_address, namespace, answer.json()["id"]) if database_url else None
            if split is not None:
                await split.start()
            escalated = 0
            commands = 0
            errors = 0
            deadline = time.monotonic() + seconds

            async def client(unit: str, token: str) -> None:
                nonlocal escalated, commands, errors
                for target in targets_by_unit.get(unit, []):
                    for name, body in ESCALATION_CYCLE:
                        if time.monotonic() > deadline:
                            return
                        try:
                            response = await http.post(f"/v1/targets/{target}/{name}", json=body, headers={
                                "Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{target}-{name}"})
                        except httpx.TransportError:  # counted like a refusal: the others go on
                            response = None
                        commands += 1
                        if response is None or response.status_code != 200:
                            errors += 1
                            break
                        if name == "escalate":
                            escalated += 1

            started = time.monotonic()
            await asyncio.gather(*(client(u, t) for u, t in heads.items()))
            elapsed = time.monotonic() - started
            settle_until = time.monotonic() + settle_timeout
            while receiver.received() < escalated and time.monotonic() < settle_until:
                await asyncio.sleep(0.1)
            with receiver.lock:
                from_occurred = dict(receiver.arrived)
                arrived_at = dict(receiver.arrived_at)
    parts: dict[str, Any] = {}
    lags = list(from_occurred.values())
    delivered = len(lags)
    if split is not None:
        parts, committed = await split.finish(arrived_at)
        parts["from_occurred_at"] = _percentiles(lags)
        # an event whose commit the LISTENer missed keeps its latency from occurred_at (longer)
        lags = [arrived_at[i] - committed[i] if i in committed else from_occurred[i] for i in arrived_at]
        parts["commit_unseen"] = sum(1 for i in arrived_at if i not in committed)
    return {**parts, **_percentiles(lags),
        "delivered": delivered, "expected": escalated, "commands": commands, "command_errors": errors,
        "command_rate": commands / elapsed if elapsed else 0.0, "bad_signatures": receiver.bad,
    }


def _percentiles(lags: list[float]) -> dict[str, float | None]:
    return {"p50_ms": percentile(lags, 50) * 1000 if lags else None,
            "p99_ms": percentile(lags, 99) * 1000 if lags else None,
            "max_ms": max(lags) * 1000 if lags else None}


class _Split:
    """When each event committed, and where the time went, per notification (p50/p99 ms of
    each part). The commit is when a LISTENer of the event store's NOTIFY first sees the
    event's position (late by this process's event loop: `loop_lag`, how late a 10 ms sleep
    wakes). `occurred_to_commit` (from the event's `occurred_at`, its command's workflow task,
    through the command's local activity to the save's commit: the command's own time, before
    any notification exists), `commit_to_row` (the projector writing the outbox row, as seen by
    a LISTENer of the outbox's NOTIFY), `row_to_started` (the dispatcher waking, claiming and
    starting the batch's workflow, to the server's WorkflowExecutionStarted),
    `started_to_receiver` (the workflow's first task, its delivery activity and the POST),
    `started_to_activity` (to an ordinary activity's ActivityTaskStarted, when the first try
    was one) and `commit_to_dispatched` (to the row marked dispatched, after the start's
    answer); and the batches' count and size, and how many first tries ran as local
    activities. The LISTENer may see a row after its workflow started: `row_to_started` can
    be below zero."""

    def __init__(self, database_url: str, temporal_address: str | None, namespace: str, hook_id: str) -> None:
        from thidua.dburl import asyncpg_dsn

        self.dsn = asyncpg_dsn(database_url)
        self.address, self.namespace = temporal_address, namespace
        self.hook_id = hook_id
        self.seen: dict[str, float] = {}
        self.visible: list[tuple[int, float]] = []  # (the store's highest position, when first seen)
        self.loop_lags: list[float] = []  # how late this process's event loop wakes (the LISTENers' own delay)
        self._wake = asyncio.Event()
        self._events = asyncio.Event()
        self._stop = False
        self._task: asyncio.Future[Any] | None = None

    async def start(self) -> None:
        import asyncpg

        from thidua.domain.application import EVENTS_TABLE
        from thidua.projections.notifications import OUTBOX_CHANNEL

        self.listen = await asyncpg.connect(self.dsn)
        self.conn = await asyncpg.connect(self.dsn)
        self.store = await asyncpg.connect(self.dsn)
        self._max_sql = f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}"
        await self.listen.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake.set())
        # eventsourcing NOTIFYs the events table's name in every insert's transaction
        await self.listen.add_listener(EVENTS_TABLE, lambda *_: self._events.set())
        self.visible.append((int(await self.store.fetchval(self._max_sql)), time.time()))
        self._task = asyncio.gather(self._watch(), self._watch_store(), self._tick())

    @staticmethod
    async def _woken(event: asyncio.Event) -> None:
        """A NOTIFY's wake-up, or half a second (a notification lost with a connection)."""
        try:
            await asyncio.wait_for(event.wait(), 0.5)
        except TimeoutError:
            pass
        event.clear()

    async def _watch(self) -> None:
        while not self._stop:
            await self._woken(self._wake)
            for r in await self.conn.fetch("SELECT notification_id::text AS id FROM notifications WHERE recipient = $1 "
                                           "AND channel = 'webhook'", self.hook_id):
                self.seen.setdefault(r["id"], time.time())

    async def _watch_store(self) -> None:
        while not self._stop:
            await self._woken(self._events)
            top = int(await self.store.fetchval(self._max_sql))
            if not self.visible or top > self.visible[-1][0]:
                self.visible.append((top, time.time()))

    async def _tick(self) -> None:
        while not self._stop:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            self.loop_lags.append(time.perf_counter() - t - 0.01)

    def _visible_at(self, position: int) -> float | None:
        """When an event at `position` was first seen committed in the store."""
        i = bisect.bisect_left(self.visible, (position, 0.0))
        return self.visible[i][1] if i < len(self.visible) and i > 0 else None

    async def finish(self, arrived_at: dict[str, float]) -> tuple[dict[str, Any], dict[str, float]]:
        """(the split and the batches' figures, each notification's commit time)"""
        self._stop = True
        self._wake.set()
        self._events.set()
        if self._task is not None:
            await self._task
        try:
            rows = await self.conn.fetch(
                "SELECT notification_id::text AS id, batch_id, extract(epoch FROM occurred_at)::float8 AS o, "
                "extract(epoch FROM dispatched_at)::float8 AS d, position FROM notifications WHERE recipient = $1 "
                "AND channel = 'webhook'", self.hook_id)
        finally:
            await self.listen.close()
            await self.conn.close()
            await self.store.close()
        batches = {r["batch_id"] for r in rows if r["batch_id"] is not None}
        started, activity, local = await self._histories(batches)
        parts: dict[str, list[float]] = {"occurred_to_commit": [], "commit_to_row": [], "row_to_started": [],
                                         "started_to_receiver": [], "started_to_activity": [],
                                         "commit_to_dispatched": []}
        committed: dict[str, float] = {}
        for r in rows:
            b, seen, arrived = r["batch_id"], self.seen.get(r["id"]), arrived_at.get(r["id"])
            commit = self._visible_at(r["position"])
            if commit is not None:
                committed[r["id"]] = commit
                parts["occurred_to_commit"].append(commit - r["o"])
                if seen is not None:
                    parts["commit_to_row"].append(seen - commit)
                if r["d"] is not None:
                    parts["commit_to_dispatched"].append(r["d"] - commit)
            if b in started and seen is not None:
                parts["row_to_started"].append(started[b] - seen)
            if b in started and arrived is not None:
                parts["started_to_receiver"].append(arrived - started[b])
            if b in activity:
                parts["started_to_activity"].append(activity[b] - started[b])
        return {"split": {k: {"p50_ms": percentile(v, 50) * 1000 if v else None,
                              "p99_ms": percentile(v, 99) * 1000 if v else None} for k, v in parts.items()},
                "batches": len(batches), "rows_per_batch": len(rows) / len(batches) if batches else None,
                "local_first_tries": local, "loop_lag": _percentiles(self.loop_lags)}, committed

    async def _histories(self, batches: set[Any]) -> tuple[dict[Any, float], dict[Any, float], int]:
        """Per batch: when its workflow started and its first ordinary activity started (the
        server's clock, the same machine's); and how many batches tried first locally."""
        if self.address is None or not batches:
            return {}, {}, 0
        from temporalio.api.enums.v1 import EventType

        from thidua.workflows.client import connect
        from thidua.workflows.webhook_batch import batch_workflow_id

        client = await connect(self.address, self.namespace)
        started: dict[Any, float] = {}
        activity: dict[Any, float] = {}
        local = 0
        for b in batches:
            history = await client.get_workflow_handle(batch_workflow_id(b)).fetch_history()
            for e in history.events:
                at = e.event_time.ToDatetime(timezone.utc).timestamp()
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                    started[b] = at
                elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and b not in activity:
                    activity[b] = at
                elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and \
                        e.marker_recorded_event_attributes.marker_name == "core_local_activity":
                    local += 1
                    break
        return started, activity, local


async def raw_posts(url: str, secret: str, n: int, concurrency: int = DELIVERY_CONCURRENCY) -> float:
    """Signed POSTs per second from this process (httpx, `concurrency` in flight)."""
    from thidua.workflows.webhook_activities import signed_headers

    queue = list(range(n))
    async with httpx.AsyncClient(timeout=10) as http:
        async def loop() -> None:
            while queue:
                i = queue.pop()
                msg_id = f"raw-{i}-{uuid.uuid4()}"
                body = json.dumps({"id": msg_id, "kind": "target.escalated",
                                   "occurred_at": datetime.now(timezone.utc).isoformat()})
                (await http.post(url, content=body.encode(), headers=signed_headers(
                    secret, msg_id, body, datetime.now(timezone.utc)))).raise_for_status()

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return n / (time.monotonic() - started)


async def delivery_rate_vs_raw(database_url: str, temporal_address: str, *, n: int = 500,
                               task_queue: str | None = None, timeout: float = 300.0) -> dict[str, Any]:
    """n notifications for one webhook put straight into the outbox (pending, as the outbox
    projection writes them), delivered by thidua's delivery path run in this process (the
    dispatcher and the delivery worker: thidua.workflows.webhook_worker.WebhookService) to a
    verifying receiver; beside it, n raw signed POSTs to the same receiver. Returns both
    rates and their ratio (goal >= 0.5)."""
    import asyncpg

    from thidua.api.routes.webhooks import new_secret
    from thidua.dburl import asyncpg_dsn
    from thidua.domain.notifications import WEBHOOK, notification_id
    from thidua.event_store import domain_application
    from thidua.projections.schema import ensure_schema
    from thidua.workflows.client import connect
    from thidua.workflows.webhook_worker import WebhookService
    from thidua.workflows.worker import workflow_runner

    secret = new_secret()
    hook_id = f"bench-{uuid.uuid4().hex[:12]}"
    queue = task_queue or f"bench-notify-{uuid.uuid4().hex[:6]}"
    dsn = asyncpg_dsn(database_url)
    with Receiver(secret) as receiver:
        raw_rate = await raw_posts(receiver.url, secret, n)
        conn = await asyncpg.connect(dsn)
        try:
            await ensure_schema(conn)
            # the webhook as the outbox projection keeps it, its secret, and n pending rows
            await conn.execute("INSERT INTO webhooks (webhook_id, position, url, campaign_id, kinds, active) "
                               "VALUES ($1, 0, $2, NULL, 'target.escalated', true)", hook_id, receiver.url)
            await conn.execute("INSERT INTO webhook_secrets (webhook_id, secret) VALUES ($1, $2)", hook_id, secret)
            now = datetime.now(timezone.utc)
            rows = [(notification_id(-i - 1, "target.escalated", WEBHOOK, hook_id), "target.escalated", WEBHOOK,
                     hook_id, 0, now, "bench", None, "/v1/bench", "pending") for i in range(n)]
            ids = {str(r[0]) for r in rows}
            await conn.executemany(
                "INSERT INTO notifications (notification_id, kind, channel, recipient, position, occurred_at, "
                "campaign_id, target_id, link, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", rows)
        finally:
            await conn.close()
        app = domain_application(database_url)
        client = await connect(temporal_address, "default")
        # unsandboxed, as `thidua worker` runs its workflows (THIDUA_WORKFLOW_SANDBOX=false)
        service = WebhookService(client, app, database_url, queue, allow_private=True, poll_interval=0.2,
                                 workflow_runner=workflow_runner(False))
        started = time.monotonic()
        await service.__aenter__()
        try:
            deadline = started + timeout
            while time.monotonic() < deadline:
                with receiver.lock:
                    done = len(ids & receiver.arrived.keys())
                if done >= n:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            await service.shutdown()
            app.close()
        with receiver.lock:
            delivered = len(ids & receiver.arrived.keys())
    rate = delivered / elapsed if elapsed else 0.0
    return {"thidua_rate": rate, "raw_rate": raw_rate, "ratio": rate / raw_rate if raw_rate else None,
            "delivered": delivered, "n": n, "bad_signatures": receiver.bad, "elapsed_s": elapsed}
