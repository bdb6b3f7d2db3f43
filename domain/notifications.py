"""What is notified to whom: one declaration, read by the outbox projection
(thidua.projections.notifications), the inbox and webhooks, and the docs table
(docs/notifications.md, kept equal to `markdown_table()` by a test).

A notice names a *kind* (part of the contract: DESIGN.md "Notifications"), the stored
events that raise it (`Aggregate.EventName`) and its audience. Only kinds whose events
exist today are declared.

Events a history import brought from the old records (domain/history.py) raise no
notice: they happened long ago.

Recipients are resolved from the state *right after the event* (`recipients`), so a
rebuild of the outbox resolves the same people for the same event and the stable ids
(`notification_id`) match what was already written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

_NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/notifications")


class Audience(StrEnum):
    STANDING_COMMITTEE = "standing_committee"  # every member (role standing_committee)
    UNIT_HEADS = "unit_heads"  # the head(s) of the unit owning the target (both, when reassigned)
    COORDINATING_HEADS = "coordinating_heads"  # the heads of the units told to coordinate
    SECRETARIAT = "secretariat"  # every secretariat member (role secretariat)
    ROUND_HEADS = "round_heads"  # the heads of every unit of an evaluation round (cluster heads among them)
    AWARDED_HEADS = "awarded_heads"  # the head(s) of the unit an award goes to


AUDIENCE_TEXT = {
    Audience.STANDING_COMMITTEE: "every Standing Committee member",
    Audience.UNIT_HEADS: "the owning unit's head(s)",
    Audience.COORDINATING_HEADS: "the heads of the coordinating units",
    Audience.SECRETARIAT: "every secretariat member",
    Audience.ROUND_HEADS: "the heads of the round's units and clusters",
    Audience.AWARDED_HEADS: "the awarded unit's head(s)",
}


@dataclass(frozen=True)
class Notice:
    kind: str
    events: tuple[str, ...]  # "Target.Escalated": aggregate class and event name
    audience: Audience
    title_vi: str  # the subject line of an e-mail, the inbox's line
    summary: str  # English, for the docs
    # Raised only by events whose attributes have these values (e.g. a comment of kind "urge").
    only: tuple[tuple[str, str], ...] = ()

    def raised_by(self, event: Mapping[str, Any] | Any) -> bool:
        return all(_attribute(event, name) == value for name, value in self.only)

    @property
    def raised_by_text(self) -> str:
        condition = " and ".join(f"{name} = {value}" for name, value in self.only)
        return ", ".join(self.events) + (f" ({condition})" if condition else "")


def _attribute(event: Mapping[str, Any] | Any, name: str) -> Any:
    return event.get(name) if isinstance(event, Mapping) else getattr(event, name, None)


NOTICES: tuple[Notice, ...] = (
    Notice("target.escalated", ("Target.Escalated",), Audience.STANDING_COMMITTEE,
           "Chỉ tiêu được chuyển lên Ban Thường vụ", "a target was escalated"),
    Notice("escalation.reminder", ("Target.EscalationReminded",), Audience.STANDING_COMMITTEE,
           "Nhắc lại: kiến nghị quá hạn xử lý", "an escalation is past its SLA (again)"),
    Notice("escalation.resolved", ("Target.Resolved",), Audience.UNIT_HEADS,
           "Kiến nghị đã được xử lý", "an escalation was resolved with a directive"),
    # One kind, one subject line (the mail's subject is found by kind).
    Notice("target.directive", ("Target.Resolved",), Audience.COORDINATING_HEADS,
           "Ban Thường vụ chỉ đạo về chỉ tiêu", "a directive names the unit as coordinating"),
    Notice("target.overdue", ("Target.DeadlinePassed",), Audience.UNIT_HEADS,
           "Chỉ tiêu đã quá hạn", "a target's deadline passed"),
    Notice("target.stale", ("Target.StaleReminded",), Audience.UNIT_HEADS,
           "Chỉ tiêu lâu chưa cập nhật tiến độ", "a target had no progress for the policy's stale period"),
    Notice("target.returned", ("Target.Reopened", "Target.Returned"), Audience.UNIT_HEADS,
           "Kết quả hoàn thành bị trả lại", "a completion was returned or reopened (back in progress)"),
    Notice("target.awaiting_acceptance", ("Target.CompletionReported", "Target.AcceptanceReminded"),
           Audience.SECRETARIAT, "Chỉ tiêu báo cáo hoàn thành, chờ nghiệm thu",
           "a completion waits for acceptance (reported, or again after each `acceptance_sla`)"),
    Notice("target.urged", ("Target.Commented",), Audience.UNIT_HEADS,
           "Văn phòng Thành ủy đôn đốc thực hiện chỉ tiêu", "the secretariat urged the unit (đôn đốc)",
           only=(("kind", "urge"),)),
    Notice("target.directive", ("Target.Commented",), Audience.UNIT_HEADS,
           "Ban Thường vụ chỉ đạo về chỉ tiêu", "the Standing Committee gave a directive on the target",
           only=(("kind", "directive"),)),
    Notice("digest.daily", ("Digest.Recorded",), Audience.SECRETARIAT,
           "Tổng hợp hằng ngày: chỉ tiêu quá hạn và lâu chưa cập nhật",
           "07:00 in the campaign's time zone: overdue and stale targets per unit (thidua.domain.digest)"),
    Notice("evaluation.opened", ("Evaluation.Created",), Audience.ROUND_HEADS,
           "Mở đợt bình xét: đơn vị tự chấm điểm", "an evaluation round opened self-assessment"),
    Notice("evaluation.due_soon", ("Evaluation.DueSoon",), Audience.ROUND_HEADS,
           "Sắp hết hạn tự chấm / chấm cụm", "a stage of an evaluation round is due soon"),
    Notice("award.approved", ("Evaluation.Approved",), Audience.AWARDED_HEADS,
           "Quyết định khen thưởng", "the Standing Committee approved an award"),
    Notice("award.revoked", ("Evaluation.AwardRevoked",), Audience.AWARDED_HEADS,
           "Thu hồi khen thưởng", "an award was revoked"),
)

KINDS: tuple[str, ...] = tuple(dict.fromkeys(n.kind for n in NOTICES))
BY_EVENT: dict[str, tuple[Notice, ...]] = {}
for _notice in NOTICES:
    for _name in _notice.events:
        BY_EVENT[_name] = BY_EVENT.get(_name, ()) + (_notice,)

INBOX = "inbox"
EMAIL = "email"
WEBHOOK = "webhook"


class Directory:
    """Who holds which role, as of one position of the event store (users that are not
    revoked). Kept by the outbox projection from the users' events."""

    def __init__(self) -> None:
        self.users: dict[str, tuple[str, str | None]] = {}  # user id -> (role, unit id)

    def set(self, user_id: str, role: str, unit_id: str | None, revoked: bool) -> None:
        if revoked:
            self.users.pop(user_id, None)
        else:
            self.users[user_id] = (str(role), unit_id)

    def with_role(self, role: str) -> list[str]:
        return sorted(u for u, (r, _) in self.users.items() if r == role)

    def heads_of(self, unit_ids: Iterable[str]) -> list[str]:
        wanted = set(unit_ids)
        return sorted(u for u, (r, unit) in self.users.items() if r == "unit_head" and unit in wanted)


def recipients(notice: Notice, directory: Directory, *, unit_before: str | None, unit_after: str | None,
               event: Mapping[str, Any] | Any) -> list[str]:
    """The user ids `notice` reaches for one event of a target (sorted, no duplicates)."""
    if notice.audience is Audience.STANDING_COMMITTEE:
        return directory.with_role("standing_committee")
    if notice.audience is Audience.SECRETARIAT:
        return directory.with_role("secretariat")
    if notice.audience is Audience.UNIT_HEADS:
        return directory.heads_of(u for u in (unit_before, unit_after) if u)
    coordinating = getattr(event, "coordinating_unit_ids", None) or ()
    return directory.heads_of(coordinating)


def round_recipients(notice: Notice, directory: Directory, unit_ids: Iterable[str]) -> list[str]:
    """The user ids an evaluation round's notice reaches: the heads of `unit_ids` (every
    unit of the round, or the awarded ones)."""
    return directory.heads_of(unit_ids)


def evaluation_link(evaluation_id: str) -> str:
    return f"/v1/evaluations/{evaluation_id}"


def notification_id(position: int, kind: str, channel: str, recipient: str) -> UUID:
    """Stable: the same event, kind, channel and recipient always give the same id (a
    rebuild writes nothing new; a receiver drops a repeated delivery by it)."""
    return uuid5(_NAMESPACE, f"{position}:{kind}:{channel}:{recipient}")


def target_link(target_id: UUID | str) -> str:
    """Relative to the API's base address: the target as JSON (and its page)."""
    return f"/v1/targets/{target_id}"


def markdown_table() -> str:
    lines = ["| kind | raised by | who is notified | inbox line (vi) |", "|---|---|---|---|"]
    for n in NOTICES:
        lines.append(f"| `{n.kind}` | {n.raised_by_text} | {AUDIENCE_TEXT[n.audience]} | {n.title_vi} |")
    return "\n".join(lines) + "\n"
