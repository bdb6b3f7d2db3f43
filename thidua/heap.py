"""Garbage-collector settings of the long-running processes (api, worker, projector).

Measured in the API under the scoreboard benchmark (P5): CPython's full collections
scanned the whole startup heap (the app, pydantic schemas, the domain application,
~150k objects) 19 times in 30 s, up to 200 ms each, and were the whole p99 of a request.
What a process builds at startup lives as long as the process: once it is built,
`gc.freeze()` moves it out of the collector's sight, so a collection scans only what
requests allocate. A larger young generation makes collections rarer (each one short:
it scans only the young objects).
"""

from __future__ import annotations

import gc

# CPython's default is (700, 10, 10).
THRESHOLDS = (20_000, 20, 20)


def settle() -> None:
    """Call once a long-running process has built what it keeps for its lifetime."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
