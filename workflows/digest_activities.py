"""The activity of DailyDigestWorkflow: compute one campaign's digest as of an instant
from the `targets` read model and record it once (thidua.domain.digest).

- overdue: an open target whose deadline passed (flagged by its workflow, or past
  `deadline_at` at the instant);
- stale: an open target with no progress (its last activity, else its assignment) for
  the campaign policy's `stale_after`.
The local day is the instant's date in the campaign's time zone; a digest with nothing
to report is not recorded (nobody is told "nothing" every morning).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.exceptions import ApplicationError

from thidua.workflows.lazy_pool import LazyPool
from thidua.domain.digest import Digest, digest_command_id, digest_uuid
from thidua.domain.values import SYSTEM, Command, parse_duration
from thidua.workflows.digest_workflow import RECORD_DIGEST, DigestRequest

_OPEN_TARGETS = """
    SELECT unit_id, target_id::text AS target_id,
           overdue OR deadline_at <= $2 AS late,
           coalesce((state->>'last_activity_at')::timestamptz, assigned_at) <= $3 AS stale
    FROM targets
    WHERE campaign_id = $1 AND status NOT IN ('completed', 'cancelled')
    ORDER BY unit_id, target_id"""


def units_of(rows: list[Any]) -> list[dict[str, Any]]:
    """[{unit_id, overdue, stale}] for units with anything to report, in unit order."""
    units: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not (r["late"] or r["stale"]):
            continue
        unit = units.setdefault(r["unit_id"], {"unit_id": r["unit_id"], "overdue": [], "stale": []})
        if r["late"]:
            unit["overdue"].append(r["target_id"])
        if r["stale"]:
            unit["stale"].append(r["target_id"])
    return list(units.values())


class DigestActivities:
    def __init__(self, dsn: str, app: Any, pool: Any = None) -> None:
        self.dsn = dsn
        self.app = app
        self._pools = LazyPool(dsn, pool)

    async def close(self) -> None:
        await self._pools.close()

    def all(self) -> list[Any]:
        return [self.record]

    @activity.defn(name=RECORD_DIGEST)
    async def record(self, request: DigestRequest) -> str:
        """'recorded <day>', 'already <day>' or 'nothing <day>'."""
        pool = await self._pools.get()
        campaign = await pool.fetchrow("SELECT timezone, policy FROM campaigns WHERE campaign_id = $1",
                                       request.campaign_id)
        if campaign is None:
            raise ApplicationError(f"no campaign {request.campaign_id!r}", type="DigestRefused", non_retryable=True)
        as_of = datetime.fromisoformat(request.as_of or datetime.now(timezone.utc).isoformat())
        day = as_of.astimezone(ZoneInfo(campaign["timezone"])).date().isoformat()
        policy = campaign["policy"] if isinstance(campaign["policy"], dict) else json.loads(campaign["policy"])
        stale_before = as_of - parse_duration(policy.get("stale_after", "P14D"))
        units = units_of(await pool.fetch(_OPEN_TARGETS, request.campaign_id, as_of, stale_before))
        if not units:
            return f"nothing {day}"
        return await asyncio.to_thread(self._record, request.campaign_id, day, as_of, units)

    def _record(self, campaign_id: str, day: str, as_of: datetime, units: list[dict[str, Any]]) -> str:
        app = self.app
        cmd = Command(digest_command_id(campaign_id, day), SYSTEM, datetime.now(timezone.utc))
        changed = app.change(
            lambda: app.load(Digest, digest_uuid(campaign_id, day), "digest"), lambda digest: False, cmd.id,
            create=lambda: Digest.record(cmd, campaign_id=campaign_id, day=day, as_of=as_of.isoformat(),
                                         units=units))
        return f"{'recorded' if changed.created else 'already'} {day}"

