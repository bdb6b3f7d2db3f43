"""Users of the API and of the web pages.

Only hashes are ever recorded: the sha256 of a bearer token, the sha256 of a one-time
activation token, and the argon2id hash of a password (made by the caller; the domain
never sees a password). A login, when given, is claimed by a `LoginClaim` aggregate
whose id is derived from the login, saved in the same transaction as the user: a
second user with the same login conflicts on that claim and nothing is stored.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from thidua.domain.commandlog import CommandLog, event_meta, fingerprint, optional_text, require_text
from thidua.domain.errors import BadInput, DomainError, InvalidTransition
from thidua.domain.permissions import check_may
from thidua.domain.values import Actor, Command, Role

NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/users")
LOGIN_NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/logins")
LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,99}$")


def user_uuid(user_id: str) -> UUID:
    return uuid5(NAMESPACE, user_id)


def normal_login(login: str) -> str:
    """Logins compare case-insensitively: the stored form is lower case."""
    return login.strip().lower()


def login_uuid(login: str) -> UUID:
    return uuid5(LOGIN_NAMESPACE, normal_login(login))


class ActivationGone(DomainError):
    """The activation link was used already, has expired, or never existed (410)."""

    kind = "activation_gone"


class LoginClaim(Aggregate):
    """One login, one user: the claim's id is derived from the login."""

    @staticmethod
    def create_id(login: str) -> UUID:  # type: ignore[override]
        return login_uuid(login)

    @event("Claimed")
    def __init__(self, login: str, user_id: str, actor: Actor, occurred_at: datetime, command_id: str) -> None:
        self.login = login
        self.user_id = user_id
        self.unit_id = None


class User(CommandLog, Aggregate):
    @staticmethod
    def create_id(user_id: str) -> UUID:  # type: ignore[override]
        return user_uuid(user_id)

    @classmethod
    def create(
        cls, cmd: Command, *, user_id: str, name: str, role: Role, unit_id: str | None, token_hash: str,
        bootstrap: bool = False, login: str | None = None, email: str | None = None,
        activation_hash: str | None = None, activation_expires: datetime | None = None,
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
        login = check_login(login)
        email = optional_text(email, "email", max_len=300)
        if email is not None and "@" not in email:
            raise BadInput("an e-mail address has an @", field="email")
        fp = fingerprint("create_user", **payload, login=login, email=email)
        return cls(**payload, token_hash=token_hash, **event_meta(cmd, fp), login=login, email=email,
                   activation_hash=activation_hash, activation_expires=activation_expires)

    @event("Created")
    def __init__(
        self, user_id: str, name: str, role: Role, unit_id: str | None, token_hash: str, actor: Actor,
        occurred_at: datetime, command_id: str, fingerprint: str, login: str | None = None,
        email: str | None = None, activation_hash: str | None = None, activation_expires: datetime | None = None,
    ) -> None:
        # The last four arrived with sign-in for people: users created before have none.
        self.login = login
        self.email = email
        self.activation_hash = activation_hash
        self.activation_expires = activation_expires
        self.password_hash: str | None = None
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

    def activate(self, cmd: Command, *, activation_hash: str, password_hash: str) -> bool:
        """Set the first password through the one-time activation link.

        `activation_hash` is the sha256 of the token the person brought, `password_hash`
        its argon2id hash: neither the token nor the password is ever recorded.
        """
        fp = fingerprint("activate_user", activation_hash=activation_hash)
        if self.is_replay(cmd, fp):
            return False
        if self.revoked:
            raise ActivationGone("this user was revoked")
        if not self.activation_hash or not hmac.compare_digest(self.activation_hash, activation_hash):
            raise ActivationGone("this activation link was used already or does not exist")
        if self.activation_expires is None or cmd.at >= self.activation_expires:
            raise ActivationGone("this activation link has expired; ask the secretariat for a new one")
        self._password_set(password_hash=password_hash, via="activation", **event_meta(cmd, fp))
        return True

    @event("PasswordSet")
    def _password_set(self, password_hash: str, via: str, actor: Actor, occurred_at: datetime, command_id: str,
                      fingerprint: str) -> None:
        self.password_hash = password_hash
        self.activation_hash = None  # one use only
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    def issue_activation(self, cmd: Command, *, activation_hash: str, expires: datetime) -> bool:
        """A new activation link (the first expired, or the person forgot the password)."""
        fp = fingerprint("issue_activation", activation_hash=activation_hash)
        if self.is_replay(cmd, fp):
            return False
        check_may(cmd.actor, "manage_users")
        if self.revoked:
            raise InvalidTransition("issue_activation", "revoked", "the user is revoked")
        self._activation_issued(activation_hash=activation_hash, expires=expires, **event_meta(cmd, fp))
        return True

    @event("ActivationIssued")
    def _activation_issued(self, activation_hash: str, expires: datetime, actor: Actor, occurred_at: datetime,
                           command_id: str, fingerprint: str) -> None:
        self.activation_hash = activation_hash
        self.activation_expires = expires
        self._remember(command_id, fingerprint, occurred_at, actor, self.version + 1)

    def as_actor(self) -> Actor:
        return Actor(id=self.user_id, name=self.name, role=self.role, unit_id=self.unit_id)

    def to_state(self) -> dict[str, Any]:
        return {"id": self.user_id, "name": self.name, "role": str(self.role), "unit_id": self.unit_id,
                "revoked": self.revoked, "login": getattr(self, "login", None), "email": getattr(self, "email", None),
                "active": getattr(self, "password_hash", None) is not None}


def check_login(login: str | None) -> str | None:
    if login is None:
        return None
    value = normal_login(login)
    if not LOGIN_PATTERN.match(value):
        raise BadInput("a login is 2-100 letters a-z, digits and . _ @ -, starting with a letter or digit",
                       field="login")
    return value
