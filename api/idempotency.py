"""`Idempotency-Key`: the API's own record of answered commands (API state, not a read model).

A command sent with a key is answered once; a replay by the same user with the same
key and the same request (method, path, query, body) gets the stored status and
body back and nothing runs again. The same key with a different request is a 422.
Keys are scoped per user, so one user can never replay another user's answer.

The command id handed to the domain/workflow is derived from (user, key), so even
when this record is gone (expired, or a crash between the command and the record)
the domain's own idempotency by command id keeps a retry from recording twice.
Records expire after `RETENTION` (pruned at startup and now and then on insert).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, uuid4, uuid5

TABLE = "api_idempotency"
RETENTION = "24 hours"
MAX_KEY_LENGTH = 200
_NAMESPACE = uuid5(NAMESPACE_URL, "https://thidua.example/idempotency-keys")

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    principal_id text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status integer NOT NULL,
    media_type text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, key)
);
CREATE INDEX IF NOT EXISTS {TABLE}_created_at ON {TABLE} (created_at);
"""


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status: int
    media_type: str
    body: str


def command_id_for(principal_id: str, key: str | None) -> str:
    """Deterministic for a keyed request, fresh otherwise."""
    if key is None:
        return str(uuid4())
    return "k-" + str(uuid5(_NAMESPACE, f"{principal_id}\x1f{key}"))


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests 'the same': JSON bodies compare by content, not spacing."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON, or too deep to parse: the bytes
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def ensure_table(self) -> None:
        async with self.pool.acquire() as conn:
            # Several API replicas may start at once: serialise the DDL.
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", TABLE)
                await conn.execute(DDL)
            await self.prune(conn)

    async def prune(self, conn: Any | None = None) -> None:
        sql = f"DELETE FROM {TABLE} WHERE created_at < now() - interval '{RETENTION}'"
        if conn is not None:
            await conn.execute(sql)
            return
        async with self.pool.acquire() as c:
            await c.execute(sql)

    async def lookup(self, principal_id: str, key: str) -> StoredResponse | None:
        row = await self.pool.fetchrow(
            f"SELECT request_hash, status, media_type, body FROM {TABLE} WHERE principal_id = $1 AND key = $2",
            principal_id, key,
        )
        if row is None:
            return None
        return StoredResponse(row["request_hash"], row["status"], row["media_type"], row["body"])

    async def record(self, principal_id: str, key: str, stored: StoredResponse) -> None:
        await self.pool.execute(
            f"INSERT INTO {TABLE} (principal_id, key, request_hash, status, media_type, body) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (principal_id, key) DO NOTHING",
            principal_id, key, stored.request_hash, stored.status, stored.media_type, stored.body,
        )
        if random.random() < 0.001:
            await self.prune()
