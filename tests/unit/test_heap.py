"""The long-running processes settle their heap once they have started (thidua/heap.py)."""

from __future__ import annotations

import gc

from thidua import heap


def test_settling_hides_the_startup_heap_from_the_collector_and_makes_collections_rarer() -> None:
    thresholds = gc.get_threshold()
    built_at_startup = [{"unit": n} for n in range(1000)]
    try:
        heap.settle()
        assert gc.get_freeze_count() >= len(built_at_startup)
        assert gc.get_threshold() == heap.THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_malloc_arena_limit_is_accepted_by_this_libc() -> None:
    # glibc (every image thidua ships on) takes the setting; a libc without it says False.
    import platform

    assert heap.limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")


def test_a_process_with_cyclic_garbage_keeps_the_default_thresholds() -> None:
    thresholds = gc.get_threshold()
    try:
        heap.settle(thresholds=None)
        assert gc.get_threshold() == thresholds
    finally:
        gc.unfreeze()
