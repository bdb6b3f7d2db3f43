"""The daily digest: a morning summary, for one campaign and one local day, of the
targets that are overdue or stale, per unit, recorded once as an event so the outbox
(thidua.projections.notifications) turns it into `digest.daily` notifications for the
secretariat, and the audit trail shows who (the system), when and from which command.

One aggregate per campaign and day (`digest_uuid`): recording the same day again (a
retried activity, a schedule that fired twice) finds it and records nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from thidua.domain.commandlog import CommandLog, event_meta, fingerprint
from thidua.domain.errors import NotAllowed
from thidua.domain.values import Actor, Command, Role

NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/digests")


def digest_uuid(campaign_id: str, day: str) -> UUID:
    return uuid5(NAMESPACE, f"{campaign_id}:{day}")


def digest_command_id(campaign_id: str, day: str) -> str:
    """Deterministic: the same campaign and day is the same command."""
    return f"digest:{campaign_id}:{day}"


class Digest(CommandLog, Aggregate):
    @staticmethod
    def create_id(campaign_id: str, day: str) -> UUID:  # type: ignore[override]
        return digest_uuid(campaign_id, day)

    @classmethod
    def record(cls, cmd: Command, *, campaign_id: str, day: str, as_of: str,
               units: list[dict[str, Any]]) -> Digest:
        """`units`: [{unit_id, overdue: [target ids], stale: [target ids]}], units in order."""
        if cmd.actor.role != Role.SYSTEM:
            raise NotAllowed("only the system records the daily digest", command="record_digest",
                             role=str(cmd.actor.role))
        payload = {"campaign_id": campaign_id, "day": day, "as_of": as_of, "units": units}
        return cls(**payload, **event_meta(cmd, fingerprint("record_digest", campaign_id=campaign_id, day=day)))

    @event("Recorded")
    def __init__(self, campaign_id: str, day: str, as_of: str, units: list[dict[str, Any]], actor: Actor,
                 occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.campaign_id = campaign_id
        self.day = day
        self.as_of = as_of
        self.units = [dict(u) for u in units]
        self.applied = {}
        self._remember(command_id, fingerprint, occurred_at, actor, 1)

    @property
    def counts(self) -> tuple[int, int]:
        """(overdue, stale) over every unit."""
        return (sum(len(u["overdue"]) for u in self.units), sum(len(u["stale"]) for u in self.units))


def digest_link(campaign_id: str, day: str) -> str:
    return f"/v1/campaigns/{campaign_id}/digests/{day}"
