"""Percentiles and closed-loop load: N clients, each doing one call after the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not samples:
        return float("nan")
    data = sorted(samples)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


class StopClient(Exception):
    """Raised by a call to end its client's loop (it has no more work); not an error."""


MAX_ERRORS_IN_A_ROW = 50


@dataclass
class LoadResult:
    """What a closed-loop run did: calls completed, errors, elapsed seconds, latencies (s)."""

    calls: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.calls / self.elapsed if self.elapsed > 0 else 0.0

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000.0

    def summary(self) -> dict[str, float | int | str | None]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "seconds": round(self.elapsed, 3),
            "p50_ms": round(self.ms(50), 2) if self.latencies else None,
            "p99_ms": round(self.ms(99), 2) if self.latencies else None,
            "first_error": self.first_error,
        }


async def closed_loop(
    clients: int,
    call: Callable[[int, int], Awaitable[object]],
    *,
    seconds: float | None = None,
    calls_per_client: int | None = None,
    warmup_calls: int = 0,
) -> LoadResult:
    """Run `clients` loops; loop c makes its i-th call as `await call(c, i)`.

    Stops after `seconds` (each loop finishes its call in flight; calls that end after the
    deadline still count, and the elapsed time runs to the last one) or after
    `calls_per_client`. The first `warmup_calls` of each loop are made but not counted.
    An exception counts as an error (and is not timed); the loop goes on, unless it is
    `StopClient` or the client failed MAX_ERRORS_IN_A_ROW times in a row.
    """
    if seconds is None and calls_per_client is None:
        raise ValueError("give seconds or calls_per_client")
    result = LoadResult()

    async def loop(c: int) -> None:
        for i in range(warmup_calls):
            try:
                await call(c, i)
            except Exception:  # noqa: BLE001 - warm-up errors show up in the measured calls
                pass
        barrier.release()
        await go.wait()
        i = warmup_calls
        errors_in_a_row = 0
        while True:
            if calls_per_client is not None and i - warmup_calls >= calls_per_client:
                return
            if deadline is not None and time.perf_counter() >= deadline:
                return
            t0 = time.perf_counter()
            try:
                await call(c, i)
            except StopClient:
                return
            except Exception as exc:  # noqa: BLE001 - counted, first one kept for the report
                result.errors += 1
                errors_in_a_row += 1
                if result.first_error is None:
                    result.first_error = f"{type(exc).__name__}: {exc}"[:500]
                if errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
                    return
            else:
                result.latencies.append(time.perf_counter() - t0)
                result.calls += 1
                errors_in_a_row = 0
            i += 1

    barrier = asyncio.Semaphore(0)
    go = asyncio.Event()
    deadline: float | None = None
    tasks = [asyncio.create_task(loop(c)) for c in range(clients)]
    for _ in range(clients):
        await barrier.acquire()
    start = time.perf_counter()
    if seconds is not None:
        deadline = start + seconds
    go.set()
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    result.elapsed = time.perf_counter() - start
    return result
