"""Garbage-collector settings of the long-running processes (api, worker, projector).

Measured in the API under the scoreboard benchmark (P5): CPython's full collections
scanned the whole startup heap (the app, pydantic schemas, the domain application,
~150k objects) 19 times in 30 s, up to 200 ms each, and were the whole p99 of a request.
What a process builds at startup lives as long as the process: once it is built,
`gc.freeze()` moves it out of the collector's sight, so a collection scans only what
requests allocate. A larger young generation makes collections rarer (each one short:
it scans only the young objects) for the API and the projector, whose garbage is not
cyclic; the worker keeps CPython's thresholds (see `settle`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger("thidua.heap")

# glibc gives every thread that allocates its own malloc arena (up to 8 per core), and a
# worker's activity threads and Temporal's runtime threads each keep theirs: the memory
# freed in one is never given back while another holds a page of it. Two are enough for
# processes whose Python code holds the GIL anyway.
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter number in glibc's malloc.h

# CPython's default is (700, 10, 10).
THRESHOLDS = (20_000, 20, 20)


def settle(thresholds: tuple[int, int, int] | None = THRESHOLDS) -> None:
    """Call once a long-running process has built what it keeps for its lifetime.
    `thresholds=None` keeps CPython's: a process whose garbage is mostly cycles (the
    worker: every workflow evicted from its cache leaves cycles of tasks, futures and,
    when sandboxed, its sandbox) needs full collections as often as they come, or the
    garbage piles up (measured: a worker with the larger thresholds peaked at 539 MB
    with 1,000 cached workflows)."""
    gc.collect()
    gc.freeze()
    if thresholds is not None:
        gc.set_threshold(*thresholds)


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Call first thing in a process that will run threads (before they start). Only
    glibc has the setting; elsewhere this does nothing and says so (False)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.debug("no glibc mallopt: malloc arenas left as they are")
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
