"""The eventsourcing application: where aggregates are saved and loaded.

Configured entirely by the `env` it is given (see `thidua.dburl.eventsourcing_env`),
so this module imports no database driver itself: eventsourcing loads psycopg
only when the application is constructed with the PostgreSQL persistence module.
Events go to the table `thidua_events`; `notification_id` there is the global
`position` the API reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from thidua.domain.campaign import Campaign, Unit, campaign_uuid, unit_uuid
from thidua.domain.errors import NotFound, VersionConflict
from thidua.domain.target import Target
from thidua.domain.user import User, user_uuid
from thidua.domain.values import (
    Actor,
    Cluster,
    Decision,
    EscalationState,
    Measure,
    Policy,
    ReportClass,
    Role,
    ScoringScale,
    Status,
    Trigger,
)

APP_NAME = "thidua"
EVENTS_TABLE = f"{APP_NAME}_events"

A = TypeVar("A")

# The attribute every event stored while serving a request carries: the id of that request
# (HTTP `X-Request-ID`, carried through Temporal to the activity). Metadata, not a change:
# set on the event object as it is saved, so no event class declares it, events stored
# before it (or by timers, which no request asked for) simply lack it, and topics stay.
REQUEST_ID_ATTRIBUTE = "request_id"

# A save that loses a race reloads and applies the command again; past this many
# lost races in a row the caller gets a VersionConflict (409) to retry later.
SAVE_ATTEMPTS = 5


@dataclass(frozen=True)
class Changed(Generic[A]):
    """What one command did to one aggregate: the aggregate after it, the global
    position of the last event it stored (or, for a replay that stored nothing, of the
    event that recorded the command the first time), and whether this call stored it."""

    aggregate: A
    position: int
    stored: bool
    created: bool = False


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ActorAsDict(Transcoding):
    type = Actor
    name = "actor"

    def encode(self, obj: Actor) -> dict[str, Any]:
        return obj.to_dict()

    def decode(self, data: dict[str, Any]) -> Actor:
        return Actor.from_dict(data)


def _dataclass_transcoding(cls: type, name: str, decode_fields: dict[str, Any] | None = None) -> Transcoding:
    """A transcoding that stores a frozen value object as the dict of its fields."""
    fixups = decode_fields or {}

    class _T(Transcoding):
        type = cls

        def encode(self, obj: Any) -> dict[str, Any]:
            return {k: getattr(obj, k) for k in obj.__dataclass_fields__}

        def decode(self, data: dict[str, Any]) -> Any:
            return cls(**{k: fixups.get(k, lambda v: v)(v) for k, v in data.items()})

    _T.name = name
    _T.__name__ = f"{cls.__name__}Transcoding"
    return _T()


def _enum_transcoding(cls: type, name: str) -> Transcoding:
    # StrEnums are str subclasses and the JSON encoder writes them as plain strings
    # without asking us; this transcoding exists for enums nested where that does not
    # happen and so decoding of older data keeps working if that ever changes.
    class _T(Transcoding):
        type = cls

        def encode(self, obj: Any) -> str:
            return obj.value

        def decode(self, data: str) -> Any:
            return cls(data)

    _T.name = name
    return _T()


class ThiduaApplication(Application[UUID]):
    """Campaigns, units, users and targets, all in one event store."""

    name = APP_NAME
    # No snapshots: a snapshot sits outside the events' hash chain, so a changed one
    # would change what an aggregate says (its owner, its state) unseen by the audit.
    # Every aggregate is replayed from its events; the worker's aggregate cache keeps
    # that cheap for the targets in use.
    snapshotting_intervals: ClassVar[dict[type, int]] = {}

    # Where the id of the request being served comes from. The domain knows no HTTP or
    # Temporal: the process that opens the store sets it (thidua.event_store gives the
    # logging context's request id); None stores no id.
    request_id_source: Callable[[], str | None] = staticmethod(lambda: None)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(ActorAsDict())
        for enum_cls in (Role, Status, ReportClass, Trigger, EscalationState):
            transcoder.register(_enum_transcoding(enum_cls, f"enum_{enum_cls.__name__.lower()}"))
        transcoder.register(_dataclass_transcoding(Policy, "policy"))
        transcoder.register(_dataclass_transcoding(ScoringScale, "scoring_scale"))
        transcoder.register(_dataclass_transcoding(Decision, "decision"))
        transcoder.register(_dataclass_transcoding(Measure, "measure"))
        transcoder.register(_dataclass_transcoding(Cluster, "cluster", {"member_unit_ids": tuple}))

    # ------------------------------------------------------------- writing
    def _record(self, processing_event: Any) -> Any:
        """Every save ends here: stamp the pending events with the request id, so one id
        follows a command from the HTTP request to the stored event."""
        request_id = self.request_id_source()
        if request_id:
            for stored in processing_event.events:
                # Events are frozen dataclasses; the stamp is metadata beside their fields.
                object.__setattr__(stored, REQUEST_ID_ATTRIBUTE, request_id)
        return super()._record(processing_event)

    def change(
        self,
        load: Callable[[], A],
        act: Callable[[A], bool],
        command_id: str,
        *,
        create: Callable[[], A] | None = None,
    ) -> Changed[A]:
        """The one write path: load -> act -> save, retried when a concurrent writer
        got there first.

        `act` applies one command to the loaded aggregate and says whether it recorded
        anything (False: a replayed command id). With `create`, an aggregate that does
        not exist yet is created by it instead (a concurrent creation makes the next
        attempt load that one and `act` on it: a replay or a refusal).
        """
        for _ in range(SAVE_ATTEMPTS):
            created = False
            try:
                aggregate = load()
            except NotFound:
                if create is None:
                    raise
                aggregate, created = create(), True
            if created or act(aggregate):
                try:
                    position = self.save_changes(aggregate)
                except VersionConflict:
                    continue
                if position is not None:
                    return Changed(aggregate, position, stored=True, created=created)
            return Changed(aggregate, self.position_of_command(aggregate, command_id), stored=False)
        raise VersionConflict("the record kept changing under concurrent writers; retry")

    def as_left_by(self, aggregate: A, version: int | None) -> A:
        """The aggregate as the event at `version` left it: how a replayed command is
        answered (its first answer), whatever happened since."""
        if version is None or version == aggregate.version:  # type: ignore[attr-defined]
            return aggregate
        return self.repository.get(aggregate.id, version=version)  # type: ignore[attr-defined]

    def position_of_command(self, aggregate: Any, command_id: str) -> int:
        """The position of the event `command_id` stored on `aggregate` (of its last
        event when that command stored nothing on it)."""
        version = aggregate.version_of_command(command_id) or aggregate.version
        return int(self.position_of(_as_uuid(aggregate.id, "aggregate"), version) or 0)

    def save_changes(self, *aggregates: Any) -> int | None:
        """Save pending events; return the position of the last one stored (None if
        there was nothing to store). A concurrent writer becomes VersionConflict."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError as exc:
            raise VersionConflict("the aggregate was changed by someone else; reload and retry") from exc
        if not recordings:
            return None
        return max(r.notification.id for r in recordings)

    def save_each(self, *aggregates: Any) -> dict[UUID, int]:
        """Save the pending events of many aggregates in one transaction; return the
        position of the last event stored for each. A concurrent writer of any of them
        becomes VersionConflict and nothing is stored."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError as exc:
            raise VersionConflict("an aggregate was changed by someone else; reload and retry") from exc
        positions: dict[UUID, int] = {}
        for recording in recordings:
            originator = recording.domain_event.originator_id
            positions[originator] = max(positions.get(originator, 0), recording.notification.id)
        return positions

    # ------------------------------------------------------------- reading
    def load(self, cls: type[A], aggregate_id: UUID, what: str, *, copy: bool = True) -> A:
        """The aggregate, up to date. `copy=False` only to look at it: the cached instance
        itself, which a caller must never change."""
        try:
            aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
        except AggregateNotFoundError as exc:
            raise NotFound(f"{what} not found", id=str(aggregate_id)) from exc
        if not isinstance(aggregate, cls):
            raise NotFound(f"{what} not found", id=str(aggregate_id))
        return aggregate

    def get_target(self, target_id: UUID | str) -> Target:
        return self.load(Target, _as_uuid(target_id, "target"), "target")

    def get_campaign(self, campaign_id: str) -> Campaign:
        return self.load(Campaign, campaign_uuid(campaign_id), f"campaign {campaign_id!r}")

    def peek_campaign(self, campaign_id: str) -> Campaign:
        """The campaign, only to look at (never to change): the cached aggregate is
        fast-forwarded to its last stored event (so a close recorded a moment ago is seen)
        but not copied, as a command's aggregate is (the copy was about half the CPU of a
        target command's campaign check)."""
        return self.load(Campaign, campaign_uuid(campaign_id), f"campaign {campaign_id!r}", copy=False)

    def get_unit(self, unit_id: str) -> Unit:
        return self.load(Unit, unit_uuid(unit_id), f"unit {unit_id!r}")

    def get_user(self, user_id: str) -> User:
        return self.load(User, user_uuid(user_id), f"user {user_id!r}")

    def exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository

    def position_of(self, aggregate_id: UUID, version: int) -> int | None:
        """The global position of one stored event (for idempotent replays)."""
        recorder = self.recorder
        with recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
            curs.execute(
                f"SELECT notification_id FROM {recorder.events_table_name} "  # type: ignore[attr-defined]
                "WHERE originator_id = %s AND originator_version = %s",
                (aggregate_id, version),
            )
            row = curs.fetchone()
        return None if row is None else int(row["notification_id"])

    def existing(self, aggregate_ids: list[UUID]) -> set[UUID]:
        """Which of these aggregates have been stored (one query, for bulk checks)."""
        if not aggregate_ids:
            return set()
        recorder = self.recorder
        with recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
            curs.execute(
                f"SELECT originator_id FROM {recorder.events_table_name} "  # type: ignore[attr-defined]
                "WHERE originator_id = ANY(%s) AND originator_version = 1",
                (list(aggregate_ids),),
            )
            return {row["originator_id"] for row in curs.fetchall()}

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0


def _as_uuid(value: UUID | str, what: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise NotFound(f"{what} not found", id=str(value)) from exc


def new_application(env: dict[str, str]) -> ThiduaApplication:
    """One per process, created after fork (eventsourcing is thread-safe, not fork-safe)."""
    return ThiduaApplication(env=env)


__all__ = ["EVENTS_TABLE", "REQUEST_ID_ATTRIBUTE", "ThiduaApplication", "new_application", "datetime"]
