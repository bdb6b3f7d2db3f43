"""Run a few long-lived child processes, restart the ones that crash, stop them all cleanly.

Used by `thidua up` for the worker, the projector and the API. Each child

- runs in its own session (process group), so a Ctrl-C typed in the terminal reaches only the
  supervisor, which then stops the children in order instead of all dying at once;
- gets SIGTERM from the kernel if the supervisor dies without cleaning up (Linux
  PR_SET_PDEATHSIG), so no orphan keeps ports and database connections;
- writes stdout and stderr to `<log_dir>/<name>.log`; a crash is reported with the log's tail.

A child that runs but cannot work (its spec's `unhealthy(pid)` gives a reason, asked every
`health_every` seconds) is killed, and so restarted like a crashed one.

A child that exits while the supervisor is not stopping is restarted after a backoff that
doubles with each quick crash (1 s, 2 s, 4 s ... up to `backoff_max`) and is reset once the
child has stayed up for `stable_after` seconds. The supervisor is not thread-safe: call it from
one thread (the main one, which also matters for PR_SET_PDEATHSIG: the signal is tied to the
thread that forked the child).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ChildSpec:
    """What to run: a name (for logs and reports), the command line and its environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path | None = None
    # Asked every `health_every` seconds with the child's pid: a reason to restart a child
    # that runs but cannot work (a worker whose activity threads are all held), or None.
    unhealthy: Callable[[int], str | None] | None = None


@dataclass
class _Child:
    spec: ChildSpec
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    crashes_in_a_row: int = 0
    restart_at: float | None = None
    log_offset: int = 0
    history: list[int] = field(default_factory=list)  # every pid this child has had
    last_reported_tail: str = ""
    health_checked_at: float = 0.0


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM this child when its parent thread dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def tail(path: Path, *, start: int = 0, lines: int = 20) -> str:
    """The last `lines` lines of `path` written after byte `start` (for crash reports)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(start, size - 64_000))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


Reporter = Callable[[str, str], None]  # (level: "info" | "warning" | "error", message)


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        log_dir: Path,
        report: Reporter | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_after: float = 30.0,
        stop_timeout: float = 20.0,
        health_every: float = 5.0,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique: {names}")
        self.log_dir = Path(log_dir)
        self.report: Reporter = report or (lambda level, message: getattr(log, level)(message))
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.stop_timeout = stop_timeout
        self.health_every = health_every
        self._children = [_Child(spec, self.log_dir / f"{spec.name}.log") for spec in specs]
        self._stopping = False

    # -- state -------------------------------------------------------------------------------

    def pids(self) -> dict[str, int | None]:
        """Current pid of every child (None while it waits to be restarted)."""
        return {c.spec.name: (c.popen.pid if c.popen and c.popen.poll() is None else None) for c in self._children}

    def all_pids(self) -> dict[str, list[int]]:
        """Every pid each child has had (restarts included)."""
        return {c.spec.name: list(c.history) for c in self._children}

    def restarts(self) -> dict[str, int]:
        return {c.spec.name: c.restarts for c in self._children}

    def log_path(self, name: str) -> Path:
        return self._child(name).log_path

    def running(self, name: str) -> bool:
        child = self._child(name)
        return child.popen is not None and child.popen.poll() is None

    def _child(self, name: str) -> _Child:
        for child in self._children:
            if child.spec.name == name:
                return child
        raise KeyError(name)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for child in self._children:
            self._spawn(child)

    def _spawn(self, child: _Child) -> None:
        with child.log_path.open("ab") as logf:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            logf.write(f"\n=== {stamp} start {' '.join(child.spec.argv)}\n".encode())
            logf.flush()
            child.log_offset = logf.tell()  # crash reports show what this run wrote
            child.popen = subprocess.Popen(
                list(child.spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=dict(child.spec.env),
                cwd=child.spec.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - single-threaded spawning by design
                close_fds=True,
            )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.history.append(child.popen.pid)
        self.report("info", f"{child.spec.name} started (pid {child.popen.pid})")

    def check(self) -> list[str]:
        """One supervision step: notice crashed children, restart those whose backoff is over.
        Returns the names of children that crashed in this step."""
        if self._stopping:
            return []
        crashed: list[str] = []
        now = time.monotonic()
        for child in self._children:
            popen = child.popen
            if popen is not None:
                code = popen.poll()
                if code is None:
                    if child.crashes_in_a_row and now - child.started_at >= self.stable_after:
                        child.crashes_in_a_row = 0
                    self._check_health(child, popen, now)
                    continue
                crashed.append(child.spec.name)
                self._schedule_restart(child, code, now)
            elif child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
        return crashed

    def _check_health(self, child: _Child, popen: subprocess.Popen[bytes], now: float) -> None:
        """Kill a running child its spec calls unhealthy; the next step restarts it as a crash."""
        if child.spec.unhealthy is None or now - child.health_checked_at < self.health_every:
            return
        child.health_checked_at = now
        reason = child.spec.unhealthy(popen.pid)
        if reason is None:
            return
        self.report("error", f"{child.spec.name} (pid {popen.pid}) is unhealthy: {reason}; killing it to restart it")
        self._signal_group(popen.pid, signal.SIGKILL)

    def _schedule_restart(self, child: _Child, code: int, now: float) -> None:
        child.popen = None
        if now - child.started_at >= self.stable_after:
            child.crashes_in_a_row = 0
        delay = min(self.backoff_max, self.backoff_initial * (2**child.crashes_in_a_row))
        child.crashes_in_a_row += 1
        child.restart_at = now + delay
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        last = tail(child.log_path, start=child.log_offset, lines=12)
        message = f"{child.spec.name} {how}; restarting in {delay:.0f} s (log: {child.log_path})"
        if last and last != child.last_reported_tail:  # the same crash again is one line
            message += "\n" + "\n".join(f"    {line}" for line in last.splitlines())
        child.last_reported_tail = last
        self.report("error", message)

    def stop(self, *, order: Sequence[str] | None = None, force: Callable[[], bool] | None = None) -> None:
        """Stop every child: SIGTERM each (in `order`, default reverse start order) and wait for
        it, then SIGKILL what is left after `stop_timeout`. `force()` returning True (e.g. a
        second Ctrl-C) skips the waiting. Grandchildren go too: each child leads its own group."""
        self._stopping = True
        names = list(order) if order is not None else [c.spec.name for c in reversed(self._children)]
        for name in names:
            child = self._child(name)
            child.restart_at = None
            popen = child.popen
            if popen is None:
                continue
            if popen.poll() is None:
                self._signal_group(popen.pid, signal.SIGTERM)
                deadline = time.monotonic() + self.stop_timeout
                while popen.poll() is None and time.monotonic() < deadline and not (force and force()):
                    time.sleep(0.05)
                if popen.poll() is None:
                    self.report("warning", f"{name} did not stop within {self.stop_timeout:.0f} s; killing it")
            # SIGKILL whatever is left of the group (the child, or a grandchild it left behind).
            self._signal_group(popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(5)
            code = popen.returncode
            self.report("info", f"{name} stopped" + (f" (exit code {code})" if code not in (0, None, -15) else ""))
            child.popen = None

    @staticmethod
    def _signal_group(pgid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
