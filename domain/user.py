"""Users of the API. Only a hash of each token is ever recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.commandlog import CommandLog, event_meta, fingerprint, optional_text, require_text
from domain.errors import BadInput, InvalidTransition
from domain.permissions import check_may
from domain.values import Actor, Command, Role

NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/users")


def user_uuid(user_id: str) -> UUID:
    return uuid5(NAMESPACE, user_id)


class User(CommandLog, Aggregate):
    @staticmethod
    def create_id(user_id: str) -> UUID:  # type: ignore[override]
        return user_uuid(user_id)

    @classmethod
    def create(
        cls, cmd: Command, *, user_id: str, name: str, role: Role, unit_id: str | None, token_hash: str,
        bootstrap: bool = False,
    ) -> User:
        """`bootstrap` is for the CLI that makes the first secretariat user."""
        if not bootstrap:
            check_may(cmd.actor, "manage_users")
        try:
            role = Role(role)
        except ValueError as exc:
            raise BadInput(f"unknown role {role!r}", field="role") from exc
        if role == Role.SYSTEM:
            raise BadInput("role 'system' is reserved for timers", field="role")
        if role == Role.UNIT_HEAD and not unit_id:
            raise BadInput("a unit head needs a unit_id", field="unit_id")
        if role != Role.UNIT_HEAD and unit_id:
            raise BadInput("only unit heads belong to a unit", field="unit_id")
        payload = {"user_id": require_text(user_id, "id", max_len=100), "name": require_text(name, "name", max_len=300),
                   "role": role, "unit_id": unit_id}
        fp = fingerprint("create_user", **payload)
        return cls(**payload, token_hash=token_hash, **event_meta(cmd, fp))

    @event("Created")
    def __init__(
        self, user_id: str, name: str, role: Role, unit_id: str | None, token_hash: str, actor: Actor,
        occurred_at: datetime, command_id: str, fingerprint: str,
    ) -> None:
        self.user_id = user_id
        self.name = name
        self.role = Role(role)
        self.unit_id = unit_id
        self.token_hash = token_hash
        self.revoked = False
        self.applied = {}
        self._remember(command_id, fingerprint, occurred_at, actor, 1)

    def revoke(self, cmd: Command, reason: str | None = None) -> bool:
        fp = fingerprint("revoke_user", reason=reason)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "manage_users")
        if self.revoked:
            raise InvalidTransition("revoke", "revoked", "the user's token is already revoked")
        self._revoked(reason=optional_text(reason, "reason"), **event_meta(cmd, fp))
        return True

    @event("Revoked")
    def _revoked(self, reason: str | None, actor: Actor, occurred_at: datetime, command_id: str, fingerprint: str) -> None:
        self.revoked = True
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    def as_actor(self) -> Actor:
        return Actor(id=self.user_id, name=self.name, role=self.role, unit_id=self.unit_id)

    def to_state(self) -> dict[str, Any]:
        return {"id": self.user_id, "name": self.name, "role": str(self.role), "unit_id": self.unit_id,
                "revoked": self.revoked}
