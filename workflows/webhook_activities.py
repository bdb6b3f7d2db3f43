"""The activities of WebhookBatchWorkflow (a batch of outbox rows at once) and of the
per-notification WebhookDeliveryWorkflow of earlier versions (kept for the workflows in
flight): POST a row to its webhook, signed as Standard Webhooks, or mail it, and log the
attempt; or mark the row failed.

Each webhook attempt is a row of `webhook_deliveries` (status code or error, outcome,
when the next retry is due). The notification's stable id is the `webhook-id` header, so
a receiver drops a repeated delivery (delivery is at least once: a worker that dies
after the POST and before recording it sends again).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import aiosmtplib
import asyncpg
import httpx
from standardwebhooks.webhooks import Webhook as Signer
from temporalio import activity
from temporalio.exceptions import ApplicationError

from thidua.domain.digest import Digest, digest_uuid
from thidua.domain.errors import NotFound
from thidua.domain.notifications import EMAIL, WEBHOOK
from thidua.domain.values import SYSTEM, Command
from thidua.domain.webhook import Webhook, webhook_uuid
from thidua.workflows import webhook_urls
from thidua.workflows.mail import Mailer, digest_lines, escalation_age_line
from thidua.workflows.webhook_batch import DELIVER_BATCH, GIVE_UP_BATCH, BatchAttempt, BatchOutcome
from thidua.workflows.webhook_workflow import DELIVER, GIVE_UP, Delivery

log = logging.getLogger("thidua.webhooks")

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_INTERVAL = timedelta(hours=1)
# Requests in flight: to one webhook (as many as a process's raw POSTs in the bench, N.*),
# to the mail server, and in all. Per receiver, so a dead one holds its share only.
PER_RECEIVER = 50
MAIL_PER_SERVER = 8
IN_ALL = 200
# Idle connections kept open (httpx's default). httpcore looks at every pooled connection
# twice per request, and an idle one costs a readability check through anyio each time; with
# up to IN_ALL kept, most of them idle, that bookkeeping took most of a delivery's CPU
# (docs/benchmarks.md, N.delivery_rate). httpcore closes an idle connection once the pool
# holds more than this many in all, so a busy receiver reuses about this many.
KEEPALIVE = 20
HEARTBEAT_S = 1.0  # a batch's heartbeat, and how often it writes what it delivered so far


def count(channel: str, outcome: str) -> None:
    """`thidua_notification_deliveries{channel, outcome}` on the worker's metrics (the Temporal
    SDK's Prometheus exporter, THIDUA_WORKER_METRICS_ADDRESS): every attempt's outcome
    (`delivered`, `retry`, `gone`, `refused`) and every notification given up (`failed`)."""
    activity.metric_meter().create_counter(
        "thidua_notification_deliveries", "Notification delivery attempts and give-ups by channel and outcome",
    ).add(1, {"channel": channel, "outcome": outcome})


def payload_of(row: Any) -> dict[str, Any]:
    """What a receiver gets: ids and a link, no more (DESIGN.md "Notifications")."""
    return {"id": str(row["notification_id"]), "kind": row["kind"],
            "occurred_at": row["occurred_at"].astimezone(timezone.utc).isoformat(),
            "campaign_id": row["campaign_id"], "target_id": str(row["target_id"]) if row["target_id"] else None,
            "position": row["position"], "link": row["link"]}


def signed_headers(secret: str, msg_id: str, body: str, at: datetime) -> dict[str, str]:
    return {"content-type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Signer(secret).sign(msg_id, at, body)}


class WebhookActivities:
    def __init__(self, database_dsn: str, app: Any, *, allow_private: bool = False,
                 mail: Mailer | None = None) -> None:
        self.dsn = database_dsn
        self.mail = mail
        self.app = app  # the domain application: a 410 disables the webhook (an event)
        self.allow_private = allow_private
        self._pool: asyncpg.Pool | None = None
        self._http: httpx.AsyncClient | None = None
        self._receivers: dict[str, asyncio.Semaphore] = {}
        self._all = asyncio.Semaphore(IN_ALL)

    async def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
        return self._pool

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, limits=httpx.Limits(
                max_connections=IN_ALL, max_keepalive_connections=KEEPALIVE))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self._pool is not None:
            await self._pool.close()

    def all(self) -> list[Any]:
        return [self.deliver_batch, self.give_up_batch, self.deliver, self.give_up]

    @activity.defn(name=DELIVER)
    async def deliver(self, delivery: Delivery) -> None:
        pool = await self._db()
        nid = UUID(delivery.notification_id)
        note = await pool.fetchrow("SELECT * FROM notifications WHERE notification_id = $1", nid)
        if note is None:
            raise ApplicationError(f"no notification {nid}", type="WebhookRefused", non_retryable=True)
        if note["status"] == "delivered":
            return
        if note["channel"] == EMAIL:
            await self._mail(pool, note)
            return
        row = await pool.fetchrow(
            "SELECT n.*, w.url, w.active, s.secret FROM notifications n "
            "JOIN LATERAL (SELECT url, active FROM webhooks WHERE webhook_id = n.recipient ORDER BY position DESC "
            "LIMIT 1) w ON true LEFT JOIN webhook_secrets s ON s.webhook_id = n.recipient "
            "WHERE n.notification_id = $1", nid)
        if row is None:
            raise ApplicationError(f"no webhook for notification {nid}", type="WebhookRefused", non_retryable=True)
        info = activity.info()
        attempt = info.attempt
        if row["secret"] is None:  # registered before its secret was stored: cannot sign
            count(WEBHOOK, "refused")
            await self._log(pool, nid, row, attempt, None, "the webhook has no secret", "failed", None)
            raise ApplicationError("the webhook has no secret", type="WebhookRefused", non_retryable=True)
        if not row["active"]:
            count(WEBHOOK, "refused")
            await self._log(pool, nid, row, attempt, None, "the webhook is disabled", "failed", None)
            raise ApplicationError("the webhook is disabled", type="WebhookRefused", non_retryable=True)
        refused = await asyncio.to_thread(webhook_urls.refusal, row["url"], allow_private=self.allow_private)
        if refused is not None:
            count(WEBHOOK, "refused")
            await self._log(pool, nid, row, attempt, None, refused, "failed", None)
            raise ApplicationError(refused, type="WebhookRefused", non_retryable=True)
        now = datetime.now(timezone.utc)
        status, error = await self._post(row, nid, now)
        if status is not None and 200 <= status < 300:
            count(WEBHOOK, "delivered")
            await self._log(pool, nid, row, attempt, status, None, "delivered", None)
            await pool.execute("UPDATE notifications SET status = 'delivered', delivered_at = now(), attempts = $2 "
                               "WHERE notification_id = $1", nid, attempt)
            return
        if status == 410:
            count(WEBHOOK, "gone")
            await self._log(pool, nid, row, attempt, status, None, "gone", None)
            await asyncio.to_thread(self._disable, row["recipient"], f"410 Gone answered to {nid}")
            raise ApplicationError("the receiver answered 410 Gone", type="WebhookGone", non_retryable=True)
        next_at = self._next_retry(delivery, info, now)
        count(WEBHOOK, "retry")
        await self._log(pool, nid, row, attempt, status, error, "retrying" if next_at else "failed", next_at)
        await pool.execute("UPDATE notifications SET attempts = $2 WHERE notification_id = $1", nid, attempt)
        raise ApplicationError(f"the receiver answered {status}" if status else error or "no answer",
                               type="WebhookNotDelivered")

    async def _mail(self, pool: asyncpg.Pool, note: Any) -> None:
        if self.mail is None:
            count(EMAIL, "refused")
            raise ApplicationError("no SMTP server is configured (THIDUA_SMTP_URL)", type="WebhookRefused",
                                   non_retryable=True)
        address = await pool.fetchval(
            "SELECT email FROM notification_preferences WHERE user_id = $1 ORDER BY position DESC LIMIT 1",
            note["recipient"])
        if not address:
            count(EMAIL, "refused")
            raise ApplicationError("the person has no e-mail address any more", type="WebhookRefused",
                                   non_retryable=True)
        attempt = activity.info().attempt
        await pool.execute("UPDATE notifications SET attempts = $2 WHERE notification_id = $1",
                           note["notification_id"], attempt)
        lines = await asyncio.to_thread(self._lines, note)
        try:
            await self.mail.send(address, note, lines)
        except (OSError, aiosmtplib.SMTPException) as exc:
            count(EMAIL, "retry")
            raise ApplicationError(f"the mail server refused it: {exc}"[:500], type="WebhookNotDelivered") from exc
        await pool.execute("UPDATE notifications SET status = 'delivered', delivered_at = now() "
                           "WHERE notification_id = $1", note["notification_id"])
        count(EMAIL, "delivered")

    def _lines(self, note: Any) -> tuple[str, ...]:
        """What a mail says besides its title: the digest's counts; an escalation's age."""
        if note["kind"] == "digest.daily":
            return self._digest_lines(note)
        if note["kind"] == "escalation.reminder" and note["target_id"] is not None:
            target = self.app.repository.get(note["target_id"])
            opened = (target.escalation or {}).get("opened_at")
            if opened is not None:
                return (escalation_age_line(note["occurred_at"] - opened),)
        return ()

    def _digest_lines(self, note: Any) -> tuple[str, ...]:
        """The digest a `digest.daily` mail summarises (its link ends with the day)."""
        day = str(note["link"]).rsplit("/", 1)[-1]
        digest = self.app.load(Digest, digest_uuid(note["campaign_id"], day), "digest")

        def unit_name(unit_id: str) -> str:
            try:
                return str(self.app.get_unit(unit_id).name)
            except NotFound:
                return unit_id

        return digest_lines(digest, unit_name)

    @staticmethod
    def _next_retry(delivery: Delivery, info: Any, now: datetime) -> datetime | None:
        """When Temporal's retry policy (thidua.workflows.webhook_workflow) tries again. An
        estimate: when the window ends first there is no retry, and `give_up` corrects
        the last attempt's row."""
        wait = min(timedelta(milliseconds=delivery.initial_interval_ms) * 2 ** (info.attempt - 1), MAX_INTERVAL)
        at = now + wait
        return at if at <= info.scheduled_time + timedelta(seconds=delivery.window_s) else None

    def _disable(self, webhook_id: str, reason: str) -> None:
        cmd = Command(f"webhook-gone-{webhook_id}", SYSTEM, datetime.now(timezone.utc))
        self.app.change(lambda: self.app.load(Webhook, webhook_uuid(webhook_id), "webhook"),
                        lambda hook: hook.disable(cmd, reason) if hook.active else False, cmd.id)

    async def _log(self, pool: asyncpg.Pool, nid: UUID, row: Any, attempt: int, status: int | None,
                   error: str | None, outcome: str, next_at: datetime | None) -> None:
        await pool.execute(
            "INSERT INTO webhook_deliveries (notification_id, attempt, webhook_id, attempted_at, status_code, error, "
            "outcome, next_retry_at) VALUES ($1, $2, $3, now(), $4, $5, $6, $7) "
            "ON CONFLICT (notification_id, attempt) DO UPDATE SET attempted_at = now(), status_code = $4, "
            "error = $5, outcome = $6, next_retry_at = $7",
            nid, attempt, row["recipient"], status, error, outcome, next_at)

    @activity.defn(name=GIVE_UP)
    async def give_up(self, delivery: Delivery) -> None:
        await self._fail_pending([UUID(delivery.notification_id)])

    async def _post(self, row: Any, nid: Any, at: datetime) -> tuple[int | None, str | None]:
        """One signed POST of the row's payload, signed as sent at `at`: (status code,
        None) or (None, the error)."""
        body = json.dumps(payload_of(row), ensure_ascii=False, separators=(",", ":"))
        headers = signed_headers(row["secret"], str(nid), body, at)
        try:
            response = await self._client().post(row["url"], content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        return response.status_code, None

    # ------------------------------------------------------------------ batches (WebhookBatchWorkflow)
    def _limit(self, key: str) -> asyncio.Semaphore:
        """Requests in flight to one receiver (a webhook, or the mail server), across batches:
        a dead receiver holds its own share only, the others' rows go on."""
        slots = self._receivers.get(key)
        if slots is None:
            slots = self._receivers[key] = asyncio.Semaphore(MAIL_PER_SERVER if key == EMAIL else PER_RECEIVER)
        return slots

    @activity.defn(name=DELIVER_BATCH)
    async def deliver_batch(self, batch: BatchAttempt) -> BatchOutcome:
        """Every row of the batch still pending, at once; each attempt logged. Answers the
        rows to try again (the workflow waits, then calls this again with them)."""
        pool = await self._db()
        rows = await pool.fetch(
            "SELECT n.*, w.url, w.active, s.secret FROM notifications n "
            "LEFT JOIN LATERAL (SELECT url, active FROM webhooks WHERE webhook_id = n.recipient "
            "ORDER BY position DESC LIMIT 1) w ON n.channel = 'webhook' "
            "LEFT JOIN webhook_secrets s ON n.channel = 'webhook' AND s.webhook_id = n.recipient "
            "WHERE n.notification_id = ANY($1::uuid[]) AND n.status = 'pending'",
            [UUID(i) for i in batch.notification_ids])
        record = _Record(batch.attempt)
        refusals: dict[str, asyncio.Task[str | None]] = {}  # per URL, once per try
        gone: dict[str, asyncio.Task[None]] = {}

        async def one(row: Any) -> None:
            if row["channel"] == EMAIL:
                async with self._limit(EMAIL), self._all:
                    await self._mail_one(row, batch, record)
                return
            await self._post_one(row, batch, record, refusals, gone)

        local = activity.info().is_local  # the batch's first try (WebhookBatchWorkflow._locally)

        async def keep_alive(done: asyncio.Event) -> None:
            # a worker that died mid-batch is noticed by the missing heartbeat (a local try
            # has none: its workflow task times out instead); what was delivered so far is
            # written on the way, not only at the end
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), HEARTBEAT_S)
                except TimeoutError:
                    if not local:
                        activity.heartbeat()
                    await record.flush(pool)

        done = asyncio.Event()
        beat = asyncio.create_task(keep_alive(done))
        try:
            await asyncio.gather(*(one(r) for r in rows))
            await asyncio.gather(*gone.values())
        finally:  # what was delivered is written even when the try fails (it is then retried)
            done.set()
            await beat  # never cut in the middle of a write
            await record.flush(pool)
        return BatchOutcome(retry=record.retry, delivered=record.delivered_count, failed=record.failed_count)

    async def _post_one(self, row: Any, batch: BatchAttempt, record: "_Record",
                        refusals: dict[str, asyncio.Task[str | None]], gone: dict[str, asyncio.Task[None]]) -> None:
        nid = row["notification_id"]
        hook = row["recipient"]
        refused = None
        if row["url"] is None:
            refused = "the webhook is not known"
        elif row["secret"] is None:  # registered before its secret was stored: cannot sign
            refused = "the webhook has no secret"
        elif not row["active"]:
            refused = "the webhook is disabled"
        else:
            check = refusals.get(row["url"])
            if check is None:
                check = refusals[row["url"]] = asyncio.create_task(
                    asyncio.to_thread(webhook_urls.refusal, row["url"], allow_private=self.allow_private))
            refused = await check
        if refused is not None:
            count(WEBHOOK, "refused")
            record.fail(row, None, refused, "failed")
            return
        async with self._limit(hook), self._all:
            status, error = await self._post(row, nid, datetime.now(timezone.utc))
        if status is not None and 200 <= status < 300:
            count(WEBHOOK, "delivered")
            record.deliver(row, status)
        elif status == 410:
            count(WEBHOOK, "gone")
            record.fail(row, status, None, "gone")
            if hook not in gone:
                gone[hook] = asyncio.create_task(asyncio.to_thread(self._disable, hook, f"410 Gone answered to {nid}"))
        else:
            count(WEBHOOK, "retry")
            record.again(row, status, error, _next_try(batch))

    async def _mail_one(self, note: Any, batch: BatchAttempt, record: "_Record") -> None:
        if self.mail is None:
            count(EMAIL, "refused")
            record.fail(note, None, "no SMTP server is configured (THIDUA_SMTP_URL)", "failed")
            return
        address = await (await self._db()).fetchval(
            "SELECT email FROM notification_preferences WHERE user_id = $1 ORDER BY position DESC LIMIT 1",
            note["recipient"])
        if not address:
            count(EMAIL, "refused")
            record.fail(note, None, "the person has no e-mail address any more", "failed")
            return
        try:
            lines = await asyncio.to_thread(self._lines, note)
            await self.mail.send(address, note, lines)
        except (OSError, aiosmtplib.SMTPException) as exc:
            count(EMAIL, "retry")
            record.again(note, None, f"the mail server refused it: {exc}"[:500], _next_try(batch))
            return
        count(EMAIL, "delivered")
        record.deliver(note, None)

    @activity.defn(name=GIVE_UP_BATCH)
    async def give_up_batch(self, notification_ids: list[str]) -> None:
        await self._fail_pending([UUID(i) for i in notification_ids])

    async def _fail_pending(self, ids: list[UUID]) -> None:
        """The window ended: the rows still pending are failed; their last attempt expected
        a retry that no longer comes."""
        pool = await self._db()
        async with pool.acquire() as conn, conn.transaction():
            channels = await conn.fetch("UPDATE notifications SET status = 'failed' WHERE notification_id = ANY($1) "
                                        "AND status = 'pending' RETURNING channel", ids)  # once, even when retried
            await conn.execute(
                "UPDATE webhook_deliveries d SET outcome = 'failed', next_retry_at = NULL WHERE "
                "d.notification_id = ANY($1) AND d.outcome = 'retrying' AND d.attempt = (SELECT max(attempt) "
                "FROM webhook_deliveries l WHERE l.notification_id = d.notification_id)", ids)
        for r in channels:
            count(r["channel"], "failed")


def _next_try(batch: BatchAttempt) -> datetime | None:
    """When the workflow tries the row again (it waits `retry_in_ms` after this try ends),
    or None when that is past the window (it gives up instead)."""
    at = datetime.now(timezone.utc) + timedelta(milliseconds=batch.retry_in_ms)
    return at if at.timestamp() <= batch.window_ends_at else None


class _Record:
    """One try's outcomes, written in bulk (by the heartbeat on the way, and at the end):
    the delivery log of webhooks, each row's status and attempts."""

    def __init__(self, attempt: int) -> None:
        self.attempt = attempt
        self.log: list[tuple[Any, ...]] = []
        self.delivered: list[UUID] = []
        self.retrying: list[UUID] = []
        self.failed: list[UUID] = []
        self.retry: list[str] = []
        self.delivered_count = self.failed_count = 0

    def deliver(self, row: Any, status: int | None) -> None:
        self.delivered_count += 1
        self.delivered.append(row["notification_id"])
        self._log(row, status, None, "delivered", None)

    def fail(self, row: Any, status: int | None, error: str | None, outcome: str) -> None:
        self.failed_count += 1
        self.failed.append(row["notification_id"])
        self._log(row, status, error, outcome, None)

    def again(self, row: Any, status: int | None, error: str | None, next_at: datetime | None) -> None:
        self.retry.append(str(row["notification_id"]))
        self.retrying.append(row["notification_id"])
        self._log(row, status, error, "retrying" if next_at else "failed", next_at)

    def _log(self, row: Any, status: int | None, error: str | None, outcome: str, next_at: datetime | None) -> None:
        if row["channel"] == WEBHOOK:  # e-mails keep their attempts on the row only
            self.log.append((row["notification_id"], self.attempt, row["recipient"], status, error, outcome, next_at))

    async def flush(self, pool: asyncpg.Pool) -> None:
        log, delivered, retrying, failed = self.log, self.delivered, self.retrying, self.failed
        if not (log or delivered or retrying or failed):
            return
        self.log, self.delivered, self.retrying, self.failed = [], [], [], []
        async with pool.acquire() as conn, conn.transaction():
            if log:
                await conn.execute(
                    "INSERT INTO webhook_deliveries (notification_id, attempt, webhook_id, attempted_at, status_code, "
                    "error, outcome, next_retry_at) SELECT l.n, l.a, l.w, now(), l.s, l.e, l.o, l.t FROM "
                    "unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::text[], $6::text[], $7::timestamptz[]) "
                    "AS l(n, a, w, s, e, o, t) ON CONFLICT (notification_id, attempt) DO UPDATE SET "
                    "attempted_at = now(), status_code = excluded.status_code, error = excluded.error, "
                    "outcome = excluded.outcome, next_retry_at = excluded.next_retry_at",
                    *[list(c) for c in zip(*log)])
            if delivered:
                await conn.execute("UPDATE notifications SET status = 'delivered', delivered_at = now(), attempts = $2 "
                                   "WHERE notification_id = ANY($1)", delivered, self.attempt)
            if retrying:
                await conn.execute("UPDATE notifications SET attempts = $2 WHERE notification_id = ANY($1)",
                                   retrying, self.attempt)
            if failed:
                for r in await conn.fetch("UPDATE notifications SET status = 'failed', attempts = $2 "
                                          "WHERE notification_id = ANY($1) AND status = 'pending' RETURNING channel",
                                          failed, self.attempt):
                    count(r["channel"], "failed")
