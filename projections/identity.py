"""Steps without aggregates, for groups that need only who an event is about.

The audit trail records each event's stored payload, its instants and where it
belongs (aggregate id, campaign, target, unit). Where it belongs is the only thing it
takes from the aggregates, and for that decoding every event into a domain object and
replaying it (`AggregateCache.apply`: two thirds of an audit rebuild's CPU) is not
needed: a target's campaign is fixed at its assignment and its unit moves only by the
events `thidua.domain.target.UNIT_SET_BY` names; a campaign, unit or user keeps the ids it was
created with. An `IdentityCache` follows exactly that from the stored payloads.

The engine uses it when none of its groups needs aggregates (the audit trail's
rebuild); the live projector keeps one `AggregateCache` for all groups. Both give the
same rows: the tests compare a live trail with a rebuilt one.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from thidua.domain.target import unit_after
from thidua.projections.codec import StoredDecoder, topic_info
from thidua.projections.pipeline import AggregateCache, AggregateView, Step, Stored, _stored

Identity = tuple[str, "str | None", "UUID | None", "str | None"]  # (aggregate_id, campaign_id, target_id, unit_id)


class _Known(NamedTuple):
    version: int
    aggregate_id: str
    campaign_id: str | None
    unit_id: str | None  # a target's unit after its last event; a unit's or user's own


class IdentityCache:
    """Where each aggregate belongs as of `position` (same interface as
    `AggregateCache` for the engine). A few hundred bytes per aggregate (≈ 40 MB at
    100k targets, against ≈ 3 KB per cached target): all are kept."""

    def __init__(self) -> None:
        self.decoder = StoredDecoder()
        self._known: dict[UUID, _Known] = {}
        self.position: int | None = None
        self.generation = 0
        self._views = AggregateCache(max_targets=0)  # loads campaigns/units for views (unused by audit)

    def clear(self) -> None:
        self._known.clear()
        self.position = None
        self.generation += 1

    def needed(self, start: int, rows: list[Stored]) -> dict[UUID, int]:
        """Aggregates not followed up to just before their first event in `rows`."""
        if self.position != start:
            self.clear()
        needed: dict[UUID, int] = {}
        seen: set[UUID] = set()
        known = self._known
        for r in rows:
            oid = r.originator_id
            if oid in seen:
                continue
            seen.add(oid)
            have = known.get(oid)
            if (have.version if have is not None else 0) != r.version - 1:
                needed[oid] = r.version
        return needed

    history = staticmethod(AggregateCache.history)

    def apply(self, start: int, rows: list[Stored], history: list[Any]) -> list[Step]:
        """Follow `rows` (which come after `start`), having first followed `history`."""
        if self.position != start:
            self.clear()
        for row in history:
            self._follow(_stored(row), self.decoder.payload(row["state"]))
        steps: list[Step] = []
        append = steps.append
        payload = self.decoder.payload
        for stored in rows:
            data = payload(stored.state)
            kind, event_type, identity = self._follow(stored, data)
            append(Step(stored, None, kind, event_type, None, None, None, data, identity))
        self.position = rows[-1].position if rows else start
        return steps

    def _follow(self, stored: Stored, data: dict[str, Any]) -> tuple[str, str, Identity]:
        _, kind, event_type, _ = topic_info(stored.topic)
        oid = stored.originator_id
        have = self._known.get(oid)
        if kind == "target":
            campaign = have.campaign_id if have is not None else data.get("campaign_id")
            unit = unit_after(event_type, data, have.unit_id if have is not None else None)
            self._known[oid] = _Known(stored.version, str(oid), campaign, unit)
            return kind, event_type, (str(oid), campaign, oid, unit)
        if have is None:
            have = _Known(stored.version, *_created_identity(kind, oid, data))
        self._known[oid] = have._replace(version=stored.version)
        if kind == "campaign":
            # A campaign event is about a unit when it names one (a bonus, say).
            return kind, event_type, (have.aggregate_id, have.campaign_id, None, data.get("unit_id"))
        return kind, event_type, (have.aggregate_id, have.campaign_id, None, have.unit_id)

    def view(self, position: int) -> AggregateView:
        return AggregateView(position, {}, self._views)

    def adopt(self, view: AggregateView) -> None:
        pass


def _created_identity(kind: str, oid: UUID, data: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(aggregate_id, campaign_id, unit_id) from an aggregate's first event."""
    if kind == "campaign":
        return data["campaign_id"], data["campaign_id"], None
    if kind == "unit":
        return data["unit_id"], None, data["unit_id"]
    if kind == "user":
        return data["user_id"], None, data.get("unit_id")
    return str(oid), None, None
