"""Rules every request meets before any route: one place, not one per route.

- `RefuseNulCharacters`: a NUL character in the path, a query parameter or a header value
  is a 422 problem naming where it is. PostgreSQL cannot store NUL in text, so such a
  value could only fail later, deep in a query, as a 500. The path and the query are
  put in Unicode NFC, as bodies are.
- `AllowedMethods`: `OPTIONS` answers 204 with the methods the path has, and a 405 names
  all of them in `Allow` (the router names only those of the first route it tried).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from thidua.api.problems import problem_response

NUL = "\x00"


def _nul_errors(scope: Scope) -> list[dict[str, str]]:
    errors = []
    message, kind = "must not contain a NUL character", "nul_character"
    if NUL in scope.get("path", ""):
        errors.append({"field": "path", "message": message, "type": kind})
    query = scope.get("query_string", b"").decode("utf-8", "replace")
    if "%00" in query or NUL in query:
        for name, value in parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="replace"):
            if NUL in value or NUL in name:
                errors.append({"field": f"query.{name.replace(NUL, '')}", "message": message, "type": kind})
    for name, value in scope.get("headers", ()):
        if b"\x00" in value:
            errors.append({"field": f"header.{name.decode('latin-1')}", "message": message, "type": kind})
    return errors


def _nfc_scope(scope: Scope) -> Scope:
    """The path and the query in NFC, as every body is (thidua.api.models.Input): an id typed
    with separate accents names the same thing as one typed with combined accents."""
    path = scope.get("path", "")
    query = scope.get("query_string", b"")
    pairs = parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True) if query else []
    if unicodedata.is_normalized("NFC", path) and all(unicodedata.is_normalized("NFC", k + v) for k, v in pairs):
        return scope
    normal = [(unicodedata.normalize("NFC", k), unicodedata.normalize("NFC", v)) for k, v in pairs]
    return {**scope, "path": unicodedata.normalize("NFC", path), "query_string": urlencode(normal).encode()}


class RefuseNulCharacters:
    """Also puts the path and the query in NFC (one pass over the same text)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            errors = _nul_errors(scope)
            if errors:
                path = scope.get("path", "").replace(NUL, "\\0")
                response = problem_response(422, instance=path, detail="a NUL character is not valid input",
                                            errors=errors)
                await response(scope, receive, send)
                return
            scope = _nfc_scope(scope)
        await self.app(scope, receive, send)


def _routes(app: Any) -> list[tuple[re.Pattern[str], set[str]]]:
    """(path pattern, methods) of every route, nested routers included (built once)."""
    cached = getattr(app.state, "route_methods", None)
    if cached is not None:
        return cached
    found: list[tuple[re.Pattern[str], set[str]]] = []
    stack = list(app.routes)
    while stack:
        route = stack.pop(0)
        if hasattr(route, "original_router"):
            stack.extend(route.original_router.routes)
        elif getattr(route, "methods", None) and getattr(route, "path_regex", None) is not None:
            found.append((route.path_regex, set(route.methods)))
    app.state.route_methods = found
    return found


def allowed_methods(app: Any, path: str) -> list[str]:
    methods: set[str] = set()
    for pattern, route_methods in _routes(app):
        if pattern.match(path):
            methods |= route_methods
    if not methods:
        return []
    methods.add("OPTIONS")
    return sorted(methods)


class AllowedMethods:
    """OPTIONS answered with the path's methods, and a 405 given its `Allow` header. The
    methods are looked up (every route's pattern tried) only for those two answers, not
    for each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "app" not in scope:
            await self.app(scope, receive, send)
            return
        app, path = scope["app"], scope.get("path", "")
        if scope.get("method") == "OPTIONS":
            methods = allowed_methods(app, path)
            if methods:  # else an unknown path: the router's 404
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(b"allow", ", ".join(methods).encode()), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return

        async def allow_all(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = allowed_methods(app, path)
                if methods:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                    message = {**message, "headers": [*headers, (b"allow", ", ".join(methods).encode())]}
            await send(message)

        await self.app(scope, receive, allow_all)
