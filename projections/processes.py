"""Second processes for the CPU-heavy parts of a rebuild and of `audit verify`.

Python runs one thread at a time, and these jobs are CPU-bound: a second process gets
the machine's second core. It is started with this interpreter as
`python -m projections.<module> ...`; the database URL goes in its environment (its
command line is visible to `ps`); it dies with its parent (Linux) so a killed rebuild
or verification leaves nothing running.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from typing import IO


# The longest line `Child.ask` reads (asyncio's default, 64 KiB, is a checker's answer
# naming ≈ 800 evidence files).
ANSWER_LIMIT = 1 << 30


class Child:
    """A running second process; `result()` is its standard output once it exited 0."""

    def __init__(self, process: asyncio.subprocess.Process, errors: IO[bytes]) -> None:
        self.process = process
        self._errors = errors

    async def ask(self, line: bytes) -> bytes:
        """Write one line to its standard input (started with `stdin=True`) and read its
        one-line answer; RuntimeError (with its error output's tail) when it is gone."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(line)
            await self.process.stdin.drain()
            answer = await self.process.stdout.readline()
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
        if not answer.endswith(b"\n"):
            await self.process.wait()
            raise RuntimeError(f"second process ended (exit {self.process.returncode}): {self._tail()}")
        return answer

    def close_input(self) -> None:
        """No more questions: it ends once it has read them all."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()

    def _tail(self) -> str:
        self._errors.seek(0)
        return " | ".join(self._errors.read().decode(errors="replace").strip().splitlines()[-5:])

    async def result(self) -> bytes:
        try:
            out, _ = await self.process.communicate()
            if self.process.returncode != 0:
                raise RuntimeError(f"second process failed (exit {self.process.returncode}): {self._tail()}")
            return out
        finally:
            self._errors.close()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._errors.close()


async def start(module: str, args: list[str], env: dict[str, str], *, stdin: bool = False) -> Child:
    """`stdin`: a pipe for a dialogue of lines (`Child.ask`): the child can start before
    everything it is to be told exists, and be given its work a piece at a time."""
    errors = tempfile.TemporaryFile()  # not a pipe: a chatty child must never block on it
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=errors,
        limit=ANSWER_LIMIT,
    )
    return Child(process, errors)


def die_with_parent() -> None:
    """In the child: be terminated when the parent dies (Linux; elsewhere a no-op)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
