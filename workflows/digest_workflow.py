"""The daily digest of one campaign (DESIGN.md "Notifications"): started by the campaign's
Temporal Schedule (thidua.workflows.digest_schedules) at 07:00 in its time zone, it records
the digest of overdue and stale targets per unit once for the local day
(thidua.workflows.digest_activities); the outbox turns it into `digest.daily` notifications.

The digest is computed *as of* the workflow's own clock (`workflow.now()`: the schedule's
fire time, or a virtual time under time skipping), so the same run always computes the
same digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

RECORD_DIGEST = "record_daily_digest"


@dataclass
class DigestRequest:
    campaign_id: str
    as_of: str | None = None  # ISO instant; None: the workflow's clock when it starts


@workflow.defn(name="DailyDigest")
class DailyDigestWorkflow:
    @workflow.run
    async def run(self, request: DigestRequest) -> str:
        as_of = request.as_of or workflow.now().isoformat()
        return await workflow.execute_activity(
            RECORD_DIGEST, DigestRequest(request.campaign_id, as_of), result_type=str,
            start_to_close_timeout=timedelta(minutes=2),
            # the database away for a while: keep trying through the morning
            schedule_to_close_timeout=timedelta(hours=6),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5),
                                     non_retryable_error_types=["DigestRefused"]),
        )
