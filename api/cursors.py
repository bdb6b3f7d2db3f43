"""Opaque pagination cursors: base64url of the keyset the query layer resumes after.

The list name is part of the cursor, so a cursor of one list cannot be replayed on
another; anything that does not decode is a 422 on `query.cursor`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from thidua.api.problems import Problem

MAX_CURSOR_LENGTH = 1000


def encode_cursor(kind: str, keyset: Any) -> str | None:
    if keyset is None:
        return None
    raw = json.dumps({"k": kind, "v": keyset}, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(kind: str, cursor: str | None) -> Any:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict) or data.get("k") != kind or "v" not in data:
            raise ValueError("not a cursor of this list")
        _check_bigints(data["v"])
        return data["v"]
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise Problem(
            422, "the cursor is not one this list handed out",
            errors=[{"field": "query.cursor", "message": "invalid cursor", "type": "cursor_invalid"}],
        ) from exc


def _check_bigints(value: Any) -> None:
    """Positions in a keyset are PostgreSQL bigints: a larger number was not handed out
    (the database would refuse it, deep in a query)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("a number in the cursor is out of range")
    if isinstance(value, float) and not -(2.0**63) <= value < 2.0**63:
        raise ValueError("a number in the cursor is out of range")
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_bigints(item)
    if isinstance(value, dict):
        for item in value.values():
            _check_bigints(item)
