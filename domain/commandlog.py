"""Idempotency by command id, shared by every aggregate.

Each aggregate remembers, for every command id it applied, a fingerprint of the
command's payload and the version of the last event it stored. A repeated id with
the same payload is a no-op (the caller gets the current state); the same id with
another payload is refused, because it means two different intentions share a name.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from thidua.domain.errors import BadInput, CommandIdReused
from thidua.domain.values import Actor, Command

MAX_TEXT = 4000


def _canonical(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    if is_dataclass(value) and not isinstance(value, type):
        # A value object that grew fields says how it is fingerprinted (its older shape when they are unset).
        canonical = getattr(value, "canonical", None)
        return _canonical(canonical() if callable(canonical) else asdict(value))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_canonical(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, (set, frozenset)) else items
    return value


def fingerprint(command: str, **payload: Any) -> str:
    """A stable digest of what a command asks for (not who or when)."""
    body = json.dumps({"command": command, "payload": _canonical(payload)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def event_meta(cmd: Command, fp: str) -> dict[str, Any]:
    """The attributes every event carries: who, when, from which command."""
    return {"actor": cmd.actor, "occurred_at": cmd.at, "command_id": cmd.id, "fingerprint": fp}


class CommandLog:
    """Mixed into aggregates; `applied` maps command id -> [fingerprint, version]."""

    applied: dict[str, list[Any]]
    updated_at: datetime
    updated_by: Actor

    def _remember(self, command_id: str, fingerprint: str, occurred_at: datetime, actor: Actor, version: int) -> None:
        self.applied[command_id] = [fingerprint, version]
        self.updated_at = occurred_at
        self.updated_by = actor

    def is_replay(self, cmd: Command, fp: str) -> bool:
        """True when this command id was applied before with the same payload."""
        seen = self.applied.get(cmd.id)
        if seen is None:
            return False
        if seen[0] != fp:
            raise CommandIdReused(
                f"command id {cmd.id!r} was already used for a different command",
                command_id=cmd.id,
            )
        return True

    def version_of_same_command(self, command_id: str, fp: str) -> int | None:
        """The version the command stored, if this id was applied with this fingerprint."""
        seen = self.applied.get(command_id)
        return None if seen is None or seen[0] != fp else int(seen[1])

    def version_of_command(self, command_id: str) -> int | None:
        """The version of the last event the command stored, if it was applied."""
        seen = self.applied.get(command_id)
        return None if seen is None else int(seen[1])


# Characters that change how text looks or reads without being seen: zero-width
# characters and joiners, bidirectional embeddings, overrides and isolates, the word
# joiner family and the byte-order mark. In a key or an id they make two values that
# look the same differ (or hide what a value says), so keys and ids refuse them; free
# text (titles, reasons) drops them.
INVISIBLE = frozenset(
    "\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_DROP_INVISIBLE = {ord(ch): None for ch in INVISIBLE}


def normalize_text(text: str) -> str:
    """The one form every text is kept in: Unicode NFC (so a word typed with combined
    or separate accents is the same word), without invisible characters."""
    return unicodedata.normalize("NFC", text).translate(_DROP_INVISIBLE)


def has_invisible(text: str) -> bool:
    return any(ch in INVISIBLE for ch in text)


def check_key(value: str, field: str) -> str:
    """A key or an id: NFC, and no invisible character (refused, not dropped: the caller
    must know the value it sent is not the one kept)."""
    if has_invisible(value):
        raise BadInput(f"{field} contains an invisible (zero-width or bidirectional) character", field=field)
    return unicodedata.normalize("NFC", value)


def _check_text(text: str, field: str, max_len: int) -> None:
    if len(text) > max_len:
        raise BadInput(f"{field} is longer than {max_len} characters", field=field)
    # PostgreSQL text and jsonb cannot hold NUL: one would stall every read model.
    if "\x00" in text:
        raise BadInput(f"{field} contains a NUL character", field=field)


def require_text(value: str | None, field: str, *, max_len: int = MAX_TEXT) -> str:
    text = normalize_text(value or "").strip()
    if not text:
        raise BadInput(f"{field} is required", field=field)
    _check_text(text, field, max_len)
    return text


def optional_text(value: str | None, field: str, *, max_len: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    text = normalize_text(value).strip()
    _check_text(text, field, max_len)
    return text or None
