"""Value objects shared by the aggregates, the scoring rules and the permissions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate

from thidua.domain.errors import BadInput

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


class Role(StrEnum):
    SECRETARIAT = "secretariat"
    STANDING_COMMITTEE = "standing_committee"
    UNIT_HEAD = "unit_head"
    INSPECTOR = "inspector"
    SYSTEM = "system"


class Status(StrEnum):
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    ESCALATED = "escalated"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    # A completion the unit reported, waiting for the secretariat's acceptance (nghiệm
    # thu) when the campaign's policy requires it: not open (the unit has nothing left to
    # do, no deadline or stale timer runs), not completed either until it is accepted.
    AWAITING_ACCEPTANCE = "awaiting_acceptance"

    @property
    def is_open(self) -> bool:
        return self not in (Status.COMPLETED, Status.CANCELLED, Status.AWAITING_ACCEPTANCE)


OPEN_STATES = frozenset(s for s in Status if s.is_open)


class ReportClass(StrEnum):
    """The Government Office's four classes, plus cancelled."""

    COMPLETED_ON_TIME = "completed_on_time"
    COMPLETED_LATE = "completed_late"
    IN_PROGRESS_WITHIN_DEADLINE = "in_progress_within_deadline"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"
    # Reported completed, not yet accepted: counted apart, worth nothing until accepted.
    AWAITING_ACCEPTANCE = "awaiting_acceptance"


class Trigger(StrEnum):
    AUTO = "auto"
    REQUESTED = "requested"


class EscalationState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Actor:
    """Who issued a command. `unit_id` is set for unit heads only."""

    id: str
    name: str
    role: Role
    unit_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": str(self.role), "unit_id": self.unit_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Actor:
        return cls(
            id=data["id"], name=data["name"], role=Role(data["role"]), unit_id=data.get("unit_id")
        )


SYSTEM = Actor(id="system", name="system", role=Role.SYSTEM)


# The years a date or a time may fall in. Anything outside is a typo or an attack, and
# some of it cannot even be stored: a year-1 time east of UTC is before year 1 in UTC,
# which no PostgreSQL timestamptz holds (it once stopped every read model).
MIN_YEAR = 1970
MAX_YEAR = 2100
# A campaign runs for at most ten years: it ends before the same day ten years on.
MAX_CAMPAIGN_YEARS = 10


def years_later(day: date, years: int) -> date:
    """The same day `years` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def check_date(value: Any, field: str) -> date:
    """A calendar date (not a datetime) within the years MIN_YEAR..MAX_YEAR."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise BadInput(f"{field} must be a date (YYYY-MM-DD)", field=field)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise BadInput(f"{field} must be within the years {MIN_YEAR}..{MAX_YEAR}", field=field)
    return value


def check_instant(value: Any, field: str) -> datetime:
    """A time with a UTC offset, within the years MIN_YEAR..MAX_YEAR (in UTC too)."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise BadInput(f"{field} must be a time with a UTC offset", field=field)
    # The year is checked before converting: year 1 east of UTC cannot be converted.
    if not MIN_YEAR <= value.year <= MAX_YEAR or not MIN_YEAR <= value.astimezone(timezone.utc).year <= MAX_YEAR:
        raise BadInput(f"{field} must be within the years {MIN_YEAR}..{MAX_YEAR}", field=field)
    return value


@dataclass(frozen=True)
class Command:
    """What every command carries besides its own arguments: its id, who, and when."""

    id: str
    actor: Actor
    at: datetime

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 200:
            raise BadInput("command id must be 1..200 characters", field="command_id")
        check_instant(self.at, "at")


# Timers fire at most this often: a policy of microseconds would make reminders without end.
MIN_DURATION = timedelta(seconds=1)


def parse_duration(value: str | timedelta, field: str = "duration", *, new: bool = False) -> timedelta:
    """ISO 8601 duration (`P3D`, `PT2S`) to timedelta; months and years are refused
    because their length depends on the calendar. `new`: a duration a command brings
    (not one read back from an event, which was valid when stored) must also be at
    least one second and well formed to the letter (`P1DT` is not a duration)."""
    if isinstance(value, timedelta):
        result = value
    else:
        if not isinstance(value, str) or (new and value.endswith(("T", "t"))):
            # isodate reads `P1DT` as one day; ISO 8601 wants a time after the `T`
            raise BadInput(f"{field}: not an ISO 8601 duration: {value!r}", field=field)
        try:
            result = isodate.parse_duration(value)
        except (isodate.ISO8601Error, ValueError, TypeError, OverflowError) as exc:
            raise BadInput(f"{field}: not an ISO 8601 duration: {value!r}", field=field) from exc
        if not isinstance(result, timedelta):
            raise BadInput(f"{field}: use days, hours, minutes or seconds, not months or years", field=field)
    if result <= timedelta(0):
        raise BadInput(f"{field}: must be positive", field=field)
    if new and result < MIN_DURATION:
        raise BadInput(f"{field}: must be at least one second (PT1S)", field=field)
    return result


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadInput(f"unknown time zone {name!r}", field="timezone") from exc


def end_of_day(day: date, tz_name: str) -> datetime:
    """A deadline date ends at 23:59:59 local time; returned in UTC."""
    local = datetime.combine(day, time(23, 59, 59), tzinfo=check_timezone(tz_name))
    return local.astimezone(timezone.utc)


def to_decimal(value: Any, field: str) -> Decimal:
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise BadInput(f"{field}: not a number: {value!r}", field=field) from exc
    if not result.is_finite():
        raise BadInput(f"{field}: must be finite", field=field)
    if result.is_zero():
        return abs(result)  # -0 is 0 (it would be shown and compared as "-0")
    return result


@dataclass(frozen=True)
class Policy:
    """Timer durations of a campaign, kept as ISO 8601 strings as the user wrote them."""

    escalate_after: str = "P3D"
    resolution_sla: str = "P7D"
    stale_after: str = "P14D"
    # Acceptance (nghiệm thu): a reported completion waits for the secretariat, who is
    # reminded every `acceptance_sla` while it waits.
    acceptance_required: bool = False
    acceptance_sla: str = "P7D"

    DURATIONS = ("escalate_after", "resolution_sla", "stale_after", "acceptance_sla")

    def __post_init__(self) -> None:
        if not isinstance(self.acceptance_required, bool):
            raise BadInput("policy.acceptance_required must be true or false", field="policy.acceptance_required")
        for name in self.DURATIONS:
            parse_duration(getattr(self, name), field=f"policy.{name}")

    def duration(self, name: str) -> timedelta:
        return parse_duration(getattr(self, name))

    def check_new(self) -> Policy:
        """The stricter rules for a policy a command sets (see `parse_duration`)."""
        for name in self.DURATIONS:
            parse_duration(getattr(self, name), field=f"policy.{name}", new=True)
        return self

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class ScoringScale:
    """How report classes turn into points (thang điểm)."""

    on_time: Decimal = Decimal("1.0")
    late: Decimal = Decimal("0.5")
    reward_slots: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_time", to_decimal(self.on_time, "scoring.on_time"))
        object.__setattr__(self, "late", to_decimal(self.late, "scoring.late"))
        if self.on_time < 0 or self.late < 0:
            raise BadInput("scoring factors must not be negative", field="scoring")
        if self.late > self.on_time:
            raise BadInput("a late completion cannot be worth more than an on-time one", field="scoring.late")
        if isinstance(self.reward_slots, bool) or not isinstance(self.reward_slots, int) \
                or not 0 <= self.reward_slots <= 100:
            raise BadInput("scoring.reward_slots must be an integer 0..100", field="scoring.reward_slots")

    def to_dict(self) -> dict[str, Any]:
        return {"on_time": self.on_time, "late": self.late, "reward_slots": self.reward_slots}


# Who may issue a decision (the level of its issuer), from the top down.
ISSUER_LEVELS = ("province", "city", "ward", "unit")


@dataclass(frozen=True)
class Decision:
    """The document that assigned work (quyết định). `issuer` is the issuer's name,
    `issuer_level` one of ISSUER_LEVELS ("" in decisions recorded before levels were
    kept), `parent_number` the decision this one makes concrete (cụ thể hóa)."""

    number: str
    issued_on: date
    issuer: str
    title: str = ""
    issuer_level: str = ""
    parent_number: str | None = None

    def __post_init__(self) -> None:
        # (the years are checked where a command brings a decision: events read back
        # must load whatever they hold)
        if isinstance(self.issued_on, datetime) or not isinstance(self.issued_on, date):
            raise BadInput("decision.issued_on must be a date (YYYY-MM-DD)", field="decision.issued_on")

    def to_dict(self) -> dict[str, Any]:
        """Its fields; the level and parent only when set (a decision without them is
        stored, and fingerprinted, as before they existed)."""
        data = asdict(self)
        if not self.issuer_level:
            del data["issuer_level"]
        if self.parent_number is None:
            del data["parent_number"]
        return data

    canonical = to_dict  # what fingerprints see (thidua.domain.commandlog)

    def matches(self, citation: DecisionCitation) -> str | None:
        """The first field a citation gives that differs from this decision (None: all match)."""
        if citation.issued_on is not None and citation.issued_on != self.issued_on:
            return "issued_on"
        if citation.issuer is not None and citation.issuer.strip() != self.issuer:
            return "issuer"
        if citation.title and citation.title.strip() != self.title:
            return "title"
        return None


@dataclass(frozen=True)
class DecisionCitation:
    """How a target names its decision: by number; the other fields, when given, must
    match the decision registered under that number in the campaign."""

    number: str
    issued_on: date | None = None
    issuer: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Measure:
    """How a quantified target is measured (e.g. 95 % of households, direction up)."""

    kind: str
    goal: Decimal
    unit: str = ""
    direction: str = "up"

    def __post_init__(self) -> None:
        object.__setattr__(self, "goal", to_decimal(self.goal, "measure.goal"))
        if self.direction not in ("up", "down"):
            raise BadInput("measure.direction must be 'up' or 'down'", field="measure.direction")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Cluster:
    """An emulation cluster (cụm thi đua): head and deputy units are members too."""

    cluster_id: str
    name: str
    head_unit_id: str
    deputy_unit_id: str
    member_unit_ids: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        members = tuple(dict.fromkeys((self.head_unit_id, self.deputy_unit_id, *self.member_unit_ids)))
        object.__setattr__(self, "member_unit_ids", members)
        if self.head_unit_id == self.deputy_unit_id:
            raise BadInput("a cluster's head and deputy must be different units", field="deputy_unit_id")

    @property
    def unit_ids(self) -> tuple[str, ...]:
        return self.member_unit_ids

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["member_unit_ids"] = list(self.member_unit_ids)
        return data
