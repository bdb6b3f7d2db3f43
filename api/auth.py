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
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from thidua.api.shared_reads import SingleFlight
from thidua.domain.errors import NotFound
from thidua.domain.values import Actor, Role

TOKEN_PREFIX = "thd_"
ACTIVATION_PREFIX = "act_"
SECRET_BYTES = 32
MAX_TOKEN_LENGTH = 300
_USER_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
ACTIVATION_LIFETIME = timedelta(hours=72)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1000  # argon2 hashes any length; a cap keeps a request from costing seconds

# argon2id with the library's defaults (RFC 9106's second recommended option: t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()
# Verified against when the login is unknown, so that a wrong login costs what a wrong password costs.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def new_user_id() -> str:
    """Hex only, so the id never contains the `_` that separates a token's parts."""
    return "u" + secrets.token_hex(8)


def new_token(user_id: str) -> str:
    return f"{TOKEN_PREFIX}{user_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_activation_token(user_id: str) -> str:
    """`act_<user_id>_<secret>`: names its user, like a bearer token, and is stored only as a sha256."""
    return f"{ACTIVATION_PREFIX}{user_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def activation_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/activate/{token}"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user has a password (no timing oracle on logins)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is refused (NIST SP 800-63B: length, not composition rules), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password has at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    return None


def user_id_of(token: str, prefix: str = TOKEN_PREFIX) -> str | None:
    """The user id a well-formed token (bearer, or activation with its prefix) names, else None."""
    if not token.startswith(prefix) or len(token) > MAX_TOKEN_LENGTH:
        return None
    user_id, sep, secret = token[len(prefix):].partition("_")
    if not sep or len(secret) < 40:  # 32 bytes of urlsafe base64 are 43 characters
        return None
    # Ids are ours (u + hex, or the demo's slugs): anything else is refused without a lookup.
    return user_id if _USER_ID.fullmatch(user_id) else None


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
        # When an entry expires, the requests in flight for the user all miss at once:
        # they share one load, instead of one thread each contending for the GIL with
        # the event loop (docs/benchmarks.md, P7).
        self._loads: SingleFlight[_Entry] = SingleFlight()

    async def verify(self, token: str) -> Principal | None:
        user_id = user_id_of(token)
        if user_id is None:
            return None
        entry = await self._active(user_id)
        if entry is None or not hmac.compare_digest(entry.token_hash, hash_token(token)):
            return None
        return entry.principal

    async def principal_of(self, user_id: str) -> Principal | None:
        """The user behind a session: None when unknown or revoked (same cache as tokens)."""
        entry = await self._active(user_id)
        return None if entry is None else entry.principal

    async def _active(self, user_id: str) -> Any:
        """The user's cached entry (loaded when missing or expired); None when unknown or revoked."""
        entry = self._cache.get(user_id)
        if entry is None or entry.expires < time.monotonic():
            entry = await self._loads.get(user_id, lambda: self._load_and_keep(user_id))
        return None if entry.principal is None or entry.revoked else entry

    async def _load_and_keep(self, user_id: str) -> _Entry:
        entry = await anyio.to_thread.run_sync(self._load, user_id)
        if self._loads.current(user_id):  # not forgotten while it loaded
            self._remember(user_id, entry)
        return entry

    def forget(self, user_id: str) -> None:
        """Called when this process changes the user (revocation): effective at once here,
        also for a load already running (not kept; the next request loads again)."""
        self._cache.pop(user_id, None)
        self._loads.drop(user_id)

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
