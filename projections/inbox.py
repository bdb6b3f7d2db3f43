"""What the API reads and marks in the outbox (thidua.projections.notifications): a person's
inbox, newest first, and their read marks; for the secretariat, the webhooks, their
delivery logs and the notifications given up."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from asyncpg import Pool

_FIELDS = "notification_id, kind, occurred_at, campaign_id, target_id, position, link, read_at"


def _position_keyset(after: Any) -> tuple[int, UUID]:
    """A list's `next`, [position, notification_id], checked (a tampered cursor: ValueError)."""
    try:
        return int(after[0]), UUID(str(after[1]))
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"bad cursor {after!r}") from exc


def _item(r: Any) -> dict[str, Any]:
    return {"id": str(r["notification_id"]), "kind": r["kind"], "occurred_at": r["occurred_at"],
            "campaign_id": r["campaign_id"], "target_id": str(r["target_id"]) if r["target_id"] else None,
            "position": r["position"], "link": r["link"], "read_at": r["read_at"]}


async def list_inbox(pool: Pool, user_id: str, *, unread: bool, limit: int, after: Any) -> dict[str, Any]:
    """`after`: the `next` of the previous page, [position, notification_id]."""
    args: list[Any] = [user_id]
    where = "channel = 'inbox' AND recipient = $1"
    if unread:
        where += " AND read_at IS NULL"
    if after is not None:
        args += list(_position_keyset(after))
        where += " AND (position, notification_id) < ($2, $3)"
    rows = await pool.fetch(
        f"SELECT {_FIELDS} FROM public.notifications WHERE {where} "
        f"ORDER BY position DESC, notification_id DESC LIMIT {int(limit) + 1}", *args)
    more = len(rows) > limit
    rows = rows[:limit]
    unread = await unread_count(pool, user_id)
    nxt = [rows[-1]["position"], str(rows[-1]["notification_id"])] if more else None
    return {"items": [_item(r) for r in rows], "next": nxt, "unread": unread}


async def unread_count(pool: Pool, user_id: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM public.notifications WHERE channel = 'inbox' AND recipient = $1 AND read_at IS NULL",
        user_id)


async def mark_read(pool: Pool, user_id: str, nid: UUID, at: datetime) -> dict[str, Any] | None:
    """The notification, marked read (the first read mark stays); None if it is not in
    this person's inbox."""
    row = await pool.fetchrow(
        f"UPDATE public.notifications SET read_at = coalesce(read_at, $3) "
        f"WHERE notification_id = $1 AND channel = 'inbox' AND recipient = $2 RETURNING {_FIELDS}",
        nid, user_id, at)
    return _item(row) if row is not None else None


async def list_deliveries(pool: Pool, webhook_id: str, *, limit: int, after: Any) -> dict[str, Any]:
    """A webhook's delivery log, newest first. `after`: [attempted_at, notification_id, attempt]."""
    args: list[Any] = [webhook_id]
    where = "d.webhook_id = $1"
    if after is not None:
        try:
            at, nid, attempt = datetime.fromisoformat(str(after[0])), UUID(str(after[1])), int(after[2])
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"bad cursor {after!r}") from exc
        args += [at, nid, attempt]
        where += " AND (d.attempted_at, d.notification_id, d.attempt) < ($2, $3, $4)"
    rows = await pool.fetch(
        "SELECT d.*, n.kind FROM public.webhook_deliveries d JOIN public.notifications n USING (notification_id) "
        f"WHERE {where} ORDER BY d.attempted_at DESC, d.notification_id DESC, d.attempt DESC LIMIT {int(limit) + 1}",
        *args)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"notification_id": str(r["notification_id"]), "kind": r["kind"], "attempt": r["attempt"],
              "attempted_at": r["attempted_at"], "status_code": r["status_code"], "error": r["error"],
              "outcome": r["outcome"], "next_retry_at": r["next_retry_at"]} for r in rows]
    last = rows[-1] if rows else None
    nxt = [last["attempted_at"].isoformat(), str(last["notification_id"]), last["attempt"]] if more and last else None
    return {"items": items, "next": nxt}


async def list_failed(pool: Pool, *, campaign_id: str | None, limit: int, after: Any) -> dict[str, Any]:
    """Notifications given up (e-mail or webhook), newest first, with their last attempt's
    status code or error (webhooks log each attempt). `after`: [position, notification_id]."""
    args: list[Any] = []
    where = "n.status = 'failed'"
    if campaign_id is not None:
        args.append(campaign_id)
        where += f" AND n.campaign_id = ${len(args)}"
    if after is not None:
        args += list(_position_keyset(after))
        where += f" AND (n.position, n.notification_id) < (${len(args) - 1}, ${len(args)})"
    rows = await pool.fetch(
        "SELECT n.notification_id, n.kind, n.channel, n.recipient, n.occurred_at, n.campaign_id, n.target_id, "
        "n.position, n.link, n.attempts, d.status_code, d.error FROM public.notifications n "
        "LEFT JOIN LATERAL (SELECT status_code, error FROM public.webhook_deliveries w "
        "WHERE w.notification_id = n.notification_id ORDER BY attempt DESC LIMIT 1) d ON true "
        f"WHERE {where} ORDER BY n.position DESC, n.notification_id DESC LIMIT {int(limit) + 1}", *args)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"id": str(r["notification_id"]), "kind": r["kind"], "channel": r["channel"],
              "recipient": r["recipient"], "occurred_at": r["occurred_at"], "campaign_id": r["campaign_id"],
              "target_id": str(r["target_id"]) if r["target_id"] else None, "position": r["position"],
              "link": r["link"], "attempts": r["attempts"], "last_status_code": r["status_code"],
              "last_error": r["error"]} for r in rows]
    nxt = [rows[-1]["position"], str(rows[-1]["notification_id"])] if more else None
    return {"items": items, "next": nxt}


async def list_webhooks(pool: Pool, *, campaign_id: str | None = None) -> list[dict[str, Any]]:
    """Every registered webhook as it is now (its last row), newest registration first."""
    rows = await pool.fetch(
        "SELECT * FROM (SELECT DISTINCT ON (webhook_id) webhook_id, url, campaign_id, kinds, active, "
        "(SELECT min(position) FROM public.webhooks f WHERE f.webhook_id = w.webhook_id) AS registered_at "
        "FROM public.webhooks w ORDER BY webhook_id, position DESC) hooks "
        "WHERE $1::text IS NULL OR campaign_id = $1 ORDER BY registered_at DESC", campaign_id)
    return [{"id": r["webhook_id"], "url": r["url"], "campaign_id": r["campaign_id"],
             "events": [k for k in r["kinds"].split(",") if k], "active": r["active"],
             "position": r["registered_at"]} for r in rows]
