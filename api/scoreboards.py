"""Scoreboard JSON, encoded once per read-model version and served from memory.

A board is a function of the read models it is computed from (`thidua.projections.queries.
scoreboard_snapshot` reads it together with their version in one snapshot), so its
encoded bytes are kept per (campaign, cluster, as_of) with that version, and served
again while `scoreboard_context` (one indexed query) still reports the same version.
Any projected event or rebuild changes the version; the next request recomputes.

The bytes are exactly what the route's `response_model` (`ScoreboardOut`) would send:
they are encoded through the same pydantic validation and JSON serialisation, once per
version. The current board's `as_of` is the time of the request, so it is spliced in
per request.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import TypeAdapter

from thidua.api import readmodels
from thidua.api.models import ScoreboardOut
from thidua.api.shared_reads import SharedReads

_BOARD = TypeAdapter(ScoreboardOut)
_INSTANT = TypeAdapter(datetime)
_TEXT = TypeAdapter(str)
MAX_ENTRIES = 256  # ≈ 30 KB each for 100 units

Key = tuple[str, str | None, str | None]


def encode(board: dict[str, Any]) -> bytes:
    """`board` as the route's response model sends it (FastAPI's own fast path:
    validate, then dump JSON by alias)."""
    return _BOARD.dump_json(_BOARD.validate_python(board, from_attributes=True), by_alias=True)


@dataclass(frozen=True)
class _Encoded:
    version: Any
    head: bytes  # up to and including `"as_of":`, or the whole body when `tail` is None
    tail: bytes | None  # after the as_of value, for a current board (as_of = the time of the request)

    def body(self) -> bytes:
        if self.tail is None:
            return self.head
        return self.head + _INSTANT.dump_json(datetime.now(timezone.utc)) + self.tail


def _encoded(version: Any, campaign_id: str, board: dict[str, Any], current: bool) -> _Encoded:
    if not current:
        return _Encoded(version, encode(board), None)
    body = encode({**board, "as_of": None})
    head = b'{"campaign_id":' + _TEXT.dump_json(campaign_id) + b',"as_of":'
    if not body.startswith(head + b"null"):  # the model's field order changed: never splice blindly
        raise RuntimeError("unexpected scoreboard encoding")
    return _Encoded(version, head, body[len(head) + len(b"null"):])


class ScoreboardCache:
    """Encoded boards by (campaign, cluster, as_of), each with the read-model version it
    was computed at; least recently used entries go first. Concurrent misses for one
    key share one computation."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, _Encoded] = OrderedDict()
        self._pending: dict[tuple[Key, Any], asyncio.Future[_Encoded | None]] = {}

    async def body(self, pool: Any, campaign_id: str, cluster_id: str | None, as_of: datetime | None,
                   version: Any) -> bytes | None:
        """The JSON body of the board at `version` (the read models' current one), or
        None when the campaign is not projected yet."""
        key: Key = (campaign_id, cluster_id, None if as_of is None else as_of.isoformat())
        entry = self._entries.get(key)
        if entry is not None and entry.version == version:
            self._entries.move_to_end(key)
            return entry.body()
        pending = self._pending.get((key, version))
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._pending[(key, version)] = pending
            try:
                entry = await self._compute(pool, key, as_of)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # retrieved: waiters (if any) re-raise it
                raise
            else:
                pending.set_result(entry)
            finally:
                del self._pending[(key, version)]
        else:
            entry = await asyncio.shield(pending)
        return None if entry is None else entry.body()

    async def _compute(self, pool: Any, key: Key, as_of: datetime | None) -> _Encoded | None:
        campaign_id, cluster_id, _ = key
        found = await readmodels.queries().scoreboard_snapshot(pool, campaign_id, cluster_id=cluster_id, as_of=as_of)
        if found is None:
            return None
        version, board = found
        entry = _encoded(version, campaign_id, board, current=as_of is None)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry


async def cached_body(services: Any, campaign_id: str, cluster_id: str | None, as_of: datetime | None,
                      version: Any = None) -> bytes | None:
    """The board's JSON body through this app's cache, as the scoreboard route sends it
    (`version`: the read models' current one, read here when not given); None when the
    campaign is not projected yet. The pages read boards through it too."""
    if version is None:
        version = (await context_reads(services).get(campaign_id))[2]
    return await cache_of(services).body(services.pool, campaign_id, cluster_id, as_of, version)


def cache_of(services: Any) -> ScoreboardCache:
    """The cache of this app (one per `Services`, so apps never share boards)."""
    cache = services.extras.get("scoreboard_cache")
    if cache is None:
        cache = services.extras["scoreboard_cache"] = ScoreboardCache()
    return cache


def context_reads(services: Any) -> SharedReads:
    """`queries.scoreboard_context` by campaign id, shared by concurrent requests."""
    shared = services.extras.get("scoreboard_context")
    if shared is None:
        pool = services.pool
        shared = services.extras["scoreboard_context"] = SharedReads(
            lambda cid: readmodels.queries().scoreboard_context(pool, cid))
    return shared
