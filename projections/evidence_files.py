"""Evidence files (minh chứng): their bytes, content-addressed by sha256, in PostgreSQL.

Not a read model: the bytes are primary data that events only point at. An
`EvidenceAttached` event carries the file's digest, so the audit chain covers the file:
`verify_files` re-hashes every file an event references and names the ones that are
missing or changed.

Stored as `evidence_files` (one row per distinct content) and `evidence_file_chunks`
(the bytes in `CHUNK` pieces), written in one transaction, so a file is either whole
or absent; the same bytes are stored once. Files go in and out a chunk at a time:
neither the API nor the database holds a whole file in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from thidua.projections.codec import EVENTS, StoredDecoder

CHUNK = 1 << 20  # 1 MiB: one row
READ_AHEAD = 4  # chunks a download reads per round trip

FILES = "public.evidence_files"
CHUNKS = "public.evidence_file_chunks"

DDL = [
    f"""CREATE TABLE IF NOT EXISTS {FILES} (
        sha256 text PRIMARY KEY,
        size bigint NOT NULL,
        content_type text NOT NULL,
        chunks integer NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now()
    )""",
    f"""CREATE TABLE IF NOT EXISTS {CHUNKS} (
        sha256 text NOT NULL,
        seq integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (sha256, seq)
    )""",
    # The bytes are compressed already (PDF, images, office zips): no TOAST compression.
    f"ALTER TABLE {CHUNKS} ALTER COLUMN data SET STORAGE EXTERNAL",
]


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    content_type: str
    chunks: int


def digest_of(read: Callable[[int], bytes]) -> tuple[str, int]:
    """(sha256 hex, size) of a file read `CHUNK` bytes at a time."""
    h = hashlib.sha256()
    size = 0
    while block := read(CHUNK):
        h.update(block)
        size += len(block)
    return h.hexdigest(), size


async def ensure_tables(conn: asyncpg.Connection) -> None:
    for statement in DDL:
        await conn.execute(statement)


async def store(pool: Any, sha256: str, size: int, content_type: str,
                read: Callable[[int], bytes]) -> bool:
    """Store a file whose digest and size are known (computed by the caller over the same
    bytes `read(n)` gives, a private file that cannot change meanwhile). True when it was
    stored now, False when those bytes were there already."""
    async with pool.acquire() as conn, conn.transaction():
        # Two uploads of the same bytes at once: one stores, the other finds it stored.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", sha256)
        if await conn.fetchval(f"SELECT 1 FROM {FILES} WHERE sha256 = $1", sha256):
            return False
        insert = await conn.prepare(f"INSERT INTO {CHUNKS} (sha256, seq, data) VALUES ($1, $2, $3)")
        seq = written = 0
        while block := read(CHUNK):
            await insert.fetch(sha256, seq, block)
            seq += 1
            written += len(block)
        if written != size:
            raise ValueError(f"the file had {written} bytes, not {size}")
        await conn.execute(f"INSERT INTO {FILES} (sha256, size, content_type, chunks) VALUES ($1, $2, $3, $4)",
                           sha256, size, content_type, seq)
        return True


async def stat(pool: Any, sha256: str) -> StoredFile | None:
    row = await pool.fetchrow(f"SELECT sha256, size, content_type, chunks FROM {FILES} WHERE sha256 = $1", sha256)
    return None if row is None else StoredFile(row["sha256"], row["size"], row["content_type"], row["chunks"])


async def chunks(pool: Any, stored: StoredFile) -> AsyncIterator[bytes]:
    """The file's bytes, READ_AHEAD chunks per query on one connection, the next group
    read while the current one is sent (a query per chunk cost the API as much CPU as
    the bytes; a group bounds the memory a download holds to two groups)."""
    async with pool.acquire() as conn:
        select = await conn.prepare(
            f"SELECT seq, data FROM {CHUNKS} WHERE sha256 = $1 AND seq >= $2 AND seq < $3 ORDER BY seq")

        def group(first: int) -> Any:
            if first >= stored.chunks:
                return None
            return asyncio.ensure_future(select.fetch(stored.sha256, first, min(first + READ_AHEAD, stored.chunks)))

        ahead = group(0)
        try:
            for first in range(0, stored.chunks, READ_AHEAD):
                assert ahead is not None
                rows = await ahead
                ahead = group(first + READ_AHEAD)
                expected = list(range(first, min(first + READ_AHEAD, stored.chunks)))
                if [r["seq"] for r in rows] != expected:
                    missing = sorted(set(expected) - {r["seq"] for r in rows})
                    raise FileNotFoundError(f"chunk {missing[0]} of {stored.sha256} is missing")
                for row in rows:
                    yield row["data"]
                del rows
        finally:
            if ahead is not None:  # the client went away: let the read finish before the connection returns
                try:
                    await ahead
                except Exception:  # noqa: BLE001 - nothing to send it to
                    pass


# ---------------------------------------------------------------------- verification
# The stored events that reference a file (their payload's `sha256`): the topics this
# pattern matches, here and in the audit verification's pass over the store.
REFERENCING_TOPICS = "%EvidenceAttached"
_REFERENCES_SQL = f"""
SELECT notification_id, state FROM {EVENTS}
WHERE notification_id > $1 AND topic LIKE '{REFERENCING_TOPICS}' ORDER BY notification_id
"""


def referenced_digest(payload: dict[str, Any]) -> str | None:
    """The file a referencing event's payload names."""
    digest = payload.get("sha256")
    return digest if isinstance(digest, str) else None


async def _rehash(conn: asyncpg.Connection, sha256: str) -> str | None:
    """The sha256 of the stored bytes of `sha256`, or None when the file is not there."""
    stored = await conn.fetchrow(f"SELECT chunks, size FROM {FILES} WHERE sha256 = $1", sha256)
    if stored is None:
        return None
    h, seen, size = hashlib.sha256(), 0, 0
    async for row in conn.cursor(f"SELECT seq, data FROM {CHUNKS} WHERE sha256 = $1 ORDER BY seq", sha256,
                                 prefetch=4):
        if row["seq"] != seen:
            return "gap"
        h.update(row["data"])
        size += len(row["data"])
        seen += 1
    if seen != stored["chunks"] or size != stored["size"]:
        return "truncated"
    return h.hexdigest()


async def verify_files(conn: asyncpg.Connection, referenced: dict[str, int] | None = None,
                       after: int = 0) -> dict[str, Any]:
    """`{checked, bad: [{sha256, position, problem}]}`: every file an EvidenceAttached
    event of the store references, re-hashed from its stored chunks. `referenced`: the
    files (digest -> first position) the caller found in the store up to `after` (the
    audit verification reads every event anyway); the events after it are read here."""
    payload_of = StoredDecoder().payload
    referenced = dict(referenced or {})
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(_REFERENCES_SQL, after, prefetch=500):
            digest = referenced_digest(payload_of(row["state"]))
            if digest is not None:
                referenced.setdefault(digest, row["notification_id"])
        bad = []
        for digest, position in sorted(referenced.items(), key=lambda item: item[1]):
            found = await _rehash(conn, digest)
            if found != digest:
                bad.append({"sha256": digest, "position": position,
                            "problem": "missing" if found is None else "changed"})
    return {"checked": len(referenced), "bad": bad}
