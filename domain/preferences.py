"""A person's notification preferences: the kinds they also want by e-mail, and the
address (the inbox is always on). Each change is an event (who, when, command id);
only the person themself sets them."""

from __future__ import annotations

import re
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from thidua.domain.commandlog import CommandLog, event_meta, fingerprint
from thidua.domain.errors import BadInput, NotAllowed
from thidua.domain.notifications import KINDS
from thidua.domain.values import Actor, Command

NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/preferences")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")


def preferences_uuid(user_id: str) -> UUID:
    return uuid5(NAMESPACE, user_id)


def _checked(email: str | None, email_kinds: list[str]) -> tuple[str | None, list[str]]:
    unknown = sorted(set(email_kinds) - set(KINDS))
    if unknown:
        raise BadInput(f"unknown notification kinds {unknown}", field="email_kinds")
    if email is not None and not _EMAIL.match(email):
        raise BadInput("not an e-mail address", field="email")
    if email_kinds and email is None:
        raise BadInput("e-mail kinds need an e-mail address", field="email")
    return email, sorted(set(email_kinds))


class Preferences(CommandLog, Aggregate):
    @staticmethod
    def create_id(user_id: str) -> UUID:  # type: ignore[override]
        return preferences_uuid(user_id)

    @classmethod
    def start(cls, cmd: Command, *, user_id: str, email: str | None, email_kinds: list[str]) -> Preferences:
        if cmd.actor.id != user_id:
            raise NotAllowed("only the person themself sets their preferences", command="set_preferences")
        email, kinds = _checked(email, email_kinds)
        fp = fingerprint("set_preferences", email=email, email_kinds=kinds)
        return cls(user_id=user_id, email=email, email_kinds=kinds, **event_meta(cmd, fp))

    @event("Set")
    def __init__(self, user_id: str, email: str | None, email_kinds: list[str], actor: Actor, occurred_at: datetime,
                 command_id: str, fingerprint: str) -> None:
        self.user_id = user_id
        self.email = email
        self.email_kinds = list(email_kinds)
        self.applied = {}
        self._remember(command_id, fingerprint, occurred_at, actor, 1)

    def change(self, cmd: Command, *, email: str | None, email_kinds: list[str]) -> bool:
        email, kinds = _checked(email, email_kinds)
        fp = fingerprint("set_preferences", email=email, email_kinds=kinds)
        if self.is_replay(cmd, fp):
            return False
        if cmd.actor.id != self.user_id:
            raise NotAllowed("only the person themself sets their preferences", command="set_preferences")
        self._changed(email=email, email_kinds=kinds, **event_meta(cmd, fp))
        return True

    @event("Changed")
    def _changed(self, email: str | None, email_kinds: list[str], actor: Actor, occurred_at: datetime,
                 command_id: str, fingerprint: str) -> None:
        self.email = email
        self.email_kinds = list(email_kinds)
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)
