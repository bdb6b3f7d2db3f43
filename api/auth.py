"""Bearer tokens: made here, stored only as sha256 hashes in the `User` aggregate.

A token reads `thd_<user_id>_<secret>` with 32 random bytes of secret, so the user
is found by id (no scan of all users) and the secret is compared as a hash in
constant time. Verification loads the User aggregate (the source of truth, in a
thread) and keeps the result in a small in-process cache for `ttl` seconds.

Revocation bound: a revocation made through this process clears its cache entry at
once; other API replicas keep accepting a revoked token for at most `ttl` seconds
(5 s by default), until their own cache entry expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import anyio

from domain.errors import NotFound
from domain.values import Actor, Role

TOKEN_PREFIX = "thd_"
SECRET_BYTES = 32
MAX_TOKEN_LENGTH = 300


def new_user_id() -> str:
    """Hex only, so the id never contains the `_` that separates a token's parts."""
    return "u" + secrets.token_hex(8)


def new_token(user_id: str) -> str:
    return f"{TOKEN_PREFIX}{user_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_id_of(token: str) -> str | None:
    """The user id a well-formed token names, else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    user_id, sep, secret = token[len(TOKEN_PREFIX):].partition("_")
    if not sep or not user_id or len(secret) < 40:  # 32 bytes of urlsafe base64 are 43 characters
        return None
    return user_id


@dataclass(frozen=True)
class Principal:
    """The signed-in user a request acts as."""

    id: str
    name: str
    role: Role
    unit_id: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, name=self.name, role=self.role, unit_id=self.unit_id)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": str(self.role), "unit_id": self.unit_id}


@dataclass(frozen=True)
class _Entry:
    principal: Principal | None  # None: unknown user
    token_hash: str
    revoked: bool
    expires: float


class TokenVerifier:
    """Token -> Principal, through the User aggregate and a short cache."""

    def __init__(self, domain_app: Any, *, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.domain_app = domain_app
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: OrderedDict[str, _Entry] = OrderedDict()

    async def verify(self, token: str) -> Principal | None:
        user_id = user_id_of(token)
        if user_id is None:
            return None
        entry = self._cache.get(user_id)
        if entry is None or entry.expires < time.monotonic():
            entry = await anyio.to_thread.run_sync(self._load, user_id)
            self._remember(user_id, entry)
        if entry.principal is None or entry.revoked:
            return None
        if not hmac.compare_digest(entry.token_hash, hash_token(token)):
            return None
        return entry.principal

    def forget(self, user_id: str) -> None:
        """Called when this process changes the user (revocation): effective at once here."""
        self._cache.pop(user_id, None)

    def _remember(self, user_id: str, entry: _Entry) -> None:
        self._cache[user_id] = entry
        self._cache.move_to_end(user_id)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    def _load(self, user_id: str) -> _Entry:
        expires = time.monotonic() + self.ttl
        try:
            user = self.domain_app.get_user(user_id)
        except NotFound:
            return _Entry(None, "", True, expires)
        principal = Principal(id=user.user_id, name=user.name, role=Role(user.role), unit_id=user.unit_id)
        return _Entry(principal, user.token_hash, bool(user.revoked), expires)
