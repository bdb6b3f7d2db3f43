"""Read-model rows turned into Temporal work, woken by the projector's NOTIFY.

`Listener.run()` keeps two connections (LISTEN needs one of its own) and calls
`dispatch_once(conn)` whenever `channel` is NOTIFYed or `poll_interval` passes; when it
answers truthy (more may be waiting now) it is called again at once. The database or
Temporal away: it waits with a growing backoff and tries again, so nothing is skipped.
Used by the webhook outbox's dispatcher and the cascade's.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg


class Listener:
    channel: str  # the NOTIFY channel that wakes it
    what: str  # its name in the log

    def __init__(self, dsn: str, poll_interval: float, log: logging.Logger) -> None:
        self.dsn = dsn
        self.poll_interval = poll_interval
        self.log = log
        self._wake = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def dispatch_once(self, conn: asyncpg.Connection) -> int:  # pragma: no cover - each subclass has one
        raise NotImplementedError

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping:
            conn = listen = None
            try:
                conn = await asyncpg.connect(self.dsn)
                listen = await asyncpg.connect(self.dsn)  # LISTEN needs a connection of its own
                await listen.add_listener(self.channel, lambda *_: self._wake.set())
                backoff = 0.5
                while not self._stopping:
                    self._wake.clear()
                    if await self.dispatch_once(conn):
                        continue
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                    except TimeoutError:
                        pass
            except Exception:  # the database or Temporal away: try again, never skip a row
                self.log.exception("%s failed; retrying in %.1fs", self.what, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                for c in (listen, conn):
                    if c is not None and not c.is_closed():
                        await c.close()
