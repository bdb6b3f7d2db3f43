"""The outbox's backlog as Prometheus gauges on the API's /metrics, read from the outbox at
each scrape: what waits to be delivered (per channel, and how long the oldest has waited)
and what was given up. Durable figures: they survive any process restart, unlike the
worker's delivery counters (`thidua_notification_deliveries`, see
thidua.workflows.webhook_activities), which count what one worker did."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

CHANNELS = ("email", "webhook")


class OutboxGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.backlog = Gauge("thidua_notifications_backlog", "Notifications waiting to be delivered, by channel",
                             ["channel"], registry=registry)
        self.oldest = Gauge("thidua_notifications_oldest_pending_seconds",
                            "Age of the oldest notification waiting to be delivered, by channel", ["channel"],
                            registry=registry)
        self.failed = Gauge("thidua_notifications_failed", "Notifications given up, by channel", ["channel"],
                            registry=registry)

    async def refresh(self, pool: Any) -> None:
        rows = await pool.fetch(
            "SELECT channel, status, count(*) AS n, min(occurred_at) AS oldest FROM public.notifications "
            "WHERE status <> 'delivered' AND channel <> 'inbox' GROUP BY channel, status")
        now = datetime.now(timezone.utc)
        found = {(r["channel"], r["status"]): r for r in rows}
        for channel in CHANNELS:
            pending = found.get((channel, "pending"))
            self.backlog.labels(channel).set(pending["n"] if pending else 0)
            self.oldest.labels(channel).set((now - pending["oldest"]).total_seconds() if pending else 0)
            failed = found.get((channel, "failed"))
            self.failed.labels(channel).set(failed["n"] if failed else 0)


def gauges_of(metrics: Any) -> OutboxGauges:
    """The gauges on this API's registry (made at the first scrape)."""
    gauges = getattr(metrics, "outbox", None)
    if gauges is None:
        gauges = metrics.outbox = OutboxGauges(metrics.registry)
    return gauges
