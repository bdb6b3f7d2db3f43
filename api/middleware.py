"""Pure ASGI middleware: request ids, body size limits, request metrics, the last-resort
error guard.

Pure ASGI (not BaseHTTPMiddleware) so bodies stream through untouched and the
guard sees every exception before Starlette's ServerErrorMiddleware would print a
traceback page.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from thidua.api.metrics import ApiMetrics
from thidua.api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, unexpected_response
from thidua.logs import REQUEST_ID

MIB = 1024 * 1024
DEFAULT_BODY_LIMIT = 1 * MIB
IMPORT_BODY_LIMIT = 20 * MIB


# An evidence upload: the file (THIDUA_EVIDENCE_MAX_BYTES) plus the multipart framing
# and the page form's fields. The file's own cap is checked by the route, by the part's size.
MULTIPART_OVERHEAD = 64 * 1024


def body_limit_for(path: str, evidence_max_bytes: int = 20 * MIB) -> int:
    """Imports may carry a whole decision's targets (or a drive's past), evidence uploads a
    file; everything else is small."""
    if path.endswith(("/targets/import", "/history/import")):
        return IMPORT_BODY_LIMIT
    if path.endswith("/evidence"):
        return evidence_max_bytes + MULTIPART_OVERHEAD
    return DEFAULT_BODY_LIMIT


async def _send_problem(send: Send, status: int, slug: str, title: str, detail: str, path: str) -> None:
    body = json.dumps({"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
                       "instance": path}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """Raised from `receive` once the streamed body passes the limit."""


class BodySizeLimit:
    """413 for bodies over the limit, by Content-Length up front or by counting the stream."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int] = body_limit_for) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.limit_for(path)
        detail = f"the request body is larger than {limit // MIB} MiB"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_problem(send, 413, "content-too-large", "Content too large", detail, path)
                    return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    # Abort the app's read: it must never act on a truncated body.
                    raise BodyTooLarge(detail)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                if message["type"] == "http.response.start":
                    started = True
                    await _send_problem(send, 413, "content-too-large", "Content too large", detail, path)
                return
            if exceeded:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await _send_problem(send, 413, "content-too-large", "Content too large", detail, path)


class ErrorGuard:
    """Anything that escaped every handler becomes a problem (503 or 500), never a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = unexpected_response(Request(scope), exc)
            await response(scope, receive, send)


class RequestMetrics:
    """Counts requests by route template and status, with latency."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope.get("method", "?"), template, status, time.perf_counter() - started)


REQUEST_ID_HEADER = b"x-request-id"
# A client's id is kept when it is a short token (a UUID, a trace id...); anything else (too
# long, spaces, control characters) could forge log lines, so it is replaced by a new one.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")
request_log = logging.getLogger("thidua.api.request")


class RequestId:
    """Give every request an id: the client's `X-Request-ID` when it is a short token, else a
    new one. It is echoed in the response, set in `thidua.logs.REQUEST_ID` for everything
    logged while serving it, and ends in one log line per request. Refusals (4xx) are
    expected answers: INFO, without a traceback; 5xx are WARNING (their error was logged
    with its traceback where it was caught)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == REQUEST_ID_HEADER), b"")
        text = given.decode("latin-1")
        request_id = text if _CLIENT_REQUEST_ID.fullmatch(text) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method, path = scope.get("method", "?"), scope.get("path", "")
            request_log.log(
                logging.INFO if status < 500 else logging.WARNING, "%s %s %s", method, path, status,
                extra={"method": method, "path": path, "status": status,
                       "duration_ms": round((time.perf_counter() - started) * 1000, 1)},
            )
            REQUEST_ID.reset(token)
