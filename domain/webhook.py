"""A webhook: a receiver the secretariat registers for some notification kinds of one
campaign (or of all). Registering and disabling are events (who, when, why, command
id) like every other change. The signing secret is never in an event: the event store
is hashed into the audit trail that inspectors read (see thidua.projections.notifications,
`webhook_secrets`)."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from thidua.domain.commandlog import CommandLog, event_meta, fingerprint, require_text
from thidua.domain.errors import BadInput, InvalidTransition, NotAllowed
from thidua.domain.notifications import KINDS
from thidua.domain.values import Actor, Command, Role

NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/webhooks")


def webhook_uuid(webhook_id: str) -> UUID:
    return uuid5(NAMESPACE, webhook_id)


class Webhook(CommandLog, Aggregate):
    @staticmethod
    def create_id(webhook_id: str) -> UUID:  # type: ignore[override]
        return webhook_uuid(webhook_id)

    @classmethod
    def register(cls, cmd: Command, *, webhook_id: str, url: str, campaign_id: str | None,
                 kinds: list[str]) -> Webhook:
        if cmd.actor.role != Role.SECRETARIAT:
            raise NotAllowed(f"{cmd.actor.role} {cmd.actor.id!r} may not register webhooks",
                             command="register_webhook", role=str(cmd.actor.role))
        unknown = sorted(set(kinds) - set(KINDS))
        if not kinds or unknown:
            raise BadInput(f"unknown notification kinds {unknown}" if unknown else "events is empty", field="events")
        payload = {"webhook_id": webhook_id, "url": require_text(url, "url", max_len=2000),
                   "campaign_id": campaign_id, "kinds": sorted(set(kinds))}
        return cls(**payload, **event_meta(cmd, fingerprint("register_webhook", **payload)))

    @event("Registered")
    def __init__(self, webhook_id: str, url: str, campaign_id: str | None, kinds: list[str], actor: Actor,
                 occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.webhook_id = webhook_id
        self.url = url
        self.campaign_id = campaign_id
        self.kinds = list(kinds)
        self.active = True
        self.disabled_reason: str | None = None
        self.applied = {}
        self._remember(command_id, fingerprint, occurred_at, actor, 1)

    def disable(self, cmd: Command, reason: str) -> bool:
        """The receiver answered 410 Gone (the system), or the secretariat stops it."""
        fp = fingerprint("disable_webhook", reason=reason)
        if self.is_replay(cmd, fp):
            return False
        if cmd.actor.role not in (Role.SECRETARIAT, Role.SYSTEM):
            raise NotAllowed(f"{cmd.actor.role} {cmd.actor.id!r} may not disable webhooks",
                             command="disable_webhook", role=str(cmd.actor.role))
        if not self.active:
            raise InvalidTransition("disable", "disabled", "the webhook is already disabled")
        self._disabled(reason=require_text(reason, "reason"), **event_meta(cmd, fp))
        return True

    @event("Disabled")
    def _disabled(self, reason: str, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.active = False
        self.disabled_reason = reason
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)
