"""The read side as the routes see it: `thidua.projections.queries`, paging and cursors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from thidua.api.cursors import decode_cursor, encode_cursor
from thidua.api.problems import Problem
from thidua.projections import queries as read_queries


def queries() -> Any:
    """The read models' queries (`thidua.projections.queries`)."""
    return read_queries


def page(kind: str, result: Any) -> dict[str, Any]:
    """`{items, next_cursor}` from what a query returns: `(items, next_keyset)` or a dict
    with `items` and `next` (the keyset to resume after, None on the last page)."""
    if isinstance(result, dict):
        items = result.get("items", [])
        keyset = result.get("next", result.get("next_after"))
    else:
        items, keyset = result
    return {"items": list(items), "next_cursor": encode_cursor(kind, keyset)}


async def paged(kind: str, cursor: str | None, fetch: Callable[[Any], Awaitable[Any]]) -> dict[str, Any]:
    """One page of a list: decode the cursor, fetch, encode the next cursor. A cursor
    that decodes but names no valid position (tampered with) is a 422, not a 500."""
    keyset = decode_cursor(kind, cursor)
    try:
        result = await fetch(keyset)
    except ValueError as exc:
        if keyset is None:
            raise
        raise Problem(422, "the cursor is not one this list handed out",
                      errors=[{"field": "query.cursor", "message": "invalid cursor", "type": "cursor_invalid"}]) from exc
    if result is None:  # the campaign is not in the read models yet
        return {"items": [], "next_cursor": None}
    return page(kind, result)
