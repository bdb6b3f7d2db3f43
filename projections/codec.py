"""Decoding stored events and the canonical bytes of the audit hash chain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

from domain.application import EVENTS_TABLE

EVENTS = f"public.{EVENTS_TABLE}"
GENESIS_HASH = "0" * 64
_CHAIN_TAG = b"thidua.audit.v1\x00"

# Event attributes that are bookkeeping, not a change: they have their own audit columns
# (or, for token_hash, must never leave the event store).
META_ATTRIBUTES = frozenset(
    {
        "timestamp",
        "originator_id",
        "originator_version",
        "originator_topic",
        "actor",
        "occurred_at",
        "command_id",
        "fingerprint",
        "token_hash",
    }
)


@lru_cache(maxsize=1)
def mapper() -> Any:
    """The domain application's mapper (same transcodings, same compression/cipher
    settings from the environment), without opening a database pool: decoding needs
    no persistence, so the application is built on the in-memory module."""
    from domain.application import ThiduaApplication

    return ThiduaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


def canonical_event(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """Length-prefixed, so no two different stored events share the same bytes."""
    topic_bytes = topic.encode()
    return b"".join(
        (
            _CHAIN_TAG,
            position.to_bytes(8, "big", signed=True),
            originator_id.bytes,
            version.to_bytes(8, "big", signed=True),
            len(topic_bytes).to_bytes(4, "big"),
            topic_bytes,
            len(state).to_bytes(8, "big"),
            state,
        )
    )


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """hash = sha256(prev_hash || canonical stored event), hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def event_names(event: Any) -> tuple[str, str]:
    """(aggregate_type, event_type), e.g. ("target", "Blocked") for Target.Blocked."""
    qualname = type(event).__qualname__
    outer, _, inner = qualname.rpartition(".")
    return (outer.rpartition(".")[2] or "unknown").lower(), inner


def jsonable(value: Any) -> Any:
    """JSON-ready copy: datetimes and dates as ISO strings, Decimals as floats,
    value objects as dicts, enums as their values."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    return str(value)


def event_changes(event: Any) -> dict[str, Any]:
    """The fields an event sets (its payload without bookkeeping)."""
    return {k: jsonable(v) for k, v in vars(event).items() if k not in META_ATTRIBUTES}


def event_reason(event: Any) -> str | None:
    """The reason, directive or note given with the command, if any."""
    for name in ("reason", "directive", "note"):
        value = getattr(event, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(value: Any) -> Any:
    """jsonb comes back as text unless the connection has a codec for it."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value
