"""The `notifications` projection: the outbox.

For every stored event that `thidua.domain.notifications` declares, one row per recipient and
channel in `notifications`, written in the batch's transaction with the group's
tracking row, so each is written exactly once. Its id is stable
(`thidua.domain.notifications.notification_id`: position, kind, channel, recipient) and rows
are inserted `ON CONFLICT DO NOTHING`: projecting an event again (a batch retried, the
tracking row moved back) writes nothing new and never touches what was read or
delivered. For that reason the outbox is never rebuilt into a scratch schema and
swapped like the read models (thidua.projections.rebuild leaves it out): swapping would forget
deliveries and send everything again.

Channels: `inbox` rows are delivered when written; `email` rows (for recipients who
chose the kind by e-mail: `thidua.domain.preferences`) and `webhook` rows (one per active
webhook whose campaign and kinds match) wait in `pending` for the delivery workflow of their
batch (thidua.workflows.webhook_batch), which records attempts in `webhook_deliveries`.

Recipients are resolved as of the event: the group keeps who held which role
(`notification_recipients`, from the users' events) and the webhooks (`webhooks`,
from the webhooks' events) from each position on in its own tables, loaded as of the
batch's start by `sync` and followed event by event in `prepare`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from thidua.domain.digest import digest_link
from thidua.domain.history import is_migrated
from thidua.domain.notifications import (
    BY_EVENT,
    EMAIL,
    INBOX,
    WEBHOOK,
    Directory,
    evaluation_link,
    notification_id,
    recipients,
    round_recipients,
    target_link,
)
from thidua.projections.batch import BatchContext, Prepared, upsert
from thidua.projections.pipeline import Step
from thidua.projections.schema import qident

OUTBOX_CHANNEL = "thidua_outbox"  # NOTIFYed when rows to deliver were written (the dispatcher LISTENs)

_OUTBOX_COLUMNS = (
    ("notification_id", "uuid"),
    ("kind", "text"),
    ("channel", "text"),
    ("recipient", "text"),
    ("position", "bigint"),
    ("occurred_at", "timestamptz"),
    ("campaign_id", "text"),
    ("target_id", "uuid"),
    ("link", "text"),
    ("status", "text"),
)
_RECIPIENT_COLUMNS = (("user_id", "text"), ("position", "bigint"), ("role", "text"), ("unit_id", "text"),
                      ("active", "boolean"))
_PREFERENCE_COLUMNS = (("user_id", "text"), ("position", "bigint"), ("email", "text"), ("kinds", "text"))
_WEBHOOK_COLUMNS = (
    ("webhook_id", "text"),
    ("position", "bigint"),
    ("url", "text"),
    ("campaign_id", "text"),
    ("kinds", "text"),  # comma-separated (unnest would flatten an array column)
    ("active", "boolean"),
)


class Hook:
    __slots__ = ("webhook_id", "url", "campaign_id", "kinds", "active")

    def __init__(self, webhook_id: str, url: str, campaign_id: str | None, kinds: list[str], active: bool) -> None:
        self.webhook_id, self.url, self.campaign_id = webhook_id, url, campaign_id
        self.kinds, self.active = frozenset(kinds), active

    def wants(self, kind: str, campaign_id: str) -> bool:
        return self.active and kind in self.kinds and self.campaign_id in (None, campaign_id)


class NotificationsProjection:
    name = "notifications"

    def __init__(self) -> None:
        self.directory = Directory()
        self.hooks: dict[str, Hook] = {}
        self.email_kinds: dict[str, frozenset[str]] = {}  # user id -> kinds they want by e-mail

    async def sync(self, conn: asyncpg.Connection, schema: str, start: int) -> None:
        s = qident(schema)
        self.directory = Directory()
        for r in await conn.fetch(
                f"SELECT DISTINCT ON (user_id) user_id, role, unit_id, active FROM {s}.notification_recipients "
                "WHERE position <= $1 ORDER BY user_id, position DESC", start):
            self.directory.set(r["user_id"], r["role"], r["unit_id"], not r["active"])
        self.email_kinds = {
            r["user_id"]: frozenset(_kinds(r["kinds"])) if r["email"] else frozenset()
            for r in await conn.fetch(
                f"SELECT DISTINCT ON (user_id) user_id, email, kinds FROM {s}.notification_preferences "
                "WHERE position <= $1 ORDER BY user_id, position DESC", start)
        }
        self.hooks = {
            r["webhook_id"]: Hook(r["webhook_id"], r["url"], r["campaign_id"], _kinds(r["kinds"]), r["active"])
            for r in await conn.fetch(
                f"SELECT DISTINCT ON (webhook_id) webhook_id, url, campaign_id, kinds, active FROM {s}.webhooks "
                "WHERE position <= $1 ORDER BY webhook_id, position DESC", start)
        }

    def prepare(self, batch: Prepared, steps: list[Step]) -> tuple[list[Any], ...]:
        outbox: list[tuple[Any, ...]] = []
        people: list[tuple[Any, ...]] = []
        hooks: list[tuple[Any, ...]] = []
        prefs: list[tuple[Any, ...]] = []
        for step in steps:
            if step.kind == "user":
                user = step.aggregate
                self.directory.set(user.user_id, str(user.role), user.unit_id, bool(user.revoked))
                people.append((user.user_id, step.position, str(user.role), user.unit_id, not user.revoked))
            elif step.kind == "preferences":
                p = step.aggregate
                self.email_kinds[p.user_id] = frozenset(p.email_kinds) if p.email else frozenset()
                prefs.append((p.user_id, step.position, p.email, ",".join(p.email_kinds)))
            elif step.kind == "webhook":
                hook = step.aggregate
                self.hooks[hook.webhook_id] = Hook(hook.webhook_id, hook.url, hook.campaign_id, list(hook.kinds),
                                                   hook.active)
                hooks.append((hook.webhook_id, step.position, hook.url, hook.campaign_id, ",".join(hook.kinds),
                              hook.active))
            elif step.kind == "target":
                outbox.extend(self._target_rows(step))
            elif step.kind == "digest":
                outbox.extend(self._digest_rows(step))
            elif step.kind == "evaluation":
                outbox.extend(self._evaluation_rows(step))
        return outbox, people, hooks, prefs

    def _target_rows(self, step: Step) -> list[tuple[Any, ...]]:
        notices = BY_EVENT.get(f"Target.{step.event_type}")
        if not notices or brought_from_old_records(step.event):
            return []
        after = step.after
        assert after is not None
        before = step.before
        target_id: UUID = step.stored.originator_id
        return self._notices_rows(step, notices, after.campaign_id, target_id, target_link(target_id),
                                  unit_before=before.unit_id if before else None, unit_after=after.unit_id)

    def _digest_rows(self, step: Step) -> list[tuple[Any, ...]]:
        notices = BY_EVENT.get(f"Digest.{step.event_type}")
        if not notices:
            return []
        digest = step.event
        return self._notices_rows(step, notices, digest.campaign_id, None,
                                  digest_link(digest.campaign_id, digest.day), unit_before=None, unit_after=None)

    def _notices_rows(self, step: Step, notices: tuple[Any, ...], campaign_id: str, target_id: UUID | None,
                      link: str, *, unit_before: str | None, unit_after: str | None) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for notice in notices:
            if not notice.raised_by(step.event):
                continue
            people = recipients(notice, self.directory, unit_before=unit_before, unit_after=unit_after,
                                event=step.event)
            rows += self._rows(notice.kind, people, step, campaign_id, target_id, link)
        return rows

    def _evaluation_rows(self, step: Step) -> list[tuple[Any, ...]]:
        notices = BY_EVENT.get(f"Evaluation.{step.event_type}")
        if not notices:
            return []
        evaluation = step.aggregate
        if step.event_type == "Approved":
            unit_ids = [a["unit_id"] for a in step.event.awards]
        elif step.event_type == "AwardRevoked":
            unit_ids = [evaluation.awards[step.event.award_id]["unit_id"]]
        else:
            unit_ids = list(evaluation.units)
        rows: list[tuple[Any, ...]] = []
        for notice in notices:
            people = round_recipients(notice, self.directory, unit_ids)
            rows += self._rows(notice.kind, people, step, evaluation.campaign_id, None,
                               evaluation_link(evaluation.evaluation_id))
        return rows

    def _rows(self, kind: str, people: list[str], step: Step, campaign_id: str, target_id: UUID | None,
              link: str) -> list[tuple[Any, ...]]:
        """The outbox rows of one notice: each person's inbox (and e-mail, if chosen), each webhook that wants it."""
        occurred_at = step.event.occurred_at
        rows = []
        for user_id in people:
            rows.append((notification_id(step.position, kind, INBOX, user_id), kind, INBOX, user_id,
                         step.position, occurred_at, campaign_id, target_id, link, "delivered"))
            if kind in self.email_kinds.get(user_id, ()):
                rows.append((notification_id(step.position, kind, EMAIL, user_id), kind, EMAIL,
                             user_id, step.position, occurred_at, campaign_id, target_id, link, "pending"))
        for hook in self.hooks.values():
            if hook.wants(kind, campaign_id):
                rows.append((notification_id(step.position, kind, WEBHOOK, hook.webhook_id), kind,
                             WEBHOOK, hook.webhook_id, step.position, occurred_at, campaign_id, target_id,
                             link, "pending"))
        return rows

    async def write(self, ctx: BatchContext, prepared: tuple[list[Any], ...]) -> None:
        outbox, people, hooks, prefs = prepared
        conn = ctx.conn
        await upsert(conn, ctx.table("notification_recipients"), _RECIPIENT_COLUMNS, people, ("user_id", "position"))
        await upsert(conn, ctx.table("webhooks"), _WEBHOOK_COLUMNS, hooks, ("webhook_id", "position"))
        await upsert(conn, ctx.table("notification_preferences"), _PREFERENCE_COLUMNS, prefs, ("user_id", "position"))
        if outbox:
            names = [c for c, _ in _OUTBOX_COLUMNS]
            casts = ", ".join(f"${i + 1}::{t}[]" for i, (_, t) in enumerate(_OUTBOX_COLUMNS))
            await conn.execute(
                f"INSERT INTO {ctx.table('notifications')} ({', '.join(names)}) SELECT * FROM unnest({casts}) "
                "ON CONFLICT (notification_id) DO NOTHING",
                *[list(col) for col in zip(*outbox)],
            )
            if any(row[2] != INBOX for row in outbox):
                await conn.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)

    async def flush(self, ctx: BatchContext) -> bool:
        return False


def brought_from_old_records(event: Any) -> bool:
    """The past a history import recorded (domain/history.py) notifies nobody now: it
    happened long ago, and the people it concerned knew of it then."""
    actor = getattr(event, "actor", None)
    actor_id = actor.get("id") if isinstance(actor, dict) else getattr(actor, "id", None)
    return is_migrated(actor_id, getattr(event, "command_id", None))


def _kinds(text: str) -> list[str]:
    return [k for k in text.split(",") if k]
