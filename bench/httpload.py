"""A small HTTP/1.1 keep-alive client for load generation.

httpx costs the harness more CPU per request than uvicorn spends serving a cheap read; on a
2-core machine that would make the client the bottleneck of P5. This client does one
request at a time per connection on plain asyncio streams, and reads bodies framed by
Content-Length or chunked encoding. Loopback only (the bench talks to its own API).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_status(self, what: str = "request") -> Response:
        if self.status >= 400:
            raise HttpError(f"{what}: HTTP {self.status}: {self.body[:500].decode(errors='replace')}")
        return self


class HttpError(RuntimeError):
    pass


class Connection:
    """One keep-alive connection to 127.0.0.1:port; reconnects when the server closed it."""

    def __init__(self, port: int, token: str | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.token = token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self._reader = self._writer = None

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json_body: Any = None, body: bytes | None = None, content_type: str | None = None,
                      headers: dict[str, str] | None = None) -> Response:
        if params:
            path = f"{path}?{urlencode({k: v for k, v in params.items() if v is not None})}"
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode()
            content_type = "application/json"
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
            lines.append(f"Content-Type: {content_type or 'application/octet-stream'}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
        for attempt in (1, 2):
            if self._writer is None:
                await self._connect()
            assert self._reader is not None and self._writer is not None
            try:
                self._writer.write(raw)
                return await self._read_response()
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                # The server closed an idle keep-alive connection: reconnect once.
                await self.close()
                if attempt == 2:
                    raise HttpError(f"{method} {path}: connection lost: {exc}") from exc
        raise AssertionError("unreachable")

    async def _read_response(self) -> Response:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self._reader.readuntil(b"\r\n")
                    break
                parts.append(await self._reader.readexactly(size))
                await self._reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, body)
