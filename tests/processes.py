"""Process checks for tests. This container's PID 1 reaps children slowly, so a
zombie (exited, not yet reaped) counts as gone."""

from __future__ import annotations

import time

import psutil


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pid: int, timeout: float = 5.0) -> bool:
    """Wait up to `timeout` seconds for the process to exit; True when it did."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
