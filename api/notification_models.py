"""Request and response models of the inbox and webhooks (DESIGN.md "Notifications").
Like thidua.api.models: requests forbid unknown fields, responses declare every field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from thidua.api.models import Cursor, Id, Input, Limit, MinPosition, Output, Text
from thidua.domain.notifications import KINDS

Kind = Literal[KINDS]  # type: ignore[valid-type]


class NotificationOut(Output):
    id: str = Field(description="Stable: the same notification always has this id")
    kind: Kind
    occurred_at: datetime
    campaign_id: str
    target_id: str | None = None
    position: int = Field(description="The event's position in the event store")
    link: str = Field(description="Relative to the API's address")
    read_at: datetime | None = None


class NotificationPage(Output):
    items: list[NotificationOut]
    next_cursor: str | None = None
    unread: int = Field(description="How many of this person's notifications are unread")


class InboxQuery(Input):
    unread: bool = False
    limit: Limit = 50
    cursor: Cursor = None
    min_position: MinPosition = None


class WebhookCreate(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"url": "https://hooks.example.vn/thidua", "campaign_id": "thi-dua-2025", "events": ["target.escalated"]}]})
    url: Annotated[str, Field(min_length=8, max_length=2000, description="http(s) URL of the receiver")]
    campaign_id: Id | None = None
    events: Annotated[list[Kind], Field(min_length=1, max_length=len(KINDS))]
    secret: Annotated[str | None, Field(default=None, pattern=r"^whsec_[A-Za-z0-9+/]{32,}={0,2}$",
                                        description="Standard Webhooks secret (`whsec_` + base64); made if absent")]


class WebhookOut(Output):
    id: str
    url: str
    campaign_id: str | None = None
    events: list[Kind]
    active: bool
    position: int = Field(description="The event store position of the registration")


class WebhookCreatedOut(WebhookOut):
    secret: str | None = Field(description="Shown this once (a replayed request answers null): the key "
                                           "receivers verify signatures with")


class DeliveryOut(Output):
    notification_id: str
    kind: Kind
    attempt: int
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    outcome: Literal["delivered", "retrying", "failed", "gone"]
    next_retry_at: datetime | None = None


class DeliveryPage(Output):
    items: list[DeliveryOut]
    next_cursor: str | None = None


class PreferencesIn(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"email": "nam.nh@vinhyen.gov.vn", "email_kinds": ["target.escalated", "escalation.reminder"]}]})
    email: Annotated[str | None, Field(default=None, max_length=320, description="Where e-mails go")]
    email_kinds: Annotated[list[Kind], Field(default_factory=list, max_length=len(KINDS),
                                             description="Kinds also sent by e-mail (the inbox is always on)")]


class PreferencesOut(Output):
    email: str | None = None
    email_kinds: list[Kind]
    position: int | None = Field(default=None, description="The event store position of the last change")


class WebhookList(Output):
    items: list[WebhookOut]


class WebhookListQuery(Input):
    campaign_id: Id | None = None
    min_position: MinPosition = None


class WebhookDisable(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Hệ thống nhận đã ngừng hoạt động"}]})
    reason: Text = Field(description="Why the secretariat stops it (kept on the event)")


class FailedNotificationOut(Output):
    id: str
    kind: Kind
    channel: Literal["email", "webhook"]
    recipient: str = Field(description="The person's user id (e-mail) or the webhook's id")
    occurred_at: datetime
    campaign_id: str
    target_id: str | None = None
    position: int
    link: str
    attempts: int
    last_status_code: int | None = Field(default=None, description="The receiver's last answer (webhooks)")
    last_error: str | None = None


class FailedNotificationPage(Output):
    items: list[FailedNotificationOut]
    next_cursor: str | None = None


class FailedQuery(Input):
    campaign_id: Id | None = None
    limit: Limit = 50
    cursor: Cursor = None
    min_position: MinPosition = None


class DigestUnitOut(Output):
    unit_id: str
    overdue: list[str] = Field(description="Ids of the unit's open targets past their deadline")
    stale: list[str] = Field(description="Ids of the unit's open targets without progress for the stale period")


class DigestOut(Output):
    campaign_id: str
    day: date = Field(description="The local day (the campaign's time zone)")
    as_of: datetime = Field(description="The instant the digest was computed as of")
    units: list[DigestUnitOut]
