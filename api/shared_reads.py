"""Reads shared by concurrent callers, two ways:

- `SharedReads`: a caller gets the answer of a read that started after it asked, so never an
  older one than a read of its own (read models behind pages and routes);
- `SingleFlight`: a caller joins a load of its key already running, for caches whose entries
  may be `ttl` seconds old anyway (sessions, tokens' users), with a way to disown a running
  load whose result must not be kept (a sign-out or revocation meanwhile).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SharedReads:
    """One read for many concurrent callers, never a stale one: a caller gets the answer
    of a read that *started after it asked*. While a read of a key runs, newcomers wait
    for the next one, started as soon as the running one ends; so at most two reads of
    a key are ever waited on, whatever the concurrency, and every answer is as fresh as
    a read of the caller's own would have been."""

    def __init__(self, read: Callable[[str], Awaitable[Any]]) -> None:
        self.read = read
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._next: dict[str, asyncio.Future[Any]] = {}

    async def get(self, key: str) -> Any:
        if key not in self._running:
            return await asyncio.shield(self._start(key))
        following = self._next.get(key)
        if following is None:
            following = self._next[key] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(following)

    def _start(self, key: str, into: asyncio.Future[Any] | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self.read(key))
        self._running[key] = task
        task.add_done_callback(lambda done: self._finished(key, done, into))
        return task

    def _finished(self, key: str, done: asyncio.Task[Any], into: asyncio.Future[Any] | None) -> None:
        del self._running[key]
        if into is not None and not into.done():
            if done.cancelled():
                into.cancel()
            elif done.exception() is not None:
                into.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                into.set_result(done.result())
        elif not done.cancelled():
            done.exception()  # retrieved by the awaiting callers; never "never retrieved"
        waiting = self._next.pop(key, None)
        if waiting is not None:
            self._start(key, waiting)


class SingleFlight(Generic[T]):
    """One load per key at a time: callers that miss while a load of their key runs wait
    for it instead of starting their own. Used by caches whose entries may be `ttl`
    seconds old anyway (a load that started a moment before a caller asked is within
    that bound). The load runs in a task of its own, so a caller that goes away does not
    cancel it for the others; `drop(key)` makes the running load no longer the key's
    (`current` says False to it: its result must not be kept), and later callers start
    a new one."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[T]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        task = self._running.get(key)
        if task is None:
            task = self._running[key] = asyncio.ensure_future(load())
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def current(self, key: str) -> bool:
        """Called from within a load: is it still its key's load?"""
        return self._running.get(key) is asyncio.current_task()

    def drop(self, key: str | None = None) -> None:
        """Forget the running load of `key` (of every key for None)."""
        if key is None:
            self._running.clear()
        else:
            self._running.pop(key, None)

    def _finished(self, key: str, done: asyncio.Task[T]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: its callers re-raise it
