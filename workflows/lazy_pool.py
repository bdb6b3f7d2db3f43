"""An asyncpg pool made at first use: activities are built before their event loop runs."""

from __future__ import annotations

import asyncpg


class LazyPool:
    def __init__(self, dsn: str, pool: asyncpg.Pool | None = None, max_size: int = 2) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pool = pool

    async def get(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.max_size)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
