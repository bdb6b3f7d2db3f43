"""People's sessions (the cookie), their CSRF tokens, and the throttle on failed sign-ins.

Sessions are rows of a server-side table, not signed cookies. Why: revoking a user
must end their sessions at once on every API replica, and signing out must end the
session for real (a signed cookie stays valid until it expires, wherever a copy of it
is). A row makes both one DELETE; the cost is one indexed read per request, which
the bearer-token path already pays in its own way. The cookie holds a random secret;
the table holds only its sha256, so a leaked table signs nobody in.

CSRF: each session has its own random token (the synchronizer-token pattern). A
request authenticated by the cookie that changes anything (POST, PUT, PATCH, DELETE)
must carry it in the `X-CSRF-Token` header or the `csrf_token` form field. Forms shown
before sign-in (sign-in, activation) use a double-submit cookie instead.

A session found is kept in this process for `cache_ttl` seconds (the token cache's TTL,
create_app's auth_cache_ttl, 5 s by default), so a reader's pages do not each pay the read.
Signing out and revoking through this process drop the kept entries at once; another
API replica stops accepting the ended session within `cache_ttl` (the bound a revoked
user's tokens and sessions already had through the user cache of thidua.api.auth).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from thidua.api.auth import Principal
from thidua.api.problems import Problem
from thidua.api.shared_reads import SingleFlight

TABLE = "web_sessions"
COOKIE = "thidua_session"
ANON_CSRF_COOKIE = "thidua_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_LIFETIME_SECONDS = 12 * 3600  # one working day; sign in again the next
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id_hash text PRIMARY KEY,
    user_id text NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_user ON {TABLE} (user_id);
CREATE INDEX IF NOT EXISTS {TABLE}_expires ON {TABLE} (expires_at);
"""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    user_id: str
    csrf_token: str


class SessionStore:
    def __init__(self, pool: Any, lifetime_seconds: int = SESSION_LIFETIME_SECONDS, *, cache_ttl: float = 5.0,
                 max_cached: int = 10_000) -> None:
        self.pool = pool
        self.lifetime_seconds = lifetime_seconds
        self.cache_ttl = cache_ttl
        self.max_cached = max_cached
        self._found: OrderedDict[str, tuple[Session, float]] = OrderedDict()  # digest -> (session, until)
        self._reads: SingleFlight[Session | None] = SingleFlight()

    async def ensure_table(self) -> None:
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", TABLE)
                await conn.execute(DDL)
            await conn.execute(f"DELETE FROM {TABLE} WHERE expires_at < now()")

    async def open(self, user_id: str) -> tuple[str, Session]:
        """A new session: (the cookie's secret, the session)."""
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        await self.pool.execute(
            f"INSERT INTO {TABLE} (id_hash, user_id, csrf_token, expires_at) "
            f"VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
            _digest(secret), user_id, csrf, float(self.lifetime_seconds),
        )
        return secret, Session(user_id, csrf)

    async def find(self, secret: str) -> Session | None:
        digest = _digest(secret)
        kept = self._found.get(digest)
        now = time.monotonic()
        if kept is not None and kept[1] > now:
            return kept[0]
        # The requests in flight with this cookie miss together when its entry expires:
        # one read for them all (as TokenVerifier's loads).
        return await self._reads.get(digest, lambda: self._read(digest))

    async def _read(self, digest: str) -> Session | None:
        now = time.monotonic()
        row = await self.pool.fetchrow(
            f"SELECT user_id, csrf_token, extract(epoch FROM expires_at - now()) AS left_s FROM {TABLE} "
            "WHERE id_hash = $1 AND expires_at > now()", digest)
        if row is None:
            self._found.pop(digest, None)
            return None
        session = Session(row["user_id"], row["csrf_token"])
        if self._reads.current(digest):  # not closed while it was read
            self._found[digest] = (session, now + min(self.cache_ttl, float(row["left_s"])))
            self._found.move_to_end(digest)
            while len(self._found) > self.max_cached:
                self._found.popitem(last=False)
        return session

    async def close(self, secret: str) -> None:
        digest = _digest(secret)
        self._found.pop(digest, None)
        self._reads.drop(digest)
        await self.pool.execute(f"DELETE FROM {TABLE} WHERE id_hash = $1", digest)

    async def close_all(self, user_id: str) -> int:
        """Revocation: every session of the user ends now."""
        for digest in [d for d, (session, _) in self._found.items() if session.user_id == user_id]:
            del self._found[digest]
        self._reads.drop()  # a read running now may be of one of them
        status = await self.pool.execute(f"DELETE FROM {TABLE} WHERE user_id = $1", user_id)
        return int(status.split()[-1])


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())  # type: ignore[union-attr]


async def session_of(request: Request, services: Any) -> tuple[Principal, Session] | None:
    """The signed-in person behind the request's cookie, or None (no, unknown, expired
    cookie, or a revoked user). Cached on the request: pages and API ask once."""
    if "thidua_session" in request.scope.get("state", {}):
        return request.state.thidua_session
    found: tuple[Principal, Session] | None = None
    secret = request.cookies.get(COOKIE)
    if secret and len(secret) < 200:
        session = await services.sessions.find(secret)
        if session is not None:
            principal = await services.verifier.principal_of(session.user_id)
            if principal is not None:
                found = (principal, session)
    request.state.thidua_session = found
    return found


async def principal_from_cookie(request: Request, services: Any) -> Principal | None:
    """For the JSON API: the cookie's person; a change without the CSRF header is a 403."""
    found = await session_of(request, services)
    if found is None:
        return None
    principal, session = found
    if request.method not in SAFE_METHODS and not csrf_matches(session.csrf_token, request.headers.get(CSRF_HEADER)):
        raise Problem(403, f"a change made with the session cookie needs the {CSRF_HEADER} header",
                      type_slug="csrf")
    return principal


def set_session_cookie(response: Response, request: Request, secret: str, max_age: int) -> None:
    response.set_cookie(COOKIE, secret, max_age=max_age, httponly=True, samesite="lax", path="/",
                        secure=is_https(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))


def is_https(request: Request) -> bool:
    """Behind a TLS proxy uvicorn's --proxy-headers makes the scheme https."""
    return request.url.scheme == "https"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ------------------------------------------------------------------ throttling
class LoginThrottle:
    """Failed sign-ins, counted per login and per client address over a sliding window.

    After `slow_after` failures each further attempt waits a little longer (a person
    who mistyped barely notices; a guesser is slowed), and from `refuse_after` on the
    attempt is refused with 429 and Retry-After until the oldest failure leaves the
    window. One address gets more room than one login: an office shares its address.
    Counts live in this process; a successful sign-in clears its login's count.

    The same throttle guards bearer tokens (`token_throttle`, limits from the settings):
    the "login" is then the user id a token names (None for a malformed token, which
    counts against its address only), with no slowing down, only the refusal.
    """

    def __init__(self, *, window_seconds: float = 900, slow_after: int = 3, refuse_after: int = 5,
                 address_factor: int = 4, step_seconds: float = 0.5, max_delay_seconds: float = 3.0,
                 refusal: str = "too many failed sign-ins; try again later", type_slug: str = "too-many-sign-ins",
                 max_keys: int = 100_000) -> None:
        self.window = window_seconds
        self.refusal = refusal
        self.type_slug = type_slug
        self.max_keys = max_keys  # guessed user ids must not grow the counts without bound
        self.slow_after = slow_after
        self.refuse_after = refuse_after
        self.address_factor = address_factor
        self.step = step_seconds
        self.max_delay = max_delay_seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def _keys(self, login: str | None, address: str) -> list[tuple[str, int]]:
        by_address = (f"addr:{address}", self.refuse_after * self.address_factor)
        return [by_address] if login is None else [(f"login:{login.strip().lower()}", self.refuse_after), by_address]

    def check(self, login: str | None, address: str) -> float:
        """Seconds to wait before trying the password; raises a 429 Problem when refused."""
        now = time.monotonic()
        delay = 0.0
        for key, limit in self._keys(login, address):
            failures = self._recent(key, now)
            if len(failures) >= limit:
                retry_after = max(1, math.ceil(failures[len(failures) - limit] + self.window - now))
                raise Problem(429, self.refusal, type_slug=self.type_slug,
                              title="Too many requests", headers={"Retry-After": str(retry_after)})
            slow_from = limit * self.slow_after // self.refuse_after
            over = len(failures) - slow_from + 1
            if over > 0:
                delay = max(delay, min(self.max_delay, self.step * over))
        return delay

    def failed(self, login: str | None, address: str) -> None:
        now = time.monotonic()
        for key, _ in self._keys(login, address):
            self._recent(key, now).append(now)
        if len(self._failures) > self.max_keys:
            self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        """Drop counts that left the window; if still too many, the oldest keys."""
        for key in [k for k, failures in self._failures.items() if not failures or failures[-1] <= now - self.window]:
            del self._failures[key]
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]

    @classmethod
    def for_tokens(cls, failures_per_minute: int, address_factor: int) -> LoginThrottle:
        """The throttle of failed bearer tokens: per user id and per address, refusal only."""
        return cls(window_seconds=60, slow_after=failures_per_minute, refuse_after=failures_per_minute,
                   address_factor=address_factor, refusal="too many failed authentications; try again later",
                   type_slug="too-many-authentications")

    def succeeded(self, login: str) -> None:
        self._failures.pop(f"login:{login.strip().lower()}", None)
